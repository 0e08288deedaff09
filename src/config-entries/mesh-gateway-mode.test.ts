import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import { assertModeAllowsPeering } from './mesh-gateway-mode.js';

function errorOf(mode: string): string {
  try {
    assertModeAllowsPeering(mode, 'upstream "backend" (peer cluster-01)');
  } catch (err) {
    if (isMeshpeerError(err) && err.kind === 'invalid') return err.message;
    throw err;
  }
  throw new Error('expected the mode to be refused');
}

describe('assertModeAllowsPeering', () => {
  it('treats an unset mode as "remote", the peering default', () => {
    expect(assertModeAllowsPeering(undefined, 'x')).toBe('remote');
    expect(assertModeAllowsPeering('', 'x')).toBe('remote');
  });

  it('allows "remote" and "local"', () => {
    expect(assertModeAllowsPeering('remote', 'x')).toBe('remote');
    expect(assertModeAllowsPeering('local', 'x')).toBe('local');
  });

  it('refuses "none" with a message naming where it was set and what to use', () => {
    expect(errorOf('none')).toBe(
      'upstream "backend" (peer cluster-01): mesh gateway mode "none" cannot be used for traffic to a peer: ' +
        'peered services are only reachable through mesh gateways; set the mode to "remote" (the default) or "local"',
    );
  });

  it('refuses unknown modes', () => {
    expect(errorOf('direct')).toContain('unknown mesh gateway mode "direct"');
  });
});
