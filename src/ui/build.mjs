// Bundles the web UI (src/ui, Preact + TypeScript) into dist/ui with esbuild: one minified app.js, the
// page and its stylesheet. No CDN, nothing fetched at run time; `meshpeer server` serves dist/ui at /ui/.
// It sits in src/ so that everything the build needs comes with src (the Dockerfile copies src, not scripts).
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src/ui');
const out = join(root, 'dist/ui');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(src, 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(src, f), join(out, f));
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.error(`ui: dist/ui/app.js ${(bytes / 1024).toFixed(1)} KiB`);
