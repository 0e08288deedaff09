// Turns the text of a definition file (a config entry or a service, JSON or HCL) into a plain object,
// through the config-entries decoder so that both commands report file:line:column errors the same way.
import { decodeConfigEntryText } from '../config-entries/decode-file.js';
import { isMeshpeerError } from '../shared/errors.js';
import { CliError } from './io.js';

/** `file` is a path or `-` (stdin); the format comes from the extension, else from the first character. */
export async function decodeDefinition(text: string, file: string): Promise<Record<string, unknown>> {
  try {
    return asObject(await decodeConfigEntryText(text, labelOf(file)), labelOf(file), 'an object');
  } catch (err) {
    if (isMeshpeerError(err)) throw new CliError(err.message);
    throw err;
  }
}

export function labelOf(file: string): string {
  return file === '-' ? 'stdin' : file;
}

/** Narrows a decoded value to an object, or explains what the file should hold. */
export function asObject(value: unknown, label: string, expected: string): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new CliError(
    `${label} must hold ${expected}, found ${Array.isArray(value) ? 'a list' : typeof value}`,
  );
}

/** Reads `key` ignoring case and `_` (`Kind`, `kind`; `Services`, `services`), as Consul's decoder does. */
export function field(object: Record<string, unknown>, key: string): unknown {
  if (key in object) return object[key];
  const folded = key.toLowerCase();
  const match = Object.keys(object).find((k) => k.replaceAll('_', '').toLowerCase() === folded);
  return match === undefined ? undefined : object[match];
}
