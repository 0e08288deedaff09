// A real etcd cluster on loopback for tests (bench/support/etcd-cluster.ts), after building the etcd
// binary with scripts/k8s-build.sh when it is not cached yet.
import {
  type EtcdCluster,
  type EtcdClusterOptions,
  startEtcdCluster as startCluster,
} from '../../bench/support/etcd-cluster.js';
import { buildKubeApiServer } from './kube-apiserver.js';

export type { EtcdCluster, EtcdClusterOptions, EtcdTlsFiles } from '../../bench/support/etcd-cluster.js';

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  await buildKubeApiServer();
  return startCluster(options);
}
