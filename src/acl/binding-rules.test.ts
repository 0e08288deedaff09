// Binding rules: decoding (BindType, BindName variables, Selector fields) and evaluation against a
// login's fields (selector match, ${...} interpolation, identities bound).
import { describe, expect, it } from 'vitest';
import { bindIdentities, decodeBindingRule, interpolate, ruleMatches } from './binding-rules.js';

const FIELDS = ['serviceaccount.namespace', 'serviceaccount.name', 'serviceaccount.uid'];
const backend = {
  'serviceaccount.namespace': 'default',
  'serviceaccount.name': 'backend',
  'serviceaccount.uid': '1234',
};

describe('decodeBindingRule', () => {
  it('takes a service rule over the method fields', () => {
    expect(
      decodeBindingRule(
        {
          AuthMethod: 'k8s',
          BindType: 'service',
          BindName: `\${serviceaccount.name}`,
          Selector: 'serviceaccount.namespace==default',
        },
        FIELDS,
      ),
    ).toEqual({
      Description: '',
      AuthMethod: 'k8s',
      BindType: 'service',
      BindName: `\${serviceaccount.name}`,
      Selector: 'serviceaccount.namespace==default',
    });
  });

  it('refuses a missing field, an unknown BindType, an unknown variable or selector field, a bad selector', () => {
    const ok = { AuthMethod: 'k8s', BindType: 'service', BindName: 'x' };
    expect(() => decodeBindingRule({ ...ok, AuthMethod: '' }, FIELDS)).toThrow('no AuthMethod is set');
    expect(() => decodeBindingRule({ ...ok, BindType: undefined }, FIELDS)).toThrow('no BindType is set');
    expect(() => decodeBindingRule({ ...ok, BindType: 'role' }, FIELDS)).toThrow('unknown BindType "role"');
    expect(() => decodeBindingRule({ ...ok, BindName: '' }, FIELDS)).toThrow('no BindName is set');
    expect(() => decodeBindingRule({ ...ok, BindName: `\${pod.name}` }, FIELDS)).toThrow(
      `uses unknown variable \${pod.name}`,
    );
    expect(() => decodeBindingRule({ ...ok, Selector: 'pod.name==x' }, FIELDS)).toThrow(
      'Selector selects unknown field "pod.name"',
    );
    expect(() => decodeBindingRule({ ...ok, Selector: 'serviceaccount.name ==' }, FIELDS)).toThrow(
      'invalid Selector',
    );
    expect(() => decodeBindingRule({ ...ok, BindName: 7 }, FIELDS)).toThrow('BindName: must be a string');
  });
});

describe('evaluation', () => {
  it('matches selectors against the nested fields; an empty selector matches all', () => {
    expect(ruleMatches({ Selector: '' }, backend)).toBe(true);
    expect(ruleMatches({ Selector: 'serviceaccount.name==backend' }, backend)).toBe(true);
    expect(ruleMatches({ Selector: 'serviceaccount.name!=backend' }, backend)).toBe(false);
    expect(
      ruleMatches({ Selector: 'serviceaccount.namespace==default and serviceaccount.name!=vault' }, backend),
    ).toBe(true);
  });

  it('interpolates the fields into BindName', () => {
    expect(interpolate(`\${serviceaccount.namespace}-\${serviceaccount.name}`, backend)).toBe(
      'default-backend',
    );
    expect(() => interpolate(`\${nope}`, backend)).toThrow('has no value');
  });

  it('binds the identities of the matching rules only, once each', () => {
    const rule = (ID: string, BindType: 'service' | 'node', BindName: string, Selector = '') => ({
      ID,
      Description: '',
      AuthMethod: 'k8s',
      BindType,
      BindName,
      Selector,
    });
    const bound = bindIdentities(
      [
        rule('1', 'service', `\${serviceaccount.name}`),
        rule('2', 'service', `\${serviceaccount.name}`, 'serviceaccount.namespace==default'),
        rule('3', 'service', 'admin', 'serviceaccount.name==vault'),
        rule('4', 'node', `node-\${serviceaccount.name}`),
      ],
      backend,
      'dc1',
    );
    expect(bound).toEqual({
      serviceIdentities: [{ ServiceName: 'backend' }],
      nodeIdentities: [{ NodeName: 'node-backend', Datacenter: 'dc1' }],
    });
    expect(
      bindIdentities([rule('3', 'service', 'admin', 'serviceaccount.name==vault')], backend, 'dc1'),
    ).toEqual({ serviceIdentities: [], nodeIdentities: [] });
  });

  it('refuses a bound name that is not a valid identity', () => {
    const upper = { ...backend, 'serviceaccount.name': 'Backend' };
    expect(() =>
      bindIdentities(
        [
          {
            ID: '1',
            Description: '',
            AuthMethod: 'k8s',
            BindType: 'service',
            BindName: `\${serviceaccount.name}`,
            Selector: '',
          },
        ],
        upper,
        'dc1',
      ),
    ).toThrow('a binding rule bound an invalid service name');
  });
});
