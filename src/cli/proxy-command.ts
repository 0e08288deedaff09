// `meshpeer proxy`: runs a sidecar against a meshpeer server until SIGINT/SIGTERM.
import { Command, InvalidArgumentError, Option } from 'commander';
import { assertModeAllowsPeering, type IntentionAction } from '../config-entries/index.js';
import { type Endpoint, formatEndpoint } from '../dataplane/endpoint.js';
import { parseUpstreamSpec, type UpstreamSpec, upstreamLabel } from '../dataplane/proxy/index.js';
import { runProxy } from '../dataplane/run-proxy.js';
import {
  endpointOption,
  flagValue,
  type ProcessFlags,
  processSettings,
  serveUntilSignal,
  withProcessOptions,
} from './gateway-command.js';
import { UsageError } from './io.js';

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
}

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port (1-65535).`);
  }
  return n;
};
const upstreamOption = flagValue(parseUpstreamSpec);
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
    );
  return withProcessOptions(command).action(async (flags: ProxyFlags) => {
    const upstreams = withMode(flags.upstream, flags.meshGatewayMode);
    if (flags.register && flags.appPort === undefined) {
      throw new UsageError(
        '--register needs --app-port: a sidecar without an inbound listener has nothing to register',
      );
    }
    const settings = processSettings(flags, 'proxy');
    await serveUntilSignal('sidecar', settings.logger, async () => {
      const proxy = await runProxy({
        ...settings,
        service: flags.service,
        listen: flags.listen,
        app: flags.appPort === undefined ? undefined : { host: flags.appHost, port: flags.appPort },
        upstreams,
        meshGatewayService: flags.meshGatewayService,
        defaultIntentionAction: flags.defaultIntention,
        register: flags.register ? { advertise: flags.advertise } : undefined,
      });
      const { inbound, upstreams: bound } = proxy.started;
      const lines = inbound
        ? [`sidecar for ${flags.service}: inbound mTLS on ${formatEndpoint(inbound)}`]
        : [];
      for (const { spec, address } of bound)
        lines.push(`upstream ${upstreamLabel(spec)} on ${formatEndpoint(address)}`);
      return { running: proxy, lines };
    });
  });
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
