import { describe, expect, test } from 'vitest';
import { applyFilter, FilterSyntaxError, parseFilter } from './filter.js';

const nodes = [
  { Node: 'foo', Address: '10.0.0.1', Meta: { env: 'production', os: 'linux' }, Tags: ['v1', 'primary'] },
  { Node: 'bar', Address: '10.0.0.2', Meta: { env: 'qa' }, Tags: [] },
  { Node: 'baz', Address: '10.0.0.3', Meta: {}, Tags: ['v2'], Port: 443, Native: true },
];
const checks = [
  { Node: 'foo', Checks: [{ Status: 'passing' }, { Status: 'critical' }] },
  { Node: 'bar', Checks: [{ Status: 'passing' }] },
];

describe('filter expressions select records as Consul does', () => {
  test.each([
    ['Node == foo', nodes, ['foo']],
    ['Node != foo', nodes, ['bar', 'baz']],
    ['Node == bar or Node == baz', nodes, ['bar', 'baz']],
    ['Node == foo and v1 in Tags', nodes, ['foo']],
    ['Node == bar and v1 in Tags', nodes, []],
    ['v1 not in Tags', nodes, ['bar', 'baz']],
    ['Tags contains v2', nodes, ['baz']],
    ['Tags not contains v2', nodes, ['foo', 'bar']],
    ['Address == `10.0.0.1`', nodes, ['foo']],
    ['Address == "10.0.0.2"', nodes, ['bar']],
    ['Address matches "^10\\\\.0\\\\.0\\\\.[12]$"', nodes, ['foo', 'bar']],
    ['Address not matches "3$"', nodes, ['foo', 'bar']],
    ['Meta.env == production', nodes, ['foo']],
    ['Meta["env"] == qa', nodes, ['bar']],
    ['Meta.nope == nope', nodes, []],
    ['Meta.nope != nope', nodes, ['foo', 'bar', 'baz']],
    ['env in Meta', nodes, ['foo', 'bar']],
    ['Meta is empty', nodes, ['baz']],
    ['Meta is not empty', nodes, ['foo', 'bar']],
    ['Tags is empty', nodes, ['bar']],
    ['Port == 443', nodes, ['baz']],
    ['Port == 443.0', nodes, ['baz']],
    ['Native == true', nodes, ['baz']],
    ['Native != true', nodes, ['foo', 'bar']],
    ['not (Node == foo or Node == bar)', nodes, ['baz']],
    ['not Node == foo and not Node == bar', nodes, ['baz']],
    ['node == foo', nodes, ['foo']],
    ['Checks.Status == critical', checks, ['foo']],
    ['Checks.Status != critical', checks, ['bar']],
  ])('%s', (expression, records, want) => {
    expect(applyFilter(expression, records as Array<{ Node: string }>).map((r) => r.Node)).toEqual(want);
  });

  test('no expression keeps everything', () => {
    expect(applyFilter(undefined, nodes)).toHaveLength(3);
  });
});

describe('syntax errors point at the bad position', () => {
  test.each([
    ['', 1, 'empty'],
    ['Node ==', 8, 'expected a value, found the end'],
    ['Node = foo', 6, 'expected "==" or "!="'],
    ['Node == foo and', 16, 'expected a selector or a value'],
    ['Node == foo bar', 13, 'expected "and", "or" or the end'],
    ['(Node == foo', 13, 'expected ")"'],
    ['Node is full', 9, 'expected "empty"'],
    ['Meta[env] == x', 6, 'expected a quoted key'],
    ['Node == "foo', 9, 'unterminated string'],
    ['Node matches "("', 14, 'invalid regular expression'],
    ['Node not == x', 10, 'expected "contains", "matches" or "in" after "not"'],
  ])('%j', (expression, column, detail) => {
    let err: unknown;
    try {
      parseFilter(expression);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterSyntaxError);
    const e = err as FilterSyntaxError;
    expect(e.position).toBe(column);
    expect(e.detail).toContain(detail);
    expect(e.kind).toBe('invalid');
    expect(e.message).toContain(`column ${column}`);
  });
});
