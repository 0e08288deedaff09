import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Peering } from './http-client.js';
import { explainPeering } from './peering-status.js';
import { type FakeApi, runCli, startFakeApi } from './testing/harness.js';

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(async () => {
  await api.close();
});

const NOW = new Date('2024-05-01T10:05:00.000Z');

function peering(overrides: Partial<Peering> = {}): Peering {
  return {
    ID: '462c45e8-0000-4a2b-9e3f-6d6f1f5b7c11',
    Name: 'cluster-02',
    State: 'ACTIVE',
    PeerID: '5a0b1c2d-1111-4e5f-8a9b-0c1d2e3f4a5b',
    PeerServerName: 'server.dc2.peering.example.consul',
    PeerServerAddresses: ['10.0.0.2:8502', '10.0.0.3:8502'],
    PeerCAPems: ['-----BEGIN CERTIFICATE-----'],
    Remote: { Datacenter: 'dc2', Partition: 'default' },
    Meta: { env: 'prod' },
    StreamStatus: {
      ImportedServices: ['web'],
      ExportedServices: ['db', 'backend'],
      LastHeartbeat: '2024-05-01T10:04:55.000Z',
      LastReceive: '2024-05-01T10:04:55.000Z',
      LastSend: '2024-05-01T10:04:58.000Z',
    },
    CreateIndex: 10,
    ModifyIndex: 12,
    ...overrides,
  };
}

