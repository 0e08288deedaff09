// What may reach the nginx sidecar's configuration text, checked: paths, addresses, TLS directives.
// nginx reads its configuration unquoted here, so anything outside these grammars is refused before it
// is written.
import { isIP } from 'node:net';
import { invalid } from '../../shared/errors.js';
import { type Endpoint, formatEndpoint } from '../endpoint.js';
import type { TlsDirection } from './mesh-tls.js';

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const HOST = /^[A-Za-z0-9.:-]+$/;
// OpenSSL cipher names joined by ':' (mesh-tls.ts translates Consul's).
const CIPHERS = /^[A-Za-z0-9:_-]+$/;
const VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

export function safePath(what: string, path: string): string {
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) {
    throw invalid(`${what} "${path}" must be an absolute path of letters, digits, '.', '_', '-' and '/'`);
  }
  return path;
}

/**
 * nginx's main context as meshpeer runs it: the dynamic modules, in the foreground under a master with
 * one worker, its pid file, its own messages to stderr (meshpeer relays them), and how many connections
 * the worker takes (with the open-file limit it raises itself to, when given).
 */
export function nginxMainContext(options: {
  modules: readonly string[];
  pidFile: string;
  workerConnections: number;
  openFiles?: number;
}): string[] {
  return [
    ...options.modules.map((m) => `load_module ${safePath('module', m)};`),
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    ...(options.openFiles !== undefined ? [`worker_rlimit_nofile ${options.openFiles};`] : []),
    `pid ${options.pidFile};`,
    'error_log stderr notice;',
    'events {',
    `  worker_connections ${options.workerConnections};`,
    '}',
  ];
}

/** host:port as nginx reads it (IPv6 in brackets); throws for anything else. */
export function nginxAddress(what: string, endpoint: Endpoint): string {
  if (!HOST.test(endpoint.host) || (endpoint.host.includes(':') && isIP(endpoint.host) !== 6)) {
    throw invalid(`${what} host "${endpoint.host}" is not an IP address or host name`);
  }
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw invalid(`${what} port ${endpoint.port} is not a port number`);
  }
  return formatEndpoint(endpoint);
}

/**
 * The size of each of the two buffers nginx proxies a connection through (one per direction): 64 KiB
 * instead of nginx's 16, as the HAProxy gateway's. A TLS record carries at most 16 KiB, so with nginx's
 * default every record read is one write to the other side; with 64 KiB up to four are passed on at
 * once (measured on one called sidecar carrying a 128 MB echo: 5–17 % less CPU per MB, the spread being
 * the machine's). It costs 96 KiB more memory per open connection.
 */
export const PROXY_BUFFER_DIRECTIVE = 'proxy_buffer_size 64k;';

// The listeners keep the kernel's own socket buffers, which it sizes as a connection goes. Measured on
// the benchmark's path, with its anchor's nginx sidecars: a fixed 4 MiB receive buffer on their
// listeners (`listen … rcvbuf=4m`) took 9–13 % off the path's CPU per MB in four runs (on a kernel that
// lets a connection's buffer grow to 32 MiB); the gain is the calling sidecar's listener's, the app's
// plain connections (on the called sidecar's alone: none). But there nginx 1.22 then cut half-closed
// transfers short: 6 of 320 transfers of 32 MB with 4 MiB there, 3 of 480 with 4 MiB on both, 4 of 160
// with 1 MiB on both, against 0 of 800 as it is (and 0 of 320 with 4 MiB on the called sidecar alone).
// The kernel also caps what a listener asks for at net.core.rmem_max (208 KiB unless raised; one run
// with 208 KiB came out 6 % slower).

/**
 * One direction's TLS settings as nginx directives; `prefix` is `ssl` or `proxy_ssl`. The range goes in
 * as OpenSSL configuration commands (MinProtocol, MaxProtocol) over nginx 1.22's own protocol list, which
 * leaves TLS 1.3 out: nginx 1.22 does not resume TLS 1.3 sessions to its upstreams (measured between
 * these sidecars: a full handshake on every connection, about twice the CPU per connection on both
 * sides), so between nginx sidecars TLS 1.2 with resumption is used unless TLS 1.3 is the minimum, and
 * then `ssl_protocols` names it. When TLS 1.2 ciphers are configured, `ssl_ciphers` too.
 */
export function nginxTlsDirectives(prefix: 'ssl' | 'proxy_ssl', tls: TlsDirection): string[] {
  const from = VERSIONS.indexOf(tls.minVersion);
  const to = VERSIONS.indexOf(tls.maxVersion);
  if (from < 0 || to < 0 || from > to)
    throw invalid(`TLS ${tls.minVersion} to ${tls.maxVersion} is an empty range`);
  const lines = [
    ...(tls.minVersion === 'TLSv1.3' ? [`${prefix}_protocols TLSv1.3;`] : []),
    `${prefix}_conf_command MinProtocol ${tls.minVersion};`,
    `${prefix}_conf_command MaxProtocol ${tls.maxVersion};`,
  ];
  if (tls.ciphers !== undefined) {
    if (!CIPHERS.test(tls.ciphers))
      throw invalid(`cipher list "${tls.ciphers}" is not a list of OpenSSL names`);
    lines.push(`${prefix}_ciphers ${tls.ciphers};`);
  }
  return lines;
}

/**
 * Where nginx writes its connection log lines: a connection that ended well (status 200) as a line in a
 * buffered file meshpeer reads as it grows (nginx-connection-log.ts), any other at once as a syslog
 * datagram to meshpeer's loopback socket, so refusals and failures are logged when they happen while
 * the common case costs no wake-up of meshpeer per connection. The two conditions are the variables the
 * stream block's maps set (accessLogMaps).
 */
export interface NginxAccessLogs {
  /** Absolute path of the buffered file. */
  file: string;
  /** How long a line may wait in nginx's buffer. */
  flushMs: number;
  /** meshpeer's loopback UDP port for syslog datagrams. */
  syslogPort: number;
}

const BATCHED = '$meshpeer_log_batched';
const PROMPT = '$meshpeer_log_prompt';

/** The stream-level maps the access_log conditions read. */
export function accessLogMaps(): string[] {
  return [
    `map $status ${BATCHED} {`,
    '  200 1;',
    '  default 0;',
    '}',
    `map $status ${PROMPT} {`,
    '  200 0;',
    '  default 1;',
    '}',
  ];
}

/** A server's access_log directives for log format `format`. */
export function accessLogDirectives(logs: NginxAccessLogs, format: string): string[] {
  if (!Number.isInteger(logs.syslogPort) || logs.syslogPort <= 0 || logs.syslogPort > 65535) {
    throw invalid(`log port ${logs.syslogPort} is not a port`);
  }
  if (!Number.isInteger(logs.flushMs) || logs.flushMs <= 0) {
    throw invalid(`log flush time ${logs.flushMs} ms is not a positive whole number`);
  }
  return [
    `access_log ${safePath('connection log', logs.file)} ${format} buffer=64k flush=${logs.flushMs}ms if=${BATCHED};`,
    `access_log syslog:server=127.0.0.1:${logs.syslogPort},tag=meshpeer,nohostname ${format} if=${PROMPT};`,
  ];
}
