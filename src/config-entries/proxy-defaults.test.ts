import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import { type ProxyDefaultsEntry, proxyDefaultsWarnings } from './proxy-defaults.js';
import { parseConfigEntryOfKind } from './registry.js';

function parse(input: Record<string, unknown>): ProxyDefaultsEntry {
  return parseConfigEntryOfKind('proxy-defaults', { Kind: 'proxy-defaults', ...input });
}

function errorOf(input: Record<string, unknown>): string {
  try {
    parse(input);
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected the entry to be rejected');
}

describe('proxy-defaults', () => {
  it('defaults Name to "global" and MeshGateway.Mode to ""', () => {
    expect(parse({})).toEqual({ Kind: 'proxy-defaults', Name: 'global', MeshGateway: { Mode: '' } });
  });

  it.each(['', 'remote', 'local', 'none'])('accepts MeshGateway.Mode %j', (mode) => {
    expect(parse({ MeshGateway: { Mode: mode } }).MeshGateway.Mode).toBe(mode);
  });

  it('rejects any other mode, listing the valid ones', () => {
    expect(errorOf({ MeshGateway: { Mode: 'Remote' } })).toBe(
      'invalid proxy-defaults config entry: MeshGateway.Mode: must be one of "", "remote", "local", "none" (got "Remote")',
    );
  });

  it('rejects any name but "global"', () => {
    expect(errorOf({ Name: 'default' })).toBe(
      'invalid proxy-defaults config entry: Name: must be "global" for proxy-defaults (got "default")',
    );
  });

  it('passes Config through untouched, whatever its keys and nesting', () => {
    const config = {
      protocol: 'http',
      envoy_prometheus_bind_addr: '0.0.0.0:9102',
      local_connect_timeout_ms: 1000,
      nested_thing: { some_key: [1, { deeper_key: null }], 'dotted.key': true },
      PascalKey: 'x',
    };
    const entry = parse({ Config: config });
    expect(entry.Config).toEqual(config);
    expect(entry.Config?.nested_thing).toBe(config.nested_thing);
  });

  it('accepts Mode, TransparentProxy, MutualTLSMode, Expose, AccessLogs, EnvoyExtensions', () => {
    const input = {
      Mode: 'transparent',
      TransparentProxy: { OutboundListenerPort: 15001, DialedDirectly: true },
      MutualTLSMode: 'strict',
      Expose: {
        Checks: true,
        Paths: [{ Path: '/metrics', LocalPathPort: 9090, ListenerPort: 21500, Protocol: 'http' }],
      },
      AccessLogs: { Enabled: true, Type: 'file', Path: '/var/log/envoy.log' },
      EnvoyExtensions: [{ Name: 'builtin/lua', Required: false, Arguments: { Script: 'x' } }],
      PrioritizeByLocality: { Mode: 'failover' },
    };
    expect(parse(input)).toEqual({
      Kind: 'proxy-defaults',
      Name: 'global',
      MeshGateway: { Mode: '' },
      ...input,
    });
  });

  it('validates Mode, MutualTLSMode and ports', () => {
    expect(errorOf({ Mode: 'sidecar' })).toContain(
      'Mode: must be one of "", "direct", "transparent" (got "sidecar")',
    );
    expect(errorOf({ MutualTLSMode: 'optional' })).toContain('MutualTLSMode: must be one of');
    expect(errorOf({ TransparentProxy: { OutboundListenerPort: 70000 } })).toContain(
      'TransparentProxy.OutboundListenerPort: must be at most 65535',
    );
    expect(errorOf({ TransparentProxy: { OutboundListenerPort: 1.5 } })).toContain(
      'TransparentProxy.OutboundListenerPort: expected an integer, got number 1.5',
    );
  });

  it('requires exposed paths to start with a slash', () => {
    expect(errorOf({ Expose: { Paths: [{ Path: 'metrics' }] } })).toContain(
      'Expose.Paths[0].Path: must begin with "/" (got "metrics")',
    );
  });

  it('checks access log settings', () => {
    expect(errorOf({ AccessLogs: { Type: 'file' } })).toContain(
      'AccessLogs.Path: is required when Type is "file"',
    );
    expect(errorOf({ AccessLogs: { Type: 'stdout', Path: '/x' } })).toContain(
      'AccessLogs.Path: can only be set when Type is "file"',
    );
    expect(errorOf({ AccessLogs: { JSONFormat: '{}', TextFormat: 'x' } })).toContain(
      'AccessLogs.TextFormat: cannot be set together with JSONFormat',
    );
  });

  it('rejects unknown fields, naming them', () => {
    expect(errorOf({ MeshGateway: { Mode: 'local', Port: 1 } })).toBe(
      'invalid proxy-defaults config entry: MeshGateway.Port: unknown field',
    );
    expect(errorOf({ Protocol: 'http' })).toContain('Protocol: unknown field');
  });

  it('warns that mode "none" breaks peered upstreams', () => {
    expect(proxyDefaultsWarnings(parse({ MeshGateway: { Mode: 'none' } }))).toEqual([
      expect.stringContaining('MeshGateway.Mode is "none"'),
    ]);
    expect(proxyDefaultsWarnings(parse({ MeshGateway: { Mode: 'local' } }))).toEqual([]);
  });
});
