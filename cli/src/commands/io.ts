import { parseArgs, type ParseArgsConfig } from 'node:util';
export { parseArgs };
import { usageError } from './errors.js';

/** What a command may touch: injected so tests can run commands in-process. */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Every command's --help/-h. */
export const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** Runs a parseArgs call, turning its errors into usage errors (exit 2) with the usage. */
export function parse<T>(run: () => T, usage: string): T {
  try {
    return run();
  } catch (err) {
    throw usageError((err as Error).message, usage);
  }
}

/** A number option: finite, within bounds, else a usage error naming the flag. */
export function numberOption(raw: string | undefined, flag: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw usageError(`--${flag} must be a number between ${min} and ${max}, got "${raw}"`);
  return n;
}

/** `k=v` arguments to an object; a bare word without `=` is a usage error. */
export function keyValues(items: string[], usage: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw usageError(`expected key=value, got "${item}"`, usage);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/**
 * The usage lines of one action (`yulan device add --help`, `yulan fw campaign create
 * --help`) with the group's notes, or the whole usage when no line matches. `words` are
 * the group and the positionals given, e.g. ['fw', 'campaign', 'create'].
 */
export function actionUsage(usage: string, words: string[]): string {
  const lines = usage.split('\n');
  const entries: string[][] = [];
  let notesAt = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^(usage: |\s+)yulan /.test(line)) entries.push([line.replace(/^usage: |^\s+/, '')]);
    else if (/^\s+\S/.test(line) && entries.length > 0) entries.at(-1)!.push(line);
    else { notesAt = i; break; }
  }
  const matches = (entry: string): boolean => {
    const tokens = entry.split(/\s+/).slice(1);
    return words.every((w, i) => tokens[i] !== undefined && tokens[i]!.split('|').includes(w));
  };
  const chosen = words.length > 1 ? entries.filter((e) => matches(e[0]!)) : [];
  if (chosen.length === 0) return usage;
  const body = chosen.map((e, i) => [`${i === 0 ? 'usage: ' : '       '}${e[0]}`, ...e.slice(1)].join('\n')).join('\n');
  const notes = lines.slice(notesAt).join('\n').trim();
  return notes ? `${body}\n\n${notes}` : body;
}
