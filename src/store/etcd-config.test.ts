import { describe, expect, it } from 'vitest';
import { etcdFlagValues, etcdStoreConfig, parseEtcdEndpoints } from './etcd-config.js';

describe('etcd flags', () => {
  it('builds the config with the per-datacenter default prefix', () => {
    const o = {
      etcdEndpoints: 'https://10.0.0.1:2379, https://10.0.0.2:2379',
      etcdCaFile: '/ca.pem',
      dev: false,
    };
    expect(etcdStoreConfig('etcd', etcdFlagValues(o), 'dc2')).toEqual({
      backend: 'etcd',
      endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
      prefix: '/meshpeer/dc2/',
      caFile: '/ca.pem',
    });
    expect(
      etcdStoreConfig('etcd', { endpoints: 'http://127.0.0.1:2379', prefix: '/x/' }, 'dc1')?.prefix,
    ).toBe('/x/');
  });

  it('keeps SQLite the default and refuses etcd flags without --store etcd', () => {
    expect(etcdStoreConfig('sqlite', {}, 'dc1')).toBeUndefined();
    expect(() => etcdStoreConfig('sqlite', { endpoints: 'http://127.0.0.1:2379' }, 'dc1')).toThrow(
      '--etcd-* flags need --store etcd',
    );
    expect(() => etcdStoreConfig('consul', {}, 'dc1')).toThrow('--store must be sqlite or etcd');
  });

  it('names the flag of each mistake', () => {
    expect(() => etcdStoreConfig('etcd', {}, 'dc1')).toThrow('--store etcd needs --etcd-endpoints');
    expect(() => etcdStoreConfig('etcd', { endpoints: 'http://a:1', prefix: '/meshpeer' }, 'dc1')).toThrow(
      '--etcd-prefix "/meshpeer" must end with /',
    );
    expect(() => parseEtcdEndpoints(['etcd-0:2379'])).toThrow('must start with http:// or https://');
    expect(() => parseEtcdEndpoints(['https://etcd-0'])).toThrow('must be scheme://host:port');
    expect(() => parseEtcdEndpoints(['http://a:1', 'https://b:2'])).toThrow('mix of http:// and https://');
    expect(() => parseEtcdEndpoints([])).toThrow('at least one');
    expect(parseEtcdEndpoints(['https://etcd-0:2379'])).toEqual({
      hosts: ['https://etcd-0:2379'],
      tls: true,
    });
  });
});
