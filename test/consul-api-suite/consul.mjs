#!/usr/bin/env node
// A `consul` stand-in for HashiCorp's consul/api test suite (github.com/hashicorp/consul/sdk/testutil
// runs `consul version -format=json` and `consul agent -config-file <json>` from $PATH).
//
//   consul version [-format=json]      reports the Consul API version meshpeer follows
//   consul agent -config-file FILE     translates the agent config into `meshpeer server` flags and
//                                      becomes that server (in this process: one Node start-up, and
//                                      SIGINT from the test reaches the server directly)
//
// Only the settings meshpeer has are translated (listed in `serverArgs`); everything else in the
// file (serf/raft ports, performance, the rest of connect.ca_config, ...) has no meshpeer counterpart and
// is ignored.
// Needs `npm run build` (it loads dist/).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The checkout whose dist/ runs; MESHPEER_ROOT points elsewhere (the runner uses a copy of dist/, so that
// a rebuild in the working tree during a run does not change the servers it starts).
const root = process.env.MESHPEER_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (path) => pathToFileURL(resolve(root, 'dist', path)).href;

/** `meshpeer server` flags for a Consul agent JSON config (as sdk/testutil writes it). */
export function serverArgs(config) {
  const ports = config.ports ?? {};
  const bind = config.bind_addr || '127.0.0.1';
  const httpHost = typeof config.addresses?.http === 'string' ? config.addresses.http : bind;
  if (httpHost.startsWith('unix://')) throw new Error('addresses.http: unix sockets are not supported');
  const grpcPort = ports.grpc_tls > 0 ? ports.grpc_tls : Math.max(ports.grpc ?? 0, 0);
  const args = [
    'server',
    '--http-addr',
    `${httpHost}:${ports.http > 0 ? ports.http : 8500}`,
    '--grpc-addr',
    `${bind}:${grpcPort}`,
  ];
  if (config.datacenter) args.push('--datacenter', config.datacenter);
  if (config.node_name) args.push('--node-name', config.node_name);
  if (config.node_id) args.push('--node-id', config.node_id);
  const clusterId = config.connect?.ca_config?.cluster_id;
  if (clusterId) args.push('--ca-cluster-id', clusterId);
  for (const [k, v] of Object.entries(config.node_meta ?? {})) args.push('--node-meta', `${k}:${v}`);
  args.push(...(config.data_dir ? ['--data-dir', config.data_dir] : ['--dev']));
  const acl = config.acl ?? {};
  if (acl.enabled) {
    args.push('--acl-enabled');
    const management = acl.tokens?.initial_management || acl.tokens?.master;
    if (management) args.push('--acl-initial-management-token', management);
    const policy = acl.default_policy || config.acl_default_policy;
    if (policy) args.push('--acl-default-policy', policy);
  }
  return args;
}

async function main(argv) {
  const [command, ...rest] = argv;
  if (command === 'version') {
    const { CONSUL_API_VERSION } = await import(dist('src/server/consul-compat.js'));
    const { version: VERSION } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
    const info = { Version: CONSUL_API_VERSION, Revision: '', Prerelease: '', Meshpeer: VERSION };
    process.stdout.write(
      rest.includes('-format=json')
        ? `${JSON.stringify(info, null, 2)}\n`
        : `Consul v${CONSUL_API_VERSION} (meshpeer ${VERSION})\n`,
    );
    return;
  }
  if (command === 'agent') {
    const i = rest.findIndex((a) => a === '-config-file' || a === '--config-file');
    const file = i >= 0 ? rest[i + 1] : rest.find((a) => a.startsWith('-config-file='))?.split('=')[1];
    if (!file) throw new Error('consul stand-in: agent needs -config-file FILE');
    const args = serverArgs(JSON.parse(readFileSync(file, 'utf8')));
    // Become `meshpeer server ARGS`: the executable itself (dist/src/cli/main.js, bundled, which binds the
    // HTTP port as soon as it has parsed its flags), in this process, so that SIGINT reaches the server.
    const main = resolve(root, 'dist/src/cli/main.js');
    process.argv = [process.argv[0], main, ...args];
    await import(pathToFileURL(main).href);
    return;
  }
  process.stderr.write(`consul stand-in: unsupported command ${JSON.stringify(command ?? '')}\n`);
  process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
