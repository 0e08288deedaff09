// `meshpeer peering generate-token|establish|list|read|delete`: the cluster-peering workflow of
// `consul peering`, against /v1/peering*; `read` also says why a peering is not healthy.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { type CliContext, type ClientFlags, withClientOptions } from './context.js';
import { collectKeyValue, collectList } from './flags.js';
import type { MeshpeerHttpClient, Peering } from './http-client.js';
import { CliError, withContext } from './io.js';
import { describeTime, formatFields, formatTable, toJson } from './output.js';
import { explainPeering } from './peering-status.js';

interface OutputFlags extends ClientFlags {
  json?: boolean;
  format?: 'pretty' | 'json';
}

interface NameFlags extends OutputFlags {
  name: string;
}

interface GenerateFlags extends NameFlags {
  serverExternalAddresses?: string[];
  meta?: Record<string, string>;
}

interface EstablishFlags extends ClientFlags {
  name: string;
  peeringToken: string;
  meta?: Record<string, string>;
}

export function peeringCommand(ctx: CliContext): Command {
  const peering = new Command('peering')
    .description('Create and manage peering connections with other clusters')
    .addHelpText(
      'after',
      '\nExample (acceptor cluster-01, dialer cluster-02):\n' +
        '  cluster-01$ meshpeer peering generate-token --name cluster-02 > token\n' +
        '  cluster-02$ meshpeer peering establish --name cluster-01 --peering-token "$(cat token)"\n' +
        '  cluster-02$ meshpeer peering read --name cluster-01',
    );
  for (const build of [generateTokenCommand, establishCommand, listCommand, readCommand, deleteCommand]) {
    peering.addCommand(build(ctx));
  }
  return peering;
}

/** --json, and Consul's -format=pretty|json. */
function withOutputOptions(command: Command): Command {
  return command
    .option('--json', 'print the raw JSON answer')
    .addOption(
      new Option('--format <format>', 'output format').choices(['pretty', 'json']).default('pretty'),
    );
}

const wantsJson = (flags: OutputFlags): boolean => flags.json === true || flags.format === 'json';

function generateTokenCommand(ctx: CliContext): Command {
  return withClientOptions(
    withOutputOptions(
      new Command('generate-token')
        .description(
          'Generate a peering token for the cluster that will dial this one (POST /v1/peering/token); ' +
            'prints only the token',
        )
        .requiredOption('--name <name>', 'the name this cluster gives the peer')
        .option(
          '--server-external-addresses <addrs>',
          'host:port addresses the dialer should use instead of the server addresses (comma-separated, repeatable)',
          collectList,
        )
        .option('--meta <key=value>', 'metadata to attach to the peering (repeatable)', collectKeyValue),
    ),
  )
    .addHelpText('after', '\nExample:\n  $ TOKEN=$(meshpeer peering generate-token --name cluster-02)')
    .action(async (flags: GenerateFlags) => {
      const response = await (await ctx.client(flags))
        .generatePeeringToken({
          PeerName: flags.name,
          ...(flags.meta ? { Meta: flags.meta } : {}),
          ...(flags.serverExternalAddresses?.length
            ? { ServerExternalAddresses: flags.serverExternalAddresses }
            : {}),
        })
        .catch((err: unknown) => {
          throw withContext(`generating a peering token for "${flags.name}" failed`, err);
        });
      ctx.out(wantsJson(flags) ? toJson(response) : response.PeeringToken);
    });
}

function establishCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('establish')
      .description(
        'Dial the acceptor with a token it generated, and start peering (POST /v1/peering/establish)',
      )
      .requiredOption('--name <name>', 'the name this cluster gives the peer (the acceptor)')
      .requiredOption(
        '--peering-token <token>',
        'the token from `meshpeer peering generate-token` (`-` reads stdin)',
      )
      .option('--meta <key=value>', 'metadata to attach to the peering (repeatable)', collectKeyValue),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ meshpeer peering establish --name cluster-01 --peering-token "$TOKEN"',
    )
    .action(async (flags: EstablishFlags) => {
      const token = (flags.peeringToken === '-' ? await ctx.readInput('-') : flags.peeringToken).trim();
      if (token === '') throw new CliError('the peering token is empty');
      await (await ctx.client(flags))
        .establishPeering({
          PeerName: flags.name,
          PeeringToken: token,
          ...(flags.meta ? { Meta: flags.meta } : {}),
        })
        .catch((err: unknown) => {
          throw withContext(`establishing the peering with "${flags.name}" failed`, err);
        });
      ctx.out(`Successfully established peering connection with ${flags.name}`);
    });
}

function listCommand(ctx: CliContext): Command {
  return withClientOptions(
    withOutputOptions(new Command('list').description("List this cluster's peerings (GET /v1/peerings)")),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ meshpeer peering list\n  Name        State   Imported  Exported\n  cluster-02  ACTIVE  1         2',
    )
    .action(async (flags: OutputFlags) => {
      const peerings = await (await ctx.client(flags)).listPeerings().catch((err: unknown) => {
        throw withContext('listing peerings failed', err);
      });
      if (wantsJson(flags)) return ctx.out(toJson(peerings));
      if (peerings.length === 0) return ctx.err('There are no peerings.');
      const rows = [...peerings]
        .sort((a, b) => a.Name.localeCompare(b.Name))
        .map((p) => [
          p.Name,
          p.State ?? '',
          count(p.StreamStatus?.ImportedServices),
          count(p.StreamStatus?.ExportedServices),
        ]);
      ctx.out(formatTable([['Name', 'State', 'Imported', 'Exported'], ...rows]));
    });
}

