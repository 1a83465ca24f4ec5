/**
 * The campaign engine: PURE. Plain typed inputs, `now` passed in, no I/O, no clock, no
 * Math.random — the runner (runner.ts) persists and executes what it decides. Keeping the
 * decisions here makes every rule (stage sizes, spread, per-stage advance/abort, health
 * gate, catch-up, pause, deadline) unit- and property-testable without a broker or a database.
 */
import { fnv1a, unitFloat } from './hash.js';
import {
  CampaignStatus, IN_FLIGHT, RolloutStatus, isFinal,
  type CampaignPolicy, type CampaignState, type DeviceRollout,
} from './engine-types.js';
import { finish, soakVerdict, startBlocked } from './observe.js';
import { abortVerdict, advanceVerdict, tallyStages, type StageTally } from './stage-gate.js';

export * from './engine-types.js';
export * from './observe.js';
export * from './stage-gate.js';

/** Cumulative device counts per stage: non-decreasing, ≥ 1 for a non-empty fleet, ≤ n. */
export function stageCounts(n: number, stages: readonly number[]): number[] {
  let prev = 0;
  return stages.map((f) => {
    const c = Math.min(n, Math.max(prev, n > 0 ? 1 : 0, Math.ceil(f * n - 1e-9)));
    prev = c;
    return c;
  });
}

/** Deterministic stage per device: order by a seeded hash (not by id, so a site's devices
 * named in sequence do not all land in the canary), then cut at the cumulative counts. */
export function assignStages(deviceIds: readonly string[], stages: readonly number[], seed: number): Map<string, number> {
  const ordered = [...new Set(deviceIds)].sort((a, b) => fnv1a(seed, a) - fnv1a(seed, b) || (a < b ? -1 : 1));
  const counts = stageCounts(ordered.length, stages);
  const out = new Map<string, number>();
  let stage = 0;
  ordered.forEach((id, i) => {
    while (stage < counts.length - 1 && i >= (counts[stage] as number)) stage++;
    out.set(id, stage);
  });
  return out;
}

/** Seeded start delay in [0, spreadSec) so a stage does not hit the download route at once. */
export function startDelayMs(seed: number, deviceId: string, spreadSec: number): number {
  return Math.floor(unitFloat(fnv1a(seed ^ 0x5bd1e995, deviceId)) * spreadSec * 1000);
}

export interface Plan {
  campaign: CampaignState;
  /** rollouts that changed (new objects) */
  changed: DeviceRollout[];
  /** device ids to send `firmware.update` to now (first offers and re-offers) */
  send: string[];
}

/** Every device not yet final gets its final state when a campaign ends. */
function endAll(byId: Map<string, DeviceRollout>, set: (d: DeviceRollout) => void, why: string, now: number, pendingTo: RolloutStatus): void {
  for (const d of byId.values()) {
    if (isFinal(d.status)) continue;
    if (d.status === RolloutStatus.Pending && pendingTo === RolloutStatus.Expired) set(finish(d, pendingTo, 'offline until the campaign deadline', now));
    else if (d.status === RolloutStatus.Pending) set(finish(d, d.offers ? RolloutStatus.Cancelled : RolloutStatus.Skipped, `${why} while pending (offline)`, now));
    else if (d.status === RolloutStatus.Waiting || d.status === RolloutStatus.Scheduled) set(finish(d, RolloutStatus.Skipped, why, now));
    else set(finish(d, RolloutStatus.Cancelled, `${why} while ${d.status}`, now));
  }
}

/** One decision step over a whole campaign; the runner calls it on every result and on a
 * timer. Idempotent: planning twice at the same `now` changes nothing the second time. */
