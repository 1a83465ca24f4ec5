/**
 * The campaign engine: PURE. Plain typed inputs, `now` passed in, no I/O, no clock, no
 * Math.random — the runner (runner.ts) persists and executes what it decides. Keeping the
 * decisions here makes every rule (stage sizes, spread, advance/abort, health gate,
 * pause) unit- and property-testable without a broker or a database.
 */
import { fnv1a, unitFloat } from './hash.js';

export const CampaignStatus = { Running: 'running', Paused: 'paused', Aborted: 'aborted', Completed: 'completed' } as const;
export type CampaignStatus = (typeof CampaignStatus)[keyof typeof CampaignStatus];

export const RolloutStatus = {
  /** in a later stage than the current one */
  Waiting: 'waiting',
  /** its stage is open; it starts at `startAt` */
  Scheduled: 'scheduled',
  Sent: 'sent',
  Downloading: 'downloading',
  Verifying: 'verifying',
  Installing: 'installing',
  /** installed; the health gate watches it until installedAt + soak */
  Soaking: 'soaking',
  Succeeded: 'succeeded',
  Failed: 'failed',
  /** never started: the campaign was aborted first */
  Skipped: 'skipped',
} as const;
export type RolloutStatus = (typeof RolloutStatus)[keyof typeof RolloutStatus];

const IN_FLIGHT = new Set<RolloutStatus>([RolloutStatus.Sent, RolloutStatus.Downloading, RolloutStatus.Verifying, RolloutStatus.Installing]);
const STARTED = new Set<RolloutStatus>([...IN_FLIGHT, RolloutStatus.Soaking, RolloutStatus.Succeeded, RolloutStatus.Failed]);
export const hasStarted = (s: RolloutStatus): boolean => STARTED.has(s);

export interface CampaignPolicy {
  /** cumulative fractions of the targets, ascending, e.g. [0.01, 0.1, 1] */
  stages: number[];
  /** a stage advances when succeeded / finished ≥ advanceAt once all its devices finished */
  advanceAt: number;
  /** the campaign aborts as soon as failures / devices of the open stages > abortAt */
  abortAt: number;
  /** each device starts after a seeded random delay in [0, spreadSec) from its stage opening */
  spreadSec: number;
  /** health-gate window after install */
  soakSec: number;
  /** a started device with no terminal outcome after this long fails ("no progress") */
  updateTimeoutSec: number;
  /** reboots during soak at or above this are a crash loop */
  maxReboots: number;
  /** fall-sensor false alarms allowed during soak above the pre-update expectation */
  falseAlarmTolerance: number;
  seed: number;
}

export const DEFAULT_POLICY: Omit<CampaignPolicy, 'seed'> = {
  stages: [0.01, 0.1, 1], advanceAt: 0.95, abortAt: 0.1, spreadSec: 60, soakSec: 300,
  updateTimeoutSec: 1800, maxReboots: 2, falseAlarmTolerance: 1,
};

export interface CampaignState {
  status: CampaignStatus;
  /** index into policy.stages of the open (newest) stage */
  stage: number;
  stageStartedAt: number;
  pausedAt: number | null;
  /** why it aborted, or null */
  reason: string | null;
}

export interface DeviceRollout {
  deviceId: string;
  stage: number;
  status: RolloutStatus;
  startAt: number | null;
  sentAt: number | null;
  installedAt: number | null;
  pct: number;
  reason: string | null;
  /** when the campaign began watching this device: the start of its baseline window */
  observedSince: number;
  /** fall-sensor false alarms before the update started (the pre-update rate's numerator) */
  baselineFalseAlarms: number;
  /** during soak */
  errors: number;
  reboots: number;
  falseAlarms: number;
  lastError: string | null;
  /** the newest presence's online bit (unset until one is seen) */
  lastOnline?: boolean;
}

export function newRollout(deviceId: string, stage: number, now: number): DeviceRollout {
  return {
    deviceId, stage, status: RolloutStatus.Waiting, startAt: null, sentAt: null, installedAt: null, pct: 0, reason: null,
    observedSince: now, baselineFalseAlarms: 0, errors: 0, reboots: 0, falseAlarms: 0, lastError: null,
  };
}

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

