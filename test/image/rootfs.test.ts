// The container image's root filesystem, as scripts/image-rootfs.sh assembles it (the Dockerfile copies
// the same tree into an empty image), run the way a container runtime runs it: chrooted into the tree,
// as the image's user (10001), with the Dockerfile's environment and `meshpeer` found on its PATH.
// No Docker engine runs here and base images cannot be pulled, so this is the closest honest check.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { freePort } from '../../src/shared/testing/free-port.js';
import { echoed } from '../dataplane/live-connection.js';
import { api, eventually, startServerProcess } from '../support/meshpeer-process.js';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const script = join(repoRoot, 'scripts', 'image-rootfs.sh');
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;
const IMAGE_UID = 10001;
// The Dockerfile's ENV.
const imageEnv = { PATH: '/usr/local/bin:/usr/bin', NODE_ENV: 'production', HOME: '/home/meshpeer' };

let scratch = '';
let rootfs = '';
let sizeLine = '';
/** How a command runs "in the image": chrooted as 10001 when root, else in a user namespace as its root. */
let mode: 'chroot' | 'userns-chroot' = 'chroot';

// Mounts /proc and /dev in a private mount namespace (gone when the process ends), then chroots.
// chroot is looked up on the host's PATH; what it runs, on the image's.
const inImage =
  'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && ' +
  'c=$(command -v chroot) && PATH="$IMAGE_PATH" exec "$c" $CHROOT_OPTS "$0" "$@"';

function imageCommand(args: string[]): { cmd: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const unshare =
    mode === 'chroot' ? ['--mount', '--fork'] : ['--user', '--map-root-user', '--mount', '--fork'];
  const chrootOpts = mode === 'chroot' ? `--userspec=${IMAGE_UID}:${IMAGE_UID}` : '';
  const shell = mode === 'chroot' ? inImage : inImage.replace('mount -t proc proc "$0/proc" && ', '');
  return {
    cmd: 'unshare',
    argv: [...unshare, '/bin/bash', '-c', shell, rootfs, ...args],
    env: { ...imageEnv, PATH: process.env.PATH, IMAGE_PATH: imageEnv.PATH, CHROOT_OPTS: chrootOpts },
  };
}

function runInImage(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const { cmd, argv, env } = imageCommand(args);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const started = new Set<ChildProcess>();

/** A new directory under the image's /tmp that the image's user owns; its path inside the image. */
function privateDir(prefix: string): string {
  const host = mkdtempSync(join(rootfs, 'tmp', prefix));
  if (mode === 'chroot') chownSync(host, IMAGE_UID, IMAGE_UID);
  return `/tmp/${basename(host)}`;
}

/** Everything a TCP server on loopback sends on a new connection, until it closes ('' when refused). */
function readAll(port: number): Promise<string> {
  return new Promise((resolveRead) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', () => resolveRead(''));
    socket.on('close', () => resolveRead(data));
  });
}

/** The first process named `comm` under `pid` (unshare → chroot's exec → the command). */
function descendant(pid: number, comm: string): number {
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (readFileSync(`/proc/${next}/comm`, 'utf8').trim() === comm) return next;
    const children = readFileSync(`/proc/${next}/task/${next}/children`, 'utf8').trim();
    if (children !== '') queue.push(...children.split(/\s+/).map(Number));
  }
  throw new Error(`no ${comm} process under ${pid}`);
}

function stopGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'meshpeer-image-'));
  rootfs = join(scratch, 'rootfs');
  const build = spawnSync('bash', [script, rootfs], { encoding: 'utf8', timeout: 5 * 60_000 });
  if (build.status !== 0) throw new Error(`image-rootfs.sh failed (${build.status}): ${build.stderr}`);
  sizeLine = build.stdout.trim().split('\n').at(-1) ?? '';
  console.log(sizeLine);
  if (process.getuid?.() !== 0) mode = 'userns-chroot';
}, 6 * 60_000);

