// The Go-value hash against values computed by Go itself (mitchellh/hashstructure v1.1.0, the library
// Consul's agent uses, run on the same values and printed with %x).
import { describe, expect, it } from 'vitest';
import {
  fnv1_64,
  GoHashTypeError,
  type GoType,
  goAny,
  goBool,
  goFloat64,
  goHex,
  goInt,
  goMap,
  goPointer,
  goSlice,
  goString,
  goStruct,
  goUint64,
  hashGoValue,
} from './go-struct-hash.js';

const pair = goStruct('Pair', [
  { name: 'Name', type: goString },
  { name: 'Count', type: goInt },
  { name: 'Skip', type: goString, ignore: true },
]);

describe('fnv1_64', () => {
  it('is FNV-1 (multiply, then XOR), not FNV-1a', () => {
    const h = (s: string) => goHex(fnv1_64(new TextEncoder().encode(s)));
    expect(h('')).toBe('cbf29ce484222325');
    expect(h('a')).toBe('af63bd4c8601b7be'); // FNV-1a would give af63dc4c8601ec8c
  });
});

describe('hashGoValue', () => {
  const table: Array<[string, GoType, unknown, string]> = [
    ['empty string', goString, '', 'cbf29ce484222325'],
    ['string', goString, 'hello', '7b495389bdbdd4c7'],
    ['string (UTF-8 bytes)', goString, 'ünï', '5ffd947d674199bc'],
    ['int', goInt, 5, 'ce2b8e7e8ef71b7e'],
    ['negative int', goInt, -1, 'd65de7467f38b96d'],
    ['uint64', goUint64, 7, '43869769eb4f75c8'],
    ['true', goBool, true, 'af63bd4c8601b7de'],
    ['false', goBool, false, 'af63bd4c8601b7df'],
    ['float64', goFloat64, 0.5, 'a8c798322819969a'],
    ['integral float64', goFloat64, 5000, 'aa5f7532297427b4'],
    ['nil pointer', goPointer(goInt), undefined, 'a8c7f832281a39c5'],
    ['nil slice', goSlice(goString), null, '0'],
    ['nil map', goMap(goString, goString), undefined, '0'],
    ['slice, in order', goSlice(goString), ['a', 'b'], '25a4fca41fa59b70'],
    ['slice, other order', goSlice(goString), ['b', 'a'], '6f335aa5eccdb706'],
    ['map', goMap(goString, goInt), { a: 1, b: 2 }, '6febdf1e065882a6'],
    ['map, other order', goMap(goString, goInt), { b: 2, a: 1 }, '6febdf1e065882a6'],
    ['[]interface{} from JSON', goSlice(goAny), [1, 'x', null, true, { k: [] }], '59dca39e09beb925'],
    ['struct (ignored field left out)', pair, { Name: 'n', Count: 3, Skip: 'zzz' }, '1d30755eb252739b'],
    ['pointer to struct: the struct', goPointer(pair), { Name: 'n', Count: 3 }, '1d30755eb252739b'],
  ];
  it.each(table)('%s', (_name, type, value, hex) => {
    expect(goHex(hashGoValue(type, value))).toBe(hex);
  });

  it('refuses a value that does not fit the type, naming where', () => {
    const outer = goStruct('Outer', [{ name: 'Items', type: goSlice(pair) }]);
    expect(() =>
      hashGoValue(outer, {
        Items: [
          { Name: 'a', Count: 1 },
          { Name: 'b', Count: '2' },
        ],
      }),
    ).toThrow(new GoHashTypeError('Items[1].Count', 'an integer', '2'));
    expect(() => hashGoValue(goInt, 1.5)).toThrow(/value: expected an integer, got number 1.5/);
    expect(() => hashGoValue(goUint64, -1)).toThrow(/non-negative/);
    expect(() => hashGoValue(pair, [])).toThrow(/expected an object \(Pair\), got an array/);
  });
});
