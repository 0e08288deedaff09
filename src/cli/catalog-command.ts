// `meshpeer catalog services|nodes`: read the catalog, including services imported from a peer (--peer).
import { Command } from 'commander';
import { type CliContext, type ClientFlags, withClientOptions } from './context.js';
import { formatTable, toJson } from './output.js';

interface ServicesFlags extends ClientFlags {
  peer?: string;
  tags?: boolean;
  json?: boolean;
}

interface NodesFlags extends ClientFlags {
  peer?: string;
  json?: boolean;
}

export function catalogCommand(ctx: CliContext): Command {
  const catalog = new Command('catalog')
    .description('Read the service catalog: services and nodes, local or imported from a peer')
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer catalog services --tags\n  $ meshpeer catalog services --peer cluster-01\n  $ meshpeer catalog nodes',
    );
  catalog.addCommand(servicesCommand(ctx));
  catalog.addCommand(nodesCommand(ctx));
  return catalog;
}

function servicesCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('services')
      .description(
        'List registered service names (GET /v1/catalog/services); with --peer, those imported from that peer',
      )
      .option('--peer <name>', 'list the services imported from this peer instead of local ones')
      .option('--tags', "show each service's tags, comma-separated, beside its name")
      .option('--json', 'print the raw JSON answer (service name → tags)'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ meshpeer catalog services --peer cluster-01 --tags\n  backend  v1,primary',
    )
    .action(async (flags: ServicesFlags) => {
      const services = await (await ctx.client(flags)).catalogServices(flags.peer);
      if (flags.json) return ctx.out(toJson(services));
      const names = Object.keys(services).sort();
      if (names.length === 0) {
        return ctx.err(
          flags.peer ? `no services imported from peer "${flags.peer}"` : 'no services registered',
        );
      }
      if (!flags.tags) return ctx.out(names.join('\n'));
      ctx.out(formatTable(names.map((name) => [name, (services[name] ?? []).join(',')])));
    });
}

function nodesCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('nodes')
      .description('List catalog nodes (GET /v1/catalog/nodes): name, ID, address, datacenter')
      .option('--peer <name>', 'list the nodes imported from this peer instead of local ones')
      .option('--json', 'print the raw JSON answer'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ meshpeer catalog nodes\n  Node      ID        Address    DC\n  node-1    1b662d97  10.0.0.5   dc1',
    )
    .action(async (flags: NodesFlags) => {
      const nodes = await (await ctx.client(flags)).catalogNodes(flags.peer);
      if (flags.json) return ctx.out(toJson(nodes));
      if (nodes.length === 0)
        return ctx.err(flags.peer ? `no nodes imported from peer "${flags.peer}"` : 'no nodes registered');
      const sorted = [...nodes].sort((a, b) => a.Node.localeCompare(b.Node));
      const rows = sorted.map((n) => [n.Node, (n.ID ?? '').slice(0, 8), n.Address ?? '', n.Datacenter ?? '']);
      ctx.out(formatTable([['Node', 'ID', 'Address', 'DC'], ...rows]));
    });
}
