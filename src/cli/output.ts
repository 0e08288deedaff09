// Human output helpers shared by the command groups: aligned tables, JSON, and timestamps with their age.

/** Left-aligned columns separated by two spaces; the first row is the header. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `Label:  value` lines with the values aligned. */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length + 1));
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`.trimEnd()).join('\n');
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Parses a timestamp from the API; Go's zero time and empty values mean "never". */
export function parseTimestamp(value: string | null | undefined): Date | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** "2024-05-01T10:00:00.000Z (3m5s ago)", or "never". */
export function describeTime(value: string | null | undefined, now: Date): string {
  const date = parseTimestamp(value);
  if (!date) return 'never';
  return `${date.toISOString()} (${formatAge(now.getTime() - date.getTime())})`;
}

export function formatAge(ms: number): string {
  if (ms < 0) return 'in the future';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${seconds % 60}s ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${minutes % 60}m ago`;
  return `${Math.floor(hours / 24)}d ago`;
}
