// Brings loosely shaped input into the PascalCase JSON shape a schema expects, guided by the schema
// itself, so the schema stays the one description of each kind:
//   - keys are matched ignoring case, `_` and `-`: `peer_through_mesh_gateways`, `peerThroughMeshGateways`
//     and `PeerThroughMeshGateways` all become the schema's spelling;
//   - an HCL block arrives from hcl2json as a one-element array of objects; where the schema wants an
//     object (or a map), that array is unwrapped;
//   - `null` for a known field means "not set", as it does when Consul decodes JSON.
// Keys of maps (Meta, Config, Failover, Subsets) are user data and never renamed; values of opaque maps
// (`z.unknown()`) are left untouched. This never validates: the schema does that next.
import { z } from 'zod';

type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The spelling-insensitive form of a key: `tls_min_version` and `TLSMinVersion` fold alike. */
export function foldKey(key: string): string {
  return key.replace(/[_-]/g, '').toLowerCase();
}

/** Strips wrappers that do not change the shape: optional, default, nullable, refinements, pipes. */
function structural(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  for (;;) {
    if (
      current instanceof z.core.$ZodOptional ||
      current instanceof z.core.$ZodNullable ||
      current instanceof z.core.$ZodDefault ||
      current instanceof z.core.$ZodPrefault ||
      current instanceof z.core.$ZodNonOptional ||
      current instanceof z.core.$ZodReadonly ||
      current instanceof z.core.$ZodCatch
    ) {
      current = current._zod.def.innerType;
    } else if (current instanceof z.core.$ZodPipe) {
      // A preprocess is transform → schema (shape is on the right); a transform is schema → transform.
      current =
        current._zod.def.in instanceof z.core.$ZodTransform ? current._zod.def.out : current._zod.def.in;
    } else {
      return current;
    }
  }
}

/** hcl2json renders `Block { ... }` as `[{ ... }]`; where one object is expected, take it out. */
function unwrapBlock(value: unknown): unknown {
  return Array.isArray(value) && value.length === 1 && isPlainObject(value[0]) ? value[0] : value;
}

function canonicalizeObject(
  shape: Readonly<Record<string, z.core.$ZodType>>,
  input: PlainObject,
): PlainObject {
  const byFold = new Map(Object.keys(shape).map((key) => [foldKey(key), key]));
  const out: PlainObject = {};
  for (const [key, value] of Object.entries(input)) {
    const known = Object.hasOwn(shape, key) ? key : byFold.get(foldKey(key));
    // Unknown keys, and an alias given alongside its canonical spelling, are kept as they are so the
    // strict schema reports them by the name the user wrote.
    if (known === undefined || (known !== key && Object.hasOwn(input, known))) {
      out[key] = value;
      continue;
    }
    if (value === null) continue;
    const fieldSchema = shape[known];
    out[known] = fieldSchema === undefined ? value : canonicalize(fieldSchema, value);
  }
  return out;
}

export function canonicalize(schema: z.core.$ZodType, value: unknown): unknown {
  const s = structural(schema);
  if (s instanceof z.core.$ZodObject) {
    const unwrapped = unwrapBlock(value);
    return isPlainObject(unwrapped) ? canonicalizeObject(s._zod.def.shape, unwrapped) : unwrapped;
  }
  if (s instanceof z.core.$ZodRecord) {
    const unwrapped = unwrapBlock(value);
    if (!isPlainObject(unwrapped)) return unwrapped;
    const valueSchema = s._zod.def.valueType;
    return Object.fromEntries(Object.entries(unwrapped).map(([k, v]) => [k, canonicalize(valueSchema, v)]));
  }
  if (s instanceof z.core.$ZodArray) {
    const element = s._zod.def.element;
    return Array.isArray(value) ? value.map((item) => canonicalize(element, item)) : value;
  }
  return value;
}
