// `npm run bench`: runs every benchmark module in bench/ one after another. A module that exports
// `main()` is imported and its main awaited; a script-style benchmark (one that calls main() itself when
// loaded) runs as its own `node` process. Helpers (forked children, shared code) are skipped.
//   npm run bench                     all of them
//   npm run bench -- control-plane    only the named ones
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const FIRST = ['control-plane', 'dataplane'];

interface BenchModule {
  main?: () => Promise<unknown>;
}

type Kind = 'module' | 'script';

function kindOf(source: string, name: string): Kind | undefined {
  if (/export\s+(async\s+)?function\s+main\s*\(/.test(source)) return 'module';
  if (!name.endsWith('-child') && /^main\(\)/m.test(source)) return 'script';
  return undefined;
}

export async function runAll(only: readonly string[] = []): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url));
  const self = basename(fileURLToPath(import.meta.url));
  const benches = readdirSync(here)
    .filter((f) => f.endsWith('.js') && f !== self)
    .map((f) => {
      const name = f.slice(0, -'.js'.length);
      return { name, file: join(here, f), kind: kindOf(readFileSync(join(here, f), 'utf8'), name) };
    })
    .filter((b): b is { name: string; file: string; kind: Kind } => b.kind !== undefined)
    .filter((b) => only.length === 0 || only.includes(b.name))
    .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  if (benches.length === 0) {
    process.stderr.write(
      `no benchmark modules${only.length ? ` named ${only.join(', ')}` : ''} in ${here}\n`,
    );
    return 1;
  }
  let failures = 0;
  for (const b of benches) {
    process.stdout.write(`\n=== bench/${b.name} ===\n`);
    const t0 = Date.now();
    try {
      if (b.kind === 'module') {
        const mod = (await import(pathToFileURL(b.file).href)) as BenchModule;
        if (typeof mod.main !== 'function') throw new Error('exports no main()');
        await mod.main();
      } else {
        await runScript(b.file);
      }
      process.stdout.write(`--- ${b.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    } catch (err) {
      failures++;
      process.stdout.write(
        `--- ${b.name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
  }
  return failures === 0 ? 0 : 1;
}

function runScript(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`exited with ${code ?? signal}`));
    });
  });
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