export function plan(campaign: CampaignState, devices: readonly DeviceRollout[], now: number, p: CampaignPolicy, target: string): Plan {
  let c = campaign;
  const send: string[] = [];
  if (c.status === CampaignStatus.Aborted || c.status === CampaignStatus.Completed) return { campaign: c, changed: [], send };
  const byId = new Map<string, DeviceRollout>();
  for (const d of devices) byId.set(d.deviceId, d);
  const changed = new Map<string, DeviceRollout>();
  const set = (d: DeviceRollout): void => void (byId.set(d.deviceId, d), changed.set(d.deviceId, d));
  const tally: StageTally[] = tallyStages(byId.values(), p.stages.length);
  const abort = (reason: string): void => {
    c = { ...c, status: CampaignStatus.Aborted, reason };
    endAll(byId, set, `campaign aborted (${reason})`, now, RolloutStatus.Cancelled);
  };
  const checkStages = (): boolean => {
    for (let s = 0; s <= c.stage; s++) {
      const why = abortVerdict(tally[s] as StageTally, s, p);
      if (why) return abort(why), true;
    }
    return false;
  };

  // 1. Failures reported since the last step, then timed outcomes (soak verdicts, update
  //    timeouts) one at a time in the order they fell due: the abort threshold is checked
  //    after each, so a tick never lets more failures through than the rule allows.
  if (!checkStages()) {
    const timed: { d: DeviceRollout; at: number; fail?: string }[] = [];
    for (const d of byId.values()) {
      if (d.status === RolloutStatus.Soaking) {
        const v = soakVerdict(d, now, p);
        if (v) timed.push('fail' in v ? { d, at: v.at, fail: v.fail } : { d, at: v.at });
      } else if (IN_FLIGHT.has(d.status)) {
        const from = d.offeredAt ?? d.sentAt ?? now;
        if (now - from > p.updateTimeoutSec * 1000) {
          timed.push({ d, at: from + p.updateTimeoutSec * 1000, fail: `timeout: no progress within ${p.updateTimeoutSec} s of the offer (${d.status}, ${d.offers ?? 1} offer(s))` });
        }
      }
    }
    timed.sort((a, b) => a.at - b.at || (a.d.deviceId < b.d.deviceId ? -1 : 1));
    for (const t of timed) {
      const s = tally[t.d.stage] as StageTally;
      s.open--;
      if (t.d.status === RolloutStatus.Soaking) s.soaking--;
      if (t.fail) s.failed++;
      else s.succeeded++;
      set(finish(t.d, t.fail ? RolloutStatus.Failed : RolloutStatus.Succeeded, t.fail ?? null, now));
      // A success can complete the sample that makes earlier failures cross the threshold.
      if (checkStages()) break;
    }
  }

  // 2. The deadline ends the campaign: completed if the last stage passed its gate.
  if ((c.status as CampaignStatus) !== CampaignStatus.Aborted && c.deadlineAt !== undefined && now >= c.deadlineAt) {
    const last = p.stages.length - 1;
    const gate = c.stage === last ? advanceVerdict(tally[last] as StageTally, last, p) : undefined;
    if (gate?.ok) {
      c = { ...c, status: CampaignStatus.Completed, reason: `deadline: completed at the campaign deadline; ${tally.reduce((n, t) => n + t.pending, 0)} device(s) never came back` };
      endAll(byId, set, 'campaign deadline passed', now, RolloutStatus.Expired);
    } else {
      abort(`deadline: the campaign deadline passed in stage ${c.stage + 1} (${gate && !gate.ok && gate.reason ? gate.reason : 'stage unfinished'})`);
    }
  }

  // 3. Advance through stages whose gate passed (only while running).
  while (c.status === CampaignStatus.Running) {
    const v = advanceVerdict(tally[c.stage] as StageTally, c.stage, p);
    if (!v) break;
    if (!v.ok) { abort(v.reason); break; }
    if (c.stage >= p.stages.length - 1) {
      // Pending devices of any stage still get their update until the deadline.
      if (tally.every((t) => t.open === 0 && t.pending === 0)) c = { ...c, status: CampaignStatus.Completed, reason: null };
      break;
    }
    c = { ...c, stage: c.stage + 1, stageStartedAt: now };
  }

  // 4. Devices of open stages get their start time.
  if (c.status === CampaignStatus.Running || c.status === CampaignStatus.Paused) {
    for (const d of byId.values()) {
      if (d.status === RolloutStatus.Waiting && d.stage <= c.stage) {
        set({ ...d, status: RolloutStatus.Scheduled, startAt: c.stageStartedAt + startDelayMs(p.seed, d.deviceId, p.spreadSec) });
      }
    }
  }
  // 5. Offers: the due ones and re-offers, only while running; never a downgrade.
  if (c.status === CampaignStatus.Running) {
    const due: DeviceRollout[] = [];
    for (const d of byId.values()) {
      if ((d.status === RolloutStatus.Scheduled && (d.startAt ?? Infinity) <= now) || (d.status === RolloutStatus.Sent && d.reoffer)) due.push(d);
    }
    due.sort((a, b) => (a.startAt ?? 0) - (b.startAt ?? 0) || (a.deviceId < b.deviceId ? -1 : 1));
    for (const d of due) {
      const blocked = startBlocked(d, target, p);
      if (blocked) set(finish(d, d.offers ? RolloutStatus.Cancelled : RolloutStatus.Skipped, blocked, now));
      else if (d.status === RolloutStatus.Scheduled && d.lastOnline === false) set({ ...d, status: RolloutStatus.Pending });
      else {
        set({ ...d, status: RolloutStatus.Sent, sentAt: d.sentAt ?? now, offeredAt: now, offers: (d.offers ?? 0) + 1, reoffer: false, pct: 0 });
        send.push(d.deviceId);
      }
    }
  }
  return { campaign: c, changed: [...changed.values()], send };
}

export const OperatorAction = { Pause: 'pause', Resume: 'resume', Abort: 'abort' } as const;
export type OperatorAction = (typeof OperatorAction)[keyof typeof OperatorAction];

/** An operator's pause/resume/abort. Returns an error string when the action does not
 * apply. Resume shifts pending start times by the pause, so the spread survives a pause. */
export function operate(
  c: CampaignState, devices: readonly DeviceRollout[], action: OperatorAction, now: number, reason?: string,
): { campaign: CampaignState; changed: DeviceRollout[] } | { error: string } {
  const over = c.status === CampaignStatus.Aborted || c.status === CampaignStatus.Completed;
  if (over) return { error: `campaign is ${c.status}` };
  switch (action) {
    case OperatorAction.Pause:
      if (c.status === CampaignStatus.Paused) return { campaign: c, changed: [] };
      return { campaign: { ...c, status: CampaignStatus.Paused, pausedAt: now }, changed: [] };
    case OperatorAction.Resume: {
      if (c.status === CampaignStatus.Running) return { campaign: c, changed: [] };
      const shift = Math.max(0, now - (c.pausedAt ?? now));
      const changed = devices
        .filter((d) => d.status === RolloutStatus.Scheduled && d.startAt !== null)
        .map((d) => ({ ...d, startAt: (d.startAt as number) + shift }));
      return { campaign: { ...c, status: CampaignStatus.Running, pausedAt: null, stageStartedAt: c.stageStartedAt + shift }, changed };
    }
    case OperatorAction.Abort: {
      const why = `operator: ${reason ?? 'aborted by an operator'}`;
      const byId = new Map(devices.map((d) => [d.deviceId, d]));
      const changed: DeviceRollout[] = [];
      endAll(byId, (d) => void changed.push(d), `campaign aborted (${why})`, now, RolloutStatus.Cancelled);
      return { campaign: { ...c, status: CampaignStatus.Aborted, reason: why }, changed };
    }
  }
}
