// Bundles the `meshpeer` executable with esbuild, so that it starts in one file read instead of Node's
// ESM loader walking hundreds of modules (most of the start-up time): dist/src/cli/main.js, tsc's output,
// is replaced by src/cli/main.ts with what it imports, our code and the packages alike. What the CLI
// loads on use (the server, controller, demo, ...) stays loaded on use: each becomes a chunk beside it,
// dist/src/cli/main-*.js. Run by `npm run build` after tsc; the other files in dist/ stay as tsc wrote
// them (tests and tools import them one by one).
//
// The bundle and its chunks sit where tsc's files sit (dist/src/<dir>/), so the paths our modules read
// relative to import.meta.url (package.json for the version, dist/ui for the web UI) still lead to the same
// files. Left to load from node_modules at run time (EXTERNAL): native addons, and packages that read
// their own files relative to where they are installed.
// It sits in src/ so that everything the build needs comes with src (the Dockerfile copies src, not scripts).
import { readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(root, 'dist/src/cli');

const EXTERNAL = [
  'better-sqlite3', // native addon, found by `bindings` relative to its package
  'etcd3', // loads its .proto files from its package directory
  '@cdktf/hcl2json', // loads its WebAssembly from its package directory
  '@kubernetes/client-node', // large, and only for the controller and gateway commands (loaded on use)
  '@grpc/proto-loader', // with protobufjs: required by @grpc/grpc-js only when channelz or ORCA is used
];

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

const result = await build({
  entryPoints: { main: join(root, 'src/cli/main.ts') },
  outdir: out,
  chunkNames: 'main-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  plugins: [zodEnglishOnly],
  // Packages written as CommonJS call require(), which an ES module does not have: each file makes its own.
  banner: {
    js: [
      "import { createRequire as __meshpeerCreateRequire } from 'node:module';",
      'const require = __meshpeerCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  sourcemap: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
// Chunks of earlier builds (their names carry content hashes) are removed once they are 10 minutes old:
// a process started from the previous main.js may still load one of its chunks on use.
const fresh = new Set(Object.keys(result.metafile.outputs).map((f) => basename(f)));
for (const f of readdirSync(out)) {
  if (!/^main-[\w-]+\.js(\.map)?$/.test(f) || fresh.has(f)) continue;
  if (Date.now() - statSync(join(out, f)).mtimeMs > 10 * 60_000) rmSync(join(out, f));
}
const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));
const bytes = outputs.reduce((n, [, o]) => n + o.bytes, 0);
const entry = outputs.find(([f]) => f.endsWith('/main.js'))?.[1].bytes ?? 0;
console.error(
  `bundle: dist/src/cli/main.js ${(entry / 1024).toFixed(0)} KiB + ${outputs.length - 1} chunks, ${(bytes / 1024).toFixed(0)} KiB in all`,
);
