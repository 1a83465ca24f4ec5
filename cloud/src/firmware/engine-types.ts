/**
 * The campaign engine's data: statuses, policy, campaign state and per-device rollout.
 * Plain JSON-able values only (they are persisted as they are), no behaviour here.
 */
export const CampaignStatus = { Running: 'running', Paused: 'paused', Aborted: 'aborted', Completed: 'completed' } as const;
export type CampaignStatus = (typeof CampaignStatus)[keyof typeof CampaignStatus];

export const RolloutStatus = {
  /** in a later stage than the current one */
  Waiting: 'waiting',
  /** its stage is open; it starts at `startAt` */
  Scheduled: 'scheduled',
  /** due (or offered) while offline: offered again when it comes back, until the campaign deadline */
  Pending: 'pending',
  Sent: 'sent',
  Downloading: 'downloading',
  Verifying: 'verifying',
  Installing: 'installing',
  /** installed; the health gate watches it until installedAt + soak, and needs positive evidence */
  Soaking: 'soaking',
  Succeeded: 'succeeded',
  Failed: 'failed',
  /** never started: the campaign ended first, or the device runs a newer/the same version */
  Skipped: 'skipped',
  /** under way when the campaign was aborted or superseded: the reason says what it was doing */
  Cancelled: 'cancelled',
  /** offline from its offer until the campaign deadline */
  Expired: 'expired',
} as const;
export type RolloutStatus = (typeof RolloutStatus)[keyof typeof RolloutStatus];

export const IN_FLIGHT: ReadonlySet<RolloutStatus> = new Set([RolloutStatus.Sent, RolloutStatus.Downloading, RolloutStatus.Verifying, RolloutStatus.Installing]);
export const FINAL: ReadonlySet<RolloutStatus> = new Set([
  RolloutStatus.Succeeded, RolloutStatus.Failed, RolloutStatus.Skipped, RolloutStatus.Cancelled, RolloutStatus.Expired,
]);
const STARTED: ReadonlySet<RolloutStatus> = new Set([
  ...IN_FLIGHT, RolloutStatus.Pending, RolloutStatus.Soaking, RolloutStatus.Succeeded, RolloutStatus.Failed, RolloutStatus.Cancelled, RolloutStatus.Expired,
]);
/** the device's stage had opened and its start time came (it was offered, or pending) */
export const hasStarted = (s: RolloutStatus): boolean => STARTED.has(s);
export const isFinal = (s: RolloutStatus): boolean => FINAL.has(s);
/** finished = an outcome about the image: what the stage thresholds count */
export const isFinished = (s: RolloutStatus): boolean => s === RolloutStatus.Succeeded || s === RolloutStatus.Failed;

export interface CampaignPolicy {
  /** cumulative fractions of the targets, ascending, e.g. [0.01, 0.1, 1] */
  stages: number[];
  /** a stage advances when every device of it finished or is pending and succeeded / finished ≥ advanceAt */
  advanceAt: number;
  /** abort as soon as one stage's failed / finished > abortAt (once minSample of it finished) */
  abortAt: number;
  /** finished devices a stage needs before its ratio can abort (a smaller stage: all of it) */
  minSample: number;
  /** each device starts after a seeded random delay in [0, spreadSec) from its stage opening */
  spreadSec: number;
  /** health-gate window after install */
  soakSec: number;
  /** an offered device with no outcome after this long (while online) fails: "timeout" */
  updateTimeoutSec: number;
  /** expected telemetry cadence of the target kind; silence longer than reportEverySec × missedReports fails */
  reportEverySec: number;
  missedReports: number;
  /** a device still reporting the old version this long after an offer is offered again */
  reofferSec: number;
  /** offers per device (the first one included) */
  maxOffers: number;
  /** campaign-level deadline from its creation: pending devices expire, the campaign ends */
  deadlineSec: number;
  /** reboots during soak at or above this are a crash loop */
  maxReboots: number;
  /** fall-sensor false alarms allowed during soak above the pre-update expectation */
  falseAlarmTolerance: number;
  /** a device reporting a newer version is skipped unless set */
  allowDowngrade: boolean;
  seed: number;
}

export const DEFAULT_POLICY: Omit<CampaignPolicy, 'seed'> = {
  stages: [0.01, 0.1, 1], advanceAt: 0.95, abortAt: 0.1, minSample: 10, spreadSec: 60, soakSec: 300,
  updateTimeoutSec: 1800, reportEverySec: 60, missedReports: 3, reofferSec: 60, maxOffers: 5, deadlineSec: 72 * 3600,
  maxReboots: 2, falseAlarmTolerance: 1, allowDowngrade: false,
};

/** Expected telemetry cadence per kind (seconds): the default of `reportEverySec`. */
export const EXPECTED_REPORT_SEC: Readonly<Record<string, number>> = {
  'ev-charger': 60, 'parcel-locker': 300, 'fall-sensor': 60, 'env-monitor': 60,
};

export interface CampaignState {
  status: CampaignStatus;
  /** index into policy.stages of the open (newest) stage */
  stage: number;
  stageStartedAt: number;
  pausedAt: number | null;
  /** which rule ended it and why ("health gate: …", "abort threshold: …", "deadline: …", "operator: …"), or null */
  reason: string | null;
  /** epoch ms of the campaign deadline (absent in campaigns stored before it existed: none) */
  deadlineAt?: number;
}

export interface DeviceRollout {
  deviceId: string;
  stage: number;
  status: RolloutStatus;
  startAt: number | null;
  /** first offer: the update timeout counts from here */
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
  /** firmware.update commands sent (re-offers included) and when the last went out */
  offers?: number;
  offeredAt?: number | null;
  /** a re-offer is due: the runner sends it with the next plan */
  reoffer?: boolean;
  /** the newest version the device reported (presence, telemetry or event header) */
  version?: string | null;
  /** the device reported the target version after installing (positive evidence) */
  confirmedAt?: number | null;
  /** newest telemetry; after install only telemetry proves the device works */
  lastTelemetryAt?: number | null;
  finishedAt?: number | null;
}

export function newRollout(deviceId: string, stage: number, now: number, version: string | null = null, online?: boolean): DeviceRollout {
  return {
    deviceId, stage, status: RolloutStatus.Waiting, startAt: null, sentAt: null, installedAt: null, pct: 0, reason: null,
    observedSince: now, baselineFalseAlarms: 0, errors: 0, reboots: 0, falseAlarms: 0, lastError: null,
    offers: 0, offeredAt: null, reoffer: false, version, confirmedAt: null, lastTelemetryAt: null, finishedAt: null,
    ...(online !== undefined ? { lastOnline: online } : {}),
  };
}
