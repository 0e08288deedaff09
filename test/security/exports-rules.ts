// The data-plane exports rules (issue 9, item 5) as one suite, run with each sidecar engine: a peer
// reaches only what is exported to it, whatever SNI name it sends and whichever sidecar it dials. Three
// real `meshpeer server` processes (cluster-01 exports; cluster-02 and cluster-03 are its peers),
// cluster-01's real `meshpeer gateway` and `meshpeer proxy` processes, and workload leaves issued by each
// cluster's own server. ACLs are off, so the sidecars' default intention is allow: every refusal below
// comes from identity and exports, not from a deny default.
//
// The engines refuse the same connections at different steps: the Node sidecar completes the handshake
// against every root it trusts and then finds the caller's peer from its certificate, and so does the
// nginx sidecar (its njs check tells the peer by the leaf's issuer); the HAProxy sidecar checks the
// chain, during the handshake, only against the trust set of the peer its SNI names (our roots for any
// other name), so a peer's leaf sent with another peer's name, or with no peer's name, fails the
// handshake ("tls-handshake") before an intention is consulted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoServer } from '../../src/dataplane/testing/traffic.js';
import { tlsAttempt } from '../dataplane/helpers.js';
import { eventually, type ServerProcess } from '../support/meshpeer-process.js';
import {
  counter,
  type DataplaneProcess,
  logRecords,
  newestLogRecord,
  sidecarRefusals,
} from './dataplane-processes.js';
import { EXPORTS, type ExportsTopology, exportsOf, ok, startExportsTopology } from './exports-topology.js';

export type SidecarEngine = 'node' | 'haproxy' | 'nginx';