afterAll(() => {
  for (const child of started) stopGroup(child, 'SIGKILL');
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the image root filesystem', () => {
  it('holds the npm package, Node 20, the meshpeer entrypoint and the unprivileged user, and no shell', () => {
    const pkg = JSON.parse(readFileSync(join(rootfs, 'app', 'package.json'), 'utf8')) as { version: string };
    expect(pkg.version).toBe(version);
    expect(existsSync(join(rootfs, 'usr/local/bin/node'))).toBe(true);
    // Absolute inside the image, so not followed here.
    expect(readlinkSync(join(rootfs, 'usr/local/bin/meshpeer'))).toBe('/app/dist/src/cli/main.js');
    expect(existsSync(join(rootfs, 'bin/sh'))).toBe(false);
    expect(existsSync(join(rootfs, 'usr/bin/bash'))).toBe(false);
    expect(readFileSync(join(rootfs, 'etc/passwd'), 'utf8')).toContain(
      `meshpeer:x:${IMAGE_UID}:${IMAGE_UID}:`,
    );
    expect(statSync(join(rootfs, 'data')).uid).toBe(IMAGE_UID);
    // Only production dependencies: no compiler, test runner or linter.
    const modules = readdirSync(join(rootfs, 'app/node_modules'));
    for (const dev of ['typescript', 'vitest', '@biomejs', 'consul']) expect(modules).not.toContain(dev);
    expect(modules).toContain('better-sqlite3');
    // Test files and source maps are not published.
    const cli = readdirSync(join(rootfs, 'app/dist/src/cli'));
    expect(cli.filter((f) => f.endsWith('.test.js') || f.endsWith('.map'))).toEqual([]);
  });

  it('runs `meshpeer --version` through the entrypoint on PATH, chrooted', () => {
    const r = runInImage(['meshpeer', '--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toContain(version);
  });

  it('runs the HAProxy it ships, with the Lua the sidecar engine needs, chrooted', () => {
    // test-deps installs Debian's haproxy, so the tree built here carries it, as the Dockerfile's does.
    const r = runInImage(['haproxy', '-vv']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Built with Lua version/);
    expect(r.stdout).toMatch(/Built with OpenSSL/);
  });

  it('runs the nginx it ships, loading the stream and njs modules, as the nginx sidecar runs it, chrooted', async () => {
    // A tiny stream configuration with an njs value, in a private directory under the image's /tmp,
    // started as the sidecar starts nginx (its prefix that directory, the error log on stderr).
    const dir = privateDir('nginx-');
    const port = await freePort();
    writeFileSync(
      join(rootfs, dir, 'nginx.conf'),
      [
        'load_module /usr/lib/nginx/modules/ngx_stream_module.so;',
        'load_module /usr/lib/nginx/modules/ngx_stream_js_module.so;',
        'daemon off;',
        'master_process on;',
        'worker_processes 1;',
        `pid ${dir}/nginx.pid;`,
        'error_log stderr notice;',
        'events { worker_connections 16; }',
        'stream {',
        `  js_import said from ${dir}/said.js;`,
        '  js_set $said said.text;',
        `  server { listen 127.0.0.1:${port}; return $said; }`,
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(rootfs, dir, 'said.js'),
      "function text(s) { return 'njs in the image'; }\nexport default { text };\n",
    );
    const nginxArgs = ['-e', 'stderr', '-p', dir, '-c', `${dir}/nginx.conf`];
    const check = runInImage(['nginx', '-t', '-q', ...nginxArgs]);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stderr).toBe('');
    // In a user namespace nginx is its root and its workers cannot switch to nobody: -t is what is left.
    if (mode !== 'chroot') return;

    const { cmd, argv, env } = imageCommand(['nginx', ...nginxArgs]);
    const child = spawn(cmd, argv, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(child);
    let logs = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
    });
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    const said = await eventually(async () => (await readAll(port)) || undefined, 30_000).catch((err) => {
      throw new Error(`${String(err)}\nnginx said:\n${logs}`);
    });
    expect(said).toBe('njs in the image');
    // The master and its worker run as the image's user.
    const master = Number(readFileSync(join(rootfs, dir, 'nginx.pid'), 'utf8').trim());
    expect(statSync(`/proc/${master}`).uid).toBe(IMAGE_UID);
    const workers = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/);
    expect(workers).toHaveLength(1);
    expect(statSync(`/proc/${workers[0]}`).uid).toBe(IMAGE_UID);
    // Graceful stop, as the sidecar stops it; unshare exits with nginx's status.
    process.kill(master, 'SIGQUIT');
    expect(await exited, logs).toBe(0);
    started.delete(child);
    expect(logs).not.toMatch(/\[(emerg|alert|crit|error)\]/);
    // It wrote nothing outside its directory (no /var/lib/nginx or /var/log/nginx in the image).
    expect(existsSync(join(rootfs, 'var'))).toBe(false);
    rmSync(join(rootfs, dir), { recursive: true, force: true });
  }, 60_000);

  it('runs `meshpeer proxy --engine nginx` chrooted: it carries a connection through nginx and stops on SIGTERM', async () => {
    if (mode !== 'chroot') return; // nginx's workers cannot switch to nobody in a user namespace
    const server = await startServerProcess({ datacenter: 'image-test' });
    const app = await startEchoServer();
    try {
      const register = await api(`${server.url}/v1/agent/service/register`, {
        json: { Name: 'web', Address: '127.0.0.1', Port: app.address.port },
      });
      expect(register.status, register.text).toBe(200);
      const upstreamPort = await freePort();
      const { cmd, argv, env } = imageCommand([
        'meshpeer',
        'proxy',
        '--engine',
        'nginx',
        '--server',
        server.url,
        '--service',
        'web',
        '--listen',
        '127.0.0.1:0',
        '--app-port',
        String(app.address.port),
        '--upstream',
        `web:${upstreamPort}`,
        '--register',
        '--drain-seconds',
        '0',
      ]);
      const child = spawn(cmd, argv, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      started.add(child);
      let logs = '';
      const onData = (chunk: Buffer): void => {
        logs += chunk.toString();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      const exited = new Promise<number | null>((resolveExit) =>
        child.on('exit', (code) => resolveExit(code)),
      );
      await eventually(
        async () => /sidecar \(nginx\) listening/.test(logs) || child.exitCode !== null,
        60_000,
      );
      expect(logs).toMatch(/sidecar \(nginx\) listening/);
      // Through nginx twice: the upstream listener, mTLS to the sidecar's own inbound listener, the app.
      const upstream = { host: '127.0.0.1', port: upstreamPort };
      await eventually(async () => (await echoed(upstream, 'via nginx')) === 'via nginx', 30_000).catch(
        (err) => {
          throw new Error(`${String(err)}\nthe sidecar said:\n${logs}`);
        },
      );
      // SIGTERM to meshpeer only (as a container runtime sends it to the entrypoint): nginx stops with it.
      const meshpeer = descendant(child.pid as number, 'node');
      process.kill(meshpeer, 'SIGTERM');
      expect(await exited, logs).toBe(0);
      started.delete(child);
      expect(logs).toMatch(/sidecar \(nginx\) stopped/);
      expect(logs).not.toMatch(/nginx exited on its own/);
    } finally {
      await app.close();
      await server.stop();
    }
  }, 120_000);

  it('runs as the image user, not root', () => {
    if (mode !== 'chroot') return; // in a user namespace the mapped user is its root
    const r = runInImage(['node', '-p', 'process.getuid() + ":" + process.getgid()']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
  });

  it('starts a server on /data that answers the HTTP API and stops cleanly on SIGTERM', async () => {
    const { cmd, argv, env } = imageCommand([
      'meshpeer',
      'server',
      '--data-dir',
      '/data',
      '--http-addr',
      '127.0.0.1:0',
      '--grpc-addr',
      '127.0.0.1:0',
      '--datacenter',
      'image-test',
    ]);
    const child = spawn(cmd, argv, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(child);
    let logs = '';
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    const url = await new Promise<string>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${logs}`)), 30_000);
      const onData = (chunk: Buffer): void => {
        logs += chunk.toString();
        const ready = logs.split('\n').find((line) => line.includes('"msg":"server ready"'));
        const m = ready === undefined ? null : /"httpAddress":"([^"]+)"/.exec(ready);
        if (m?.[1]) {
          clearTimeout(timer);
          resolveReady(`http://${m[1]}`);
        }
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', onData);
      child.on('exit', (code) => reject(new Error(`server exited (${code}) before ready:\n${logs}`)));
    });

    const put = await fetch(`${url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'web', Port: 8080 }),
    });
    expect(put.status).toBe(200);
    const services = (await (await fetch(`${url}/v1/catalog/services`)).json()) as Record<string, unknown>;
    expect(Object.keys(services)).toContain('web');

    // The state database is written by the image's user into its volume.
    const files = readdirSync(join(rootfs, 'data'));
    expect(files.length, 'files in /data').toBeGreaterThan(0);
    if (mode === 'chroot') {
      for (const f of files) expect(statSync(join(rootfs, 'data', f)).uid, f).toBe(IMAGE_UID);
    }

    stopGroup(child, 'SIGTERM');
    expect(await exited, logs).toBe(0);
    started.delete(child);
    // Leave the tree as built: the OCI image below is packed from it.
    for (const f of files) rmSync(join(rootfs, 'data', f), { force: true });
  }, 60_000);
});

// The same tree packed as an OCI image (scripts/image-oci.sh), unpacked by umoci (which checks every
// digest) into a runtime bundle and run by runc, the OCI runtime under Docker, containerd and CRI-O:
// the image's own config (user, entrypoint, environment) decides how meshpeer runs.
describe('the OCI image, run by runc', () => {
  const ids: string[] = [];
  let bundle = '';

  function runcConfig(args: string[], hostNetwork: boolean): void {
    const file = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as {
      process: { args: string[]; terminal: boolean };
      linux: { namespaces: { type: string }[] };
    };
    config.process.args = args;
    config.process.terminal = false;
    // The test reaches the server on loopback: share the host's network namespace.
    if (hostNetwork) config.linux.namespaces = config.linux.namespaces.filter((n) => n.type !== 'network');
    writeFileSync(file, JSON.stringify(config));
  }

  function containerId(): string {
    const id = `meshpeer-test-${process.pid}-${ids.length}`;
    ids.push(id);
    return id;
  }

  beforeAll(() => {
    const tools = spawnSync('bash', [join(repoRoot, 'scripts', 'image-tools.sh')], { encoding: 'utf8' });
    if (tools.status !== 0) throw new Error(`scripts/image-tools.sh failed: ${tools.stderr}`);
    const archive = join(scratch, 'meshpeer.oci.tar');
    const pack = spawnSync('bash', [join(repoRoot, 'scripts', 'image-oci.sh'), rootfs, archive], {
      encoding: 'utf8',
      timeout: 5 * 60_000,
    });
    if (pack.status !== 0) throw new Error(`image-oci.sh failed: ${pack.stderr}`);
    console.log(pack.stdout.trim());
    const layout = join(scratch, 'layout');
    mkdirSync(layout);
    const untar = spawnSync('tar', ['-xf', archive, '-C', layout]);
    if (untar.status !== 0) throw new Error('cannot extract the OCI archive');
    bundle = join(scratch, 'bundle');
    const unpack = spawnSync('umoci', ['unpack', '--image', `${layout}:${version}`, bundle], {
      encoding: 'utf8',
    });
    if (unpack.status !== 0) throw new Error(`umoci unpack failed: ${unpack.stderr}`);
  }, 6 * 60_000);

  afterAll(() => {
    for (const id of ids) spawnSync('runc', ['delete', '--force', id]);
  });

  it("carries the Dockerfile's user, entrypoint and environment", () => {
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      process: { user: { uid: number; gid: number }; args: string[]; env: string[]; cwd: string };
    };
    expect(config.process.user).toMatchObject({ uid: IMAGE_UID, gid: IMAGE_UID });
    expect(config.process.args).toEqual(['meshpeer', '--help']);
    expect(config.process.env).toContain('PATH=/usr/local/bin:/usr/bin');
    expect(config.process.cwd).toBe('/data');
  });

  it('runs `meshpeer --version`', () => {
    runcConfig(['meshpeer', '--version'], false);
    const r = spawnSync('runc', ['run', '--bundle', bundle, containerId()], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('runs a server as uid 10001 that answers the API and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    runcConfig(
      [
        'meshpeer',
        'server',
        '--data-dir',
        '/data',
        '--http-addr',
        `127.0.0.1:${port}`,
        '--grpc-addr',
        '127.0.0.1:0',
      ],
      true,
    );
    const id = containerId();
    const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    child.stderr?.on('data', (c: Buffer) => {
      logs += c.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    let leader: Response | undefined;
    while (!leader && Date.now() < deadline) {
      leader = await fetch(`http://127.0.0.1:${port}/v1/status/leader`).catch(() => undefined);
      if (!leader) await new Promise((r) => setTimeout(r, 200));
    }
    expect(leader?.status, logs).toBe(200);
    const ps = spawnSync('runc', ['ps', id], { encoding: 'utf8' });
    expect(ps.stdout).toMatch(new RegExp(`^${IMAGE_UID}\\s+\\d+.*meshpeer server`, 'm'));
    spawnSync('runc', ['kill', id, 'TERM']);
    expect(await exited, logs).toBe(0);
    expect(statSync(join(bundle, 'rootfs', 'data', 'state.db')).uid).toBe(IMAGE_UID);
  }, 60_000);
});
