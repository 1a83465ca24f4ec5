/**
 * Per-stage thresholds, PURE. A stage is judged on its own devices only (never diluted by
 * earlier stages or by devices not yet started), and only on the ones that finished:
 *
 * - abort: failed / (finished + soaking) > abortAt, once min(minSample, the stage's size)
 *   of it got that far (a canary of one aborts on its failure);
 * - advance: every device of the stage finished or is pending (offline), at least one
 *   finished, no more pending than the advance margin allows (at least one), and
 *   succeeded / finished ≥ advanceAt.
 */
import { RolloutStatus, isFinal, type CampaignPolicy, type DeviceRollout } from './engine-types.js';

export interface StageTally {
  /** devices of the stage */
  n: number;
  succeeded: number;
  failed: number;
  /** offline, waiting to be offered again */
  pending: number;
  /** neither final nor pending (soaking included) */
  open: number;
  /** installed and healthy so far: in the abort ratio's denominator */
  soaking: number;
  /** skipped, cancelled or expired: no evidence about the image either way */
  inactive: number;
}

export function tallyStages(devices: Iterable<DeviceRollout>, stages: number): StageTally[] {
  const t = Array.from({ length: stages }, () => ({ n: 0, succeeded: 0, failed: 0, pending: 0, open: 0, soaking: 0, inactive: 0 }));
  for (const d of devices) {
    const s = t[Math.min(d.stage, stages - 1)] as StageTally;
    s.n++;
    if (d.status === RolloutStatus.Succeeded) s.succeeded++;
    else if (d.status === RolloutStatus.Failed) s.failed++;
    else if (d.status === RolloutStatus.Pending) s.pending++;
    else if (isFinal(d.status)) s.inactive++;
    else {
      s.open++;
      if (d.status === RolloutStatus.Soaking) s.soaking++;
    }
  }
  return t;
}

const pct = (x: number): string => `${Math.round(x * 1000) / 10} %`;

/** finished devices the stage needs before its ratio can abort it */
export const abortSample = (t: StageTally, p: CampaignPolicy): number => Math.max(1, Math.min(p.minSample, t.n));

/** The abort rule's reason when it fires for stage `s` (0-based), else undefined. */
export function abortVerdict(t: StageTally, s: number, p: CampaignPolicy): string | undefined {
  // Soaking devices count with the finished ones: a fault shows within seconds of install
  // while a success needs the whole soak, so over finished devices alone a small bad
  // minority would look like a majority early in every stage.
  const judged = t.succeeded + t.failed + t.soaking;
  if (judged < abortSample(t, p) || t.failed / judged <= p.abortAt) return undefined;
  return `abort threshold: ${t.failed} of ${judged} finished or soaking devices of stage ${s + 1} failed (${pct(t.failed / judged)} > abortAt ${pct(p.abortAt)})`;
}

/** undefined: not decided yet; ok: the stage may advance; else the health gate's reason. */
export function advanceVerdict(t: StageTally, s: number, p: CampaignPolicy): { ok: true } | { ok: false; reason: string } | undefined {
  if (t.open > 0) return undefined;
  const finished = t.succeeded + t.failed;
  if (finished === 0) return t.pending > 0 ? undefined : { ok: true };
  // Advancing on thin evidence is how a bad image spreads: too many offline devices wait.
  if (t.pending > Math.max(1, (1 - p.advanceAt) * (t.n - t.inactive)) + 1e-9) return undefined;
  if (t.succeeded / finished >= p.advanceAt) return { ok: true };
  return { ok: false, reason: `health gate: ${t.succeeded} of ${finished} finished devices of stage ${s + 1} succeeded (${pct(t.succeeded / finished)} < advanceAt ${pct(p.advanceAt)})` };
}
