/**
 * Folding what a device reports into its rollout, and the health gate's verdicts. PURE:
 * plain values in, a new rollout (or the same object when nothing changed) out.
 */
import { IN_FLIGHT, RolloutStatus, isFinal, type CampaignPolicy, type DeviceRollout } from './engine-types.js';
import { compareSemver } from './semver.js';

/** What the runner saw about one device. */
export type Observation =
  | { type: 'progress'; step: 'downloading' | 'verifying' | 'installing' | 'installed' | 'failed' | 'rolled_back'; pct?: number; reason?: string; version?: string }
  | { type: 'event'; eventType: string; version?: string }
  | { type: 'presence'; online: boolean; firmwareVersion: string }
  /** a telemetry message (its header's firmware version) */
  | { type: 'telemetry'; version: string }
  /** the device's command result for this campaign's firmware.update */
  | { type: 'result'; status: 'accepted' | 'succeeded' | 'failed' | 'rejected' | 'expired'; message?: string };

/** Error-like event types: `*.fault`, `*.error`, `*.crash` (charger.fault, device.error…). */
export const isErrorEvent = (type: string): boolean => /(^|\.)(fault|error|crash)$/.test(type);
/** A fall the resident cancelled ("I'm fine"): the fall-sensor false alarm. */
export const isFalseAlarm = (type: string): boolean => type === 'fall.cancelled';

export const silenceMs = (p: CampaignPolicy): number => p.reportEverySec * p.missedReports * 1000;

export const finish = (d: DeviceRollout, status: RolloutStatus, reason: string | null, now: number): DeviceRollout =>
  ({ ...d, status, reason, reoffer: false, finishedAt: now });
const installed = (d: DeviceRollout, now: number): DeviceRollout => ({ ...d, status: RolloutStatus.Soaking, installedAt: now, pct: 100, reoffer: false });
/** the device is back (or still there) on the old version: offer again, within its budget */
const reofferIfDue = (d: DeviceRollout, now: number, p: CampaignPolicy, immediately: boolean): DeviceRollout => {
  if (d.reoffer || (d.offers ?? 0) >= p.maxOffers) return d;
  if (!immediately && now - (d.offeredAt ?? d.sentAt ?? now) < p.reofferSec * 1000) return d;
  return { ...d, status: RolloutStatus.Sent, reoffer: true };
};

/** A version report: tracks it, confirms a soaking device, fails one that runs something else. */
function versionReport(d: DeviceRollout, version: string, now: number, target: string, p: CampaignPolicy, returned: boolean): DeviceRollout {
  if (version === '') return d;
  const next = d.version === version ? d : { ...d, version };
  if (d.status === RolloutStatus.Soaking) {
    if (version !== target) return finish(next, RolloutStatus.Failed, `health gate: reports ${version} after installing ${target}`, now);
    return next.confirmedAt ? next : { ...next, confirmedAt: now };
  }
  if (version === target && (IN_FLIGHT.has(d.status) || d.status === RolloutStatus.Pending)) return { ...installed(next, now), confirmedAt: now };
  if (d.status === RolloutStatus.Pending) return reofferIfDue(next, now, p, true);
  // A device that (re)connected may have missed the offer; the same command id makes a
  // second delivery harmless to one that did get it.
  if (d.status === RolloutStatus.Sent) return reofferIfDue(next, now, p, returned);
  return next;
}

