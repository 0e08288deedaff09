// What a CLI invocation may touch outside itself: output streams, environment, stdin and the clock.
// Passing these in lets tests run commands in-process and read exactly what a user would see.

export interface Writer {
  write(chunk: string): unknown;
}

export interface CliIo {
  stdout: Writer;
  stderr: Writer;
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Read when a file argument is `-`. Defaults to process.stdin. */
  stdin?: AsyncIterable<string | Uint8Array>;
  /** Used for "12s ago" in human output. Defaults to the system clock. */
  now?: () => Date;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin };
}

/** A failure the user can act on; exits 1. */
export class CliError extends Error {
  readonly exitCode: number = 1;
  /** False when the message already says everything (e.g. the server is unreachable): no "doing X failed:" prefix. */
  readonly takesContext: boolean = true;
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** The command line itself is wrong (missing or conflicting flags); exits 2. */
export class UsageError extends CliError {
  override readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Adds what the command was doing to a CLI failure's message, keeping its class and exit code. */
export function withContext(doing: string, err: unknown): unknown {
  if (err instanceof CliError && err.takesContext) err.message = `${doing}: ${err.message}`;
  return err;
}

export const ExitCode = { ok: 0, error: 1, usage: 2 } as const;
