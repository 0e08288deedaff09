// `meshpeer controller`: the Kubernetes operator. Watches the peering and config-entry CRDs (and
// Secrets) and reconciles them against one meshpeer server; with --leader-elect, only the replica
// holding the Lease reconciles. Runs until SIGTERM/SIGINT, then stops cleanly and releases the Lease.
import { Command, Option } from 'commander';
import { SIDECAR_ENGINES } from '../kubernetes/inject/sidecar.js';
import type { ControllerFlags } from './controller-flags.js';

export type { ControllerFlags } from './controller-flags.js';

export function controllerCommand(): Command {
  return new Command('controller')
    .description(
      'Run the Kubernetes controller: reconcile PeeringAcceptor, PeeringDialer, Mesh, ExportedServices, ' +
        'ProxyDefaults, ServiceIntentions and ServiceResolver resources against a meshpeer server',
    )
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context to use (default: the current context)')
    .addOption(
      new Option('--server <url>', 'HTTP address of the meshpeer server')
        .env('MESHPEER_HTTP_ADDR')
        .default('http://127.0.0.1:8500'),
    )
    .addOption(new Option('--token <token>', 'ACL token for the server').env('MESHPEER_HTTP_TOKEN'))
    .addOption(
      new Option('--token-file <path>', 'file holding the ACL token (a mounted Secret)').env(
        'MESHPEER_HTTP_TOKEN_FILE',
      ),
    )
    .option('--namespace <name>', 'watch only this namespace (default: all namespaces)')
    .option('--datacenter <name>', 'recorded in config entries as consul.hashicorp.com/source-datacenter')
    .option('--leader-elect', 'run as one of several replicas; only the holder of the Lease reconciles')
    .option('--leader-elect-namespace <name>', "namespace of the Lease (default: --namespace, or the pod's)")
    .option('--leader-elect-lease-duration <duration>', 'how long a Lease lasts without renewal', '15s')
    .option(
      '--leader-elect-renew-deadline <duration>',
      'how long the leader retries renewing before stepping down',
      '10s',
    )
    .option(
      '--leader-elect-retry-period <duration>',
      'time between attempts to take or renew the Lease',
      '2s',
    )
    .option(
      '--status-interval <duration>',
      'how often peering resources re-read the peering (changes on the server are also watched)',
      '30s',
    )
    .option('--resync-period <duration>', 'how often every resource is reconciled without a change', '1m')
    .option('--workers <n>', 'concurrent reconciles per kind', '4')
    .option('--metrics-addr <host:port>', 'serve Prometheus metrics on http://host:port/metrics')
    .option(
      '--webhook-addr <host:port>',
      'serve the validating admission webhook (uniqueness across namespaces) on https://host:port/validate',
    )
    .option('--webhook-tls-cert <file>', 'PEM certificate chain of the webhook (with --webhook-addr)')
    .option('--webhook-tls-key <file>', 'PEM private key of --webhook-tls-cert')
    .option(
      '--inject',
      'inject the meshpeer proxy sidecar into pods (mutating webhook on https://<--webhook-addr>/mutate) and ' +
        'register injected pods selected by a Service in the catalog',
    )
    .option('--inject-default', 'inject pods without the consul.hashicorp.com/connect-inject annotation')
    .option('--inject-image <image>', 'image of the injected sidecar (it must provide `meshpeer`)')
    .option('--inject-image-pull-policy <policy>', 'imagePullPolicy of the injected sidecar')
    .option(
      '--inject-server <url>',
      "the meshpeer server's HTTP address as sidecars reach it (default: --server)",
    )
    .option('--inject-allow-namespaces <list>', 'comma-separated namespaces whose pods may be injected', '*')
    .option('--inject-deny-namespaces <list>', 'comma-separated namespaces never injected', '')
    .option(
      '--inject-ca-file <file>',
      "PEM of the server's CA (an https --inject-server): injected sidecars get it inline, as MESHPEER_HTTP_CACERT_PEM",
    )
    .option(
      '--inject-acl-auth-method <name>',
      'with ACLs on: the kubernetes auth method injected sidecars log in with (their pod must run as a ' +
        'service account named after its service); without it sidecars get no token',
    )
    .addOption(
      new Option(
        '--inject-sidecar-engine <engine>',
        "what carries the injected sidecars' bytes: node (the sidecar process), haproxy or nginx (an " +
          'HAProxy or nginx child process the sidecar configures, as `meshpeer proxy --engine haproxy|nginx`; ' +
          'the image ships both)',
      )
        .choices(SIDECAR_ENGINES)
        .default('node'),
    )
    .option('--sidecar-cpu-request <quantity>', 'CPU request of the injected sidecar')
    .option('--sidecar-cpu-limit <quantity>', 'CPU limit of the injected sidecar')
    .option('--sidecar-memory-request <quantity>', 'memory request of the injected sidecar')
    .option('--sidecar-memory-limit <quantity>', 'memory limit of the injected sidecar')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: $MESHPEER_LOG_LEVEL or info)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer controller --server http://consul-server:8500 --leader-elect\n' +
        '  $ meshpeer controller --kubeconfig ~/.kube/config --namespace default --metrics-addr 127.0.0.1:9102',
    )
    .action(async (flags: ControllerFlags) => {
      // Loaded on use: the Kubernetes client is heavy and other commands should not pay for it.
      const { runController } = await import('./controller-run.js');
      await runController(flags);
    });
}
