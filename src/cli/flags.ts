// Value parsers for commander options; they throw InvalidArgumentError so a bad value is a usage error (exit 2).
import { InvalidArgumentError } from 'commander';

/** Repeatable `--meta key=value`. */
export function collectKeyValue(
  value: string,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}".`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** Repeatable and/or comma-separated list: `--x a,b --x c` → [a, b, c]. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return [...(previous ?? []), ...items];
}

/** A non-negative integer such as a ModifyIndex. */
export function parseIndex(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}".`);
  }
  return Number(value);
}
