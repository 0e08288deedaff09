import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { canonicalize, foldKey } from './shape.js';

const schema = z.strictObject({
  Name: z.string(),
  TLSMinVersion: z.string().optional(),
  Block: z.strictObject({ InnerFlag: z.boolean().default(false) }).optional(),
  Items: z.array(z.strictObject({ ItemName: z.string() })).optional(),
  Named: z.record(z.string(), z.strictObject({ SubField: z.string() })).optional(),
  Opaque: z.record(z.string(), z.unknown()).optional(),
});

describe('canonicalize', () => {
  it('folds case, underscores and hyphens', () => {
    expect(foldKey('tls_min_version')).toBe(foldKey('TLSMinVersion'));
    expect(foldKey('tls-min-version')).toBe('tlsminversion');
  });

  it('renames aliases to the schema spelling at every level', () => {
    expect(
      canonicalize(schema, {
        name: 'a',
        tls_min_version: 'TLSv1_2',
        block: { inner_flag: true },
        items: [{ item_name: 'x' }],
        named: { my_key: { sub_field: 'y' } },
      }),
    ).toEqual({
      Name: 'a',
      TLSMinVersion: 'TLSv1_2',
      Block: { InnerFlag: true },
      Items: [{ ItemName: 'x' }],
      Named: { my_key: { SubField: 'y' } },
    });
  });

  it('unwraps one-element block arrays where an object is expected, but not for lists', () => {
    expect(
      canonicalize(schema, {
        Block: [{ InnerFlag: true }],
        Items: [{ ItemName: 'only' }],
        Named: { k: [{ SubField: 'y' }] },
        Opaque: [{ a: [{ b: 1 }] }],
      }),
    ).toEqual({
      Block: { InnerFlag: true },
      Items: [{ ItemName: 'only' }],
      Named: { k: { SubField: 'y' } },
      Opaque: { a: [{ b: 1 }] },
    });
  });

  it('leaves a repeated block as a list for the schema to reject', () => {
    expect(canonicalize(schema, { Block: [{}, {}] })).toEqual({ Block: [{}, {}] });
  });

  it('never touches the inside of opaque maps', () => {
    const opaque = { snake_key: { nested_key: null }, list_key: [{ x_y: 1 }] };
    const out = canonicalize(schema, { Opaque: opaque }) as { Opaque: unknown };
    expect(out.Opaque).toEqual(opaque);
  });

  it('drops nulls for known fields, keeps unknown fields as written', () => {
    expect(canonicalize(schema, { Name: null, Unknown_Field: null, tls_min_version: 'x' })).toEqual({
      Unknown_Field: null,
      TLSMinVersion: 'x',
    });
  });

  it('returns non-objects unchanged', () => {
    expect(canonicalize(schema, 'text')).toBe('text');
    expect(canonicalize(schema, [1, 2])).toEqual([1, 2]);
  });
});
