#!/usr/bin/env node
// The `meshpeer` executable as `npm run build` installs it (dist/src/cli/main.js; src/cli/bundle.mjs
// copies this file there): runs the bundle beside it, meshpeer.cjs (src/cli/main.ts with everything it
// imports, one file), compiled with V8's code cache for that very bundle when there is one, so that a
// start neither walks hundreds of modules nor compiles them again.
//
// The cache (meshpeer.<bundle id>.v8cache) is written by the build (a server started and stopped with
// MESHPEER_WRITE_CODE_CACHE=1, which makes this file save it on exit). V8 refuses a cache made by
// another Node version or with other V8 flags (the bundle then compiles as usual); the bundle's id is a
// hash of its content, so a cache is never used for another bundle.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const file = fileURLToPath(new URL('./meshpeer.cjs', import.meta.url));
const source = readFileSync(file, 'utf8');
const id = /^\/\/ meshpeer bundle ([0-9a-f]{16})$/m.exec(source.slice(0, 200))?.[1];
const cacheFile = id === undefined ? undefined : join(dirname(file), `meshpeer.${id}.v8cache`);
let cachedData;
try {
  if (cacheFile !== undefined) cachedData = readFileSync(cacheFile);
} catch {
  // no cache: compile as usual
}
// The CommonJS module wrapper, on the bundle's first line so that its line numbers stay as they are.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: file,
  ...(cachedData !== undefined ? { cachedData } : {}),
});
if (process.env.MESHPEER_WRITE_CODE_CACHE === '1' && cacheFile !== undefined) {
  // On exit: the cache then holds every function the run compiled, not only the top level.
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
  });
}
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
