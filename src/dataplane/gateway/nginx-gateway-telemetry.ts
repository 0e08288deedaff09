// What the nginx gateway counts and says, in the Node gateway's metric names and words. nginx writes one
// line per connection when it ends (nginx-gateway-config.ts names the format): a forwarded connection
// is counted by the kind of its destination, a name without a route as refused with the reason routeFor
// gives for it now (the decision itself was nginx's map), a destination that could not be dialed as
// `upstream-unreachable`. nginx's own messages about refusals it was told to make are kept out of the
// error log: they are counted and logged here, once, as what they are. The connections being carried
// are read from the kernel's table of this gateway's port at each scrape. Pure parsing in
// parseGatewayLine; the rest records.
import { readFileSync } from 'node:fs';
import type { Logger } from '../../shared/logger.js';
import { nginxRelayLogger } from '../proxy/nginx-log-intake.js';
import type { GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';
import { NGINX_GATEWAY_LOG_PREFIX, REFUSED_UPSTREAM } from './nginx-gateway-config.js';
import { routeKindOf } from './route-plan.js';
import { routeFor } from './routes.js';

export interface GatewayLine {
  status: number;
  route: string;
  sni: string;
  from: string;
}

const LINE = new RegExp(`${NGINX_GATEWAY_LOG_PREFIX} status=(\\d+) route=(\\S*) sni=(\\S*) from=(\\S*) to=`);
// nginx's own error lines for a connection sent to the refusing upstream, or refused while reading the
// ClientHello (its buffer full; a ClientHello that never came ends the session without a message):
// counted and logged by us.
const EXPECTED = new RegExp(
  `no live upstreams while connecting to upstream.*upstream: "${REFUSED_UPSTREAM}"|preread buffer full`,
);

/** One of the gateway's connection log lines, read; undefined for any other line. */
export function parseGatewayLine(line: string): GatewayLine | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const known = (v: string | undefined): string => (v === undefined || v === '-' ? '' : v);
  return { status: Number(m[1]), route: known(m[2]), sni: known(m[3]), from: known(m[4]) };
}

export interface NginxGatewayTelemetryOptions {
  metrics: GatewayMetrics;
  logger: Logger;
  /** The newest routing snapshot, to say why a name was refused. */
  config: () => GatewayConfig | undefined;
  /** The port the gateway listens on, once it does. */
  listenPort: () => number | undefined;
}

export class NginxGatewayTelemetry {
  constructor(private readonly options: NginxGatewayTelemetryOptions) {}

  /** A logger for nginx's own output: connection lines are counted, expected refusals kept quiet. */
  relayLogger(): Logger {
    return nginxRelayLogger(this.options.logger, (line) => this.onLine(line), EXPECTED);
  }

  /** True when `line` was about one connection (and has been counted). */
  onLine(line: string): boolean {
    const event = parseGatewayLine(line);
    if (!event) return false;
    const { metrics, logger } = this.options;
    const kind = routeKindOf(event.route);
    if (kind && event.status === 200) {
      metrics.forwarded.inc({ route: kind });
      return true;
    }
    let reason: string;
    let detail: string;
    if (kind) {
      reason = event.status === 502 ? 'upstream-unreachable' : `nginx-status-${event.status}`;
      detail = `${event.route}: no instance could be dialed (nginx status ${event.status})`;
    } else if (event.status === 400) {
      reason = 'client-hello-too-large';
      detail = 'the ClientHello did not fit in its buffer';
    } else if (event.sni === '') {
      reason = 'no-sni';
      detail = 'no TLS ClientHello naming a server came';
    } else {
      const config = this.options.config();
      const route = config ? routeFor(config, event.sni) : undefined;
      reason = route?.kind === 'refused' ? route.reason : 'unknown-name';
      detail = route?.kind === 'refused' ? route.detail : 'no route for this name';
    }
    metrics.refused.inc({ reason });
    logger.info(
      { reason, ...(event.sni ? { sni: event.sni } : {}), from: event.from },
      `refused connection: ${detail}`,
    );
    return true;
  }

  /** Sets the active-connections gauge from the kernel's connections on the gateway's port. */
  refreshActive(): void {
    const port = this.options.listenPort();
    if (port === undefined) return;
    this.options.metrics.active.set(establishedOn(port));
  }
}

/**
 * Established TCP connections whose local port is `port` (/proc/net/tcp and tcp6 of this network
 * namespace): the connections accepted on the gateway's listener that are still open.
 */
export function establishedOn(port: number, files = ['/proc/net/tcp', '/proc/net/tcp6']): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/);
      if (state === '01' && local?.endsWith(hex)) count++;
    }
  }
  return count;
}