/** What the runner saw about one device. */
export type Observation =
  | { type: 'progress'; step: 'downloading' | 'verifying' | 'installing' | 'installed' | 'failed' | 'rolled_back'; pct?: number; reason?: string; version?: string }
  | { type: 'event'; eventType: string }
  | { type: 'presence'; online: boolean; firmwareVersion: string };

/** Error-like event types: `*.fault`, `*.error`, `*.crash` (charger.fault, device.error…). */
export const isErrorEvent = (type: string): boolean => /(^|\.)(fault|error|crash)$/.test(type);
/** A fall the resident cancelled ("I'm fine"): the fall-sensor false alarm. */
export const isFalseAlarm = (type: string): boolean => type === 'fall.cancelled';

/** Folds one observation into a device's rollout. Pure; late or duplicate reports are ignored. */
export function observe(d: DeviceRollout, o: Observation, now: number, targetVersion: string): DeviceRollout {
  const terminal = d.status === RolloutStatus.Succeeded || d.status === RolloutStatus.Failed || d.status === RolloutStatus.Skipped;
  if (o.type === 'event') {
    if (!hasStarted(d.status) && d.status !== RolloutStatus.Skipped) {
      return isFalseAlarm(o.eventType) ? { ...d, baselineFalseAlarms: d.baselineFalseAlarms + 1 } : d;
    }
    if (d.status !== RolloutStatus.Soaking) return d;
    if (isErrorEvent(o.eventType)) return { ...d, errors: d.errors + 1, lastError: o.eventType };
    if (isFalseAlarm(o.eventType)) return { ...d, falseAlarms: d.falseAlarms + 1 };
    return d;
  }
  if (o.type === 'presence') {
    // A reboot is an offline → online transition: the broker's connect presence and the
    // device's own birth message arrive for the same boot and must count once.
    const next = d.lastOnline === o.online ? d : { ...d, lastOnline: o.online };
    if (d.status === RolloutStatus.Soaking && o.online && d.lastOnline === false) return { ...next, reboots: d.reboots + 1 };
    // The installed event may be lost; a device that comes back on the target version has installed.
    if (IN_FLIGHT.has(d.status) && o.online && o.firmwareVersion === targetVersion) return installed(next, now);
    return next;
  }
  if (terminal || !IN_FLIGHT.has(d.status)) return d;
  switch (o.step) {
    case 'downloading':
      return { ...d, status: RolloutStatus.Downloading, pct: Math.max(d.pct, Math.min(100, Math.max(0, o.pct ?? 0))) };
    case 'verifying':
      return { ...d, status: RolloutStatus.Verifying, pct: 100 };
    case 'installing':
      return { ...d, status: RolloutStatus.Installing };
    case 'installed':
      if (o.version !== undefined && o.version !== targetVersion) return fail(d, `installed ${o.version}, expected ${targetVersion}`);
      return installed(d, now);
    case 'failed':
      return fail(d, `device: ${o.reason ?? 'update failed'}`);
    case 'rolled_back':
      return fail(d, `rolled back: ${o.reason ?? 'new image failed'}`);
  }
}

const installed = (d: DeviceRollout, now: number): DeviceRollout => ({ ...d, status: RolloutStatus.Soaking, installedAt: now, pct: 100 });
const fail = (d: DeviceRollout, reason: string): DeviceRollout => ({ ...d, status: RolloutStatus.Failed, reason });

const HOUR_MS = 3_600_000;

/** The health gate's verdict on a soaking device: a failure reason, or undefined. */
export function healthVerdict(d: DeviceRollout, p: CampaignPolicy): string | undefined {
  if (d.errors > 0) return `health gate: ${d.errors} error event(s) during soak (${d.lastError ?? 'error'})`;
  if (d.reboots >= p.maxReboots) return `health gate: ${d.reboots} reboots during soak (crash loop)`;
  // Pre-update rate over the observed window (at least an hour, so a short window with one
  // alarm does not make a tiny rate look huge), scaled to the soak window.
  const windowMs = Math.max(HOUR_MS, (d.sentAt ?? d.observedSince) - d.observedSince);
  const expected = (d.baselineFalseAlarms / windowMs) * p.soakSec * 1000;
  if (d.falseAlarms > expected + p.falseAlarmTolerance) {
    return `health gate: ${d.falseAlarms} fall false alarms during soak, pre-update rate predicts ${expected.toFixed(2)}`;
  }
  return undefined;
}

