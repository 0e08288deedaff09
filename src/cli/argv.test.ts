import { describe, expect, it } from 'vitest';
import { longFlagNames, normalizeArgv } from './argv.js';
import { buildProgram } from './run.js';

const io = { stdout: { write: () => true }, stderr: { write: () => true } };
const flags = longFlagNames(buildProgram(io));

describe('normalizeArgv', () => {
  it('rewrites Consul-style single-dash long flags the program knows', () => {
    expect(
      normalizeArgv(['config', 'read', '-kind', 'mesh', '-name=mesh', '-http-addr', 'h:1', '-json'], flags),
    ).toEqual(['config', 'read', '--kind', 'mesh', '--name=mesh', '--http-addr', 'h:1', '--json']);
  });

  it('covers every flag the brief lists, including ones with dashes inside', () => {
    const argv = ['-kind', '-name', '-cas', '-modify-index=3', '-id', '-peer', '-peering-token', '-tags'];
    expect(normalizeArgv(argv, flags)).toEqual([
      '--kind',
      '--name',
      '--cas',
      '--modify-index=3',
      '--id',
      '--peer',
      '--peering-token',
      '--tags',
    ]);
  });

  it('leaves short flags, unknown words, values and everything after -- alone', () => {
    expect(normalizeArgv(['-h', '-unknown', 'web.json', '-', '--', '-kind'], flags)).toEqual([
      '-h',
      '-unknown',
      'web.json',
      '-',
      '--',
      '-kind',
    ]);
  });

  it('knows -help and -version as Consul spells them', () => {
    expect(normalizeArgv(['-help', '-version'], flags)).toEqual(['--help', '--version']);
  });
});
