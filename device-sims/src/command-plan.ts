import { CommandStatus, type Command } from '@yulan/protos';
import type { CommandCheck } from './models/control.js';
import { createRng, deriveSeed } from './rng.js';

/**
 * What a simulated device answers to a command, and when: pure, so the lifecycle the cloud
 * sees (docs/control.md §1) is tested without a broker. Failure injection makes a device
 * misbehave the ways real ones do, deterministically per (seed, command_id).
 */

export const FailureMode = {
  None: 'none',
  /** The device refuses: REJECTED. */
  Refuse: 'refuse',
  /** The device never answers (lost, or hung while executing). */
  Timeout: 'timeout',
  /** ACCEPTED and SUCCEEDED, but nothing happens: only telemetry can tell. */
  NoEffect: 'no-effect',
  /** Every answer (and the effect) comes `slowMs` late. */
  Slow: 'slow',
} as const;
export type FailureMode = (typeof FailureMode)[keyof typeof FailureMode];

/** Probabilities per command (their sum at most 1); the rest behave. */
export interface CommandFailures {
  refuse?: number;
  timeout?: number;
  noEffect?: number;
  slow?: number;
  /** Extra delay of a slow device, ms (default 10 s). */
  slowMs?: number;
}

export interface PlanTiming {
  /** ACCEPTED → executed and SUCCEEDED/FAILED, ms. */
  execMs: number;
  /** How long a reboot keeps the device offline, ms. */
  rebootDownMs: number;
  slowMs: number;
}

export const DEFAULT_TIMING: PlanTiming = { execMs: 100, rebootDownMs: 1500, slowMs: 10_000 };

export type PlanStep =
  | { type: 'result'; delayMs: number; status: CommandStatus; message: string }
  /** Run the command on the model (unless `effect` is false) and, if `report`, send
   * SUCCEEDED/FAILED from its outcome (SUCCEEDED when there is no effect). */
  | { type: 'execute'; delayMs: number; effect: boolean; report: boolean }
  /** Go offline for `downMs`, then reconnect (birth). */
  | { type: 'reboot'; delayMs: number; downMs: number };

const FAILURE_KEYS = { refuse: 'refuse', timeout: 'timeout', 'no-effect': 'noEffect', slow: 'slow' } as const;

/** Parses `refuse=0.05,timeout=0.05,no-effect=0.05,slow=0.1,slow-ms=5000`. Throws RangeError. */
export function parseCommandFailures(text: string): CommandFailures {
  const out: CommandFailures = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key = '', raw = ''] = part.split('=', 2).map((x) => x.trim());
    const v = Number(raw);
    if (raw === '' || !Number.isFinite(v) || v < 0) throw new RangeError(`"${part}": expected key=number >= 0`);
    if (key === 'slow-ms') out.slowMs = v;
    else if (key in FAILURE_KEYS) {
      if (v > 1) throw new RangeError(`"${part}": a probability is at most 1`);
      out[FAILURE_KEYS[key as keyof typeof FAILURE_KEYS]] = v;
    } else throw new RangeError(`unknown failure "${key}" (expected ${Object.keys(FAILURE_KEYS).join(', ')}, slow-ms)`);
  }
  validateFailures(out);
  return out;
}

export function validateFailures(f: CommandFailures): void {
  const ps = [f.refuse, f.timeout, f.noEffect, f.slow].map((p) => p ?? 0);
  if (ps.some((p) => !(p >= 0 && p <= 1))) throw new RangeError('failure probabilities must be within 0..1');
  if (ps.reduce((a, b) => a + b, 0) > 1 + 1e-9) throw new RangeError('failure probabilities add up to more than 1');
  if (f.slowMs !== undefined && !(f.slowMs >= 0)) throw new RangeError('slowMs must be >= 0');
}

/** The failure mode for one command: a function of (seed, command id) only, so a
 * redelivery or a rerun with the same seed misbehaves the same way. */
export function pickFailure(f: CommandFailures | undefined, seed: number, commandId: string): FailureMode {
  if (!f) return FailureMode.None;
  let u = createRng(deriveSeed(seed, `cmd:${commandId}`)).next();
  const order = [
    [FailureMode.Refuse, f.refuse], [FailureMode.Timeout, f.timeout], [FailureMode.NoEffect, f.noEffect], [FailureMode.Slow, f.slow],
  ] as const;
  for (const [mode, p = 0] of order) {
    if (u < p) return mode;
    u -= p;
  }
  return FailureMode.None;
}

export interface PlanContext {
  nowMs: number;
  /** The model's verdict on the name and arguments. */
  check: CommandCheck;
  failure: FailureMode;
  timing?: Partial<PlanTiming>;
}

/**
 * Expired → EXPIRED; invalid → REJECTED (argument checks happen on the device too);
 * otherwise ACCEPTED, then executed and SUCCEEDED/FAILED — or, for commands that reboot,
 * offline for a while and SUCCEEDED once back (sent after the new birth). Injected
 * failures apply to valid commands only.
 */
export function planCommand(cmd: Command, ctx: PlanContext): PlanStep[] {
  const t = { ...DEFAULT_TIMING, ...ctx.timing };
  if (cmd.expiresMs > 0 && ctx.nowMs > cmd.expiresMs) {
    return [{ type: 'result', delayMs: 0, status: CommandStatus.EXPIRED, message: 'command expired before delivery' }];
  }
  if (!ctx.check.ok) return [{ type: 'result', delayMs: 0, status: CommandStatus.REJECTED, message: ctx.check.message }];
  switch (ctx.failure) {
    case FailureMode.Timeout:
      return [];
    case FailureMode.Refuse:
      return [{ type: 'result', delayMs: 0, status: CommandStatus.REJECTED, message: 'refused by the device (injected failure)' }];
    default:
      break;
  }
  const d0 = ctx.failure === FailureMode.Slow ? t.slowMs : 0;
  const effect = ctx.failure !== FailureMode.NoEffect;
  const accepted: PlanStep = { type: 'result', delayMs: d0, status: CommandStatus.ACCEPTED, message: 'accepted' };
  if (!ctx.check.reboot) return [accepted, { type: 'execute', delayMs: d0 + t.execMs, effect, report: true }];
  if (!effect) {
    return [accepted, { type: 'result', delayMs: d0 + t.execMs + t.rebootDownMs, status: CommandStatus.SUCCEEDED, message: 'rebooted' }];
  }
  return [
    accepted,
    { type: 'execute', delayMs: d0 + t.execMs, effect: true, report: false },
    { type: 'reboot', delayMs: d0 + t.execMs, downMs: t.rebootDownMs },
    // Sent while offline it waits in the device's queue and goes out after the birth.
    { type: 'result', delayMs: d0 + t.execMs + 1, status: CommandStatus.SUCCEEDED, message: 'rebooted' },
  ];
}

/** The last `capacity` command ids, so a redelivered command is executed at most once.
 * Kept across a simulated reboot (it stands for flash), and restorable via `snapshot()`. */
export class RecentIds {
  private readonly ids: string[] = [];
  constructor(private readonly capacity: number, initial: Iterable<string> = []) {
    for (const id of initial) this.firstTime(id);
  }

  /** True the first time an id is offered (and remembers it). */
  firstTime(id: string): boolean {
    if (this.ids.includes(id)) return false;
    this.ids.push(id);
    if (this.ids.length > this.capacity) this.ids.shift();
    return true;
  }

  snapshot(): string[] {
    return [...this.ids];
  }
}
