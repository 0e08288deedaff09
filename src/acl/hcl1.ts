// Reads the HCL 1 that Consul's ACL rules are written in (Consul parses rules with HCL 1, not HCL 2):
// attributes and blocks may follow one another on one line, as in
//   node_prefix "" { policy = "read" } service_prefix "" { policy = "read" }
// which HCL 2 refuses. Only what rules use is read: `key = value` attributes (strings, numbers, bools,
// lists and `{ ... }` objects), blocks with any number of labels (`key "label" { ... }`), `#`, `//` and
// `/* */` comments and `<<EOT` heredocs. A block is decoded as a one-element list, like hcl2json does, so
// `service "web" { policy = "read" }` becomes `{ service: { web: [{ policy: "read" }] } }`; a block
// repeated with the same labels adds an element to that list.
import { invalid } from '../shared/errors.js';

type Token =
  | { kind: 'ident'; text: string; line: number; col: number }
  | { kind: 'string'; text: string; line: number; col: number }
  | { kind: 'number'; value: number; line: number; col: number }
  | { kind: 'punct'; text: string; line: number; col: number };

export type HclValue = string | number | boolean | HclValue[] | HclObject;
export interface HclObject {
  [key: string]: HclValue;
}

function fail(line: number, col: number, message: string): never {
  throw invalid(`Invalid rules: failed to parse HCL: line ${line}, column ${col}: ${message}`);
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const col = (at: number) => at - lineStart + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\n') {
      i += 1;
      line += 1;
      lineStart = i;
      continue;
    }
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i += 1;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) fail(line, col(i), 'comment not terminated');
      for (let k = i; k < end; k += 1) {
        if (text[k] === '\n') {
          line += 1;
          lineStart = k + 1;
        }
      }
      i = end + 2;
      continue;
    }
    const startLine = line;
    const startCol = col(i);
    if (c === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const d = text[j];
        if (d === undefined || d === '\n') fail(startLine, startCol, 'string not terminated');
        if (d === '"') break;
        if (d === '\\') {
          const e = text[j + 1] ?? '';
          const escaped = ESCAPES[e];
          if (escaped === undefined) fail(startLine, col(j), `unknown escape \\${e}`);
          value += escaped;
          j += 2;
          continue;
        }
        value += d;
        j += 1;
      }
      out.push({ kind: 'string', text: value, line: startLine, col: startCol });
      i = j + 1;
      continue;
    }
    if (c === '<' && text[i + 1] === '<') {
      const header = /^<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n/.exec(text.slice(i));
      if (!header) fail(line, col(i), 'heredoc needs a marker and a line break, as <<EOT');
      const marker = header[2] as string;
      const lines: string[] = [];
      let j = i + header[0].length;
      line += 1;
      lineStart = j;
      for (;;) {
        if (j >= text.length) fail(startLine, startCol, `heredoc not terminated by ${marker}`);
        const end = text.indexOf('\n', j);
        const raw = text.slice(j, end === -1 ? text.length : end).replace(/\r$/, '');
        j = end === -1 ? text.length : end + 1;
        if (raw.trim() === marker) break;
        lines.push(raw);
        line += 1;
        lineStart = j;
      }
      if (header[1] === '-') {
        const indent = Math.min(
          ...lines.filter((l) => l.trim() !== '').map((l) => /^\s*/.exec(l)?.[0].length ?? 0),
        );
        for (let k = 0; k < lines.length; k += 1)
          lines[k] = (lines[k] as string).slice(Number.isFinite(indent) ? indent : 0);
      }
      out.push({ kind: 'string', text: lines.map((l) => `${l}\n`).join(''), line: startLine, col: startCol });
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_.-]/.test(text[j] as string)) j += 1;
      out.push({ kind: 'ident', text: text.slice(i, j), line: startLine, col: startCol });
      i = j;
      continue;
    }
    if (/[-0-9]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(i));
      if (!m) fail(line, startCol, `unexpected ${JSON.stringify(c)}`);
      out.push({ kind: 'number', value: Number(m[0]), line: startLine, col: startCol });
      i += m[0].length;
      continue;
    }
    if ('{}[]=,:'.includes(c)) {
      out.push({ kind: 'punct', text: c, line: startLine, col: startCol });
      i += 1;
      continue;
    }
    fail(line, startCol, `unexpected ${JSON.stringify(c)}`);
  }
  return out;
}

