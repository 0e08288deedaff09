// Reads the text of a config entry file, as `consul config write` takes it: JSON or HCL. The result is
// in Consul's JSON shape for the entry's kind (see normalizeConfigEntryShape) but not yet validated:
// pass it to parseConfigEntry.
import { invalid } from '../shared/errors.js';
import { hcl1ObjectBlocksToHcl2 } from './hcl1-compat.js';
import { normalizeConfigEntryShape } from './registry.js';
import { isPlainObject } from './shape.js';

type Format = 'json' | 'hcl';

// The name hcl2json is told, so its diagnostics can be found and renamed to the caller's file name.
const HCL_PLACEHOLDER_NAME = 'config-entry.hcl';

/** By content, as HCL has no document starting with `{` or `[`; the extension only breaks ties. */
function formatOf(text: string, filename: string | undefined): Format {
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') return 'json';
  return filename?.toLowerCase().endsWith('.json') ? 'json' : 'hcl';
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/** The offset V8 reports in a JSON.parse message ("... in JSON at position 12"), if any. */
function reportedOffset(message: string): number | undefined {
  const match = /at position (\d+)/.exec(message);
  return match ? Number(match[1]) : undefined;
}

/** Whether JSON.parse failed on `prefix` only because it stops early. */
function failsOnlyAtEnd(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    if (message.startsWith('Unexpected end of JSON input')) return true;
    const offset = reportedOffset(message);
    return offset !== undefined && offset >= prefix.length;
  }
}

/**
 * Where JSON.parse gave up. V8 says so for most errors; for "Unexpected token" it does not, so find
 * the shortest prefix that already fails for a reason other than ending early: its last character.
 */
function jsonErrorOffset(text: string, message: string): number {
  const reported = reportedOffset(message);
  if (reported !== undefined) return reported;
  let low = 1;
  let high = text.length;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (failsOnlyAtEnd(text.slice(0, mid))) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

function decodeJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const { line, column } = lineAndColumn(text, jsonErrorOffset(text, message));
    const reason = message
      .replace(/^(Unexpected token '[^']*'),[\s\S]*$/, '$1')
      .replace(/ in JSON at position \d+[\s\S]*$/, '');
    throw invalid(`${name}:${line}:${column}: invalid JSON: ${reason}`);
  }
}

// One hcl2json diagnostic: `config-entry.hcl:2,9-10: Summary; Detail` (ranges may span lines: 1,5-2,1).
// Several are separated by spaces, and a detail may itself mention a position (without the ": ").
const HCL_POSITION = `${HCL_PLACEHOLDER_NAME.replace('.', '\\.')}:(\\d+),(\\d+)(?:-(?:\\d+,)?\\d+)?: `;
const HCL_NEXT_POSITION = HCL_POSITION.replaceAll('(\\d+)', '\\d+');
const HCL_DIAGNOSTIC = new RegExp(
  `${HCL_POSITION}([^;]*);\\s*([\\s\\S]*?)(?=\\s+${HCL_NEXT_POSITION}|\\]?$)`,
  'g',
);

function describeHclError(message: string, name: string): string {
  const diagnostics = [...message.matchAll(HCL_DIAGNOSTIC)].map((m) => {
    const detail = (m[4] ?? '').trim().replaceAll(HCL_PLACEHOLDER_NAME, name);
    return `${name}:${m[1]}:${m[2]}: invalid HCL: ${m[3]}${detail ? `: ${detail}` : ''}`;
  });
  if (diagnostics.length > 0) return diagnostics.join('; ');
  return `${name}: invalid HCL: ${message.replace(/^parse config: /, '').replaceAll(HCL_PLACEHOLDER_NAME, name)}`;
}

async function decodeHcl(text: string, name: string): Promise<unknown> {
  // Loaded on first use: the HCL parser is a WebAssembly module that only file-reading commands need.
  const { parse } = await import('@cdktf/hcl2json');
  try {
    const decoded: unknown = await parse(HCL_PLACEHOLDER_NAME, hcl1ObjectBlocksToHcl2(text));
    return decoded;
  } catch (err) {
    // Syntax errors come back as "parse config: [...]"; anything else is the parser failing, not the file.
    if (!(err instanceof Error) || !err.message.startsWith('parse config:')) throw err;
    throw invalid(describeHclError(err.message, name));
  }
}

function describeTopLevel(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'a list' : typeof value;
}

/**
 * Decodes a config entry file: JSON when the text starts with `{` (or the file name ends in .json),
 * HCL otherwise. `filename` names the file in errors, which give line and column where the parser
 * knows them. Throws `invalid` for unparseable text or anything but one entry object.
 */
export async function decodeConfigEntryText(text: string, filename?: string): Promise<unknown> {
  const name = filename ?? '<input>';
  if (text.trim() === '') throw invalid(`${name}: the file is empty; expected a config entry in JSON or HCL`);
  const format = formatOf(text, filename);
  const decoded = format === 'json' ? decodeJson(text, name) : await decodeHcl(text, name);
  if (!isPlainObject(decoded)) {
    throw invalid(
      `${name}: expected one config entry (an object with Kind and Name), got ${describeTopLevel(decoded)}`,
    );
  }
  return normalizeConfigEntryShape(decoded);
}
