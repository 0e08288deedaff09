import { describe, expect, it } from 'vitest';
import { isMeshpeerError } from '../shared/errors.js';
import { parseConfigEntryOfKind } from './registry.js';
import { intentionPrecedence, type ServiceIntentionsEntry } from './service-intentions.js';

function parse(input: Record<string, unknown>): ServiceIntentionsEntry {
  return parseConfigEntryOfKind('service-intentions', { Kind: 'service-intentions', ...input });
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

const withSources = (...sources: Record<string, unknown>[]) => ({ Name: 'backend', Sources: sources });
const http = (fields: Record<string, unknown>) =>
  withSources({ Name: 'web', Permissions: [{ Action: 'allow', HTTP: fields }] });

describe('service-intentions', () => {
  it('accepts a peer source, defaults Type and computes Precedence', () => {
    expect(parse(withSources({ Name: 'frontend', Peer: 'cluster-02', Action: 'allow' }))).toEqual({
      Kind: 'service-intentions',
      Name: 'backend',
      Sources: [{ Name: 'frontend', Peer: 'cluster-02', Action: 'allow', Type: 'consul', Precedence: 9 }],
    });
  });

  it('orders sources by precedence, keeping written order among equals', () => {
    const entry = parse(
      withSources(
        { Name: '*', Action: 'deny' },
        { Name: 'web', Action: 'allow' },
        { Name: 'api', Peer: 'cluster-02', Action: 'allow' },
      ),
    );
    expect(entry.Sources.map((s) => [s.Name, s.Precedence])).toEqual([
      ['web', 9],
      ['api', 9],
      ['*', 8],
    ]);
  });

  it('replaces a Precedence given by the writer', () => {
    expect(parse(withSources({ Name: 'web', Action: 'allow', Precedence: 100 })).Sources[0]?.Precedence).toBe(
      9,
    );
  });

  it('computes Consul precedence from exact and wildcard names and namespaces', () => {
    const exact = { Name: 'a', Namespace: 'ns' };
    const anyName = { Name: '*', Namespace: 'ns' };
    const anything = { Name: '*', Namespace: '*' };
    expect(intentionPrecedence(exact, exact)).toBe(9);
    expect(intentionPrecedence(exact, anyName)).toBe(8);
    expect(intentionPrecedence(exact, anything)).toBe(7);
    expect(intentionPrecedence(anyName, exact)).toBe(6);
    expect(intentionPrecedence(anyName, anyName)).toBe(5);
    expect(intentionPrecedence(anyName, anything)).toBe(4);
    expect(intentionPrecedence(anything, exact)).toBe(3);
    expect(intentionPrecedence(anything, anyName)).toBe(2);
    expect(intentionPrecedence(anything, anything)).toBe(1);
    expect(intentionPrecedence({ Name: 'a' }, { Name: 'b' })).toBe(9);
  });

  it('accepts "*" as the destination', () => {
    expect(parse({ Name: '*', Sources: [{ Name: '*', Action: 'deny' }] }).Sources[0]?.Precedence).toBe(5);
  });

  it('rejects Peer together with Partition', () => {
    expect(errorOf(withSources({ Name: 'web', Peer: 'cluster-02', Partition: 'p', Action: 'allow' }))).toBe(
      'invalid service-intentions config entry: Sources[0].Partition: cannot be set together with Peer: ' +
        'a source comes from one peer, partition or sameness group',
    );
    expect(
      errorOf(withSources({ Name: 'web', Peer: 'cluster-02', SamenessGroup: 'g', Action: 'allow' })),
    ).toContain('Sources[0].SamenessGroup: cannot be set together with Peer');
  });

  it('requires Action unless Permissions are given', () => {
    expect(errorOf(withSources({ Name: 'web' }))).toBe(
      'invalid service-intentions config entry: Sources[0].Action: is required ("allow" or "deny") unless Permissions are given',
    );
    expect(errorOf(withSources({ Name: 'web', Permissions: [] }))).toContain(
      'Sources[0].Action: is required',
    );
  });

  it('rejects Action together with Permissions', () => {
    const source = {
      Name: 'web',
      Action: 'allow',
      Permissions: [{ Action: 'deny', HTTP: { PathPrefix: '/admin' } }],
    };
    expect(errorOf(withSources(source))).toContain(
      'Sources[0].Action: must be omitted when Permissions are given (each permission has its own Action)',
    );
  });

  it('rejects actions other than allow and deny', () => {
    expect(errorOf(withSources({ Name: 'web', Action: 'Allow' }))).toContain(
      'Sources[0].Action: must be one of "allow", "deny" (got "Allow")',
    );
  });

  it('rejects a source listed twice', () => {
    const error = errorOf(
      withSources(
        { Name: 'web', Peer: 'cluster-02', Action: 'allow' },
        { Name: 'web', Action: 'allow' },
        { Name: 'web', Peer: 'cluster-02', Action: 'deny' },
      ),
    );
    expect(error).toBe(
      'invalid service-intentions config entry: Sources[2]: source peer:cluster-02/default/web is already listed ' +
        'at Sources[0]; combine them into one',
    );
  });

  it('requires at least one source', () => {
    expect(errorOf({ Name: 'backend' })).toContain('Sources: must list at least one source');
  });

  it('requires a destination Name, with wildcards only whole', () => {
    expect(errorOf({ Sources: [{ Name: 'web', Action: 'allow' }] })).toContain('Name: is required');
    expect(errorOf({ Name: 'back*', Sources: [{ Name: 'web', Action: 'allow' }] })).toContain(
      'Name: "back*": a wildcard must be the whole name',
    );
    expect(errorOf(withSources({ Name: 'we*', Action: 'allow' }))).toContain(
      'Sources[0].Name: "we*": a wildcard',
    );
  });

  it('validates peer names of sources', () => {
    expect(errorOf(withSources({ Name: 'web', Peer: 'Cluster 2', Action: 'allow' }))).toContain(
      'Sources[0].Peer: "Cluster 2" is not a valid peer name',
    );
  });

  it('limits Description to 512 characters', () => {
    expect(errorOf(withSources({ Name: 'web', Action: 'allow', Description: 'x'.repeat(513) }))).toContain(
      'Sources[0].Description: must be at most 512 characters',
    );
  });

  it('rejects a Type other than consul', () => {
    expect(errorOf(withSources({ Name: 'web', Action: 'allow', Type: 'external' }))).toContain(
      'Sources[0].Type: must be "consul" (got "external")',
    );
  });

  it('accepts L7 permissions', () => {
    const entry = parse(
      http({
        PathPrefix: '/v2',
        Methods: ['GET', 'POST'],
        Header: [{ Name: 'x-user', Exact: 'admin', Invert: true }],
      }),
    );
    expect(entry.Sources[0]?.Permissions?.[0]?.HTTP?.Methods).toEqual(['GET', 'POST']);
  });

  it('rejects L7 permissions on a wildcard destination', () => {
    const input = {
      Name: '*',
      Sources: [{ Name: 'web', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] }],
    };
    expect(errorOf(input)).toContain('Sources[0].Permissions: cannot be used when the destination is "*"');
  });

  it('checks each permission', () => {
    expect(errorOf(withSources({ Name: 'web', Permissions: [{ Action: 'allow' }] }))).toContain(
      'Sources[0].Permissions[0]: must set HTTP (or JWT) to say which requests it matches',
    );
    expect(errorOf(withSources({ Name: 'web', Permissions: [{ HTTP: { PathExact: '/' } }] }))).toContain(
      'Sources[0].Permissions[0].Action: is required',
    );
  });

  it('checks HTTP matches', () => {
    const at = 'Sources[0].Permissions[0].HTTP';
    expect(errorOf(http({ PathExact: '/a', PathPrefix: '/b' }))).toContain(
      `${at}: set only one of PathExact, PathPrefix`,
    );
    expect(errorOf(http({ PathPrefix: 'api' }))).toContain(
      `${at}.PathPrefix: must begin with "/" (got "api")`,
    );
    expect(errorOf(http({ Methods: ['get'] }))).toContain(`${at}.Methods[0]: "get" is not an HTTP method`);
    expect(errorOf(http({ Methods: ['GET', 'GET'] }))).toContain(
      `${at}.Methods[1]: GET is listed more than once`,
    );
    expect(errorOf(http({}))).toContain(`${at}: must match on at least one of a path, Methods or Header`);
    expect(errorOf(http({ Header: [{ Name: 'x', Exact: 'a', Prefix: 'b' }] }))).toContain(
      `${at}.Header[0]: set only one of Exact, Prefix`,
    );
    expect(errorOf(http({ Header: [{ Exact: 'a' }] }))).toContain(`${at}.Header[0].Name: is required`);
  });

  it('accepts JWT requirements', () => {
    const entry = parse({
      Name: 'backend',
      JWT: { Providers: [{ Name: 'okta', VerifyClaims: [{ Path: ['perms', 'role'], Value: 'admin' }] }] },
      Sources: [{ Name: 'web', Action: 'allow' }],
    });
    expect(entry.JWT?.Providers[0]?.Name).toBe('okta');
  });

  it('rejects unknown fields in sources, naming them', () => {
    expect(errorOf(withSources({ Name: 'web', Action: 'allow', PeerName: 'cluster-02' }))).toBe(
      'invalid service-intentions config entry: Sources[0].PeerName: unknown field',
    );
  });
});
