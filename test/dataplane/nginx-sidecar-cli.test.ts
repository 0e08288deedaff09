// `meshpeer proxy --engine nginx` as processes (from dist/, built by `npm test`) between two real
// servers, real echo apps and real mesh gateways: configuration and leaves from the server's HTTP API,
// registration as the connect-proxy, a local upstream and a peered one, an intention refusal, a drain on
// SIGTERM cut short by a second signal; and the command's help and refusals (no nginx binary, no modules).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  type DataplaneProcess,
  logRecords,
  sidecarRefusals,
} from '../security/dataplane-processes.js';
import { eventually, type ServerProcess } from '../support/meshpeer-process.js';
import { echoed, liveConnection } from './live-connection.js';
import {
  call,
  connectProxiesOf,
  denyIntention,
  runProxyCommand,
  type Stop,
  startDrain,
  startSidecarTopology,
} from './sidecar-cli-topology.js';

/** Whether a process runs (a zombie does not count: it holds no port and no connection). */
function running(pid: number): boolean {
  try {
    // The state follows the command name in parentheses, which may itself hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The child processes of a process, from /proc. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter((p) => p !== '')
    .map(Number);
}

describe('meshpeer proxy --engine nginx, as a process between real servers', () => {
  const stops: Stop[] = [];
  let c1: ServerProcess;
  let backendProc: DataplaneProcess;
  let webPort: number;
  let frontendPort: number;
  const nginxPids: number[] = [];

  beforeAll(async () => {
    ({ c1, backendProc, webPort, frontendPort } = await startSidecarTopology('nginx', stops));
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    // Any of the backend's nginx processes still about after meshpeer exited (none should be).
    for (const pid of nginxPids.filter(running)) process.kill(pid, 'SIGKILL');
  });

  it('registers as the connect-proxy of its service and carries a local upstream through nginx', async () => {
    expect(await connectProxiesOf(c1, 'backend')).toEqual([
      ['connect-proxy', 'backend', backendProc.address.port],
    ]);
    expect(logRecords(backendProc, /^nginx started$/)).toHaveLength(1);
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'via web')) === 'via web', 30_000);
    // Carried by nginx's worker: meshpeer counted the connection from the line nginx logged for it.
    await eventually(
      async () => (await counter(backendProc, 'meshpeer_proxy_inbound_allowed_total')) >= 1,
      10_000,
    );
    expect(await sidecarRefusals(backendProc)).toBe(0);
  });

  it('carries a peered upstream to the exporter, through the mesh gateways', async () => {
    const upstream = { host: '127.0.0.1', port: frontendPort };
    await eventually(async () => (await echoed(upstream, 'from dc2')) === 'from dc2', 60_000);
  });

  it('refuses a caller an intention denies, saying why', async () => {
    // A change is applied once the reload carrying it is done: until its old worker has gone, that
    // worker (on the previous decisions) takes some of the new connections alongside the new one.
    const reloads = () => logRecords(backendProc, /^nginx reloaded$/).length;
    const before = reloads();
    await denyIntention(c1, 'web', 'backend');
    const upstream = { host: '127.0.0.1', port: webPort };
    await eventually(async () => (await echoed(upstream, 'denied?')) === '', 30_000);
    await eventually(async () => (await sidecarRefusals(backendProc, 'intention-deny')) >= 1, 10_000);
    await eventually(
      async () =>
        logRecords(backendProc, /^refused inbound connection: intention web → backend says deny$/).some(
          (r) => r.reason === 'intention-deny' && /\/ns\/default\/dc\/dc1\/svc\/web$/.test(String(r.caller)),
        ),
      10_000,
    );
    // Still open to the peer's frontend.
    expect(await echoed({ host: '127.0.0.1', port: frontendPort }, 'peer ok')).toBe('peer ok');
    await eventually(async () => reloads() > before, 30_000);
    const denied = reloads();
    await call(c1.url, 'DELETE', '/v1/config/service-intentions/backend');
    await eventually(async () => reloads() > denied, 30_000);
    expect(await echoed(upstream, 'allowed')).toBe('allowed');
  });

  it('drains on SIGTERM (live connections go on, new ones are refused); a second signal ends it at once', async () => {
    const [started] = logRecords(backendProc, /^nginx started$/) as { master: number }[];
    if (!started) throw new Error('no "nginx started" record');
    const live = await liveConnection({ host: '127.0.0.1', port: webPort });
    expect(await live.say('before')).toBe('before');
    // The master and its workers now (reloads replaced the first worker): one of them holds `live`.
    const nginx = [started.master, ...childrenOf(started.master)];
    nginxPids.push(...nginx);
    expect(nginx.length).toBeGreaterThan(1);
    const { exited } = await startDrain(backendProc, 'nginx', live);
    // The drain would last 30 s (the connection stays open): a second SIGTERM ends it now, 128 + 15.
    backendProc.child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(backendProc.logs.join('\n')).toMatch(/SIGTERM again during shutdown: stopping now/);
    // nginx goes with it: meshpeer's exit stops the master, which takes its workers along.
    await eventually(async () => nginx.every((pid) => !running(pid)), 10_000);
    await live.close();
  });
});

describe('meshpeer proxy --engine nginx, its help and refusals', () => {
  it('--help names the nginx engine, what it needs and where it looks', async () => {
    const { failed, stdout } = await runProxyCommand(['--help']);
    expect(failed).toBe(false);
    const help = stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/choices: "node", "haproxy", "nginx"/);
    expect(help).toMatch(/nginx 1\.22\+ with its stream and njs modules/);
    expect(help).toMatch(/MESHPEER_NGINX /);
    expect(help).toMatch(/MESHPEER_NGINX_MODULES/);
  });

  it('fails at start without an nginx binary, saying how to install one', async () => {
    // No server answers here: the binary is looked for before anything else.
    const { failed, stderr } = await runProxyCommand(
      ['--engine', 'nginx', '--server', 'http://127.0.0.1:1', '--service', 'web'],
      { MESHPEER_NGINX: '/nonexistent/nginx' },
    );
    expect(failed).toBe(true);
    expect(stderr).toMatch(
      /nginx binary \/nonexistent\/nginx is not an executable file: .*apt-get install nginx libnginx-mod-stream libnginx-mod-stream-js/,
    );
  });

  it('fails at start when the stream and njs modules are not where it is told they are', async () => {
    const { failed, stderr } = await runProxyCommand(
      ['--engine', 'nginx', '--server', 'http://127.0.0.1:1', '--service', 'web'],
      { MESHPEER_NGINX_MODULES: '/nonexistent/modules' },
    );
    expect(failed).toBe(true);
    expect(stderr).toMatch(
      /the stream and njs modules \(ngx_stream_module\.so, ngx_stream_js_module\.so\) are not in \/nonexistent\/modules/,
    );
  });
});
