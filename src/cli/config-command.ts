// `meshpeer config write|read|list|delete`: manage config entries (exported-services, mesh, proxy-defaults,
// service-intentions, service-resolver, ...) through /v1/config, with check-and-set like `consul config`.
import { Command } from 'commander';
import { type CliContext, type ClientFlags, withClientOptions } from './context.js';
import { decodeDefinition, field, labelOf } from './definition-file.js';
import { parseIndex } from './flags.js';
import { CliError, UsageError, withContext } from './io.js';
import { toJson } from './output.js';

interface CasFlags extends ClientFlags {
  cas?: boolean;
  modifyIndex?: number;
}

interface EntryFlags extends CasFlags {
  kind: string;
  name: string;
  json?: boolean;
}

interface ListFlags extends ClientFlags {
  kind: string;
  json?: boolean;
}

export function configCommand(ctx: CliContext): Command {
  const config = new Command('config')
    .description('Write, read, list and delete config entries (exported-services, mesh, proxy-defaults, ...)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer config write exported-services.hcl\n' +
        '  $ meshpeer config read -kind exported-services -name default\n' +
        '  $ meshpeer config list -kind service-intentions\n  $ meshpeer config delete -kind mesh -name mesh',
    );
  config.addCommand(writeCommand(ctx));
  config.addCommand(readCommand(ctx));
  config.addCommand(listCommand(ctx));
  config.addCommand(deleteCommand(ctx));
  return config;
}

function withCasOptions(command: Command): Command {
  return command
    .option(
      '--cas',
      'check-and-set: only act if the entry is still at --modify-index (0: only if it does not exist)',
    )
    .option('--modify-index <index>', 'the ModifyIndex the entry must have for --cas', parseIndex);
}

function casIndex(flags: CasFlags): number | undefined {
  if (flags.cas && flags.modifyIndex === undefined) {
    throw new UsageError(
      '--cas needs --modify-index N (use 0 to write only if the entry does not exist yet)',
    );
  }
  if (!flags.cas && flags.modifyIndex !== undefined) {
    throw new UsageError('--modify-index is only used with --cas');
  }
  return flags.cas ? flags.modifyIndex : undefined;
}

function writeCommand(ctx: CliContext): Command {
  return withClientOptions(
    withCasOptions(
      new Command('write')
        .description(
          'Create or update the config entry in FILE (JSON or HCL; `-` reads stdin) via PUT /v1/config',
        )
        .argument('<file>', 'config entry with at least Kind and Name'),
    ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ cat exported.hcl\n  Kind = "exported-services"\n  Name = "default"\n' +
        '  Services = [{ Name = "backend", Consumers = [{ Peer = "cluster-02" }] }]\n' +
        '  $ meshpeer config write exported.hcl\n  Config entry written: exported-services/default',
    )
    .action(async (file: string, flags: CasFlags) => {
      const cas = casIndex(flags);
      const label = labelOf(file);
      const entry = await decodeDefinition(await ctx.readInput(file), file);
      const id = `${requiredText(entry, 'Kind', label)}/${requiredText(entry, 'Name', label)}`;
      const written = await (await ctx.client(flags)).writeConfig(entry, cas).catch((err: unknown) => {
        throw withContext(`writing config entry ${id} failed`, err);
      });
      if (!written) {
        throw new CliError(
          `config entry not updated: ${id} is no longer at ModifyIndex ${cas}; ` +
            'read it again (meshpeer config read) and retry with its current ModifyIndex',
        );
      }
      ctx.out(`Config entry written: ${id}`);
    });
}

function readCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('read')
      .description('Print one config entry as JSON (GET /v1/config/:kind/:name)')
      .requiredOption('--kind <kind>', 'entry kind, e.g. exported-services, mesh, proxy-defaults')
      .requiredOption('--name <name>', 'entry name, e.g. default, mesh, global')
      .option('--json', 'print JSON (the default for this command)'),
  )
    .addHelpText('after', '\nExample:\n  $ meshpeer config read -kind proxy-defaults -name global')
    .action(async (flags: EntryFlags) => {
      const entry = await (await ctx.client(flags))
        .readConfig(flags.kind, flags.name)
        .catch((err: unknown) => {
          throw withContext(`reading config entry ${flags.kind}/${flags.name} failed`, err);
        });
      ctx.out(toJson(entry));
    });
}

function listCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('list')
      .description('List the names of the config entries of one kind (GET /v1/config/:kind)')
      .requiredOption('--kind <kind>', 'entry kind, e.g. service-intentions')
      .option('--json', 'print the entries as raw JSON'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ meshpeer config list -kind service-intentions\n  backend\n  frontend',
    )
    .action(async (flags: ListFlags) => {
      const entries = await (await ctx.client(flags)).listConfig(flags.kind).catch((err: unknown) => {
        throw withContext(`listing ${flags.kind} config entries failed`, err);
      });
      if (flags.json) return ctx.out(toJson(entries));
      if (entries.length === 0) return ctx.err(`no ${flags.kind} config entries`);
      ctx.out(
        entries
          .map((entry) => entry.Name ?? '')
          .sort()
          .join('\n'),
      );
    });
}

function deleteCommand(ctx: CliContext): Command {
  return withClientOptions(
    withCasOptions(
      new Command('delete')
        .description('Delete one config entry (DELETE /v1/config/:kind/:name)')
        .requiredOption('--kind <kind>', 'entry kind')
        .requiredOption('--name <name>', 'entry name'),
    ),
  )
    .addHelpText('after', '\nExample:\n  $ meshpeer config delete -kind exported-services -name default')
    .action(async (flags: EntryFlags) => {
      const cas = casIndex(flags);
      const id = `${flags.kind}/${flags.name}`;
      const deleted = await (await ctx.client(flags))
        .deleteConfig(flags.kind, flags.name, cas)
        .catch((err: unknown) => {
          throw withContext(`deleting config entry ${id} failed`, err);
        });
      if (!deleted) {
        throw new CliError(
          `config entry not deleted: ${id} is no longer at ModifyIndex ${cas}; read it again and retry`,
        );
      }
      ctx.out(`Config entry deleted: ${id}`);
    });
}

function requiredText(entry: Record<string, unknown>, key: string, label: string): string {
  const value = field(entry, key);
  if (typeof value === 'string' && value !== '') return value;
  throw new CliError(`the config entry in ${label} has no ${key}: every config entry needs Kind and Name`);
}
