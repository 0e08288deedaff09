import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import type { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { establishedOn, NginxGatewayTelemetry, parseGatewayLine } from './nginx-gateway-telemetry.js';

const config: GatewayConfig = {
  trustDomain: 'td1.consul',
  datacenter: 'dc1',
  exportedServices: {
    Kind: 'exported-services',
    Name: 'default',
    Services: [{ Name: 'web', Consumers: [{ Peer: 'east' }] }],
  },
  localServices: new Map([
    ['web', [{ host: '127.0.0.1', port: 1 }]],
    ['db', [{ host: '127.0.0.1', port: 2 }]],
  ]),
  peers: [],
  peerThroughMeshGateways: false,
  localServers: [],
  proxyConfig: {},
};

const line = (status: number, route: string, sni: string): string =>
  `meshpeer-gateway status=${status} route=${route} sni=${sni} from=127.0.0.1:5000 to=127.0.0.1:1`;

async function counts(metrics: GatewayMetrics): Promise<string> {
  return (await metrics.registry.metrics())
    .split('\n')
    .filter((l) => /^meshpeer_gateway_connections_(forwarded|refused)_total\{/.test(l))
    .join('\n');
}

describe('the nginx gateway telemetry', () => {
  it('reads a connection line, from the file or as a syslog datagram', () => {
    expect(parseGatewayLine(line(200, 'service.web', 'a.b'))).toEqual({
      status: 200,
      route: 'service.web',
      sni: 'a.b',
      from: '127.0.0.1:5000',
    });
    expect(parseGatewayLine(`<134>meshpeer: ${line(502, 'meshpeer_refused', '-')}`)).toEqual({
      status: 502,
      route: 'meshpeer_refused',
      sni: '',
      from: '127.0.0.1:5000',
    });
    expect(parseGatewayLine('2026/12/02 [notice] 1#1: start worker process 2')).toBeUndefined();
  });

  it("counts forwarded connections by kind, and refusals by routeFor's reason for the name", async () => {
    const metrics = new GatewayMetrics();
    const telemetry = new NginxGatewayTelemetry({
      metrics,
      logger: silentLogger(),
      config: () => config,
      listenPort: () => undefined,
    });
    for (const l of [
      line(200, 'service.web', 'web.default.default.east.external.td1.consul'),
      line(502, 'service.web', 'web.default.default.east.external.td1.consul'),
      line(502, 'meshpeer_refused', 'db.default.default.east.external.td1.consul'),
      line(502, 'meshpeer_refused', 'web.default.default.west.external.td1.consul'),
      line(502, 'meshpeer_refused', '-'),
      line(400, 'meshpeer_refused', '-'),
    ]) {
      expect(telemetry.onLine(l)).toBe(true);
    }
    expect(telemetry.onLine('something else')).toBe(false);
    expect(await counts(metrics)).toBe(
      [
        'meshpeer_gateway_connections_forwarded_total{route="inbound"} 1',
        'meshpeer_gateway_connections_refused_total{reason="upstream-unreachable"} 1',
        'meshpeer_gateway_connections_refused_total{reason="not-exported"} 2',
        'meshpeer_gateway_connections_refused_total{reason="no-sni"} 1',
        'meshpeer_gateway_connections_refused_total{reason="client-hello-too-large"} 1',
      ].join('\n'),
    );
  });

  it("counts established connections on the gateway's port in the kernel's tables", () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshpeer-tcp-'));
    const header =
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    // 8443 is 0x20FB: two established, one listening, one established on another port.
    writeFileSync(
      join(dir, 'tcp'),
      `${header}` +
        '   0: 0100007F:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n' +
        '   1: 0100007F:20FB 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2\n' +
        '   2: 0100007F:C351 0100007F:20FB 01 00000000:00000000 00:00000000 00000000     0        0 3\n',
    );
    writeFileSync(
      join(dir, 'tcp6'),
      `${header}   0: 00000000000000000000000001000000:20FB 00000000000000000000000001000000:C352 01 00000000:00000000 00:00000000 00000000     0        0 4\n`,
    );
    expect(establishedOn(8443, [join(dir, 'tcp'), join(dir, 'tcp6'), join(dir, 'missing')])).toBe(2);
  });
});