function readCommand(ctx: CliContext): Command {
  return withClientOptions(
    withOutputOptions(
      new Command('read')
        .description(
          'Show one peering: state, peer, stream status, and why it is unhealthy (GET /v1/peering/:name)',
        )
        .requiredOption('--name <name>', 'the peer name'),
    ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ meshpeer peering read --name cluster-01\n  Name:   cluster-01\n  State:  FAILING\n' +
        '  Why:    no heartbeat from the peer since 2024-05-01T10:00:00.000Z (3m5s ago)\n  ...',
    )
    .action(async (flags: NameFlags) => {
      const client = await ctx.client(flags);
      const peering = await client.readPeering(flags.name).catch((err: unknown) => {
        throw withContext(`reading peering "${flags.name}" failed`, err);
      });
      if (wantsJson(flags)) {
        ctx.out(toJson(peering));
        return;
      }
      ctx.out(formatPeering(peering, ctx.now(), await localMeshGateways(client)));
    });
}

function deleteCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('delete')
      .description(
        'Delete a peering (DELETE /v1/peering/:name): the peer is told, imported services are removed, ' +
          'then the peering is removed',
      )
      .requiredOption('--name <name>', 'the peer name'),
  )
    .addHelpText('after', '\nExample:\n  $ meshpeer peering delete --name cluster-02')
    .action(async (flags: NameFlags) => {
      await (await ctx.client(flags)).deletePeering(flags.name).catch((err: unknown) => {
        throw withContext(`deleting peering "${flags.name}" failed`, err);
      });
      ctx.out(`Peering "${flags.name}" marked for deletion`);
    });
}

const OMITTED_WHEN_EMPTY = new Set(['Remote', 'Meta', 'Local Mesh Gateways', 'Create Index', 'Modify Index']);

const gatewayInstancesSchema = z.array(
  z.looseObject({
    Address: z.string().nullish(),
    ServiceAddress: z.string().nullish(),
    ServicePort: z.number().nullish(),
    ServiceTaggedAddresses: z
      .record(z.string(), z.object({ Address: z.string(), Port: z.number() }))
      .nullish(),
  }),
);

/**
 * Where peers reach this cluster's mesh gateways (the default "mesh-gateway" service): each instance's
 * WAN address, else its address. Empty when there is none or the token may not read them.
 */
async function localMeshGateways(client: MeshpeerHttpClient): Promise<string[]> {
  try {
    const instances = await client.json('GET', '/v1/catalog/service/mesh-gateway', gatewayInstancesSchema);
    return instances.map((i) => {
      const wan = i.ServiceTaggedAddresses?.wan;
      return wan ? `${wan.Address}:${wan.Port}` : `${i.ServiceAddress || i.Address}:${i.ServicePort}`;
    });
  } catch {
    return [];
  }
}

/** The human view of `peering read`; `gateways` are where peers reach this cluster's mesh gateways. */
export function formatPeering(peering: Peering, now: Date, gateways: readonly string[] = []): string {
  const status = peering.StreamStatus;
  const why = explainPeering(peering, now);
  const remote = [peering.Remote?.Datacenter, peering.Remote?.Partition].filter(Boolean).join(' / ');
  const meta = Object.entries(peering.Meta ?? {}).map(([k, v]) => `${k}=${v}`);
  const fields: [string, string][] = [
    ['Name', peering.Name],
    ['ID', peering.ID ?? ''],
    ['State', peering.State ?? ''],
    ...(why ? [['Why', why] as [string, string]] : []),
    ['Peer ID', peering.PeerID ?? ''],
    ['Peer Server Name', peering.PeerServerName ?? ''],
    ['Peer Server Addresses', (peering.PeerServerAddresses ?? []).join(', ')],
    ['Local Mesh Gateways', gateways.join(', ')],
    ['Peer CA PEMs', count(peering.PeerCAPems)],
    ['Remote', remote],
    ['Meta', meta.join(', ')],
    ['Imported Services', serviceList(status?.ImportedServices)],
    ['Exported Services', serviceList(status?.ExportedServices)],
    ...(status?.Warnings ?? []).map((w): [string, string] => ['Warning', w]),
    ['Last Heartbeat', describeTime(status?.LastHeartbeat, now)],
    ['Last Receive', describeTime(status?.LastReceive, now)],
    ['Last Send', describeTime(status?.LastSend, now)],
    ['Create Index', String(peering.CreateIndex ?? '')],
    ['Modify Index', String(peering.ModifyIndex ?? '')],
  ];
  return formatFields(fields.filter(([label, value]) => value !== '' || !OMITTED_WHEN_EMPTY.has(label)));
}

function count(list: readonly string[] | null | undefined): string {
  return String(list?.length ?? 0);
}

function serviceList(list: readonly string[] | null | undefined): string {
  return list?.length ? `${list.length} (${[...list].sort().join(', ')})` : '0';
}
