// How `meshpeer proxy --engine nginx` learns of each connection, with a real nginx: connections that
// ended well reach it through nginx's buffered file (counted once nginx flushes it, or at the latest when
// nginx stops), refusals at once as syslog datagrams; a full file is rotated under live traffic (nginx
// told to reopen its logs) without losing or repeating a line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StaticConfigSource } from '../../src/dataplane/config-source.js';
import type { Endpoint } from '../../src/dataplane/endpoint.js';
import { findNginx } from '../../src/dataplane/nginx-process.js';
import type { ProxyConfig } from '../../src/dataplane/proxy/index.js';
import { NginxSidecar, type NginxSidecarOptions } from '../../src/dataplane/proxy/nginx-sidecar.js';
import { type EchoServer, startEchoServer } from '../../src/dataplane/testing/traffic.js';
import { eventually } from '../support/meshpeer-process.js';
import { metricValue } from './helpers.js';
import { dialInbound, type InboundScene, inboundScene, intentions } from './inbound-callers.js';

let scene: InboundScene;
const stoppers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  findNginx();
  scene = await inboundScene();
});

afterEach(async () => {
  for (const stop of stoppers.splice(0).reverse()) await stop();
});

async function started(options: Partial<NginxSidecarOptions>, config: ProxyConfig = scene.base) {
  const echo: EchoServer = await startEchoServer();
  stoppers.push(() => echo.close());
  const messages: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        messages.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  const sidecar = new NginxSidecar({
    config: new StaticConfigSource<ProxyConfig>(config),
    inbound: { listen: { host: '127.0.0.1', port: 0 }, app: echo.address },
    logger,
    ...options,
  });
  const listen = (await sidecar.start()).inbound as Endpoint;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sidecar.stop();
  };
  stoppers.push(stop);
  // nginx runs with the sidecar's directory as its prefix (-p); its title keeps the arguments.
  const title = readFileSync(`/proc/${sidecar.masterPid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  const dir = /\s-p\s+(\S+)/.exec(title)?.[1] as string;
  expect(dir).toMatch(/meshpeer-sidecar-/);
  const allowed = () => metricValue(sidecar.metrics.registry, 'meshpeer_proxy_inbound_allowed_total');
  const dial = (leaf = scene.localWeb.leaf) =>
    dialInbound(listen, [scene.ours.root.certPem], { leaf, sni: scene.localSni });
  return { sidecar, dir, messages, allowed, dial, stop };
}

describe('nginx sidecar connection log', () => {
  it('logs a refusal at once, while connections that ended well wait in nginx’s buffer until it flushes or stops', async () => {
    const config = {
      ...scene.base,
      intentions: intentions({ Name: 'db', Action: 'deny' }),
    };
    const { messages, allowed, dial, stop } = await started({ connectionLogFlushMs: 60_000 }, config);
    for (let i = 0; i < 3; i++) expect((await dial()).echoed).toBe(true);
    expect((await dial(scene.localDb.leaf)).echoed).toBe(false);
    await eventually(async () => messages.some((m) => m.startsWith('refused inbound connection')), 5_000);
    // The refusal came through; the three allowed connections are still in nginx's buffer.
    expect(await allowed()).toBe(0);
    await stop();
    expect(await allowed()).toBe(3);
  });

  it('rotates a full file under traffic, counting every connection exactly once', async () => {
    // One connection's line is about 150 bytes: 40 connections fill the file several times over.
    const rotateBytes = 1_500;
    const total = 40;
    const { dir, messages, allowed, dial } = await started({
      connectionLogFlushMs: 50,
      connectionLogRotateBytes: rotateBytes,
    });
    for (let i = 0; i < total; i++) expect((await dial()).echoed).toBe(true);
    await eventually(async () => (await allowed()) === total, 15_000);
    // A renamed file is read for a few seconds (nginx's workers reopen the path meanwhile), then read to
    // its end and removed; the file that took over is rotated in turn.
    const count = (msg: string) => messages.filter((m) => m === msg).length;
    // (The second rotation needs nginx's worker to have written to the new file: it reopened it.)
    await eventually(async () => count('nginx connection log rotated') >= 2, 20_000);
    expect(count('nginx connection log retired')).toBeGreaterThanOrEqual(1);
    expect(messages.filter((m) => /\[(emerg|alert|crit)\]/.test(m))).toEqual([]);
    expect(existsSync(join(dir, 'connections.log'))).toBe(true);
    // Nothing arrived twice, and connections after the rotations are counted too.
    expect(await allowed()).toBe(total);
    for (let i = 0; i < 5; i++) expect((await dial()).echoed).toBe(true);
    await eventually(async () => (await allowed()) === total + 5, 15_000);
  });
});
