// `meshpeer proxy`: runs a sidecar against a meshpeer server until SIGINT/SIGTERM.
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { assertModeAllowsPeering } from '../config-entries/mesh-gateway-mode.js';
import type { IntentionAction } from '../config-entries/service-intentions.js';
import { type Endpoint, formatEndpoint } from '../dataplane/endpoint.js';
import { ConsulApi } from '../dataplane/http/consul-api.js';
import { type UpstreamSpec, upstreamLabel } from '../dataplane/proxy/config.js';
import { parseUpstreamSpec } from '../dataplane/proxy/upstream-spec.js';
import {
  endpointOption,
  flagValue,
  healthTtl,
  type ProcessFlags,
  processSettings,
  serveUntilSignal,
  withHealthTtlOption,
  withProcessOptions,
} from './gateway-command.js';
import { CliError, UsageError } from './io.js';

interface ProxyFlags extends ProcessFlags {
  service: string;
  listen: Endpoint;
  appPort?: number;
  appHost: string;
  upstream: UpstreamSpec[];
  meshGatewayMode?: 'remote' | 'local' | 'none';
  meshGatewayService: string;
  defaultIntention?: IntentionAction;
  register?: boolean;
  advertise?: Endpoint;
  healthTtl: number;
  aclAuthMethod?: string;
  aclBearerTokenFile: string;
  aclLoginMeta: Record<string, string>;
  engine: 'node' | 'haproxy' | 'nginx';
}

/** Where Kubernetes mounts a pod's service-account token. */
export const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port (1-65535).`);
  }
  return n;
};
const upstreamOption = flagValue(parseUpstreamSpec);
const collectMeta = (value: string, previous: Record<string, string>): Record<string, string> => {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not key=value.`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
};
const collectUpstream = (value: string, previous: UpstreamSpec[]): UpstreamSpec[] => [
  ...previous,
  upstreamOption(value),
];

export function proxyCommand(): Command {
  const command = new Command('proxy')
    .description(
      'Run a sidecar proxy for one service instance: an mTLS listener in front of the app that checks the ' +
        "caller's certificate and enforces service-intentions, and a plain loopback listener per upstream that " +
        'carries connections over mTLS to local instances or, through mesh gateways, to a peer.',
    )
    .requiredOption(
      '--service <name>',
      'the service this sidecar fronts; its leaf certificate is issued for it',
    )
    .addOption(
      new Option('--listen <host:port>', 'address of the inbound mTLS listener')
        .argParser(endpointOption(true))
        .default({ host: '127.0.0.1', port: 21000 }, '127.0.0.1:21000'),
    )
    .option(
      '--app-port <port>',
      "the app's port on --app-host; without it there is no inbound listener",
      port,
    )
    .option('--app-host <host>', "the app's address", '127.0.0.1')
    .option(
      '--upstream <spec>',
      'an upstream listener, repeatable: NAME:PORT for a local service, NAME:peer=PEER:PORT for one imported ' +
        'from a peer; add mode=remote|local to override the mesh gateway mode, or HOST:PORT to bind elsewhere ' +
        'than 127.0.0.1 (e.g. backend:peer=cluster-01:9191)',
      collectUpstream,
      [],
    )
    .addOption(
      new Option(
        '--mesh-gateway-mode <mode>',
        'mesh gateway mode for peered upstreams (and peers a service-resolver sends a local upstream to) that set ' +
          'none: remote (dial the peer gateway) or local (dial this ' +
          "cluster's gateway); default: proxy-defaults MeshGateway.Mode, else remote",
      ).choices(['remote', 'local', 'none']),
    )
    .option(
      '--mesh-gateway-service <name>',
      "the name this cluster's mesh gateways are registered under",
      'mesh-gateway',
    )
    .addOption(
      new Option(
        '--default-intention <action>',
        "what happens when no intention matches a caller; default: the server's ACL default policy when " +
          'ACLs are enabled (deny unless configured otherwise), allow when they are not',
      ).choices(['allow', 'deny']),
    )
    .option(
      '--register',
      'register as "<service>-sidecar-proxy" (Kind connect-proxy) on start, deregister on stop',
    )
    .option(
      '--advertise <host:port>',
      'address gateways and other sidecars dial, when registering (default: --listen)',
      endpointOption(false),
    )
    .option(
      '--acl-auth-method <name>',
      "log in with this ACL auth method (type kubernetes) on start, with the pod's service-account JWT, and " +
        'use the token it returns (a token for this service only, from the binding rules); log out on stop. ' +
        'Instead of --token',
    )
    .option(
      '--acl-bearer-token-file <file>',
      'the bearer token --acl-auth-method logs in with',
      SERVICE_ACCOUNT_TOKEN_FILE,
    )
    .addOption(
      new Option(
        '--acl-login-meta <key=value>',
        'metadata for the login token, repeatable (e.g. pod=NAMESPACE/NAME)',
      )
        .argParser(collectMeta)
        .default({}, 'none'),
    )
    .addOption(
      new Option(
        '--engine <engine>',
        'what carries the bytes: node (in this process), haproxy (an HAProxy child process that meshpeer ' +
          'configures with the same decisions: callers checked by certificate and intentions, upstreams by ' +
          'trust set and name; changes applied by seamless reloads; needs haproxy 2.6+ with Lua, from ' +
          'MESHPEER_HAPROXY or the PATH) or nginx (the same with an nginx child process: needs nginx 1.22+ ' +
          'with its stream and njs modules, from MESHPEER_NGINX or the PATH and MESHPEER_NGINX_MODULES; a ' +
          'route failing over between trust sets trusts all of their roots for each target)',
      )
        .choices(['node', 'haproxy', 'nginx'])
        .default('node'),
    );
  return withProcessOptions(withHealthTtlOption(command)).action(async (flags: ProxyFlags) => {
    const upstreams = withMode(flags.upstream, flags.meshGatewayMode);
    if (flags.register && flags.appPort === undefined) {
      throw new UsageError(
        '--register needs --app-port: a sidecar without an inbound listener has nothing to register',
      );
    }
    if (flags.aclAuthMethod !== undefined && (flags.token ?? process.env.MESHPEER_HTTP_TOKEN)) {
      throw new UsageError(
        '--acl-auth-method logs in for a token: give it or --token (MESHPEER_HTTP_TOKEN), not both',
      );
    }
    const settings = processSettings(flags, 'proxy');
    await serveUntilSignal('sidecar', settings.logger, async () => {
      const login = flags.aclAuthMethod === undefined ? undefined : await aclLogin(flags, settings);
      // Loaded on use: other commands (the server's start-up above all) should not pay for the data plane.
      const { runProxy } = await import('../dataplane/run-proxy.js');
      const proxy = await runProxy({
        ...settings,
        ...(login === undefined ? {} : { token: login.token }),
        service: flags.service,
        listen: flags.listen,
        app: flags.appPort === undefined ? undefined : { host: flags.appHost, port: flags.appPort },
        upstreams,
        meshGatewayService: flags.meshGatewayService,
        defaultIntentionAction: flags.defaultIntention,
        engine: flags.engine,
        register: flags.register ? { advertise: flags.advertise, ...healthTtl(flags.healthTtl) } : undefined,
      }).catch(async (err: unknown) => {
        await login?.logout();
        throw err;
      });
      const { inbound, upstreams: bound } = proxy.started;
      const lines = inbound
        ? [`sidecar for ${flags.service}: inbound mTLS on ${formatEndpoint(inbound)}`]
        : [];
      for (const { spec, address } of bound)
        lines.push(`upstream ${upstreamLabel(spec)} on ${formatEndpoint(address)}`);
      if (login === undefined) return { running: proxy, lines };
      lines.push(`logged in with auth method ${flags.aclAuthMethod}: token ${login.accessor}`);
      const stop = async () => {
        await proxy.stop();
        await login.logout();
      };
      return { running: { ...proxy, stop }, lines };
    });
  });
}

