// The /ui/ static route on its own (fastify inject, no process): only files of the built directory are
// served, by name, from memory (regular files, no symlinks); nothing outside it is reachable however the
// path is spelled; ETag revalidation; a UI that was not built answers 404 saying so.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiDeps } from '../../src/http-api/deps.js';
import { uiRoutes } from '../../src/http-api/ui-static.js';

const deps = { logger: { warn: () => undefined } } as unknown as ApiDeps;

function appFor(dir: string): FastifyInstance {
  const app = Fastify();
  uiRoutes(dir)(app, deps);
  return app;
}

describe('/ui/ static files', () => {
  let root: string;
  let app: FastifyInstance;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'meshpeer-ui-static-'));
    const ui = join(root, 'ui');
    mkdirSync(join(ui, 'sub'), { recursive: true });
    writeFileSync(join(ui, 'index.html'), '<!doctype html><title>ui</title>');
    writeFileSync(join(ui, 'app.js'), 'console.log(1)');
    writeFileSync(join(ui, 'notes.txt'), 'not a UI file type');
    writeFileSync(join(ui, 'sub', 'deep.js'), 'nested');
    writeFileSync(join(root, 'secret.js'), 'outside');
    symlinkSync(join(root, 'secret.js'), join(ui, 'link.js'));
    app = appFor(ui);
  });
  afterAll(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves the page and its files with their types and a CSP', async () => {
    const page = await app.inject('/ui/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<title>ui</title>');
    const js = await app.inject('/ui/app.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    const bare = await app.inject('/ui');
    expect(bare.statusCode).toBe(301);
    expect(bare.headers.location).toBe('/ui/');
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await app.inject('/ui/app.js');
    const again = await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': first.headers.etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it.each([
    '/ui/../secret.js',
    '/ui/..%2fsecret.js',
    '/ui/%2e%2e%2fsecret.js',
    '/ui/..%5csecret.js',
    '/ui/sub/deep.js',
    '/ui/sub%2fdeep.js',
    '/ui/notes.txt',
    '/ui/missing.js',
    '/ui/%00app.js',
  ])('serves nothing for %s', async (url) => {
    const r = await app.inject(url);
    expect(r.statusCode).toBe(404);
    expect(r.body).not.toContain('outside');
    expect(r.body).not.toContain('nested');
  });

  it('serves no symlink, and reads nothing per request', async () => {
    expect((await app.inject('/ui/link.js')).statusCode).toBe(404);
    writeFileSync(join(root, 'ui', 'late.js'), 'added after start');
    expect((await app.inject('/ui/late.js')).statusCode).toBe(404);
  });

  it('says the UI was not built when its directory is missing', async () => {
    const none = appFor(join(root, 'no-such-dir'));
    const r = await none.inject('/ui/');
    expect(r.statusCode).toBe(404);
    expect(r.body).toContain('not built');
    await none.close();
  });
});
