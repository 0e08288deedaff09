// Unit tests of the buffered connection log's reader, with this test writing the file as nginx does
// (appending through a descriptor it keeps, reopening the path when told to). Real nginx writes it in
// test/dataplane/nginx-connection-log.test.ts.
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { NginxConnectionLog, type NginxConnectionLogOptions } from './nginx-connection-log.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const logs: NginxConnectionLog[] = [];

afterEach(async () => {
  for (const log of logs.splice(0)) await log.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function following(options: Partial<NginxConnectionLogOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'meshpeer-connlog-'));
  dirs.push(dir);
  const lines: string[] = [];
  const log = new NginxConnectionLog({
    dir,
    name: 'connections.log',
    onLine: (line) => lines.push(line),
    reopen: () => false,
    logger,
    pollMs: 60_000,
    ...options,
  });
  await log.start();
  logs.push(log);
  return { dir, log, lines, path: join(dir, 'connections.log') };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`still waiting for ${what}`);
}

describe('NginxConnectionLog', () => {
  it('hands over each complete line once, in order, as soon as the file changes', async () => {
    const { lines, path } = await following();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    appendFileSync(path, 'meshpeer-inbound status=200 a\nmeshpeer-inbound status=200 b\nmeshpeer-inb');
    // No poll for a minute: the directory's change notice is what wakes the reader.
    await until(() => lines.length === 2, 'the first two lines');
    appendFileSync(path, 'ound status=200 c\n');
    await until(() => lines.length === 3, 'the line completed later');
    expect(lines).toEqual([
      'meshpeer-inbound status=200 a',
      'meshpeer-inbound status=200 b',
      'meshpeer-inbound status=200 c',
    ]);
  });

  it('reads on its own schedule when no change notice comes', async () => {
    const { log, lines, path } = await following({ pollMs: 50 });
    // A second reader's view: a change the watcher could not have reported (it is closed).
    (log as unknown as { watcher?: { close(): void } }).watcher?.close();
    appendFileSync(path, 'one\ntwo\n');
    await until(() => lines.length === 2, 'the polled lines');
    expect(lines).toEqual(['one', 'two']);
  });

  it('rotates a full file: lines written to the old one until nginx reopens are read, then it goes', async () => {
    let reopened = 0;
    const { dir, log, lines, path } = await following({
      rotateBytes: 100,
      retireMs: 100,
      reopen: () => {
        reopened++;
        return true;
      },
    });
    // nginx keeps its descriptor: after the rename it writes to the renamed file until it reopens.
    let fd = openSync(path, 'a');
    const written: string[] = [];
    const write = (n: number) => {
      const line = `meshpeer-upstream proxy=upstream_0 status=200 n=${n}`;
      written.push(line);
      writeSync(fd, `${line}\n`);
    };
    for (let n = 0; n < 3; n++) write(n);
    await until(() => reopened === 1, 'the rotation');
    expect(existsSync(`${path}.old`)).toBe(true);
    write(3); // into the renamed file, before nginx has reopened
    closeSync(fd);
    fd = openSync(path, 'a'); // nginx reopens the path
    write(4);
    await log.read();
    await until(() => lines.length === 5, 'every line');
    // Past its retirement the renamed file is read to its end and removed.
    await new Promise((r) => setTimeout(r, 150));
    await log.read();
    await until(() => !existsSync(`${path}.old`), 'the renamed file to go');
    closeSync(fd);
    expect([...lines].sort()).toEqual([...written].sort());
    expect(lines.slice(0, 3)).toEqual(written.slice(0, 3));
    expect(existsSync(join(dir, 'connections.log'))).toBe(true);
  });

  it('starts over when the file is replaced by a shorter one, and reads the rest when stopped', async () => {
    const { log, lines, path } = await following();
    appendFileSync(path, 'first line that is long\n');
    await until(() => lines.length === 1, 'the first line');
    rmSync(path);
    appendFileSync(path, 'short\n');
    await log.stop();
    expect(lines).toEqual(['first line that is long', 'short']);
  });
});
