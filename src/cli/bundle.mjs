// Bundles the `meshpeer` executable with esbuild and makes V8's code cache for it, so that it starts in
// two file reads instead of Node's module loader walking and compiling hundreds of modules (most of the
// start-up time). Run by `npm run build` after tsc; it writes, in dist/src/cli:
//   meshpeer.cjs                 src/cli/main.ts with everything it imports, our code and the packages
//                                alike, as one CommonJS file (what the CLI loads on use still runs on use)
//   main.js                      the executable (src/cli/bundle-main.mjs): runs meshpeer.cjs with the cache
//   meshpeer.<id>.v8cache        the code cache, from a `meshpeer server --dev` started and stopped here
// The other files in dist/ stay as tsc wrote them (tests and tools import them one by one).
//
// The bundle sits where tsc's files sit (dist/src/<dir>/), so the paths our modules read relative to
// import.meta.url (package.json for the version, dist/ui for the web UI) still lead to the same files.
// Left to load from node_modules at run time (EXTERNAL): native addons, packages that read their own files
// relative to where they are installed, and what is only needed on rare paths.
// It sits in src/ so that everything the build needs comes with src (the Dockerfile copies src, not scripts).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(root, 'dist/src/cli');

const EXTERNAL = [
  'better-sqlite3', // native addon, found by `bindings` relative to its package
  'etcd3', // loads its .proto files from its package directory
  '@cdktf/hcl2json', // loads its WebAssembly from its package directory
  '@kubernetes/client-node', // large, and only for the controller and gateway commands
  '@grpc/proto-loader', // with protobufjs: required by @grpc/grpc-js only when channelz or ORCA is used
];

/**
 * `await import('<external package>')` as a require() made on use: the bundle runs as a script, where
 * import() would need Node's experimental vm loader hooks. (Node 20.19+ requires ES modules too.)
 */
const externalImportsAsRequire = {
  name: 'external-imports-as-require',
  setup(b) {
    const names = new Set(EXTERNAL);
    b.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'dynamic-import' && names.has(args.path)
        ? { path: args.path, namespace: 'external-import' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'external-import' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * zod's table of translated error messages (some 60 languages, 340 KB that every start would parse)
 * reduced to the English one, which zod uses by default and meshpeer's messages are written in; only
 * `z.locales`, which meshpeer does not use, loses the others.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: args.importer, namespace: 'zod-english-only' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: "export { default as en } from '../locales/en.js';",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

// The first line names the bundle by a hash of its content (the placeholder keeps lines and lengths, so
// the source map stays right once it is filled in); bundle-main.mjs finds the matching cache by it.
const ID_PLACEHOLDER = '0'.repeat(16);
const result = await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(out, 'meshpeer.cjs'),
  write: false,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  plugins: [externalImportsAsRequire, zodEnglishOnly],
  // Our modules are ES modules: where they read import.meta.url they get the bundle's own URL.
  define: { 'import.meta.url': '__meshpeerBundleUrl' },
  banner: {
    js: `// meshpeer bundle ${ID_PLACEHOLDER}\nconst __meshpeerBundleUrl = require('node:url').pathToFileURL(__filename).href;`,
  },
  sourcemap: 'linked',
  legalComments: 'eof',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

/** Writes a file whole or not at all: other processes may be starting from dist/ meanwhile. */
function replace(path, contents) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

const bundle = result.outputFiles.find((f) => f.path.endsWith('.cjs'));
const id = createHash('sha256').update(bundle.contents).digest('hex').slice(0, 16);
for (const f of result.outputFiles) {
  // main.ts's #! line, which only an executable file needs, becomes a comment (same length).
  replace(f.path, f === bundle ? f.text.replace(/^#!/, '//').replace(ID_PLACEHOLDER, id) : f.contents);
}
const main = join(out, 'main.js');
copyFileSync(join(root, 'src/cli/bundle-main.mjs'), `${main}.${process.pid}.tmp`);
chmodSync(`${main}.${process.pid}.tmp`, 0o755);
renameSync(`${main}.${process.pid}.tmp`, main);
rmSync(`${main}.map`, { force: true }); // tsc's, for the file main.js no longer is
// Caches of other bundles (a running process has read its cache when it started), and the chunks of the
// earlier, ES-module bundle once 10 minutes old (a process started from it may still load one on use).
for (const f of readdirSync(out)) {
  const stale =
    (/^meshpeer\.[0-9a-f]{16}\.v8cache$/.test(f) && f !== `meshpeer.${id}.v8cache`) ||
    (/^main-[\w-]+\.js(\.map)?$/.test(f) && Date.now() - statSync(join(out, f)).mtimeMs > 10 * 60_000);
  if (stale) rmSync(join(out, f));
}

const cache = await makeCodeCache();
console.error(
  `bundle: dist/src/cli/meshpeer.cjs ${(bundle.contents.length / 1024).toFixed(0)} KiB (${id}); ` +
    (cache.ok
      ? `code cache written (${cache.ms} ms)`
      : `no code cache (${cache.reason}): starts compile as usual`),
);

/**
 * Starts `meshpeer server --dev` from the new executable with MESHPEER_WRITE_CODE_CACHE=1, waits for its
 * API to answer, and stops it: on exit it writes the cache, holding what a start compiles. A build where
 * that cannot run (no loopback) still succeeds, without a cache.
 */
async function makeCodeCache() {
  const started = Date.now();
  const port = await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
  const child = spawn(
    process.execPath,
    [main, 'server', '--dev', '--http-addr', `127.0.0.1:${port}`, '--grpc-addr', '127.0.0.1:0'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MESHPEER_WRITE_CODE_CACHE: '1', MESHPEER_LOG_LEVEL: 'error' },
    },
  );
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const answers = () =>
    new Promise((resolve) => {
      const req = get({ host: '127.0.0.1', port, path: '/v1/status/leader', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
  let ready = false;
  while (!ready && child.exitCode === null && Date.now() - started < 60_000) {
    ready = await answers();
    if (!ready) await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(ready ? 'SIGTERM' : 'SIGKILL');
  const { code, signal } = await exited;
  const written = readdirSync(out).includes(`meshpeer.${id}.v8cache`);
  if (ready && written) return { ok: true, ms: Date.now() - started };
  const why = ready ? `the server exited with ${code ?? signal}` : 'the server did not answer';
  return { ok: false, reason: `${why}${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}` };
}
