// Consul's `?filter=` expression language (the boolean expressions of hashicorp/go-bexpr), parsed once
// into a tree and evaluated against each JSON record a list read returns.
//
//   expr     := or
//   or       := and ('or' and)*
//   and      := not ('and' not)*
//   not      := 'not' not | '(' expr ')' | match
//   match    := selector ('==' | '!=') value
//             | selector 'is' ['not'] 'empty'
//             | value ['not'] 'in' selector
//             | selector ['not'] ('contains' | 'matches') value
//   selector := name ('.' name | '[' string ']')*
//   value    := "double" | `backtick` | bare word (up to a space or parenthesis)
//
// Keywords are case-sensitive, as in go-bexpr. A selector walks the record: object fields by name (exact
// spelling first, then ignoring case, as Consul matches struct fields), map keys exactly. When it passes
// through a list the match holds if it holds for any element. Values are compared as the field's type:
// numbers and booleans parse the value; a missing field equals nothing (so `!=` holds for it).
// Syntax errors are FilterSyntaxError with the 1-based column where the expression stops making sense.

import { MeshpeerError } from '../shared/errors.js';

export type Selector = string[];

export type FilterNode =
  | { op: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { op: 'not'; expr: FilterNode }
  | { op: '==' | '!='; selector: Selector; value: string }
  | { op: 'empty' | 'not empty'; selector: Selector }
  | { op: 'in' | 'not in'; selector: Selector; value: string }
  | { op: 'matches' | 'not matches'; selector: Selector; value: string; regex: RegExp };

/** A syntax error: an `invalid` error (400 over HTTP) naming the 1-based column and what was expected there. */
export class FilterSyntaxError extends MeshpeerError {
  constructor(
    readonly position: number,
    readonly detail: string,
    readonly expression: string,
  ) {
    super(
      'invalid',
      `Failed to create boolean expression evaluator: filter column ${position}: ${detail}\n  ${expression}\n  ${' '.repeat(position - 1)}^`,
    );
    this.name = 'FilterSyntaxError';
  }
}

type TokenKind = 'word' | 'string' | 'op' | '(' | ')' | '.' | '[' | ']' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  /** 0-based offset in the expression. */
  at: number;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'empty', 'contains', 'matches']);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (at: number, detail: string): never => {
    throw new FilterSyntaxError(at + 1, detail, src);
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === '.' || c === '[' || c === ']') {
      out.push({ kind: c, text: c, at: i });
      i++;
      continue;
    }
    if (c === '=' || c === '!') {
      if (src[i + 1] !== '=') fail(i, `expected "==" or "!=", found ${JSON.stringify(src.slice(i, i + 2))}`);
      out.push({ kind: 'op', text: `${c}=`, at: i });
      i += 2;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      let text = '';
      while (j < src.length && src[j] !== c) {
        if (c === '"' && src[j] === '\\' && j + 1 < src.length) {
          const e = src[j + 1]!;
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
          continue;
        }
        text += src[j];
        j++;
      }
      if (j >= src.length) fail(i, `unterminated string starting with ${c}`);
      out.push({ kind: 'string', text, at: i });
      i = j + 1;
      continue;
    }
    // A bare word: runs to whitespace, a parenthesis, a quote, or (for selectors) a '.' or '[' — the
    // parser re-joins dots when the word is a value.
    let j = i;
    while (j < src.length && !/[\s()"`.[\]=!]/.test(src[j]!)) j++;
    out.push({ kind: 'word', text: src.slice(i, j), at: i });
    i = j;
  }
  out.push({ kind: 'end', text: '', at: src.length });
  return out;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  parse(): FilterNode {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'end') this.fail(t, 'expected "and", "or" or the end of the expression');
    return node;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return t;
  }
  private isWord(t: Token, word: string): boolean {
    return t.kind === 'word' && t.text === word;
  }
  private fail(t: Token, expected: string): never {
    const found = t.kind === 'end' ? 'the end of the expression' : JSON.stringify(t.text);
    throw new FilterSyntaxError(t.at + 1, `${expected}, found ${found}`, this.src);
  }

  private or(): FilterNode {
    let left = this.and();
    while (this.isWord(this.peek(), 'or')) {
      this.next();
      left = { op: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): FilterNode {
    let left = this.not();
    while (this.isWord(this.peek(), 'and')) {
      this.next();
      left = { op: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): FilterNode {
    const t = this.peek();
    if (this.isWord(t, 'not')) {
      this.next();
      return { op: 'not', expr: this.not() };
    }
    if (t.kind === '(') {
      this.next();
      const inner = this.or();
      const close = this.next();
      if (close.kind !== ')') this.fail(close, 'expected ")"');
      return inner;
    }
    return this.match();
  }

  private match(): FilterNode {
    const first = this.peek();
    // `value [not] in selector`: the value may be a string or a bare word; look past it for in/not in.
    if (first.kind === 'string' || first.kind === 'word') {
      const save = this.pos;
      const value = this.valueOrUndefined();
      if (value !== undefined) {
        const t = this.peek();
        if (this.isWord(t, 'in')) {
          this.next();
          return { op: 'in', selector: this.selector(), value };
        }
        if (this.isWord(t, 'not') && this.isWord(this.peek(1), 'in')) {
          this.next();
          this.next();
          return { op: 'not in', selector: this.selector(), value };
        }
      }
      this.pos = save;
    }
    if (first.kind !== 'word' || KEYWORDS.has(first.text)) this.fail(first, 'expected a selector or a value');
    const selector = this.selector();
    const t = this.next();
    if (t.kind === 'op') return { op: t.text as '==' | '!=', selector, value: this.value() };
    if (this.isWord(t, 'is')) {
      let negate = false;
      if (this.isWord(this.peek(), 'not')) {
        this.next();
        negate = true;
      }
      const e = this.next();
      if (!this.isWord(e, 'empty')) this.fail(e, 'expected "empty"');
      return { op: negate ? 'not empty' : 'empty', selector };
    }
    let negate = false;
    let verb = t;
    if (this.isWord(t, 'not')) {
      negate = true;
      verb = this.next();
    }
    if (this.isWord(verb, 'contains')) {
      return { op: negate ? 'not in' : 'in', selector, value: this.value() };
    }
    if (this.isWord(verb, 'matches')) {
      const valueToken = this.peek();
      const value = this.value();
      let regex: RegExp;
      try {
        regex = new RegExp(value);
      } catch (err) {
        throw new FilterSyntaxError(
          valueToken.at + 1,
          `invalid regular expression: ${(err as Error).message}`,
          this.src,
        );
      }
      return { op: negate ? 'not matches' : 'matches', selector, value, regex };
    }
    return this.fail(
      verb,
      negate
        ? 'expected "contains", "matches" or "in" after "not"'
        : 'expected "==", "!=", "is", "contains", "matches" or "not"',
    );
  }

  private selector(): Selector {
    const first = this.next();
    if (first.kind !== 'word' || KEYWORDS.has(first.text)) this.fail(first, 'expected a selector');
    const parts = [first.text];
    for (;;) {
      const t = this.peek();
      if (t.kind === '.') {
        this.next();
        const name = this.next();
        if (name.kind !== 'word') this.fail(name, 'expected a field name after "."');
        parts.push(name.text);
      } else if (t.kind === '[') {
        this.next();
        const key = this.next();
        if (key.kind !== 'string') this.fail(key, 'expected a quoted key inside [ ]');
        const close = this.next();
        if (close.kind !== ']') this.fail(close, 'expected "]"');
        parts.push(key.text);
      } else return parts;
    }
  }

  /** A value: a quoted string, or a bare word (dots re-joined: 1.5, v1.2.3). */
  private valueOrUndefined(): string | undefined {
    const t = this.peek();
    if (t.kind === 'string') {
      this.next();
      return t.text;
    }
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) return undefined;
    this.next();
    let text = t.text;
    let end = t.at + t.text.length;
    while (this.peek().kind === '.' && this.peek().at === end) {
      const dot = this.next();
      text += '.';
      end = dot.at + 1;
      const more = this.peek();
      if (more.kind === 'word' && more.at === end) {
        this.next();
        text += more.text;
        end = more.at + more.text.length;
      }
    }
    return text;
  }

  private value(): string {
    const t = this.peek();
    const v = this.valueOrUndefined();
    if (v === undefined) this.fail(t, 'expected a value');
    return v;
  }
}

/** Parses a filter expression; throws FilterSyntaxError pointing at the first bad position. */
export function parseFilter(expression: string): FilterNode {
  if (expression.trim() === '') throw new FilterSyntaxError(1, 'the expression is empty', expression);
  return new Parser(expression, tokenize(expression)).parse();
}

const MISSING = Symbol('missing');

/** The values a selector reaches in `record` (several when it passes through lists). */
function resolve(value: unknown, path: readonly string[]): unknown[] {
  if (path.length === 0) return [value];
  if (Array.isArray(value)) return value.flatMap((v) => resolve(v, path));
  if (value === null || typeof value !== 'object') return [MISSING];
  const obj = value as Record<string, unknown>;
  const [head, ...rest] = path as [string, ...string[]];
  let next: unknown = MISSING;
  if (Object.hasOwn(obj, head)) next = obj[head];
  else {
    const lower = head.toLowerCase();
    const key = Object.keys(obj).find((k) => k.toLowerCase() === lower);
    if (key !== undefined) next = obj[key];
  }
  if (next === MISSING) return [MISSING];
  return resolve(next, rest);
}

function equals(field: unknown, value: string): boolean {
  if (field === MISSING || field === null || field === undefined) return false;
  if (typeof field === 'string') return field === value;
  if (typeof field === 'number') return value.trim() !== '' && Number(value) === field;
  if (typeof field === 'boolean') return String(field) === value.toLowerCase();
  return false;
}

function isEmpty(field: unknown): boolean {
  if (field === MISSING || field === null || field === undefined || field === '') return true;
  if (Array.isArray(field)) return field.length === 0;
  if (typeof field === 'object') return Object.keys(field).length === 0;
  return false;
}

function contains(field: unknown, value: string): boolean {
  if (typeof field === 'string') return field.includes(value);
  if (field !== null && typeof field === 'object') {
    if (Array.isArray(field)) return field.some((v) => equals(v, value));
    return Object.hasOwn(field, value);
  }
  return false;
}

export function evaluate(node: FilterNode, record: unknown): boolean {
  switch (node.op) {
    case 'and':
      return evaluate(node.left, record) && evaluate(node.right, record);
    case 'or':
      return evaluate(node.left, record) || evaluate(node.right, record);
    case 'not':
      return !evaluate(node.expr, record);
    case '==':
      return resolve(record, node.selector).some((v) => equals(v, node.value));
    case '!=':
      return !resolve(record, node.selector).some((v) => equals(v, node.value));
    case 'empty':
      return resolve(record, node.selector).every(isEmpty);
    case 'not empty':
      return !resolve(record, node.selector).every(isEmpty);
    case 'in':
      return resolve(record, node.selector).some((v) => contains(v, node.value));
    case 'not in':
      return !resolve(record, node.selector).some((v) => contains(v, node.value));
    case 'matches':
      return resolve(record, node.selector).some((v) => typeof v === 'string' && node.regex.test(v));
    case 'not matches':
      return !resolve(record, node.selector).some((v) => typeof v === 'string' && node.regex.test(v));
  }
}

/** Keeps the records the expression holds for; no expression keeps all. */
export function applyFilter<T>(expression: string | undefined, records: T[]): T[] {
  if (expression === undefined) return records;
  const node = parseFilter(expression);
  return records.filter((r) => evaluate(node, r));
}

/** For map-shaped answers (GET /v1/agent/services): keeps the entries whose value the expression holds for. */
export function applyFilterToMap<T>(
  expression: string | undefined,
  map: Record<string, T>,
): Record<string, T> {
  if (expression === undefined) return map;
  const node = parseFilter(expression);
  return Object.fromEntries(Object.entries(map).filter(([, v]) => evaluate(node, v)));
}
