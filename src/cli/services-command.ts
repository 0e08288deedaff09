// `meshpeer services register|deregister`: add or remove services through the agent API, from a definition
// file in Consul's format (a bare service, {"Service": {...}}, {"Services": [...]}, or an HCL `service` block).
import { Command } from 'commander';
import { type CliContext, type ClientFlags, withClientOptions } from './context.js';
import { asObject, decodeDefinition, field, labelOf } from './definition-file.js';
import { CliError, UsageError, withContext } from './io.js';
import { canonicalizeService } from './service-shape.js';

interface DeregisterFlags extends ClientFlags {
  id?: string;
}

export function servicesCommand(ctx: CliContext): Command {
  const services = new Command('services')
    .description('Register or deregister services with the server (the agent API)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer services register web.json\n  $ meshpeer services deregister -id web',
    );
  services.addCommand(registerCommand(ctx));
  services.addCommand(deregisterCommand(ctx));
  return services;
}

function registerCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('register')
      .description(
        'Register the service(s) defined in FILE (JSON or HCL; `-` reads stdin) via PUT /v1/agent/service/register',
      )
      .argument(
        '<file>',
        'service definition: a service object, {"Service": {...}}, {"Services": [...]}, or HCL',
      ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ cat web.json\n  {"Service": {"Name": "web", "Port": 8080, "Tags": ["v1"]}}\n' +
        '  $ meshpeer services register web.json\n  Registered service: web',
    )
    .action(async (file: string, flags: ClientFlags) => {
      const definitions = await readServiceDefinitions(ctx, file);
      const client = await ctx.client(flags);
      for (const definition of definitions) {
        await client.registerService(definition).catch((err: unknown) => {
          throw withContext(`registering service "${serviceName(definition)}" failed`, err);
        });
        ctx.out(`Registered service: ${serviceName(definition)}`);
      }
    });
}

function deregisterCommand(ctx: CliContext): Command {
  return withClientOptions(
    new Command('deregister')
      .description(
        'Deregister services by the ID (or Name) in FILE, or by --id, via PUT /v1/agent/service/deregister/:id',
      )
      .argument('[file]', 'the service definition file used to register them')
      .option('--id <id>', 'the ID of the service to deregister (instead of a file)'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer services deregister web.json\n  $ meshpeer services deregister -id web',
    )
    .action(async (file: string | undefined, flags: DeregisterFlags) => {
      if (file && flags.id) throw new UsageError('give either a FILE or --id, not both');
      if (!file && !flags.id) {
        throw new UsageError('give the service definition FILE or --id ID to deregister');
      }
      const ids = flags.id ? [flags.id] : (await readServiceDefinitions(ctx, file ?? '-')).map(serviceId);
      const client = await ctx.client(flags);
      for (const id of ids) {
        await client.deregisterService(id).catch((err: unknown) => {
          throw withContext(`deregistering service "${id}" failed`, err);
        });
        ctx.out(`Deregistered service: ${id}`);
      }
    });
}

async function readServiceDefinitions(ctx: CliContext, file: string): Promise<Record<string, unknown>[]> {
  const label = labelOf(file);
  const decoded = await decodeDefinition(await ctx.readInput(file), file);
  const wrapped = field(decoded, 'Services') ?? field(decoded, 'Service');
  const candidates = wrapped === undefined ? [decoded] : Array.isArray(wrapped) ? wrapped : [wrapped];
  if (candidates.length === 0) throw new CliError(`${label} defines no services`);
  return candidates.map((candidate: unknown) => {
    const service = asObject(canonicalizeService(candidate), label, 'a service object');
    if (typeof service.Name !== 'string' || service.Name === '') {
      throw new CliError(`a service in ${label} has no Name: every service definition needs one`);
    }
    return service;
  });
}

function serviceName(definition: Record<string, unknown>): string {
  return String(definition.Name);
}

function serviceId(definition: Record<string, unknown>): string {
  const id = definition.ID;
  return typeof id === 'string' && id !== '' ? id : serviceName(definition);
}
