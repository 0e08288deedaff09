// `meshpeer server`: starts one cluster's control plane and runs until SIGINT/SIGTERM.
import { hostname } from 'node:os';
import { Command } from 'commander';
import { startServer } from '../server/server.js';

export function serverCommand(): Command {
  return new Command('server')
    .description(
      'Run a meshpeer control-plane server: the catalog, config entries, peerings and CA of one cluster,\n' +
        'served over a Consul-compatible HTTP API and the gRPC peering port.',
    )
    .option('--http-addr <host:port>', 'HTTP API listen address', '127.0.0.1:8500')
    .option('--grpc-addr <host:port>', 'gRPC (peering) listen address', '127.0.0.1:8502')
    .option('--data-dir <dir>', 'directory for the state database (SQLite, durable on commit)')
    .option('--dev', 'keep all state in memory (nothing survives a restart)', false)
    .option('--datacenter <name>', 'datacenter (cluster) name', 'dc1')
    .option('--node-name <name>', 'name of the node agent services register on', hostname())
    .option(
      '--log-level <level>',
      'trace, debug, info, warn or error',
      process.env.MESHPEER_LOG_LEVEL ?? 'info',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  meshpeer server --dev\n  meshpeer server --data-dir /var/lib/meshpeer --http-addr 0.0.0.0:8500 --datacenter cluster-01',
    )
    .action(async (o: Record<string, string | boolean>) => {
      if (!o.dev && typeof o.dataDir !== 'string') {
        throw new Error('give --data-dir DIR for durable state, or --dev to keep state in memory');
      }
      const server = await startServer({
        httpAddr: String(o.httpAddr),
        grpcAddr: String(o.grpcAddr),
        dataDir: o.dev ? undefined : String(o.dataDir),
        datacenter: String(o.datacenter),
        nodeName: String(o.nodeName),
        logLevel: String(o.logLevel),
      });
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.stop().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
