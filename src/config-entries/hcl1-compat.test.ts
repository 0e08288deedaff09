import { describe, expect, it } from 'vitest';
import { hcl1ObjectBlocksToHcl2 } from './hcl1-compat.js';

describe('hcl1ObjectBlocksToHcl2', () => {
  it('rewrites a block inside an object value into a one-element list', () => {
    expect(hcl1ObjectBlocksToHcl2('P = [{ Action = "allow"\n HTTP { PathPrefix = "/v2" } }]')).toBe(
      'P = [{ Action = "allow"\n HTTP =[{ PathPrefix = "/v2" }] }]',
    );
  });

  it('rewrites nested ones too', () => {
    expect(hcl1ObjectBlocksToHcl2('S = [{ A { B { C = 1 } } }]')).toBe('S = [{ A =[{ B =[{ C = 1 }] }] }]');
  });

  it('leaves block bodies, labelled blocks and object values alone', () => {
    const hcl = [
      'Kind = "service-resolver"',
      'Peering { PeerThroughMeshGateways = true }',
      'TLS {',
      '  Incoming { TLSMinVersion = "TLSv1_2" }',
      '}',
      'Failover "*" { Targets = [{ Peer = "a" }] }',
      'Subsets = { v1 = { Filter = "x" } }',
      '',
    ].join('\n');
    expect(hcl1ObjectBlocksToHcl2(hcl)).toBe(hcl);
  });

  it('ignores braces in strings, templates, comments and heredocs', () => {
    const hcl = [
      'A = [{ B = "C { D }" }] # E { F }',
      '// G { H }',
      '/* I { J } */',
      `K = [{ L = "\${ M { N } }" }]`,
      'O = <<EOT',
      '{ P { Q } }',
      'EOT',
      '',
    ].join('\n');
    expect(hcl1ObjectBlocksToHcl2(hcl)).toBe(hcl);
  });
});