describe('meshpeer peering generate-token', () => {
  it('POSTs the peer name, addresses and meta, and prints only the token', async () => {
    api.on('POST', '/v1/peering/token', { body: { PeeringToken: 'eyJDQSI6bnVsbH0=' } });
    const result = await runCli(api, [
      'peering',
      'generate-token',
      '-name',
      'cluster-02',
      '-server-external-addresses',
      '1.2.3.4:8502,5.6.7.8:8502',
      '-meta',
      'env=prod',
      '--meta',
      'team=mesh',
    ]);
    expect(result).toEqual({ code: 0, stdout: 'eyJDQSI6bnVsbH0=\n', stderr: '' });
    expect(api.requests[0]).toMatchObject({ method: 'POST', path: '/v1/peering/token' });
    expect(api.requests[0]?.json).toEqual({
      PeerName: 'cluster-02',
      Meta: { env: 'prod', team: 'mesh' },
      ServerExternalAddresses: ['1.2.3.4:8502', '5.6.7.8:8502'],
    });
  });

  it('sends just the name when nothing else is given', async () => {
    api.on('POST', '/v1/peering/token', { body: { PeeringToken: 't' } });
    await runCli(api, ['peering', 'generate-token', '--name', 'cluster-02']);
    expect(api.requests[0]?.json).toEqual({ PeerName: 'cluster-02' });
  });

  it('is a usage error (exit 2) for --meta without =', async () => {
    const result = await runCli(api, ['peering', 'generate-token', '--name', 'x', '--meta', 'novalue']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected key=value, got "novalue"');
  });
});

describe('meshpeer peering establish', () => {
  it('POSTs the name and token', async () => {
    api.on('POST', '/v1/peering/establish', { body: {} });
    const result = await runCli(api, [
      'peering',
      'establish',
      '-name',
      'cluster-01',
      '-peering-token',
      'abc=',
    ]);
    expect(result).toEqual({
      code: 0,
      stdout: 'Successfully established peering connection with cluster-01\n',
      stderr: '',
    });
    expect(api.requests[0]).toMatchObject({ method: 'POST', path: '/v1/peering/establish' });
    expect(api.requests[0]?.json).toEqual({ PeerName: 'cluster-01', PeeringToken: 'abc=' });
  });

  it('reads the token from stdin with --peering-token -', async () => {
    api.on('POST', '/v1/peering/establish', { body: {} });
    await runCli(api, ['peering', 'establish', '--name', 'cluster-01', '--peering-token', '-'], {
      stdin: 'abc=\n',
    });
    expect(api.requests[0]?.json).toEqual({ PeerName: 'cluster-01', PeeringToken: 'abc=' });
  });

  it("surfaces the server's 400 about a used token verbatim", async () => {
    const body =
      'the peering token\'s establishment secret was already used: generate a new token on "cluster-01"';
    api.on('POST', '/v1/peering/establish', { status: 400, text: body });
    const result = await runCli(api, [
      'peering',
      'establish',
      '--name',
      'cluster-01',
      '--peering-token',
      'abc=',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: establishing the peering with "cluster-01" failed: ${body} (HTTP 400 Bad Request from POST /v1/peering/establish)\n`,
    );
  });
});

describe('meshpeer peering list', () => {
  it('prints a table of name, state and imported/exported counts', async () => {
    api.on('GET', '/v1/peerings', {
      body: [peering({ Name: 'cluster-03', State: 'PENDING', StreamStatus: null }), peering()],
    });
    const result = await runCli(api, ['peering', 'list']);
    expect(result).toEqual({
      code: 0,
      stdout:
        'Name        State    Imported  Exported\ncluster-02  ACTIVE   1         2\ncluster-03  PENDING  0         0\n',
      stderr: '',
    });
  });

  it('says so on stderr when there are none, and --json prints []', async () => {
    api.on('GET', '/v1/peerings', { body: [] });
    expect(await runCli(api, ['peering', 'list'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'There are no peerings.\n',
    });
    expect((await runCli(api, ['peering', 'list', '-json'])).stdout).toBe('[]\n');
  });
});

describe('meshpeer peering read', () => {
  it('prints readable lines and no Why for a healthy peering', async () => {
    api.on('GET', '/v1/peering/cluster-02', { body: peering() });
    const result = await runCli(api, ['peering', 'read', '-name', 'cluster-02'], { now: NOW });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'Name:                  cluster-02',
        'ID:                    462c45e8-0000-4a2b-9e3f-6d6f1f5b7c11',
        'State:                 ACTIVE',
        'Peer ID:               5a0b1c2d-1111-4e5f-8a9b-0c1d2e3f4a5b',
        'Peer Server Name:      server.dc2.peering.example.consul',
        'Peer Server Addresses: 10.0.0.2:8502, 10.0.0.3:8502',
        'Peer CA PEMs:          1',
        'Remote:                dc2 / default',
        'Meta:                  env=prod',
        'Imported Services:     1 (web)',
        'Exported Services:     2 (backend, db)',
        'Last Heartbeat:        2024-05-01T10:04:55.000Z (5s ago)',
        'Last Receive:          2024-05-01T10:04:55.000Z (5s ago)',
        'Last Send:             2024-05-01T10:04:58.000Z (2s ago)',
        'Create Index:          10',
        'Modify Index:          12',
        '',
      ].join('\n'),
    );
  });

  it("shows where peers reach this cluster's mesh gateways: the WAN address, else the address", async () => {
    api.on('GET', '/v1/peering/cluster-02', { body: peering() });
    api.on('GET', '/v1/catalog/service/mesh-gateway', {
      body: [
        {
          Address: '10.1.0.5',
          ServiceAddress: '10.1.0.5',
          ServicePort: 8443,
          ServiceTaggedAddresses: { wan: { Address: '203.0.113.10', Port: 443 } },
        },
        { Address: '10.1.0.6', ServiceAddress: '', ServicePort: 8443 },
      ],
    });
    const result = await runCli(api, ['peering', 'read', '--name', 'cluster-02'], { now: NOW });
    expect(result.stdout).toContain(
      'Peer Server Addresses: 10.0.0.2:8502, 10.0.0.3:8502\nLocal Mesh Gateways:   203.0.113.10:443, 10.1.0.6:8443\n',
    );
  });

  it('explains a FAILING peering with the last heartbeat time', async () => {
    const failing = peering({
      State: 'FAILING',
      StreamStatus: { LastHeartbeat: '2024-05-01T10:01:55.000Z', LastReceive: '2024-05-01T10:01:55.000Z' },
    });
    api.on('GET', '/v1/peering/cluster-02', { body: failing });
    const result = await runCli(api, ['peering', 'read', '--name', 'cluster-02'], { now: NOW });
    expect(result.stdout).toContain(
      'State:                 FAILING\nWhy:                   no heartbeat from the peer since 2024-05-01T10:01:55.000Z (3m5s ago)\n',
    );
    expect(result.stdout).toContain('Last Send:             never\n');
  });

  it('prints the raw peering with --json', async () => {
    api.on('GET', '/v1/peering/cluster-02', { body: { ...peering(), Extra: 'kept' } });
    const result = await runCli(api, ['peering', 'read', '--name', 'cluster-02', '--json']);
    expect(JSON.parse(result.stdout)).toEqual({ ...peering(), Extra: 'kept' });
  });

  it('reports a 404 for an unknown peer', async () => {
    api.on('GET', '/v1/peering/nope', { status: 404, text: 'no peering named "nope"' });
    const result = await runCli(api, ['peering', 'read', '--name', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: reading peering "nope" failed: no peering named "nope" (HTTP 404 Not Found from GET /v1/peering/nope)\n',
    );
  });
});

describe('meshpeer peering delete', () => {
  it('DELETEs /v1/peering/:name', async () => {
    api.on('DELETE', '/v1/peering/cluster-02', { body: null });
    const result = await runCli(api, ['peering', 'delete', '-name', 'cluster-02']);
    expect(result).toEqual({ code: 0, stdout: 'Peering "cluster-02" marked for deletion\n', stderr: '' });
    expect(api.requests[0]).toMatchObject({ method: 'DELETE', path: '/v1/peering/cluster-02' });
  });
});

describe('explainPeering', () => {
  it('says a PENDING peering waits for the dialer', () => {
    expect(explainPeering(peering({ State: 'PENDING', StreamStatus: null }), NOW)).toMatch(
      /^waiting for the dialer to establish with the token/,
    );
  });

  it('says a FAILING peering that never heard from the peer which addresses to check', () => {
    expect(
      explainPeering(
        peering({ State: 'FAILING', StreamStatus: { LastHeartbeat: '0001-01-01T00:00:00Z' } }),
        NOW,
      ),
    ).toBe(
      'no heartbeat has ever been received from the peer; check that 10.0.0.2:8502, 10.0.0.3:8502 can be reached from this cluster',
    );
  });

  it('tells how to recover from TERMINATED', () => {
    expect(explainPeering(peering({ State: 'TERMINATED' }), NOW)).toContain(
      'meshpeer peering delete --name cluster-02',
    );
  });

  it('flags an ACTIVE peering that has been silent for minutes', () => {
    const silent = peering({ StreamStatus: { LastReceive: '2024-05-01T10:00:00.000Z' } });
    expect(explainPeering(silent, NOW)).toBe(
      'nothing received from the peer for 5m0s (heartbeats are expected every 15s): the stream may be down',
    );
  });

  it('shows a stream error the server reports on an ACTIVE peering', () => {
    const nacked = peering({
      StreamStatus: { ...peering().StreamStatus, LastNackMessage: 'unknown trust domain' },
    });
    expect(explainPeering(nacked, NOW)).toBe('the peer rejected the last update: unknown trust domain');
  });

  it('says nothing for a healthy ACTIVE peering', () => {
    expect(explainPeering(peering(), NOW)).toBeUndefined();
  });
});
