import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, newTrustDomain } from '../../src/ca/index.js';
import { gatewayCommand } from '../../src/cli/gateway-command.js';
import { proxyCommand } from '../../src/cli/proxy-command.js';
import { runGateway } from '../../src/dataplane/run-gateway.js';
import { silentLogger } from '../../src/shared/logger.js';
import { FakeConsul } from './fake-consul.js';

async function parse(command: Command, args: string[]): Promise<{ out: string; err: string; error?: Error }> {
  const output = { out: '', err: '' };
  command.exitOverride().configureOutput({
    writeOut: (s) => {
      output.out += s;
    },
    writeErr: (s) => {
      output.err += s;
    },
  });
  try {
    await command.parseAsync(args, { from: 'user' });
    return output;
  } catch (error) {
    return { ...output, error: error as Error };
  }
}

describe('meshpeer gateway and proxy flags', () => {
  it('gateway --help explains every flag', async () => {
    const { out } = await parse(gatewayCommand(), ['--help']);
    for (const flag of [
      '--server',
      '--listen',
      '--service-name',
      '--register',
      '--advertise',
      '--datacenter',
      '--server-grpc',
      '--metrics',
      '--drain-seconds',
    ]) {
      expect(out).toContain(flag);
    }
  });

  it('proxy --help explains every flag', async () => {
    const { out } = await parse(proxyCommand(), ['--help']);
    for (const flag of [
      '--server',
      '--service',
      '--listen',
      '--app-port',
      '--upstream',
      '--mesh-gateway-mode',
      '--default-intention',
      '--register',
    ]) {
      expect(out).toContain(flag);
    }
    expect(out).toContain('backend:peer=cluster-01:9191');
  });

  it('proxy refuses mode "none" for a peered upstream before starting anything', async () => {
    const inSpec = await parse(proxyCommand(), [
      '--service',
      'web',
      '--upstream',
      'backend:peer=cluster-01:mode=none:9191',
    ]);
    expect(inSpec.err).toMatch(/mesh gateway mode "none" cannot be used for traffic to a peer/);
    const asFlag = await parse(proxyCommand(), [
      '--service',
      'web',
      '--mesh-gateway-mode',
      'none',
      '--upstream',
      'backend:peer=cluster-01:9191',
    ]);
    expect(asFlag.error?.message).toMatch(/--mesh-gateway-mode: mesh gateway mode "none" cannot be used/);
  });

  it('proxy refuses a malformed upstream or address as a usage error', async () => {
    expect((await parse(proxyCommand(), ['--service', 'web', '--upstream', 'backend'])).err).toMatch(
      /no valid local port/,
    );
    expect((await parse(gatewayCommand(), ['--listen', 'nowhere'])).err).toMatch(/is not an address/);
  });
});

describe('runGateway', () => {
  let fake: FakeConsul;

  beforeAll(async () => {
    fake = new FakeConsul();
    await fake.start();
    const root = await createRootCa({ clusterName: 'c', trustDomain: newTrustDomain() });
    fake.set('/v1/connect/ca/roots', { ActiveRootID: root.id, TrustDomain: root.trustDomain, Roots: [] });
    fake.set('/v1/internal/meshpeer/trust-bundles', []);
    fake.set('/v1/catalog/services', {});
    fake.set('/v1/internal/meshpeer/peer-servers', []);
  });

  afterAll(async () => {
    await fake.close();
  });

  it('registers itself as a mesh-gateway on start and deregisters on stop', async () => {
    const gateway = await runGateway({
      server: fake.url,
      listen: { host: '127.0.0.1', port: 0 },
      serviceName: 'mesh-gateway',
      register: { advertise: { host: '192.0.2.10', port: 443 } },
      datacenter: 'dc1',
      localServers: [],
      metrics: { host: '127.0.0.1', port: 0 },
      drainMs: 0,
      logger: silentLogger(),
    });
    expect(fake.registered).toEqual([
      expect.objectContaining({
        Kind: 'mesh-gateway',
        Name: 'mesh-gateway',
        Address: '192.0.2.10',
        Port: 443,
      }),
    ]);
    const metrics = await fetch(`http://127.0.0.1:${gateway.metrics?.port}/metrics`).then((r) => r.text());
    expect(metrics).toContain('meshpeer_gateway_connections_refused_total');
    await gateway.stop();
    expect(fake.deregistered).toEqual([gateway.serviceId]);
  });
});
