import { ConnectorStatus, type Event, type Presence, type Telemetry } from '@yulan/protos';

/**
 * Confirmation by observation (docs/control.md §1 table). PURE: no I/O, no clock; the
 * caller feeds each decoded telemetry / event / presence of the device after the device
 * acknowledged the command, and persists `progress` between calls.
 */
export type Observation =
  | { type: 'telemetry'; msg: Telemetry }
  | { type: 'event'; msg: Event }
  | { type: 'presence'; msg: Presence };

export interface AwaitingCommand {
  name: string;
  args: Readonly<Record<string, string>>;
  /** cloud clock (ms) when the device acknowledged */
  ackedAt: number;
  /** header of the acknowledging cmd-result, when it had one */
  ackSeq?: number;
  ackDeviceTs?: number;
}

/** Small state some checks carry between observations (stored as JSON). */
export interface Progress {
  /** device ts of the last telemetry seen after the ack */
  lastTs?: number;
  /** telemetry messages seen after the ack */
  seen?: number;
}

export type Verdict =
  | { outcome: 'confirmed' }
  | { outcome: 'failed'; reason: string }
  | { outcome: 'pending'; progress: Progress };

/** `observe`: the effect shows up in a message. `silence`: confirmed when the device
 * stays quiet until the deadline (env.sleep). */
export function confirmationMode(name: string): 'observe' | 'silence' | 'answer' {
  if (ANSWER_IS_EFFECT.has(name)) return 'answer';
  return name === 'env.sleep' ? 'silence' : 'observe';
}

/** `answer`: commands whose whole effect is the device's own answer (OCPP configuration
 * read/write, connector unlock, reservations, cache — nothing in telemetry changes), so a SUCCEEDED result from
 * the device is the evidence (docs/ocpp.md). */
const ANSWER_IS_EFFECT = new Set([
  'charger.get_configuration', 'charger.change_configuration', 'charger.unlock_connector', 'charger.set_site_limit', 'charger.clear_site_limit',
  // a reservation lives in the charger (a connector-0 one shows on no connector), and a
  // cleared cache shows nowhere: the charger's Accepted is the effect
  'charger.reserve_now', 'charger.cancel_reservation', 'charger.clear_cache',
]);

const confirmed: Verdict = { outcome: 'confirmed' };
const num = (v: string | undefined): number => Number(v);

/** Did the device come back after the ack? Presence online newer than the ack, or a
 * telemetry whose counter restarted (lower than at the ack, or re-seeded from the clock
 * after the ack, as devices without storage do — docs/architecture.md "Sequence numbers"). */
function rebooted(cmd: AwaitingCommand, obs: Observation): boolean {
  if (obs.type === 'presence') return obs.msg.online && obs.msg.reason !== 'will' && obs.msg.tsMs > cmd.ackedAt;
  if (obs.type !== 'telemetry' || !obs.msg.header) return false;
  const seq = obs.msg.header.seq;
  if (cmd.ackSeq !== undefined && seq < cmd.ackSeq) return true;
  const bootFloor = cmd.ackDeviceTs ?? cmd.ackedAt;
  return cmd.ackSeq !== undefined && cmd.ackSeq < bootFloor && seq >= bootFloor;
}

export function observe(cmd: AwaitingCommand, progress: Progress, obs: Observation): Verdict {
  const pending: Verdict = { outcome: 'pending', progress };
  const a = cmd.args;
  switch (cmd.name) {
    case 'reboot':
    case 'charger.reset':
      return rebooted(cmd, obs) ? confirmed : pending;
    case 'firmware.update': {
      if (obs.type === 'event' && (obs.msg.type === 'firmware.failed' || obs.msg.type === 'firmware.rolled_back')) {
        return { outcome: 'failed', reason: `${obs.msg.type}: ${obs.msg.attributes.reason ?? obs.msg.message}` };
      }
      const fw = obs.type === 'presence' ? (obs.msg.online ? obs.msg.firmwareVersion : '')
        : obs.type === 'telemetry' ? obs.msg.header?.firmwareVersion : obs.msg.header?.firmwareVersion;
      return fw === a.version ? confirmed : pending;
    }
    case 'charger.trigger_message':
      // The triggered message itself: any report of the device after the ack.
      return obs.type !== 'presence' || obs.msg.online ? confirmed : pending;
    case 'charger.get_diagnostics':
      // The gateway's receipt of the file, not the charger's own "Uploaded" (docs/ocpp.md).
      if (obs.type === 'event' && obs.msg.type === 'diagnostics.upload_failed') return { outcome: 'failed', reason: 'the charger reports UploadFailed' };
      return obs.type === 'event' && obs.msg.type === 'diagnostics.uploaded' ? confirmed : pending;
    case 'fall.test_alarm':
      return obs.type === 'event' && obs.msg.type === 'test.alarm' ? confirmed : pending;
    case 'env.wake':
      return obs.type === 'telemetry' && obs.msg.envMonitor ? confirmed : pending;
    case 'env.sleep':
      // Confirmed at the deadline by silence; count readings so `atDeadline` can tell.
      return obs.type === 'telemetry' ? { outcome: 'pending', progress: { ...progress, seen: (progress.seen ?? 0) + 1 } } : pending;
    case 'env.set_interval': {
      if (obs.type !== 'telemetry' || !obs.msg.envMonitor || !obs.msg.header) return pending;
      const ts = obs.msg.header.tsMs;
      const want = num(a.interval_s) * 1000;
      // Two readings after the ack whose device-clock gap is the new interval (±20 %, ≥ 1 s slack).
      if (progress.lastTs !== undefined && Math.abs(ts - progress.lastTs - want) <= Math.max(1000, want * 0.2)) return confirmed;
      return { outcome: 'pending', progress: { ...progress, lastTs: ts } };
    }
  }
  if (obs.type !== 'telemetry') return pending;
  const ch = obs.msg.evCharger;
  if (cmd.name.startsWith('charger.')) {
    if (!ch) return pending;
    if (a.connector_id !== undefined && ch.connectorId !== 0 && ch.connectorId !== num(a.connector_id)) return pending;
    switch (cmd.name) {
      case 'charger.start_session':
        return ch.status === ConnectorStatus.CHARGING && ch.currentA > 0 ? confirmed : pending;
      case 'charger.stop_session':
        return ch.currentA === 0 ? confirmed : pending;
      case 'charger.set_current_limit':
        return ch.currentA <= num(a.limit_a) + 1e-6 ? confirmed : pending;
      case 'charger.change_availability':
        return ch.status === (a.available === 'true' ? ConnectorStatus.AVAILABLE : ConnectorStatus.UNAVAILABLE) ? confirmed : pending;
    }
    return pending;
  }
  const lock = obs.msg.parcelLocker;
  if (cmd.name.startsWith('locker.') && lock) {
    const c = lock.compartments.find((x) => x.index === num(a.compartment));
    if (!c) return pending;
    switch (cmd.name) {
      case 'locker.open': return c.doorOpen ? confirmed : pending;
      case 'locker.lock': return c.locked ? confirmed : pending;
      case 'locker.unlock': return !c.locked ? confirmed : pending;
      case 'locker.clear': return !c.occupied ? confirmed : pending;
    }
  }
  return pending;
}

/** Decision when an acknowledged command reaches its deadline without confirmation. */
export function atDeadline(cmd: AwaitingCommand, progress: Progress): Verdict {
  if (confirmationMode(cmd.name) === 'silence' && (progress.seen ?? 0) === 0) return confirmed;
  return { outcome: 'failed', reason: 'no effect' };
}
