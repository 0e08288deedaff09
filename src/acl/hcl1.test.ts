// The HCL 1 reader of ACL rules: one-line blocks, labels, nested objects, comments, heredocs, and
// errors that name the line and column.
import { describe, expect, it } from 'vitest';
import { parseHcl1 } from './hcl1.js';

describe('parseHcl1', () => {
  it('reads blocks that follow one another on one line', () => {
    expect(parseHcl1('node_prefix "" { policy = "read" } service_prefix "" { policy = "read" }')).toEqual({
      node_prefix: { '': [{ policy: 'read' }] },
      service_prefix: { '': [{ policy: 'read' }] },
    });
  });

  it('reads attributes, several labels, repeated blocks, lists, objects, numbers and bools', () => {
    const text = [
      'acl = "write"  operator = "read",',
      'service "web" { policy = "write" intentions = "read" }',
      'service "web" { policy = "deny" }',
      'a "b" "c" { d = [1, "two", true,] e = { f = false } }',
      'plain { x = -1.5e2 }',
    ].join('\n');
    expect(parseHcl1(text)).toEqual({
      acl: 'write',
      operator: 'read',
      service: { web: [{ policy: 'write', intentions: 'read' }, { policy: 'deny' }] },
      a: { b: { c: [{ d: [1, 'two', true], e: { f: false } }] } },
      plain: [{ x: -150 }],
    });
  });

  it('skips comments and reads escapes and heredocs', () => {
    const text = [
      '# a comment',
      '// another',
      '/* a block',
      '   comment */ key = "a\\"b\\\\c\\n"',
      'doc = <<-EOT',
      '    line one',
      '      line two',
      '    EOT',
      'after = "x"',
    ].join('\n');
    expect(parseHcl1(text)).toEqual({ key: 'a"b\\c\n', doc: 'line one\n  line two\n', after: 'x' });
  });

  it('names the line and column of a mistake', () => {
    expect(() => parseHcl1('service "web" {\n  policy = \n}')).toThrow(
      /line 3, column 1: expected a value, found "}"/,
    );
    expect(() => parseHcl1('service "web" { policy = "read"')).toThrow(
      /expected "}", found the end of the rules/,
    );
    expect(() => parseHcl1('acl = read')).toThrow(
      /line 1, column 7: expected a value, found "read" \(quote strings/,
    );
    expect(() => parseHcl1('acl = "read')).toThrow(/line 1, column 7: string not terminated/);
    expect(() => parseHcl1('acl = "a"\nacl = "b"')).toThrow(/line 2, column 1: "acl" is set more than once/);
    expect(() => parseHcl1('service "web" policy')).toThrow(/expected "\{", found "policy"|expected "\{"/);
    expect(() => parseHcl1('x = 1 @')).toThrow(/unexpected "@"/);
  });

  it('reads nothing from empty text or only comments', () => {
    expect(parseHcl1('')).toEqual({});
    expect(parseHcl1('# nothing\n')).toEqual({});
  });
});
