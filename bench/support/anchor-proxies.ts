// The anchors of the data-plane benchmark: the same four-hop topology as meshpeer's (sidecar → gateway →
// gateway → sidecar → app) built from HAProxy (TCP mode, routing on req.ssl_sni, as the gateways) and
// nginx stream or HAProxy (terminating and originating mTLS, as the sidecars), with the same
// certificates. Every process is started here, one per hop, and stopped by its own pid.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { haproxyTlsOptions } from '../../src/dataplane/proxy/haproxy-tls.js';
import type { TlsDirection } from '../../src/dataplane/proxy/mesh-tls.js';
import { freePort } from '../../src/shared/testing/free-port.js';

export type Installed = { ok: true; haproxy: string; nginx: string } | { ok: false; why: string };

/** Runs scripts/bench-anchors.sh (installs Debian's haproxy and nginx + stream module if missing). */
export function installAnchors(): Installed {
  const script = fileURLToPath(new URL('../../../scripts/bench-anchors.sh', import.meta.url));
  let out: string;
  try {
    out = execFileSync('bash', [script], { encoding: 'utf8', timeout: 600_000 }).trim();
  } catch (err) {
    return { ok: false, why: `scripts/bench-anchors.sh failed: ${(err as Error).message}` };
  }
  const [status, ...rest] = out.split('\n').at(-1)?.split(' ') ?? [];
  if (status === 'ok' && rest.length === 2) return { ok: true, haproxy: rest[0]!, nginx: rest[1]! };
  return { ok: false, why: rest.join(' ') || out || 'scripts/bench-anchors.sh said nothing' };
}

/** The certificates both meshpeer and the anchors use, written as files under `dir`. */
export interface AnchorCerts {
  /** The calling (frontend) workload's leaf and key, from the importing cluster's CA. */
  frontend: { certPem: string; keyPem: string };
  /** The called (backend) workload's leaf and key, from the exporting cluster's CA. */
  backend: { certPem: string; keyPem: string };
  exporterRootPem: string;
  importerRootPem: string;
  /** The SNI name the frontend dials the backend by, as meshpeer's sidecar does. */
  sni: string;
}

export interface AnchorPath {
  name: string;
  /** Where the client app connects (the frontend sidecar's listener). */
  entry: Endpoint;
  /** In path order: frontend sidecar, importer gateway, exporter gateway, backend sidecar. */
  hops: { name: string; pid: number }[];
  close(): Promise<void>;
}

export type SidecarKind = 'nginx' | 'haproxy';

export const ANCHOR_NAMES: Record<SidecarKind, string> = {
  nginx: 'nginx sidecars + HAProxy gateways',
  haproxy: 'HAProxy everywhere',
};

/** The name of an anchor's unchanged second copy (the bench's control, see dataplane-anchors.ts). */
export function controlName(anchor: string): string {
  return `${anchor}, second copy`;
}

