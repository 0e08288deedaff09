// The web UI's static files (dist/ui, built by `npm run build` from src/ui) at /ui/. The files are read
// once when the API is built and served from memory by name: a request can only ever name one of them,
// so no path reaches the filesystem. These routes carry no routeName, so the ACL check passes them (static
// files only); every API call the UI makes carries the tab's token.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from './deps.js';

/** Where `npm run build` puts the bundle, seen from dist/src/http-api. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

// The page loads only its own script and stylesheet and talks only to this server.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The UI's files by name (flat directory, known types only); empty when the UI was not built. */
export function loadUiFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    const path = join(dir, name);
    // Regular files only: a symlink or a directory in it is not served.
    if (type === undefined || !lstatSync(path).isFile()) continue;
    const body = readFileSync(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(name, { body, type, etag });
  }
  return files;
}

export function uiRoutes(dir: string = DEFAULT_UI_DIR) {
  return (app: FastifyInstance, d: ApiDeps): void => {
    const files = loadUiFiles(dir);
    if (!files.has('index.html')) {
      d.logger.warn({ dir }, 'the web UI was not built (npm run build); /ui/ answers 404');
    }
    const send = (req: FastifyRequest, reply: FastifyReply, name: string) => {
      const file = files.get(name);
      if (file === undefined) {
        return reply
          .code(404)
          .type('text/plain; charset=utf-8')
          .send(files.size === 0 ? 'the web UI was not built (npm run build)' : `no such file: /ui/${name}`);
      }
      void reply
        .header('ETag', file.etag)
        .header('Cache-Control', 'no-cache')
        .header('X-Content-Type-Options', 'nosniff')
        .header('Content-Security-Policy', CSP)
        .header('Referrer-Policy', 'no-referrer');
      if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
      return reply.type(file.type).send(file.body);
    };
    // A metricsName, not a routeName: the ACL check passes routes without a routeName.
    const config = { metricsName: '/ui/' };
    app.get('/ui', { config }, async (_req, reply) => reply.redirect('/ui/', 301));
    app.get('/ui/', { config }, async (req, reply) => send(req, reply, 'index.html'));
    app.get('/ui/:file', { config }, async (req, reply) =>
      send(req, reply, (req.params as { file: string }).file),
    );
  };
}
