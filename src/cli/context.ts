// What every command group receives from `run`: output, environment, the clock, and a way to build an
// HTTP client from the common flags (--http-addr, --token, --token-file) and their environment variables.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_HTTP_ADDR, MeshpeerHttpClient } from './http-client.js';
import { CliError, type CliIo } from './io.js';

export interface ClientFlags {
  httpAddr?: string;
  token?: string;
  tokenFile?: string;
}

export interface CliContext {
  out(text: string): void;
  err(text: string): void;
  now(): Date;
  client(flags: ClientFlags): Promise<MeshpeerHttpClient>;
  /** Reads a file argument; `-` means stdin. */
  readInput(path: string): Promise<string>;
}

export function createContext(io: CliIo): CliContext {
  const env = io.env ?? process.env;
  return {
    out: (text) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => io.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    now: io.now ?? (() => new Date()),
    client: async (flags) =>
      new MeshpeerHttpClient({
        address: flags.httpAddr || env.MESHPEER_HTTP_ADDR || DEFAULT_HTTP_ADDR,
        token: await resolveToken(flags, env),
      }),
    readInput: (path) => (path === '-' ? readStream(io.stdin ?? process.stdin) : readTextFile(path)),
  };
}

/** Adds the flags every command that talks to a server shares. */
export function withClientOptions(command: Command): Command {
  return command
    .option(
      '--http-addr <addr>',
      `server HTTP address, host:port or URL (env MESHPEER_HTTP_ADDR; default ${DEFAULT_HTTP_ADDR})`,
    )
    .option('--token <token>', 'ACL token sent as X-Consul-Token (env MESHPEER_HTTP_TOKEN)')
    .option('--token-file <path>', 'file holding the ACL token (env MESHPEER_HTTP_TOKEN_FILE)');
}

async function resolveToken(
  flags: ClientFlags,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  if (flags.token) return flags.token;
  if (flags.tokenFile) return (await readTextFile(flags.tokenFile)).trim();
  if (env.MESHPEER_HTTP_TOKEN) return env.MESHPEER_HTTP_TOKEN;
  if (env.MESHPEER_HTTP_TOKEN_FILE) return (await readTextFile(env.MESHPEER_HTTP_TOKEN_FILE)).trim();
  return undefined;
}

async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new CliError(`cannot read ${path}: ${reason}`);
  }
}

async function readStream(stream: AsyncIterable<string | Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}
