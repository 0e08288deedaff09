// `meshpeer demo`: two peered clusters on loopback in one command; prints what cluster-02 sees of
// cluster-01's exported `backend` and both peerings' status. Runs until Ctrl-C, or verifies and exits
// with --once.
import { Command } from 'commander';
import type { Demo } from '../demo/two-clusters.js';

interface ImportedInstance {
  Node: { Node: string };
  Service: {
    ID: string;
    Service: string;
    Address: string;
    Port: number;
    PeerName?: string;
    Meta: Record<string, string>;
  };
  Checks: Array<{ Status: string }>;
}

interface PeeringStatus {
  Name: string;
  State: string;
  StreamStatus: { ImportedServices: string[]; ExportedServices: string[]; LastHeartbeat?: string };
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'Run two meshpeer clusters (cluster-01, cluster-02) on loopback with temporary data dirs, peer them,\n' +
        'export service "backend" from cluster-01 to cluster-02, and show what cluster-02 sees.',
    )
    .option('--once', 'verify that the import arrived, print the result and exit (0 on success)', false)
    .option('--log-level <level>', 'server log level (logs go to stderr)', 'warn')
    .addHelpText('after', '\nExamples:\n  meshpeer demo\n  meshpeer demo --once')
    .action(async (o: { once: boolean; logLevel: string }) => {
      const say = (line: string): void => {
        process.stdout.write(`${line}\n`);
      };
      const { startDemo } = await import('../demo/two-clusters.js');
      const demo = await startDemo({ logLevel: o.logLevel, say });
      const { startTraffic } = await import('../demo/traffic.js');
      const { createLogger } = await import('../shared/logger.js');
      const { failoverAct, startFailoverStage } = await import('../demo/failover.js');
      let traffic: Awaited<ReturnType<typeof startTraffic>> | undefined;
      let failover: Awaited<ReturnType<typeof startFailoverStage>> | undefined;
      const stopAll = async (): Promise<void> => {
        await failover?.stop();
        await traffic?.stop();
        await demo.stop();
      };
      try {
        say('starting a mesh gateway in each cluster, a sidecar for backend and one for frontend…');
        traffic = await startTraffic(
          demo.clusters,
          demo.backendApp,
          createLogger({ name: 'dataplane', level: o.logLevel }),
        );
        await report(demo, say);
        await reportTraffic(traffic, say);
        failover = await startFailoverStage(
          demo.clusters[1],
          createLogger({ name: 'dataplane', level: o.logLevel }),
        );
        await failoverAct(failover, demo.clusters[1], say);
      } catch (err) {
        await stopAll();
        throw err;
      }
      if (o.once) {
        await stopAll();
        say('demo verified; stopped both clusters');
        return;
      }
      const [c1, c2] = demo.clusters;
      const up = traffic?.frontendUpstream;
      // Listen for Ctrl-C before saying so: a signal sent the moment the line appears must not find
      // the default handler still in place.
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          say('\nstopping…');
          void stopAll().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      say(
        `\nrunning. Try:\n  curl '${c2.url}/v1/health/service/backend?peer=cluster-01'\n` +
          `  curl http://${up?.host}:${up?.port}/   # as frontend in cluster-02, through both gateways\n` +
          `  curl http://${failover?.upstream.host}:${failover?.upstream.port}/   # frontend's local backend upstream (fails over to cluster-01)\n` +
          `  MESHPEER_HTTP_ADDR=${c1.url} meshpeer peering list\nCtrl-C stops both clusters.`,
      );
      await stopped;
    });
}

async function report(demo: Demo, say: (line: string) => void): Promise<void> {
  const { call, waitFor } = await import('../demo/two-clusters.js');
  const [c1, c2] = demo.clusters;
  let instances: ImportedInstance[] = [];
  await waitFor(async () => {
    instances = (await call(
      c2.url,
      'GET',
      '/v1/health/service/backend?peer=cluster-01',
    )) as ImportedInstance[];
    return instances.length > 0;
  }, 15_000);
  say('\ncluster-02 sees, imported from peer cluster-01:');
  for (const i of instances) {
    const health = i.Checks.every((c) => c.Status === 'passing') ? 'passing' : 'not passing';
    say(
      `  ${i.Service.Service} ${i.Service.ID} on ${i.Node.Node} -> ${i.Service.Address}:${i.Service.Port} ` +
        `(PeerName ${i.Service.PeerName}, ${health}, SNI ${i.Service.Meta['meshpeer-sni'] ?? '-'})`,
    );
  }
  say('\npeerings:');
  for (const [cluster, peer] of [
    [c1, 'cluster-02'],
    [c2, 'cluster-01'],
  ] as const) {
    const p = (await call(cluster.url, 'GET', `/v1/peering/${peer}`)) as PeeringStatus & { Reason?: string };
    say(
      `  ${cluster.name} -> ${p.Name}: ${p.State}; exports [${p.StreamStatus.ExportedServices.join(', ')}], ` +
        `imports [${p.StreamStatus.ImportedServices.join(', ')}]${p.Reason ? `; note: ${p.Reason}` : ''}`,
    );
  }
}

async function reportTraffic(
  traffic: import('../demo/traffic.js').DemoTraffic,
  say: (line: string) => void,
): Promise<void> {
  const { callBackend, gatewayCounts } = await import('../demo/traffic.js');
  const answer = await callBackend(traffic);
  const counts = await gatewayCounts(traffic);
  const fmt = (e: { host: string; port: number }): string => `${e.host}:${e.port}`;
  const [gw1, gw2] = traffic.gateways;
  say('\nfrontend (cluster-02) -> backend (cluster-01):');
  say(`  answer: ${answer.trim()}`);
  say('  path:');
  say(`    frontend app -> frontend sidecar upstream ${fmt(traffic.frontendUpstream)} (cluster-02)`);
  say(
    `    -> mesh gateway ${gw2 ? fmt(gw2.address) : '?'} (cluster-02, local mode) -> mesh gateway ${gw1 ? fmt(gw1.address) : '?'} (cluster-01)`,
  );
  say(
    `    -> backend sidecar ${fmt(traffic.backendSidecar)} (mTLS, intention frontend@cluster-02 allowed) -> backend app ${fmt(traffic.backendApp)}`,
  );
  for (const c of counts) {
    const routes = Object.entries(c.routes)
      .map(([r, n]) => `${r}=${n}`)
      .join(', ');
    say(`  ${c.cluster} gateway forwarded: ${routes || 'nothing'}`);
  }
}
