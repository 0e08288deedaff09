// A 64-bit hash of a value seen as a Go value of a given Go type, computed the way Consul's agent
// hashes its answers (the library it uses, mitchellh/hashstructure, in its original format), so that
// the same value gives Consul's number. The rules, all with 64-bit FNV-1 (not FNV-1a):
//   - strings: FNV-1 of their UTF-8 bytes;
//   - numbers: FNV-1 of their little-endian bytes (Go int as int64, bool as one byte 0/1, float64 as
//     its IEEE-754 bits);
//   - nil pointers and nil interfaces: as the int64 0; other pointers and interfaces: what they point at;
//   - slices: folded in order, h = FNV-1(h ‖ element) starting from 0 (empty and nil slices give 0);
//   - maps: the XOR over entries of FNV-1(key ‖ value) (empty and nil maps give 0);
//   - structs: the hash of the type's name XOR, for each exported field not tagged `hash:"ignore"`,
//     FNV-1(hash of the field's name ‖ hash of its value); field order does not matter.
// (‖ joins two hashes as 16 little-endian bytes.)

/** A Go type, as far as the hash needs to know it. */
export type GoType =
  | { kind: 'string' }
  /** Go `int` (hashed as int64). */
  | { kind: 'int' }
  | { kind: 'uint64' }
  | { kind: 'bool' }
  | { kind: 'float64' }
  /** `interface{}` holding what Go's encoding/json decodes: string, float64, bool, nil, []any, map[string]any. */
  | { kind: 'any' }
  | { kind: 'struct'; name: string; fields: readonly GoField[] }
  | { kind: 'slice'; elem: GoType }
  | { kind: 'map'; key: GoType; elem: GoType }
  | { kind: 'pointer'; elem: GoType };

export interface GoField {
  name: string;
  type: GoType;
  /** Tagged `hash:"ignore"`: left out of the hash. */
  ignore?: boolean;
}

export const goString: GoType = { kind: 'string' };
export const goInt: GoType = { kind: 'int' };
export const goUint64: GoType = { kind: 'uint64' };
export const goBool: GoType = { kind: 'bool' };
export const goFloat64: GoType = { kind: 'float64' };
export const goAny: GoType = { kind: 'any' };
export const goSlice = (elem: GoType): GoType => ({ kind: 'slice', elem });
export const goMap = (key: GoType, elem: GoType): GoType => ({ kind: 'map', key, elem });
export const goPointer = (elem: GoType): GoType => ({ kind: 'pointer', elem });
export const goStruct = (name: string, fields: ReadonlyArray<GoField>): GoType => ({
  kind: 'struct',
  name,
  fields,
});

const MASK = (1n << 64n) - 1n;
const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;

/** 64-bit FNV-1: multiply, then XOR each byte. */
export function fnv1_64(bytes: Uint8Array): bigint {
  let h = OFFSET;
  for (const b of bytes) h = ((h * PRIME) & MASK) ^ BigInt(b);
  return h;
}

const encoder = new TextEncoder();
const hashString = (s: string): bigint => fnv1_64(encoder.encode(s));

function hashLittleEndian(value: bigint, bytes: number): bigint {
  const out = new Uint8Array(bytes);
  let v = BigInt.asUintN(bytes * 8, value);
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return fnv1_64(out);
}

/** FNV-1 of two hashes written one after the other (the ordered combination). */
function combine(a: bigint, b: bigint): bigint {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, a, true);
  view.setBigUint64(8, b, true);
  return fnv1_64(out);
}

const NIL = hashLittleEndian(0n, 8);

/** A value that does not fit the Go type it is hashed as. */
export class GoHashTypeError extends Error {
  constructor(path: string, expected: string, got: unknown) {
    super(`${path || 'value'}: expected ${expected}, got ${describe(got)}`);
    this.name = 'GoHashTypeError';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The hash of `value` read as a Go value of `type`. `undefined` and `null` stand for the type's zero value
 * (nil for pointers, slices, maps and interfaces). Throws GoHashTypeError, naming the path, for a value
 * that does not fit the type.
 */
export function hashGoValue(type: GoType, value: unknown, path = ''): bigint {
  switch (type.kind) {
    case 'string':
      if (value === undefined || value === null) return hashString('');
      if (typeof value !== 'string') throw new GoHashTypeError(path, 'a string', value);
      return hashString(value);
    case 'int':
    case 'uint64': {
      if (value === undefined || value === null) return hashLittleEndian(0n, 8);
      const ok =
        typeof value === 'number' && Number.isSafeInteger(value) && (type.kind === 'int' || value >= 0);
      if (!ok)
        throw new GoHashTypeError(path, type.kind === 'int' ? 'an integer' : 'a non-negative integer', value);
      return hashLittleEndian(BigInt(value), 8);
    }
    case 'bool':
      if (value === undefined || value === null) return hashLittleEndian(0n, 1);
      if (typeof value !== 'boolean') throw new GoHashTypeError(path, 'a boolean', value);
      return hashLittleEndian(value ? 1n : 0n, 1);
    case 'float64': {
      if (value === undefined || value === null) return hashLittleEndian(0n, 8);
      if (typeof value !== 'number') throw new GoHashTypeError(path, 'a number', value);
      const bits = new DataView(new ArrayBuffer(8));
      bits.setFloat64(0, value, true);
      return hashLittleEndian(bits.getBigUint64(0, true), 8);
    }
    case 'any':
      return hashAny(value, path);
    case 'pointer':
      return value === undefined || value === null ? NIL : hashGoValue(type.elem, value, path);
    case 'slice': {
      if (value === undefined || value === null) return 0n;
      if (!Array.isArray(value)) throw new GoHashTypeError(path, 'an array', value);
      let h = 0n;
      value.forEach((v, i) => {
        h = combine(h, hashGoValue(type.elem, v, `${path}[${i}]`));
      });
      return h;
    }
    case 'map': {
      if (value === undefined || value === null) return 0n;
      if (!isRecord(value)) throw new GoHashTypeError(path, 'an object', value);
      let h = 0n;
      for (const [k, v] of Object.entries(value)) {
        h ^= combine(hashGoValue(type.key, k, `${path}{key}`), hashGoValue(type.elem, v, `${path}.${k}`));
      }
      return h;
    }
    case 'struct': {
      if (value !== undefined && value !== null && !isRecord(value)) {
        throw new GoHashTypeError(path, `an object (${type.name})`, value);
      }
      const fields = value ?? {};
      let h = hashString(type.name);
      for (const f of type.fields) {
        if (f.ignore) continue;
        const fieldPath = path === '' ? f.name : `${path}.${f.name}`;
        h ^= combine(hashString(f.name), hashGoValue(f.type, fields[f.name], fieldPath));
      }
      return h;
    }
  }
}

/** An `interface{}` holding a JSON-decoded value. */
function hashAny(value: unknown, path: string): bigint {
  if (value === undefined || value === null) return NIL;
  if (typeof value === 'string') return hashGoValue(goString, value, path);
  if (typeof value === 'number') return hashGoValue(goFloat64, value, path);
  if (typeof value === 'boolean') return hashGoValue(goBool, value, path);
  if (Array.isArray(value)) return hashGoValue(goSlice(goAny), value, path);
  if (isRecord(value)) return hashGoValue(goMap(goString, goAny), value, path);
  throw new GoHashTypeError(path, 'a JSON value', value);
}

/** A hash as Go's `%x` prints a uint64: lowercase hex, no leading zeros. */
export const goHex = (h: bigint): string => h.toString(16);