function describe(t: Token | undefined): string {
  if (t === undefined) return 'the end of the rules';
  if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`;
  if (t.kind === 'number') return `number ${t.value}`;
  return JSON.stringify(t.text);
}

class Parser {
  private pos = 0;
  private readonly last: { line: number; col: number };

  constructor(private readonly tokens: Token[]) {
    const end = tokens.at(-1);
    this.last = end === undefined ? { line: 1, col: 1 } : { line: end.line, col: end.col + 1 };
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t?.kind === 'punct' && t.text === text;
  }

  private expected(what: string): never {
    const t = this.peek();
    const at = t ?? this.last;
    fail(at.line, at.col, `expected ${what}, found ${describe(t)}`);
  }

  /** A body up to `}` (nested) or the end of the text (top level). */
  body(nested: boolean): HclObject {
    const out: HclObject = {};
    for (;;) {
      const t = this.peek();
      if (t === undefined) {
        if (nested) this.expected('"}"');
        return out;
      }
      if (nested && this.isPunct('}')) return out;
      if (t.kind !== 'ident' && t.kind !== 'string') this.expected('a rule name');
      this.pos += 1;
      const key = t.text;
      if (this.isPunct('=') || this.isPunct(':')) {
        this.pos += 1;
        if (Object.hasOwn(out, key)) fail(t.line, t.col, `${JSON.stringify(key)} is set more than once`);
        out[key] = this.value();
      } else {
        const labels: string[] = [];
        for (let l = this.peek(); l?.kind === 'string' || l?.kind === 'ident'; l = this.peek()) {
          labels.push(l.text);
          this.pos += 1;
        }
        if (!this.isPunct('{')) this.expected(labels.length === 0 ? '"=" or "{"' : '"{"');
        this.pos += 1;
        const block = this.body(true);
        this.pos += 1; // the closing }
        addBlock(out, key, labels, block, t);
      }
      if (this.isPunct(',')) this.pos += 1;
    }
  }

  private value(): HclValue {
    const t = this.peek();
    if (t === undefined) this.expected('a value');
    this.pos += 1;
    if (t.kind === 'string') return t.text;
    if (t.kind === 'number') return t.value;
    if (t.kind === 'ident') {
      if (t.text === 'true') return true;
      if (t.text === 'false') return false;
      fail(t.line, t.col, `expected a value, found ${describe(t)} (quote strings: "${t.text}")`);
    }
    if (t.text === '{') {
      const object = this.body(true);
      this.pos += 1;
      return object;
    }
    if (t.text === '[') {
      const list: HclValue[] = [];
      while (!this.isPunct(']')) {
        list.push(this.value());
        if (this.isPunct(',')) this.pos += 1;
        else if (!this.isPunct(']')) this.expected('"," or "]"');
      }
      this.pos += 1;
      return list;
    }
    this.pos -= 1;
    return this.expected('a value');
  }
}

function addBlock(out: HclObject, key: string, labels: string[], block: HclObject, at: Token): void {
  let holder: HclObject = out;
  let slot = key;
  for (const label of labels) {
    const existing = holder[slot];
    if (existing === undefined) holder[slot] = {};
    const next = holder[slot];
    if (typeof next !== 'object' || Array.isArray(next)) {
      fail(at.line, at.col, `${JSON.stringify(key)} is used both as a block and as an attribute`);
    }
    holder = next;
    slot = label;
  }
  const list = holder[slot] ?? [];
  if (!Array.isArray(list))
    fail(at.line, at.col, `${JSON.stringify(key)} is used both as a block and as an attribute`);
  list.push(block);
  holder[slot] = list;
}

/** Decodes HCL 1 text; throws `invalid` naming the line and column of the first problem. */
export function parseHcl1(text: string): HclObject {
  return new Parser(tokenize(text)).body(false);
}
