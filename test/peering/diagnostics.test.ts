// An exported service that does not show up in the peer must come with a reason, in the API
// and in `meshpeer peering read`.
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/meshpeer-process.js';
import {
  Cluster,
  eventually,
  exportServices,
  peer,
  readPeering,
  register,
  registerGateway,
} from './helpers.js';

const cluster = new Cluster();
afterAll(() => cluster.stopAll());

function peeringRead(url: string, name: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'peering', 'read', '--name', name], {
      env: { ...process.env, MESHPEER_HTTP_ADDR: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('exit', () => resolve(out));
  });
}

describe('why an export does not arrive', () => {
  it('names exports without instances, without passing instances, and the missing gateway', async () => {
    const [acc, dial] = await Promise.all([cluster.start('diag-acc'), cluster.start('diag-dial')]);
    await peer(acc, dial, 'acceptor', 'dialer');
    await register(acc, { node: 'n1', service: 'sick', id: 'sick-1', status: 'critical' });
    await exportServices(acc, { ghost: ['dialer'], sick: ['dialer'] });

    const warnings = await eventually(async () => {
      const p = await readPeering(acc, 'dialer');
      const w = p?.StreamStatus.Warnings ?? [];
      return w.length >= 3 ? w : undefined;
    });
    expect(warnings).toContain(
      'ghost is exported to dialer but no instance of it is registered here, so dialer imports nothing',
    );
    expect(warnings).toContain(
      'sick is exported to dialer but none of its 1 instances is passing its health checks',
    );
    expect(warnings.some((w) => w.startsWith('no mesh gateway is registered in this cluster'))).toBe(true);

    const text = await peeringRead(acc.url, 'dialer');
    expect(text).toMatch(/Warning:\s+ghost is exported to dialer but no instance/);

    // Fix both: register ghost, make sick pass, add a gateway; the warnings go away.
    await register(acc, { node: 'n2', service: 'ghost', id: 'ghost-1' });
    await register(acc, { node: 'n1', service: 'sick', id: 'sick-1', status: 'passing' });
    await registerGateway(acc);
    await eventually(
      async () => ((await readPeering(acc, 'dialer'))?.StreamStatus.Warnings ?? ['x']).length === 0,
    );
  });
});
