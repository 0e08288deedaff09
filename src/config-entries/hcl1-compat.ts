// Consul reads config files with HCL 1, which allows block syntax inside object values, and Consul's
// own examples use it:
//   Permissions = [{ Action = "allow"  HTTP { PathPrefix = "/v2" } }]
// HCL 2 (what hcl2json parses) only accepts `HTTP = ...` there. This rewrites exactly those spots — an
// identifier directly followed by `{` inside an object value, which HCL 2 never accepts — into
// `HTTP =[{ ... }]`, the same one-element list hcl2json produces for a block in a body, so both
// spellings decode alike. Everything else (strings, comments, heredocs, block bodies) is left as is.

type Frame = 'body' | 'object' | 'rewritten-object' | 'list';

type TokenKind = 'ident' | 'value' | 'punct';
type Token = { kind: TokenKind; text: string };

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_-]/;

/** Index just past the template sequence (`${...}` or `%{...}`) that starts at `i`. */
function skipTemplate(text: string, i: number): number {
  let depth = 0;
  let j = i + 1; // at '{'
  while (j < text.length) {
    const c = text[j];
    if (c === '"') {
      j = skipString(text, j);
      continue;
    }
    if (c === '{') depth += 1;
    if (c === '}') {
      depth -= 1;
      if (depth === 0) return j + 1;
    }
    j += 1;
  }
  return j;
}

/** Index just past the quoted string that starts at `i`. */
function skipString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text[j];
    if (c === '\\') {
      j += 2;
    } else if ((c === '$' || c === '%') && text[j + 1] === '{') {
      j = skipTemplate(text, j);
    } else if (c === '"' || c === '\n') {
      return j + 1;
    } else {
      j += 1;
    }
  }
  return j;
}

/** Index just past the heredoc (`<<EOT` or `<<-EOT` ... `EOT`) that starts at `i`, or undefined. */
function skipHeredoc(text: string, i: number): number | undefined {
  const header = /^<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n/.exec(text.slice(i));
  if (!header) return undefined;
  const marker = header[1];
  let j = i + header[0].length;
  while (j < text.length) {
    const end = text.indexOf('\n', j);
    const line = text.slice(j, end === -1 ? text.length : end);
    if (line.trim() === marker) return end === -1 ? text.length : end;
    if (end === -1) return text.length;
    j = end + 1;
  }
  return j;
}

/** Index just past the comment that starts at `i`, or undefined when none starts there. */
function skipComment(text: string, i: number): number | undefined {
  const c = text[i];
  if (c === '#' || (c === '/' && text[i + 1] === '/')) {
    const end = text.indexOf('\n', i);
    return end === -1 ? text.length : end;
  }
  if (c === '/' && text[i + 1] === '*') {
    const end = text.indexOf('*/', i + 2);
    return end === -1 ? text.length : end + 2;
  }
  return undefined;
}

export function hcl1ObjectBlocksToHcl2(text: string): string {
  const replacements = new Map<number, string>();
  const stack: Frame[] = ['body'];
  let last: Token | undefined;
  let beforeLast: Token | undefined;
  const push = (token: Token) => {
    beforeLast = last;
    last = token;
  };

  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    const afterComment = skipComment(text, i);
    if (afterComment !== undefined) {
      i = afterComment;
      continue;
    }
    if (c === '"') {
      i = skipString(text, i);
      push({ kind: 'value', text: '"' });
      continue;
    }
    if (c === '<' && text[i + 1] === '<') {
      const afterHeredoc = skipHeredoc(text, i);
      if (afterHeredoc !== undefined) {
        i = afterHeredoc;
        push({ kind: 'value', text: '<<' });
        continue;
      }
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < text.length && IDENT_PART.test(text[j] ?? '')) j += 1;
      push({ kind: 'ident', text: text.slice(i, j) });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] ?? '')) j += 1;
      push({ kind: 'value', text: text.slice(i, j) });
      i = j;
      continue;
    }
    if (c === '{') {
      const frame = stack.at(-1) ?? 'body';
      const keyBeforeBrace =
        last?.kind === 'ident' && !(beforeLast?.kind === 'punct' && ['=', ':'].includes(beforeLast.text));
      if ((frame === 'object' || frame === 'rewritten-object') && keyBeforeBrace) {
        replacements.set(i, '=[{');
        stack.push('rewritten-object');
      } else if (frame === 'body' && !(last?.kind === 'punct' && last.text === '=')) {
        stack.push('body');
      } else {
        stack.push('object');
      }
      push({ kind: 'punct', text: '{' });
      i += 1;
      continue;
    }
    if (c === '[' || c === '(') {
      stack.push('list');
      push({ kind: 'punct', text: c });
      i += 1;
      continue;
    }
    if (c === '}' || c === ']' || c === ')') {
      const frame = stack.length > 1 ? stack.pop() : undefined;
      if (c === '}' && frame === 'rewritten-object') replacements.set(i, '}]');
      push({ kind: 'value', text: c });
      i += 1;
      continue;
    }
    if (!/\s/.test(c)) push({ kind: 'punct', text: c });
    i += 1;
  }

  if (replacements.size === 0) return text;
  let out = '';
  for (let k = 0; k < text.length; k += 1) out += replacements.get(k) ?? text[k];
  return out;
}