/** Folds one observation into a device's rollout. Late or duplicate reports are ignored. */
export function observe(d: DeviceRollout, o: Observation, now: number, target: string, p: CampaignPolicy): DeviceRollout {
  if (isFinal(d.status)) return d;
  switch (o.type) {
    case 'event': {
      let x = d;
      if (x.status === RolloutStatus.Waiting || x.status === RolloutStatus.Scheduled) {
        if (isFalseAlarm(o.eventType)) x = { ...x, baselineFalseAlarms: x.baselineFalseAlarms + 1 };
      } else if (x.status === RolloutStatus.Soaking) {
        if (isErrorEvent(o.eventType)) x = { ...x, errors: x.errors + 1, lastError: o.eventType };
        else if (isFalseAlarm(o.eventType)) x = { ...x, falseAlarms: x.falseAlarms + 1 };
      }
      return o.version !== undefined ? versionReport(x, o.version, now, target, p, false) : x;
    }
    case 'telemetry': {
      // Only a soaking device's telemetry matters for health; throttled to a quarter of the
      // cadence, since at fleet scale a write per message is waste.
      const last = d.lastTelemetryAt ?? null;
      const fresh = d.status === RolloutStatus.Soaking
        && (last === null || last <= (d.installedAt ?? 0) || now - last >= (p.reportEverySec * 1000) / 4);
      return versionReport(fresh ? { ...d, lastTelemetryAt: now } : d, o.version, now, target, p, false);
    }
    case 'presence': {
      // A reboot is an offline → online transition: the broker's connect presence and the
      // device's own birth message arrive for the same boot and must count once.
      let x = d.lastOnline === o.online ? d : { ...d, lastOnline: o.online };
      if (d.status === RolloutStatus.Soaking && o.online && d.lastOnline === false) x = { ...x, reboots: x.reboots + 1 };
      if (!o.online) {
        // Offered but not started, or lost mid-download: it waits for the device to return.
        const lost = d.status === RolloutStatus.Sent || d.status === RolloutStatus.Downloading || d.status === RolloutStatus.Verifying;
        return lost ? { ...x, status: RolloutStatus.Pending, reoffer: false } : x;
      }
      return versionReport(x, o.firmwareVersion, now, target, p, d.lastOnline !== true);
    }
    case 'result':
      if (!IN_FLIGHT.has(d.status) && d.status !== RolloutStatus.Pending) return d;
      if (o.status === 'failed') return finish(d, RolloutStatus.Failed, `device: ${o.message || 'update failed'}`, now);
      if (o.status === 'rejected') return finish(d, RolloutStatus.Failed, `device rejected the update: ${o.message || 'no reason given'}`, now);
      // Expired before it ran: the offer never reached a working device.
      if (o.status === 'expired') return reofferIfDue(d, now, p, true);
      // Accepted: the device has the offer and is working on it; no re-offer while it does.
      if (o.status === 'accepted' && (d.status === RolloutStatus.Sent || d.status === RolloutStatus.Pending)) {
        return { ...d, status: RolloutStatus.Downloading, reoffer: false };
      }
      return d;
    case 'progress':
      break;
  }
  if (!IN_FLIGHT.has(d.status) && d.status !== RolloutStatus.Pending) return d;
  switch (o.step) {
    case 'downloading':
      return { ...d, status: RolloutStatus.Downloading, reoffer: false, pct: Math.max(d.pct, Math.min(100, Math.max(0, o.pct ?? 0))) };
    case 'verifying':
      return { ...d, status: RolloutStatus.Verifying, reoffer: false, pct: 100 };
    case 'installing':
      return { ...d, status: RolloutStatus.Installing, reoffer: false };
    case 'installed':
      if (o.version !== undefined && o.version !== target) return finish(d, RolloutStatus.Failed, `device: installed ${o.version}, expected ${target}`, now);
      return installed(d, now);
    case 'failed':
      return finish(d, RolloutStatus.Failed, `device: ${o.reason ?? 'update failed'}`, now);
    case 'rolled_back':
      return finish(d, RolloutStatus.Failed, `device: rolled back: ${o.reason ?? 'new image failed'}`, now);
  }
}

const HOUR_MS = 3_600_000;

/** The health gate's verdict on a soaking device at `now`: a failure reason with the time
 * it became true, "ok" with the time the soak was passed, or undefined (still soaking). */
export function soakVerdict(d: DeviceRollout, now: number, p: CampaignPolicy): { fail: string; at: number } | { ok: true; at: number } | undefined {
  const at = d.installedAt ?? now;
  if (d.errors > 0) return { fail: `health gate: ${d.errors} error event(s) during soak (${d.lastError ?? 'error'})`, at: now };
  if (d.reboots >= p.maxReboots) return { fail: `health gate: ${d.reboots} reboots during soak (crash loop)`, at: now };
  // Pre-update rate over the observed window (at least an hour, so a short window with one
  // alarm does not make a tiny rate look huge), scaled to the soak window.
  const windowMs = Math.max(HOUR_MS, (d.sentAt ?? d.observedSince) - d.observedSince);
  const expected = (d.baselineFalseAlarms / windowMs) * p.soakSec * 1000;
  if (d.falseAlarms > expected + p.falseAlarmTolerance) {
    return { fail: `health gate: ${d.falseAlarms} fall false alarms during soak, pre-update rate predicts ${expected.toFixed(2)}`, at: now };
  }
  // Silence is failure: the clock runs from install (or the newest telemetry after it).
  const heard = d.lastTelemetryAt != null && d.lastTelemetryAt > at ? d.lastTelemetryAt : at;
  const silentUntil = heard + silenceMs(p);
  if (now > silentUntil) {
    const what = heard === at ? 'no telemetry since install' : 'telemetry stopped';
    const back = d.confirmedAt ? '' : `, never came back on the new version`;
    return { fail: `health gate: ${what} for ${Math.round((now - heard) / 1000)} s (expected every ${p.reportEverySec} s)${back}`, at: silentUntil };
  }
  // Passed by telemetry at or after the soak's end, back on the new version: a device that
  // went quiet part-way through has not shown it survived the soak.
  const soakEnd = at + p.soakSec * 1000;
  if (d.confirmedAt && heard > at && heard >= soakEnd) return { ok: true, at: Math.max(soakEnd, d.confirmedAt, heard) };
  return undefined;
}

/** A device due to start that reports a newer version (no downgrade without allowDowngrade) or the target already. */
export function startBlocked(d: DeviceRollout, target: string, p: CampaignPolicy): string | undefined {
  if (!d.version) return undefined;
  if (d.version === target) return `already runs ${target}`;
  if (!p.allowDowngrade && compareSemver(d.version, target) > 0) return `runs ${d.version}, newer than ${target} (allowDowngrade not set)`;
  return undefined;
}
