// The data-plane exports rules (test/security/dataplane-exports.test.ts) with cluster-01's gateway run
// as `meshpeer gateway --engine haproxy` or `--engine nginx` (each engine's test file runs this suite):
// three real servers (cluster-01 exports; cluster-02 and cluster-03 are its peers), real sidecar
// processes, workload leaves from each cluster's own server. The gateway forwards only names exported to
// the peer the name claims; a name claiming another peer is forwarded and refused by the sidecar, from
// the caller's certificate; changes of exports reach the engine live, without restarting it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoServer } from '../../src/dataplane/testing/traffic.js';
import {
  counter,
  type DataplaneProcess,
  logRecords,
  sidecarRefusals,
} from '../security/dataplane-processes.js';
import {
  EXPORTS,
  type ExportsTopology,
  exportsOf,
  ok,
  startExportsTopology,
} from '../security/exports-topology.js';
import { eventually, type ServerProcess } from '../support/meshpeer-process.js';

export function exportsSuite(engine: 'haproxy' | 'nginx'): void {
  let topology: ExportsTopology | undefined;
  let c1: ServerProcess;
  let gateway: DataplaneProcess;
  let sidecars: Record<string, DataplaneProcess>;
  let apps: Record<string, EchoServer>;
  let leaves: ExportsTopology['leaves'];
  let sni: ExportsTopology['sni'];
  let viaGateway: ExportsTopology['viaGateway'];

  const forwarded = () =>
    counter(gateway, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' });
  /**
   * A counter once connections that ended earlier are all in it: nginx's lines of connections that ended
   * well reach meshpeer within its log's flush time (1 s), so two readings that far apart must agree.
   */
  async function steady(read: () => Promise<number>): Promise<number> {
    let last = await read();
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const now = await read();
      if (now === last) return now;
      last = now;
    }
    return last;
  }

  /** Connections the gateway refused, whatever the reason. */
  const rejected = () => counter(gateway, 'meshpeer_gateway_connections_refused_total');

  beforeAll(async () => {
    topology = await startExportsTopology(['--engine', engine]);
    ({ c1, gateway, sidecars, apps, leaves, sni, viaGateway } = topology);
  }, 180_000);

  afterAll(async () => {
    await topology?.stop();
  });

  describe(`a mesh gateway on ${engine}, between real peers`, () => {
    it(`is ${engine} carrying the connections`, () => {
      expect(logRecords(gateway, new RegExp(`^${engine} started$`))).toHaveLength(1);
    });

    it('refuses, before any sidecar, a name for a service not exported to the peer it names', async () => {
      const [reached, refusedBefore] = [(apps.secret as EchoServer).connections, await rejected()];
      expect((await viaGateway(leaves.c2, sni('secret', 'cluster-02'))).data).toBe('');
      expect((await viaGateway(leaves.c2, sni('lonely', 'cluster-02'))).data).toBe('');
      expect((await viaGateway(leaves.c3, sni('lonely', 'cluster-03'))).data).toBe('');
      expect((apps.secret as EchoServer).connections).toBe(reached);
      expect((apps.lonely as EchoServer).connections).toBe(0);
      // nginx's connection lines reach meshpeer just after the connections end.
      await eventually(async () => (await rejected()) >= refusedBefore + 3);
      expect(await rejected()).toBe(refusedBefore + 3);
    });

    it("forwards a name claiming another peer, and the sidecar refuses the caller's certificate", async () => {
      const secret = sidecars.secret as DataplaneProcess;
      const [reached, forwardedBefore, refusedBefore] = [
        (apps.secret as EchoServer).connections,
        await steady(forwarded),
        await sidecarRefusals(secret),
      ];
      expect((await viaGateway(leaves.c2, sni('secret', 'cluster-03'))).data).toBe('');
      expect((apps.secret as EchoServer).connections).toBe(reached);
      await eventually(async () => (await forwarded()) >= forwardedBefore + 1);
      expect(await forwarded()).toBe(forwardedBefore + 1);
      await eventually(async () => (await sidecarRefusals(secret)) === refusedBefore + 1);
    });

    it('follows exports live: unexported, the name is refused at the gateway; exported again, it passes', async () => {
      await ok(
        c1.url,
        'PUT',
        '/v1/config',
        exportsOf([{ name: 'backend', peers: ['cluster-02', 'cluster-03'] }]),
      );
      // The sidecar may refuse first (it follows exports too); wait until the gateway itself does.
      const reached = (apps.secret as EchoServer).connections;
      await eventually(async () => {
        const refusedBefore = await rejected();
        const attempt = await viaGateway(leaves.c3, sni('secret', 'cluster-03'));
        return (
          attempt.data === '' &&
          (await eventually(async () => (await rejected()) > refusedBefore, 5_000).catch(() => false)) &&
          (await rejected()) === refusedBefore + 1
        );
      }, 20_000);
      expect((apps.secret as EchoServer).connections).toBe(reached);
      await ok(c1.url, 'PUT', '/v1/config', EXPORTS);
      await eventually(
        async () => (await viaGateway(leaves.c3, sni('secret', 'cluster-03'), 'back')).data === 'back',
        20_000,
      );
      // Applied through the runtime API or a reload: the engine's master was never restarted.
      expect(logRecords(gateway, new RegExp(`^${engine} started$`))).toHaveLength(1);
      expect(logRecords(gateway, new RegExp(`^${engine} is down`))).toHaveLength(0);
    });
  });
}