export function describeExportsRules(engine: SidecarEngine): void {
  let topology: ExportsTopology | undefined;
  let c1: ServerProcess;
  let roots1: string[];
  let gateway: DataplaneProcess;
  let sidecars: Record<string, DataplaneProcess>;
  let apps: Record<string, EchoServer>;
  let leaves: ExportsTopology['leaves'];
  let sni: ExportsTopology['sni'];
  let viaGateway: ExportsTopology['viaGateway'];

  /**
   * A connection straight to a sidecar's mTLS listener, with the SNI name the caller's own cluster is
   * given for the service (the Node sidecar ignores it; the HAProxy sidecar picks the trust set by it).
   */
  const direct = (service: string, leaf: ExportsTopology['leaves']['c2'], payload = 'let me in') =>
    tlsAttempt((sidecars[service] as DataplaneProcess).address, {
      servername:
        leaf === leaves.c2
          ? sni(service, 'cluster-02')
          : leaf === leaves.c3
            ? sni(service, 'cluster-03')
            : service,
      ca: roots1,
      leaf,
      payload,
    });

  beforeAll(async () => {
    topology = await startExportsTopology([], engine === 'node' ? [] : ['--engine', engine]);
    ({ c1, roots1, gateway, sidecars, apps, leaves, sni, viaGateway } = topology);
  }, 180_000);

  afterAll(async () => {
    await topology?.stop();
  });

  describe("the bundles a service's sidecar trusts", () => {
    it('are those of the peers the service is exported to, and no other', async () => {
      const peersOf = async (service: string) =>
        (
          (await ok(c1.url, 'GET', `/v1/internal/meshpeer/trust-bundles/${service}`)) as {
            PeerName: string;
          }[]
        )
          .map((b) => b.PeerName)
          .sort();
      expect(await peersOf('secret')).toEqual(['cluster-03']);
      expect(await peersOf('backend')).toEqual(['cluster-02', 'cluster-03']);
      expect(await peersOf('lonely')).toEqual([]);
    });
  });

  describe("a peer's workload with its own valid leaf", () => {
    it('reaches a service exported to its peer (control)', async () => {
      expect((await viaGateway(leaves.c3, sni('secret', 'cluster-03'), 'ok')).data).toBe('ok');
      expect((await viaGateway(leaves.c2, sni('backend', 'cluster-02'), 'ok')).data).toBe('ok');
    });

    it('cannot reach a service exported to another peer by naming that peer in the SNI', async () => {
      const secret = sidecars.secret as DataplaneProcess;
      const app = apps.secret as EchoServer;
      const [reached, forwarded, refused] = [
        app.connections,
        await counter(gateway, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' }),
        await sidecarRefusals(secret),
      ];
      // cluster-02's leaf, the SNI name cluster-01 gives secret for cluster-03.
      const attempt = await viaGateway(leaves.c2, sni('secret', 'cluster-03'));
      expect(attempt.data).toBe('');
      expect(app.connections).toBe(reached);
      // The gateway only picked the route (secret is exported to cluster-03); the sidecar refused.
      expect(
        await counter(gateway, 'meshpeer_gateway_connections_forwarded_total', { route: 'inbound' }),
      ).toBe(forwarded + 1);
      await eventually(async () => (await sidecarRefusals(secret)) === refused + 1);
    });

    it('cannot reach that sidecar directly either', async () => {
      const reached = (apps.secret as EchoServer).connections;
      const refused = await sidecarRefusals(sidecars.secret as DataplaneProcess);
      expect((await direct('secret', leaves.c2)).data).toBe('');
      expect((apps.secret as EchoServer).connections).toBe(reached);
      await eventually(
        async () => (await sidecarRefusals(sidecars.secret as DataplaneProcess)) === refused + 1,
      );
    });

    it('cannot reach the sidecar of a service exported to nobody, from any peer', async () => {
      const lonely = sidecars.lonely as DataplaneProcess;
      const refused = await sidecarRefusals(lonely);
      expect((await direct('lonely', leaves.c2)).data).toBe('');
      expect((await direct('lonely', leaves.c3)).data).toBe('');
      expect((apps.lonely as EchoServer).connections).toBe(0);
      await eventually(async () => (await sidecarRefusals(lonely)) === refused + 2);
      // The gateway refuses such a name early, too.
      expect((await viaGateway(leaves.c2, sni('lonely', 'cluster-02'))).data).toBe('');
      expect((apps.lonely as EchoServer).connections).toBe(0);
    });

    it('leaves local callers as they were', async () => {
      expect((await direct('lonely', leaves.local, 'local')).data).toBe('local');
      expect((await direct('secret', leaves.local, 'local')).data).toBe('local');
    });
  });

  describe('intentions match the peer the certificate proves, never the one the SNI names', () => {
    beforeAll(async () => {
      await ok(c1.url, 'PUT', '/v1/config', {
        Kind: 'service-intentions',
        Name: 'backend',
        Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'deny' }],
      });
      // Applied once cluster-02's own route is refused by the intention, and stays refused. An empty
      // answer alone proves nothing: a connection can fail for other reasons while the sidecar reloads.
      const backend = sidecars.backend as DataplaneProcess;
      const deniedByIntention = async (): Promise<boolean> => {
        const denied = await sidecarRefusals(backend, 'intention-deny');
        if ((await viaGateway(leaves.c2, sni('backend', 'cluster-02'))).data !== '') return false;
        return await eventually(
          async () => (await sidecarRefusals(backend, 'intention-deny')) > denied,
          5_000,
        ).then(
          () => true,
          () => false,
        );
      };
      await eventually(async () => await holds(deniedByIntention), 20_000);
    });

    it("denies cluster-02's frontend even when it sends cluster-03's SNI name", async () => {
      const backend = sidecars.backend as DataplaneProcess;
      const reached = (apps.backend as EchoServer).connections;
      const [denied, refused] = [
        await sidecarRefusals(backend, 'intention-deny'),
        await sidecarRefusals(backend),
      ];
      expect((await viaGateway(leaves.c2, sni('backend', 'cluster-03'))).data).toBe('');
      expect((await direct('backend', leaves.c2)).data).toBe('');
      expect((apps.backend as EchoServer).connections).toBe(reached);
      // The Node and nginx sidecars refuse both by the intention. HAProxy refuses the first at the
      // handshake: cluster-03's name selects cluster-03's roots, which do not chain cluster-02's leaf.
      const byIntention = engine === 'haproxy' ? 1 : 2;
      await eventually(
        async () =>
          (await sidecarRefusals(backend, 'intention-deny')) === denied + byIntention &&
          (await sidecarRefusals(backend)) === refused + 2,
      );
      const refusal = await newestLogRecord(
        backend,
        /refused inbound connection/,
        (r) => r.reason === 'intention-deny',
      );
      expect(refusal).toMatchObject({ caller: expect.stringContaining('/svc/frontend') });
    });

    it("lets cluster-03's frontend in with its own SNI name; with another peer's, as the engine checks it", async () => {
      expect((await viaGateway(leaves.c3, sni('backend', 'cluster-03'), 'three')).data).toBe('three');
      // The Node and nginx sidecars go by the certificate alone. HAProxy checks the chain against the
      // roots of the peer the name claims, so a caller sending another peer's name is refused, even a
      // legitimate one: its own cluster only ever gives it its own name.
      const other = await viaGateway(leaves.c3, sni('backend', 'cluster-02'), 'still three');
      expect(other.data).toBe(engine === 'haproxy' ? '' : 'still three');
    });
  });

  describe('exports are followed live', () => {
    it("refuses cluster-03 at secret's sidecar once secret is no longer exported to it", async () => {
      await ok(
        c1.url,
        'PUT',
        '/v1/config',
        exportsOf([{ name: 'backend', peers: ['cluster-02', 'cluster-03'] }]),
      );
      await eventually(
        async () => await holds(async () => (await direct('secret', leaves.c3)).data === ''),
        20_000,
      );
      const reached = (apps.secret as EchoServer).connections;
      expect((await direct('secret', leaves.c3)).data).toBe('');
      expect((apps.secret as EchoServer).connections).toBe(reached);
      await ok(c1.url, 'PUT', '/v1/config', EXPORTS);
      await eventually(
        async () => await holds(async () => (await direct('secret', leaves.c3, 'back')).data === 'back'),
        20_000,
      );
    });
  });

  describe('the default intention with ACLs off', () => {
    it('is allow, and every sidecar says why', () => {
      for (const p of Object.values(sidecars)) {
        expect(logRecords(p, /^default intention action: allow/)[0]).toMatchObject({
          defaultIntention: 'allow',
          why: 'ACLs are disabled on the server',
        });
      }
    });
  });
}

/**
 * Whether `check` passes three times in a row, 100 ms apart: a configuration change counts as applied
 * only then. An HAProxy or nginx sidecar reloads for it, and for a moment the old worker still takes
 * some new connections under the old configuration (nginx tells its old workers to stop accepting
 * only after the new one runs).
 */
async function holds(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    if (!(await check())) return false;
  }
  return true;
}