/** Starts one anchor path to `app`: HAProxy gateways and `sidecars` sidecars, each hop its own process. */
export async function startAnchorPath(
  installed: { haproxy: string; nginx: string },
  sidecars: SidecarKind,
  certs: AnchorCerts,
  app: Endpoint,
  dir: string,
  /** The TLS versions the calling sidecar offers, as meshpeer's sidecars are told by the mesh entry. */
  outgoing: TlsDirection,
  /** A second, unchanged copy of the same anchor (its own processes and ports), named as such. */
  copy = false,
): Promise<AnchorPath> {
  const tag = copy ? `${sidecars}-copy` : sidecars;
  const files = writeCerts(certs, dir, tag);
  const [front, gwImporter, gwExporter, back] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const started: ChildProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(started.map(stopProcess));
  };
  try {
    const run = (kind: 'haproxy' | 'nginx', name: string, config: string): ChildProcess => {
      const file = join(dir, `${tag}-${name}.conf`);
      writeFileSync(file, config);
      const args =
        kind === 'haproxy'
          ? ['-db', '-f', file]
          : ['-p', dir, '-e', join(dir, `${tag}-${name}.err`), '-c', file];
      const child = spawn(kind === 'haproxy' ? installed.haproxy : installed.nginx, args, {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 4000) stderr += d.toString();
      });
      child.once('exit', (code, signal) => {
        if (!stopping.has(child))
          process.stderr.write(`${kind} ${name} exited (${code ?? signal}): ${stderr}\n`);
      });
      started.push(child);
      live.add(child);
      child.once('exit', () => live.delete(child));
      return child;
    };
    const backend =
      sidecars === 'nginx'
        ? run('nginx', 'backend-sidecar', nginxInbound(back, app, files, dir, `${tag}-backend`))
        : run('haproxy', 'backend-sidecar', haproxyInbound(back, app, files));
    const exporter = run('haproxy', 'exporter-gateway', haproxyGateway(gwExporter, certs.sni, back));
    const importer = run('haproxy', 'importer-gateway', haproxyGateway(gwImporter, certs.sni, gwExporter));
    const frontend =
      sidecars === 'nginx'
        ? run(
            'nginx',
            'frontend-sidecar',
            nginxOutbound(front, gwImporter, files, certs, dir, `${tag}-frontend`, outgoing),
          )
        : run('haproxy', 'frontend-sidecar', haproxyOutbound(front, gwImporter, files, certs, outgoing));
    for (const port of [back, gwExporter, gwImporter, front]) await listening(port, started);
    return {
      name: copy ? controlName(ANCHOR_NAMES[sidecars]) : ANCHOR_NAMES[sidecars],
      entry: { host: '127.0.0.1', port: front },
      hops: [
        { name: 'frontend sidecar', pid: frontend.pid ?? 0 },
        { name: 'importer gateway', pid: importer.pid ?? 0 },
        { name: 'exporter gateway', pid: exporter.pid ?? 0 },
        { name: 'backend sidecar', pid: backend.pid ?? 0 },
      ],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

interface CertFiles {
  frontendCert: string;
  frontendKey: string;
  frontendPem: string;
  backendCert: string;
  backendKey: string;
  backendPem: string;
  exporterRoot: string;
  importerRoot: string;
}

function writeCerts(certs: AnchorCerts, dir: string, tag: string): CertFiles {
  const file = (name: string, text: string): string => {
    const path = join(dir, `${tag}-${name}`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const nl = (pem: string): string => (pem.endsWith('\n') ? pem : `${pem}\n`);
  return {
    frontendCert: file('frontend.crt', nl(certs.frontend.certPem)),
    frontendKey: file('frontend.key', nl(certs.frontend.keyPem)),
    frontendPem: file('frontend.pem', nl(certs.frontend.certPem) + nl(certs.frontend.keyPem)),
    backendCert: file('backend.crt', nl(certs.backend.certPem)),
    backendKey: file('backend.key', nl(certs.backend.keyPem)),
    backendPem: file('backend.pem', nl(certs.backend.certPem) + nl(certs.backend.keyPem)),
    exporterRoot: file('exporter-root.pem', nl(certs.exporterRootPem)),
    importerRoot: file('importer-root.pem', nl(certs.importerRootPem)),
  };
}

// One thread/worker per hop, as each meshpeer hop is one Node process with one event loop.
const HAPROXY_COMMON = `global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
`;

/** A mesh gateway: reads the ClientHello's SNI and passes the bytes on untouched. */
function haproxyGateway(port: number, sni: string, to: number): string {
  return `${HAPROXY_COMMON}
frontend gateway
  bind 127.0.0.1:${port}
  tcp-request inspect-delay 10s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend routed if { req.ssl_sni -i ${sni} }
backend routed
  server next 127.0.0.1:${to}
`;
}

// Both anchors verify the backend as meshpeer's sidecars do: its chain against the exporting cluster's
// root only, and the SNI name they send against its DNS names (workload leaves name the SNI names that
// reach them).

/** The calling sidecar: plain TCP from the app, mTLS out with our leaf. */
function haproxyOutbound(
  port: number,
  to: number,
  f: CertFiles,
  certs: AnchorCerts,
  outgoing: TlsDirection,
): string {
  return `${HAPROXY_COMMON}
frontend app
  bind 127.0.0.1:${port}
  default_backend upstream
backend upstream
  server gateway 127.0.0.1:${to} ssl crt ${f.frontendPem} ca-file ${f.exporterRoot} verify required sni str(${certs.sni}) ${haproxyTlsOptions(outgoing)}
`;
}

/** The called sidecar: mTLS in, callers must chain to the importing cluster's root, plain TCP to the app. */
function haproxyInbound(port: number, app: Endpoint, f: CertFiles): string {
  return `${HAPROXY_COMMON}
frontend mtls
  bind 127.0.0.1:${port} ssl crt ${f.backendPem} ca-file ${f.importerRoot} verify required
  default_backend app
backend app
  server app ${app.host}:${app.port}
`;
}

function nginxCommon(dir: string, name: string): string {
  return `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}.err`)} warn;
events { worker_connections 4000; }
`;
}

function nginxOutbound(
  port: number,
  to: number,
  f: CertFiles,
  certs: AnchorCerts,
  dir: string,
  name: string,
  outgoing: TlsDirection,
): string {
  return `${nginxCommon(dir, name)}
stream {
  server {
    listen 127.0.0.1:${port};
    proxy_pass 127.0.0.1:${to};
    proxy_ssl on;
    proxy_ssl_certificate ${f.frontendCert};
    proxy_ssl_certificate_key ${f.frontendKey};
    proxy_ssl_trusted_certificate ${f.exporterRoot};
    proxy_ssl_verify on;
    proxy_ssl_server_name on;
    proxy_ssl_name ${certs.sni};
    proxy_ssl_session_reuse on;
    proxy_ssl_protocols ${nginxProtocols(outgoing)};
    proxy_half_close on;
  }
}
`;
}

function nginxInbound(port: number, app: Endpoint, f: CertFiles, dir: string, name: string): string {
  return `${nginxCommon(dir, name)}
stream {
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${f.backendCert};
    ssl_certificate_key ${f.backendKey};
    ssl_client_certificate ${f.importerRoot};
    ssl_verify_client on;
    proxy_half_close on;
    proxy_pass ${app.host}:${app.port};
  }
}
`;
}

/** nginx lists protocols one by one rather than as a range. */
function nginxProtocols(range: TlsDirection): string {
  const all = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  return all.slice(all.indexOf(range.minVersion), all.indexOf(range.maxVersion) + 1).join(' ');
}

/** Waits (at most 10 s) until something accepts TCP connections on the port. */
async function listening(port: number, children: ChildProcess[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (children.some((c) => c.exitCode !== null || c.signalCode !== null)) {
      throw new Error(`an anchor process exited while starting (port ${port})`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after 10 s`);
}

const stopping = new WeakSet<ChildProcess>();
const live = new Set<ChildProcess>();
// If the benchmark dies before stopping its paths, the processes it started go with it.
process.once('exit', () => {
  for (const child of live) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});

/** SIGTERM to this one process, SIGKILL after 5 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  stopping.add(child);
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }, 5_000);
  await exited;
  clearTimeout(timer);
}
