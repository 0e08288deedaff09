import { describe, expect, it } from 'vitest';
import { parseUpstreamSpec } from './upstream-spec.js';

describe('parseUpstreamSpec', () => {
  it('reads a local upstream', () => {
    expect(parseUpstreamSpec('backend:9191')).toEqual({
      name: 'backend',
      bind: { host: '127.0.0.1', port: 9191 },
    });
  });

  it('reads a peered upstream with a mode and a bind address', () => {
    expect(parseUpstreamSpec('backend:peer=cluster-01:9191')).toEqual({
      name: 'backend',
      peer: 'cluster-01',
      bind: { host: '127.0.0.1', port: 9191 },
    });
    expect(parseUpstreamSpec('backend:peer=cluster-01:mode=local:127.0.0.2:9191')).toEqual({
      name: 'backend',
      peer: 'cluster-01',
      meshGatewayMode: 'local',
      bind: { host: '127.0.0.2', port: 9191 },
    });
  });

  it('refuses mode "none" for a peered upstream with the reason', () => {
    expect(() => parseUpstreamSpec('backend:peer=cluster-01:mode=none:9191')).toThrow(
      /mesh gateway mode "none" cannot be used for traffic to a peer/,
    );
  });

  it('says what is wrong with a bad value', () => {
    expect(() => parseUpstreamSpec('backend')).toThrow(/no valid local port/);
    expect(() => parseUpstreamSpec('backend:99999')).toThrow(/no valid local port/);
    expect(() => parseUpstreamSpec('backend:peer=Cluster_1:9191')).toThrow(/not a valid peer name/);
    expect(() => parseUpstreamSpec('backend:dc=dc2:9191')).toThrow(/unknown option "dc"/);
    expect(() => parseUpstreamSpec(':9191')).toThrow(/not a service name/);
  });
});
