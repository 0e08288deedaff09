// Builds the `meshpeer` command tree and runs one invocation in-process: `run(argv, io)` resolves to the
// exit code (0 ok, 1 error, 2 usage) and writes only through `io`, so tests call it directly.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { aclCommand } from './acl-command.js';
import { longFlagNames, normalizeArgv } from './argv.js';
import { catalogCommand } from './catalog-command.js';
import { configCommand } from './config-command.js';
import { createContext } from './context.js';
import { CliError, type CliIo, ExitCode } from './io.js';
import { peeringCommand } from './peering-command.js';
import { servicesCommand } from './services-command.js';

export interface RunOptions {
  /** Commands that start processes (server, demo), added beside the client commands. */
  extraCommands?: Command[];
}

export function buildProgram(io: CliIo, options: RunOptions = {}): Command {
  const ctx = createContext(io);
  const program = new Command('meshpeer')
    .description(
      'Service-mesh cluster peering: a Consul-compatible control plane, its peering stream and mesh gateways.\n' +
        'Client commands talk to a server at MESHPEER_HTTP_ADDR (default http://127.0.0.1:8500).',
    )
    .version(packageVersion(), '-v, --version')
    .addHelpText(
      'after',
      '\nExamples:\n  $ meshpeer demo\n  $ meshpeer peering generate-token --name cluster-02\n  $ meshpeer catalog services --peer cluster-01',
    );
  for (const command of options.extraCommands ?? []) program.addCommand(command);
  for (const build of [catalogCommand, servicesCommand, configCommand, peeringCommand, aclCommand]) {
    program.addCommand(build(ctx));
  }
  applySettings(program, io);
  return program;
}

export async function run(argv: readonly string[], io: CliIo, options: RunOptions = {}): Promise<number> {
  const program = buildProgram(io, options);
  try {
    await program.parseAsync(normalizeArgv(argv, longFlagNames(program)), { from: 'user' });
    return ExitCode.ok;
  } catch (err) {
    return exitCodeFor(err, io);
  }
}

function exitCodeFor(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message (or the help) through io.
    // Help that was asked for (--help, `help <command>`) and --version exit 0; anything else is a usage error.
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof CliError) {
    io.stderr.write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  io.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.error;
}

/** Commander copies settings only to subcommands made with `.command()`; ours are built separately. */
function applySettings(command: Command, io: CliIo): void {
  command
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)');
  for (const sub of command.commands) applySettings(sub, io);
}

function packageVersion(): string {
  // src/cli/run.ts and dist/src/cli/run.js sit at different depths below package.json.
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'));
      if (pkg && typeof pkg === 'object' && 'name' in pkg && pkg.name === 'meshpeer' && 'version' in pkg) {
        return String(pkg.version);
      }
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}
