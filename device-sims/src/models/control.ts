/**
 * Shared vocabulary of the models' control surface (docs/control.md): commands are checked
 * (arguments arrive as strings and are validated on the device too, whatever the cloud did)
 * and then executed on the pure state; twin settings are applied field by field.
 */

/** Result of checking a command before ACCEPTED: refused (REJECTED) or planned. */
export type CommandCheck =
  | { ok: false; message: string }
  /** `reboot`: the device goes offline briefly after executing (reboot, charger.reset). */
  | { ok: true; reboot: boolean };

/** Result of executing an accepted command on the state: SUCCEEDED or FAILED. */
export interface CommandOutcome<S> {
  state: S;
  ok: boolean;
  message: string;
  output?: Record<string, string>;
  /** env.set_interval: the new reading interval, seconds. */
  reportIntervalS?: number;
}

/** Result of applying one kind's settings: invalid fields are named in `errors` and keep
 * their previous value; the valid ones are applied. */
export interface SettingsOutcome<S> {
  state: S;
  errors: string[];
}

export const REPORT_INTERVAL_RANGE_S = [1, 3600] as const;

export const refuse = (message: string): CommandCheck => ({ ok: false, message });
export const accept = (reboot = false): CommandCheck => ({ ok: true, reboot });

/** Parses a required argument; returns the value or an error message. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const missing = (name: string): Parsed<never> => ({ ok: false, message: `missing argument "${name}"` });

export function intArg(args: Record<string, string>, name: string, lo: number, hi: number): Parsed<number> {
  const raw = args[name];
  if (raw === undefined || raw.trim() === '') return missing(name);
  const v = Number(raw);
  if (!Number.isInteger(v) || v < lo || v > hi) return { ok: false, message: `"${name}" must be an integer ${lo}..${hi}, got "${raw}"` };
  return { ok: true, value: v };
}

export function numArg(args: Record<string, string>, name: string, lo: number, hi: number): Parsed<number> {
  const raw = args[name];
  if (raw === undefined || raw.trim() === '') return missing(name);
  const v = Number(raw);
  if (!Number.isFinite(v) || v < lo || v > hi) return { ok: false, message: `"${name}" must be a number ${lo}..${hi}, got "${raw}"` };
  return { ok: true, value: v };
}

export function enumArg<T extends string>(args: Record<string, string>, name: string, values: readonly T[]): Parsed<T> {
  const raw = args[name];
  if (raw === undefined || raw.trim() === '') return missing(name);
  if (!(values as readonly string[]).includes(raw)) return { ok: false, message: `"${name}" must be one of ${values.join(', ')}, got "${raw}"` };
  return { ok: true, value: raw as T };
}

export function stringArg(args: Record<string, string>, name: string, maxLen: number): Parsed<string> {
  const raw = args[name];
  if (raw === undefined || raw.trim() === '') return missing(name);
  if (raw.length > maxLen) return { ok: false, message: `"${name}" is longer than ${maxLen} characters` };
  return { ok: true, value: raw };
}

/** Checks an optional numeric setting; undefined = not set in the desired state (keep). */
export function checkSetting(
  errors: string[], name: string, v: number | undefined, lo: number, hi: number, integer = false,
): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    errors.push(`${name} ${v} out of range ${lo}..${hi}; keeping the previous value`);
    return undefined;
  }
  return v;
}
