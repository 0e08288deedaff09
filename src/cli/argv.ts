// Consul's CLI takes long flags with one dash (`-name=x`, `-peering-token T`); commander wants two.
// Rewrites the single-dash spelling of every long flag the program knows, and nothing else.
import type { Command } from 'commander';

/** Long flag names (without dashes) declared anywhere in the command tree, plus `help`. */
export function longFlagNames(program: Command): Set<string> {
  const names = new Set<string>(['help', 'version']);
  const visit = (command: Command): void => {
    for (const option of command.options) {
      if (option.long) names.add(option.long.replace(/^--/, ''));
    }
    for (const sub of command.commands) visit(sub);
  };
  visit(program);
  return names;
}

/** `-kind` → `--kind`, `-modify-index=3` → `--modify-index=3`; stops at `--`. */
export function normalizeArgv(argv: readonly string[], longFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough) {
      out.push(arg);
      continue;
    }
    if (arg === '--') passthrough = true;
    const match = /^-([a-z][a-z0-9-]+)(=.*)?$/i.exec(arg);
    out.push(match?.[1] && longFlags.has(match[1]) ? `-${arg}` : arg);
  }
  return out;
}
