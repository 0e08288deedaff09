// `meshpeer gateway --engine haproxy|nginx` as a process (each engine's test file runs this suite): it
// registers, the engine serves its port, a route the server's configuration adds later (peering through
// the gateways) reaches the engine and carries a connection, and SIGTERM deregisters, drains and stops
// the engine with it. Without the engine's binary it fails at start and says how to install it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { peeringServerName } from '../../src/dataplane/sni.js';
import { captureClientHello } from '../../src/dataplane/testing/client-hello.js';
import { type EchoServer, echoOnce, startNamedEchoServer } from '../../src/dataplane/testing/traffic.js';
import { freePort } from '../../src/shared/testing/free-port.js';
import { api, CLI, eventually, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';

export interface CliEngine {
  name: 'haproxy' | 'nginx';
  /** What its log says when a new route has reached it. */
  reloaded: RegExp[];
  /** The environment variable naming its binary. */
  binaryVariable: string;
}

export function cliSuite(engine: CliEngine): void {
  const children = new Set<ChildProcess>();
  let server: ServerProcess | undefined;
  let grpc: EchoServer | undefined;

  afterAll(async () => {
    // SIGTERM, not SIGKILL: the gateway stops its engine child on the way out.
    for (const c of children) {
      if (c.exitCode === null) {
        c.kill('SIGTERM');
        await once(c, 'exit');
      }
    }
    await server?.stop();
    await grpc?.close();
  });

  function accepting(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  /** The engine master's and first worker's pids, as the gateway logs them. */
  function enginePids(stderr: string): number[] {
    const master = /"master":(\d+)/.exec(stderr)?.[1];
    const worker = /"worker":(\d+)/.exec(stderr)?.[1];
    return [master, worker].filter((p): p is string => p !== undefined).map(Number);
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** `meshpeer gateway --engine <engine>` against `server` on `port`, its stderr collected as it comes. */
  function spawnGateway(
    s: ServerProcess,
    port: number,
    extra: string[],
  ): { child: ChildProcess; stderr: () => string } {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'gateway',
        '--engine',
        engine.name,
        '--server',
        s.url,
        '--listen',
        `127.0.0.1:${port}`,
        '--server-grpc',
        `${grpc?.address.host}:${grpc?.address.port}`,
        ...extra,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHPEER_LOG_LEVEL: 'info' } },
    );
    children.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    return { child, stderr: () => stderr };
  }

  const dc = `dc-gw-${engine.name}`;
  const listening = new RegExp(`mesh gateway \\(${engine.name}\\) listening`);

  describe(`meshpeer gateway --engine ${engine.name}`, () => {
    it(`registers, serves through ${engine.name}, and on SIGTERM deregisters and stops ${engine.name}`, async () => {
      server = await startServerProcess({ datacenter: dc });
      const s = server;
      const port = await freePort();
      grpc = await startNamedEchoServer('grpc');
      const { child, stderr: logs } = spawnGateway(s, port, [
        '--register',
        '--service-id',
        `gw-${engine.name}`,
        '--drain-seconds',
        '5',
      ]);
      const registered = await eventually(async () => {
        const r = await api<{ Service: { ID: string } }[]>(`${s.url}/v1/health/service/mesh-gateway`);
        return r.body.length === 1 ? r.body[0] : undefined;
      }, 20_000);
      expect(registered.Service.ID).toBe(`gw-${engine.name}`);
      expect(logs()).toMatch(new RegExp(`${engine.name} started`));
      expect(logs()).toMatch(listening);
      const pids = enginePids(logs());
      expect(pids).toHaveLength(2);
      expect(pids.every(alive)).toBe(true);
      expect(await accepting(port)).toBe(true);

      // Peering through the gateways turned on: a new destination (the servers' gRPC, here an echo), which
      // the engine learns by a reload, and then carries a connection named for it.
      const mesh = await api(`${s.url}/v1/config`, {
        json: { Kind: 'mesh', Name: 'mesh', Peering: { PeerThroughMeshGateways: true } },
      });
      expect(mesh.status).toBe(200);
      await eventually(async () => engine.reloaded.every((line) => line.test(logs())), 20_000);
      const roots = await api<{ TrustDomain: string }>(`${s.url}/v1/connect/ca/roots`);
      const hello = await captureClientHello(peeringServerName(dc, roots.body.TrustDomain));
      const answer = await echoOnce({ host: '127.0.0.1', port }, Buffer.concat([hello, Buffer.from('ping')]));
      expect(answer.toString('latin1')).toBe(`grpc:${hello.toString('latin1')}ping`);

      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      children.delete(child);
      expect(code).toBe(0);
      expect(logs()).toMatch(new RegExp(`mesh gateway \\(${engine.name}\\) stopped`));
      expect((await api<unknown[]>(`${s.url}/v1/health/service/mesh-gateway`)).body).toEqual([]);
      expect(pids.some(alive)).toBe(false);
      expect(await accepting(port)).toBe(false);
    });

    it(`on a second SIGTERM during the drain stops at once, and still takes ${engine.name} with it`, async () => {
      const s = server as ServerProcess;
      const port = await freePort();
      const { child, stderr: logs } = spawnGateway(s, port, ['--drain-seconds', '60']);
      await eventually(async () => listening.test(logs()), 20_000);
      const pids = enginePids(logs());
      expect(pids.every(alive)).toBe(true);
      // A live connection (the peering route is still on from the test above) keeps the drain waiting.
      const roots = await api<{ TrustDomain: string }>(`${s.url}/v1/connect/ca/roots`);
      const hello = await captureClientHello(peeringServerName(dc, roots.body.TrustDomain));
      const live = net.connect({ host: '127.0.0.1', port });
      live.on('error', () => {});
      await once(live, 'connect');
      live.write(hello);
      await once(live, 'data');
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await eventually(async () => /shutting down/.test(logs()), 10_000);
      child.kill('SIGTERM');
      const [code] = await exited;
      children.delete(child);
      live.destroy();
      expect(code).toBe(143);
      expect(logs()).toMatch(/SIGTERM again during shutdown: stopping now/);
      // On its way out the gateway told the engine's master to stop; master and worker go right after.
      await eventually(async () => !pids.some(alive), 5_000);
    });

    it(`fails at start, saying how to install ${engine.name}, when there is none`, async () => {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [
            CLI,
            'gateway',
            '--engine',
            engine.name,
            '--server',
            'http://127.0.0.1:1',
            '--datacenter',
            'dc1',
            '--config-timeout-seconds',
            '1',
          ],
          { env: { ...process.env, [engine.binaryVariable]: `/nonexistent/${engine.name}` } },
          (err, _o, e) => resolve({ code: err ? (child.exitCode ?? 1) : 0, stderr: e }),
        );
      });
      expect(code).not.toBe(0);
      expect(stderr).toMatch(new RegExp(`apt-get install ${engine.name}`));
    });

    it('refuses an engine it does not know', async () => {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, [CLI, 'gateway', '--engine', 'envoy'], (err, _o, e) =>
          resolve({ code: err ? (child.exitCode ?? 1) : 0, stderr: e }),
        );
      });
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/node, haproxy, nginx/);
    });
  });
}
