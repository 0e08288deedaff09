// `meshpeer server --ca-cluster-id` (Consul's connect.ca_config.cluster_id) on real processes: a new
// CA's trust domain is <id>.consul, a restart with another ID keeps the CA's own and says so, and an ID
// that is not a UUID stops the server before it starts, naming the problem.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, CLI, startServerProcess } from '../support/meshpeer-process.js';

const FIRST = '11111111-2222-3333-4444-555555555555';
const SECOND = '66666666-7777-8888-9999-000000000000';

describe('--ca-cluster-id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshpeer-cluster-id-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("sets a new CA's trust domain; an existing CA keeps its own and logs that", async () => {
    const first = await startServerProcess({ dataDir: dir, extraArgs: ['--ca-cluster-id', FIRST] });
    try {
      const roots = await api<{ TrustDomain: string }>(`${first.url}/v1/connect/ca/roots`);
      expect(roots.body.TrustDomain).toBe(`${FIRST}.consul`);
    } finally {
      await first.stop();
    }
    const second = await startServerProcess({ dataDir: dir, extraArgs: ['--ca-cluster-id', SECOND] });
    try {
      const roots = await api<{ TrustDomain: string }>(`${second.url}/v1/connect/ca/roots`);
      expect(roots.body.TrustDomain).toBe(`${FIRST}.consul`);
      expect(second.logs.join('\n')).toContain('--ca-cluster-id applies to a new CA only');
    } finally {
      await second.stop();
    }
  });

  it('refuses an ID that is not a UUID', () => {
    const run = spawnSync(
      process.execPath,
      [
        CLI,
        'server',
        '--dev',
        '--http-addr',
        '127.0.0.1:0',
        '--grpc-addr',
        '127.0.0.1:0',
        '--ca-cluster-id',
        'prod',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('cluster ID "prod" is not valid: it must be a UUID');
  });
});
