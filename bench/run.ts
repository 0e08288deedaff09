// `npm run bench`: runs every benchmark module in bench/ one after another. A module is a benchmark if
// it exports `main()`; helpers (forked children, shared code) are skipped without being imported.
//   npm run bench                     all of them
//   npm run bench -- control-plane    only the named ones
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const FIRST = ['control-plane', 'dataplane'];

interface BenchModule {
  main?: () => Promise<unknown>;
}

export async function runAll(only: readonly string[] = []): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url));
  const self = basename(fileURLToPath(import.meta.url));
  const candidates = readdirSync(here)
    .filter((f) => f.endsWith('.js') && f !== self)
    .filter((f) => /export\s+(async\s+)?function\s+main\s*\(/.test(readFileSync(join(here, f), 'utf8')))
    .map((f) => f.slice(0, -'.js'.length))
    .filter((name) => only.length === 0 || only.includes(name))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (candidates.length === 0) {
    process.stderr.write(
      `no benchmark modules${only.length ? ` named ${only.join(', ')}` : ''} in ${here}\n`,
    );
    return 1;
  }
  let failures = 0;
  for (const name of candidates) {
    process.stdout.write(`\n=== bench/${name} ===\n`);
    const t0 = Date.now();
    try {
      const mod = (await import(pathToFileURL(join(here, `${name}.js`)).href)) as BenchModule;
      if (typeof mod.main !== 'function') {
        process.stdout.write('(no main(); skipped)\n');
        continue;
      }
      await mod.main();
      process.stdout.write(`--- ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    } catch (err) {
      failures++;
      process.stdout.write(
        `--- ${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
  }
  return failures === 0 ? 0 : 1;
}

function rank(name: string): number {
  const i = FIRST.indexOf(name);
  return i === -1 ? FIRST.length : i;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runAll(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