/** Logs in with --acl-auth-method; `logout` deletes the token (a failure is logged, not thrown). */
async function aclLogin(
  flags: ProxyFlags,
  settings: ReturnType<typeof processSettings>,
): Promise<{ token: string; accessor: string; logout(): Promise<void> }> {
  let bearer: string;
  try {
    bearer = (await readFile(flags.aclBearerTokenFile, 'utf8')).trim();
  } catch (err) {
    throw new CliError(
      `--acl-auth-method: cannot read the bearer token from ${flags.aclBearerTokenFile} (--acl-bearer-token-file): ${(err as Error).message}`,
    );
  }
  if (bearer === '') throw new CliError(`--acl-bearer-token-file ${flags.aclBearerTokenFile} is empty`);
  const api = new ConsulApi({ address: settings.server, caPem: settings.caPem });
  const method = flags.aclAuthMethod ?? '';
  const token = await api.login(method, bearer, flags.aclLoginMeta);
  settings.logger.info({ authMethod: method, accessor: token.AccessorID }, 'ACL login');
  return {
    token: token.SecretID,
    accessor: token.AccessorID,
    async logout() {
      await api.logout(token.SecretID).then(
        () => settings.logger.info({ accessor: token.AccessorID }, 'ACL logout'),
        (err: Error) => settings.logger.warn({ err: err.message }, 'ACL logout failed'),
      );
    },
  };
}

/**
 * Applies --mesh-gateway-mode to upstreams without their own, refusing "none" for peered ones. A local
 * upstream takes it too, for the peers its service-resolver may send it to.
 */
function withMode(upstreams: UpstreamSpec[], mode: ProxyFlags['meshGatewayMode']): UpstreamSpec[] {
  if (!mode) return upstreams;
  return upstreams.map((spec) => {
    if (spec.meshGatewayMode) return spec;
    if (!spec.peer) return { ...spec, meshGatewayMode: mode };
    try {
      assertModeAllowsPeering(mode, '--mesh-gateway-mode');
    } catch (err) {
      throw new UsageError(
        `${(err as Error).message} (upstream ${spec.name} is imported from peer ${spec.peer})`,
      );
    }
    return { ...spec, meshGatewayMode: mode };
  });
}
