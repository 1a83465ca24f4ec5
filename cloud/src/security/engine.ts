/**
 * The security monitor's decisions (docs/security.md, "Security alerts"), kept free of I/O
 * like firmware/engine.ts: monitor.ts samples the counters and stores what this decides.
 *
 * One episode per rule: it opens when the rule's figure rose by `threshold` or more within
 * the window, stays open (one alert, updated, never a second) while it keeps rising that
 * fast, and closes once a whole window has passed with the rise at or below half the
 * threshold (the hysteresis keeps a rate hovering at the threshold from opening and closing
 * alerts by turns). A rule whose figure could not be read this round (the broker's admin
 * API down) decides nothing: neither opens nor closes on missing data.
 */

export interface EngineRule {
  id: string;
  threshold: number;
  windowSec: number;
}

export type Decision =
  | { kind: 'open'; rule: string; at: number; count: number }
  /** an open episode saw `added` more events; `count` is the rise within the window now */
  | { kind: 'seen'; rule: string; alertId: number; at: number; count: number; added: number }
  | { kind: 'close'; rule: string; alertId: number; at: number; count: number };

interface Point { at: number; total: number }
interface RuleState { lastRaw: number | undefined; total: number; points: Point[] }

export class SecurityEngine {
  readonly #rules: readonly EngineRule[];
  readonly #state = new Map<string, RuleState>();

  constructor(rules: readonly EngineRule[]) {
    this.#rules = rules;
    for (const r of rules) this.#state.set(r.id, { lastRaw: undefined, total: 0, points: [] });
  }

  /**
   * One sample: `values` are the rules' cumulative figures now (undefined: not read this
   * round); `open` maps a rule id to its open alert's id (from the store, so it survives a
   * restart). Returns what to do.
   */
  observe(at: number, values: Readonly<Record<string, number | undefined>>, open: ReadonlyMap<string, number>): Decision[] {
    const out: Decision[] = [];
    for (const rule of this.#rules) {
      const raw = values[rule.id];
      if (raw === undefined || !Number.isFinite(raw) || raw < 0) continue;
      const s = this.#state.get(rule.id) as RuleState;
      // The first reading only sets the baseline: what happened before the cloud started
      // watching is not a rate. A figure lower than the last is a restarted counter: all of
      // it is new.
      const added = s.lastRaw === undefined ? 0 : raw >= s.lastRaw ? raw - s.lastRaw : raw;
      s.lastRaw = raw;
      s.total += added;
      s.points.push({ at, total: s.total });
      const windowMs = rule.windowSec * 1000;
      // Keep the newest point at or before the window's start (the baseline) and all after it.
      while (s.points.length > 1 && (s.points[1] as Point).at <= at - windowMs) s.points.shift();
      const base = s.points[0] as Point;
      const count = s.total - base.total;
      const fullWindow = base.at <= at - windowMs;
      const alertId = open.get(rule.id);
      if (alertId === undefined) {
        if (count >= rule.threshold) out.push({ kind: 'open', rule: rule.id, at, count });
      } else if (fullWindow && count <= Math.floor(rule.threshold / 2)) {
        out.push({ kind: 'close', rule: rule.id, alertId, at, count });
      } else if (added > 0) {
        out.push({ kind: 'seen', rule: rule.id, alertId, at, count, added });
      }
    }
    return out;
  }
}
