// Runs one kind's schema over shaped input and turns every failure into one `invalid` error whose
// message names each offending field and what was expected there.
import type { z } from 'zod';
import { invalid } from '../shared/errors.js';
import { describeZodError } from '../shared/zod-message.js';
import { canonicalize } from './shape.js';

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}

const EXPECTED_NAMES: Record<string, string> = {
  array: 'a list',
  object: 'an object',
  record: 'an object',
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean (true or false)',
};

const errorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
      return `expected ${expected}, got ${describeValue(issue.input)}`;
    }
    case 'invalid_value': {
      if (issue.input === undefined) return 'is required';
      const choices = issue.values.map((v) => JSON.stringify(v));
      const got = `got ${JSON.stringify(issue.input)}`;
      return choices.length === 1
        ? `must be ${choices[0]} (${got})`
        : `must be one of ${choices.join(', ')} (${got})`;
    }
    case 'too_big':
      return issue.origin === 'string'
        ? `must be at most ${String(issue.maximum)} characters`
        : `must be at most ${String(issue.maximum)}`;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'must not be empty';
      return issue.origin === 'string'
        ? `must be at least ${String(issue.minimum)} characters`
        : `must be at least ${String(issue.minimum)}`;
    default:
      return undefined;
  }
};

/**
 * Shapes `input` for `schema` (key aliases, HCL blocks) and validates it; throws `invalid` with every
 * problem found, prefixed by `what` (e.g. `exported-services config entry`).
 */
export function parseWithSchema<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(canonicalize(schema, input), { error: errorMap });
  if (!result.success) throw invalid(`invalid ${what}: ${describeZodError(result.error)}`);
  return result.data;
}
