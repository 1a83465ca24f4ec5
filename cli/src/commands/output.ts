/** Output for humans (aligned tables) or machines (--json, one document on stdout). */
export function printJson(out: NodeJS.WritableStream, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function table(out: NodeJS.WritableStream, columns: string[], rows: unknown[][]): void {
  const text = rows.map((r) => r.map(cell));
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  out.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const r of text) out.write(`${line(r)}\n`);
}

/** One "key  value" per line, for a single object. */
export function fields(out: NodeJS.WritableStream, obj: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  for (const [k, v] of Object.entries(obj)) out.write(`${k.padEnd(width)}  ${cell(v)}\n`);
}
