import { describe, expect, it } from 'vitest';
import { renderNginxGateway, upstreamName } from './nginx-gateway-config.js';
import type { RoutePlan } from './route-plan.js';

const options = {
  dir: '/tmp/gw',
  modules: ['/usr/lib/nginx/modules/ngx_stream_module.so'],
  listen: { host: '127.0.0.1', port: 8443 },
  clientHelloTimeoutMs: 10_000,
  maxClientHelloBytes: 16_389,
  resolved: new Map<string, string[]>([['backend.internal', ['10.0.0.7', '10.0.0.8']]]),
  accessLogs: { file: '/tmp/gw/connections.log', flushMs: 1000, syslogPort: 5140 },
};

function plan(overrides: Partial<RoutePlan> = {}): RoutePlan {
  return {
    backends: [
      { name: 'service.web', kind: 'inbound', endpoints: [{ host: '127.0.0.1', port: 21000 }] },
      { name: 'service.idle', kind: 'inbound', endpoints: [] },
      { name: 'peer.east.gateways', kind: 'outbound', endpoints: [{ host: 'backend.internal', port: 443 }] },
    ],
    names: new Map([['web.default.default.east.external.td1.consul', 'service.web']]),
    patterns: [{ regex: '^[a-z0-9]+\\.external\\.td2\\.consul$', backend: 'peer.east.gateways' }],
    connectTimeoutMs: 5000,
    ...overrides,
  };
}

describe('renderNginxGateway', () => {
  it('maps names and peer patterns to one upstream per destination, anything else to one that refuses', () => {
    const { text, notes } = renderNginxGateway(plan(), options);
    expect(notes).toEqual([]);
    expect(text).toContain('load_module /usr/lib/nginx/modules/ngx_stream_module.so;');
    expect(text).toContain(
      '  map $ssl_preread_server_name $meshpeer_route {\n    default meshpeer_refused;\n',
    );
    expect(text).toContain('    web.default.default.east.external.td1.consul service.web;\n');
    // Matched in any case, as HAProxy's engine lower-cases the name first.
    expect(text).toContain('    "~*^[a-z0-9]+\\.external\\.td2\\.consul$" peer.east.gateways;\n');
    expect(text).toContain('  upstream service.web {\n    server 127.0.0.1:21000;\n  }');
    // An upstream with no instance still needs a server: one that is down.
    expect(text).toContain('  upstream service.idle {\n    server 127.0.0.1:1 down;\n  }');
    expect(text).toContain('  upstream meshpeer_refused {\n    server 127.0.0.1:1 down;\n  }');
    // Host names as resolved before rendering, every address.
    expect(text).toContain(
      '  upstream peer.east.gateways {\n    server 10.0.0.7:443;\n    server 10.0.0.8:443;\n  }',
    );
    for (const line of [
      'listen 127.0.0.1:8443;',
      'ssl_preread on;',
      'preread_timeout 10000ms;',
      'preread_buffer_size 16389;',
      'proxy_pass $meshpeer_route;',
      'proxy_connect_timeout 5000ms;',
      'proxy_half_close on;',
    ]) {
      expect(text).toContain(`    ${line}\n`);
    }
    // Bucket size and table size come before the first map, or nginx refuses them.
    expect(text.indexOf('map_hash_bucket_size')).toBeLessThan(text.indexOf('  map '));
  });

  it('takes as many connections as the open-file limit allows, up to its maximum', () => {
    const at = (openFileLimit?: number) => renderNginxGateway(plan(), { ...options, openFileLimit }).text;
    expect(at()).toContain('worker_rlimit_nofile 32832;\n');
    expect(at()).toContain('  worker_connections 32768;\n');
    expect(at(20_000)).toContain('worker_rlimit_nofile 20000;\n');
    expect(at(20_000)).toContain('  worker_connections 19936;\n');
    expect(() => at(100)).toThrow(/no room/);
  });

  it('leaves out an endpoint whose host did not resolve, saying so', () => {
    const { text, notes } = renderNginxGateway(plan(), { ...options, resolved: new Map() });
    expect(text).toContain('  upstream peer.east.gateways {\n    server 127.0.0.1:1 down;\n  }');
    expect(notes).toEqual(['peer.east.gateways: backend.internal did not resolve; its endpoint is left out']);
  });

  it('sizes the map for many names', () => {
    const names = new Map(
      Array.from({ length: 5000 }, (_, i) => [`s${i}.default.default.p.external.td`, 'service.web']),
    );
    expect(renderNginxGateway(plan({ names }), options).text).toContain('map_hash_max_size 16384;');
    expect(renderNginxGateway(plan(), options).text).toContain('map_hash_max_size 2048;');
  });

  it('refuses what nginx would read otherwise than written', () => {
    const bad = (overrides: Partial<RoutePlan>) => () => renderNginxGateway(plan(overrides), options);
    expect(bad({ patterns: [{ regex: '^a"b$', backend: 'service.web' }] })).toThrow(/cannot be written/);
    expect(bad({ patterns: [{ regex: '^a\\tb$', backend: 'service.web' }] })).toThrow(/cannot be written/);
    expect(bad({ patterns: [{ regex: '^a b$', backend: 'service.web' }] })).toThrow(/cannot be written/);
    expect(bad({ names: new Map([['a;b', 'service.web']]) })).toThrow(/cannot be written/);
    expect(bad({ connectTimeoutMs: 0 })).toThrow(/dial timeout/);
    expect(() => upstreamName('service.web;x')).toThrow(/cannot name/);
    expect(() => upstreamName('meshpeer_refused')).toThrow(/cannot name/);
    expect(() => renderNginxGateway(plan(), { ...options, dir: '/tmp/a b' })).toThrow(/absolute path/);
  });
});