export interface Plan {
  campaign: CampaignState;
  /** rollouts that changed (new objects) */
  changed: DeviceRollout[];
  /** device ids to send `firmware.update` to now */
  send: string[];
}

const finished = (s: RolloutStatus): boolean => s === RolloutStatus.Succeeded || s === RolloutStatus.Failed;

/** One decision step over a whole campaign. Idempotent: planning twice at the same `now`
 * changes nothing the second time. */
export function plan(campaign: CampaignState, devices: readonly DeviceRollout[], now: number, p: CampaignPolicy): Plan {
  let c = campaign;
  const byId = new Map(devices.map((d) => [d.deviceId, d]));
  const changed = new Map<string, DeviceRollout>();
  const set = (d: DeviceRollout): void => void (byId.set(d.deviceId, d), changed.set(d.deviceId, d));
  const send: string[] = [];
  if (c.status === CampaignStatus.Aborted || c.status === CampaignStatus.Completed) return { campaign: c, changed: [], send };

  // 1. Outcomes of devices already under way: soak verdicts and timeouts.
  for (const d of byId.values()) {
    if (d.status === RolloutStatus.Soaking) {
      const bad = healthVerdict(d, p);
      if (bad) set(fail(d, bad));
      else if (now >= (d.installedAt ?? now) + p.soakSec * 1000) set({ ...d, status: RolloutStatus.Succeeded });
    } else if (IN_FLIGHT.has(d.status) && now - (d.sentAt ?? now) > p.updateTimeoutSec * 1000) {
      set(fail(d, `no progress within ${p.updateTimeoutSec} s`));
    }
  }

  // 2./3. Abort on too many failures (also while paused: safety does not wait), else
  // advance through completed stages (only while running).
  const counts = stageCounts(byId.size, p.stages);
  for (;;) {
    const members = [...byId.values()].filter((d) => d.stage <= c.stage);
    const failures = members.filter((d) => d.status === RolloutStatus.Failed).length;
    if (members.length > 0 && failures / members.length > p.abortAt) {
      c = { ...c, status: CampaignStatus.Aborted, reason: `${failures} of ${members.length} devices failed in stage ${c.stage + 1} (abortAt ${p.abortAt})` };
      break;
    }
    if (c.status !== CampaignStatus.Running || !members.every((d) => finished(d.status))) break;
    const done = members.length;
    const ok = members.filter((d) => d.status === RolloutStatus.Succeeded).length;
    if (done > 0 && ok / done < p.advanceAt) {
      c = { ...c, status: CampaignStatus.Aborted, reason: `stage ${c.stage + 1} success rate ${(ok / done).toFixed(3)} < advanceAt ${p.advanceAt}` };
      break;
    }
    if (c.stage >= p.stages.length - 1 || (counts[c.stage] ?? 0) >= byId.size) {
      c = { ...c, status: CampaignStatus.Completed };
      break;
    }
    c = { ...c, stage: c.stage + 1, stageStartedAt: now };
  }

  // 4. Devices of open stages get their start time; on abort, the unstarted ones are skipped.
  for (const d of byId.values()) {
    if (c.status === CampaignStatus.Aborted) {
      if (d.status === RolloutStatus.Waiting || d.status === RolloutStatus.Scheduled) set({ ...d, status: RolloutStatus.Skipped, reason: 'campaign aborted' });
      continue;
    }
    if (d.status === RolloutStatus.Waiting && d.stage <= c.stage) {
      set({ ...d, status: RolloutStatus.Scheduled, startAt: c.stageStartedAt + startDelayMs(p.seed, d.deviceId, p.spreadSec) });
    }
  }
  // 5. Start the due ones, only while running.
  if (c.status === CampaignStatus.Running) {
    for (const d of [...byId.values()].sort((a, b) => (a.startAt ?? 0) - (b.startAt ?? 0))) {
      if (d.status === RolloutStatus.Scheduled && (d.startAt ?? Infinity) <= now) {
        set({ ...d, status: RolloutStatus.Sent, sentAt: now, pct: 0 });
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
      const changed = devices
        .filter((d) => d.status === RolloutStatus.Waiting || d.status === RolloutStatus.Scheduled)
        .map((d) => ({ ...d, status: RolloutStatus.Skipped, reason: 'campaign aborted by an operator' }));
      return { campaign: { ...c, status: CampaignStatus.Aborted, reason: reason ?? 'aborted by an operator' }, changed };
    }
  }
}
