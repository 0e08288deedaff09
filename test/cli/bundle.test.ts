// The executable `npm run build` makes (src/cli/bundle.mjs): dist/src/cli/main.js runs the one-file bundle
// meshpeer.cjs, and the V8 code cache written beside it is one V8 accepts for that bundle, so that starts
// skip compiling. (How fast it starts is measured in bench/startup.)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = resolve(import.meta.dirname, '../../dist/src/cli');
const version = (
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }
).version;

describe('the bundled executable', () => {
  it('is main.js running meshpeer.cjs', () => {
    expect(readFileSync(resolve(cli, 'main.js'), 'utf8')).toContain(
      "new URL('./meshpeer.cjs', import.meta.url)",
    );
    expect(execFileSync(process.execPath, [resolve(cli, 'main.js'), '--version'], { encoding: 'utf8' })).toBe(
      `${version}\n`,
    );
  });

  it("has a code cache for this bundle that V8 accepts (in a fresh node, as the executable's own)", () => {
    const source = readFileSync(resolve(cli, 'meshpeer.cjs'), 'utf8');
    const id = /^\/\/ meshpeer bundle ([0-9a-f]{16})$/m.exec(source.slice(0, 200))?.[1];
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    const cache = resolve(cli, `meshpeer.${id}.v8cache`);
    expect(existsSync(cache)).toBe(true);
    // Compiled the way main.js compiles it: V8 checks the cache against the source and its own version.
    const check = `
      const { readFileSync } = require('node:fs');
      const vm = require('node:vm');
      const source = readFileSync(${JSON.stringify(resolve(cli, 'meshpeer.cjs'))}, 'utf8');
      const wrapped = '(function (exports, require, module, __filename, __dirname) {' + source + '\\n})';
      const script = new vm.Script(wrapped, { cachedData: readFileSync(${JSON.stringify(cache)}) });
      process.stdout.write(String(script.cachedDataRejected));
    `;
    expect(execFileSync(process.execPath, ['-e', check], { encoding: 'utf8' })).toBe('false');
  });
});
