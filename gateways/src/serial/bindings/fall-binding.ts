import type { Logger } from 'pino';
import { CareEvent, CommandStatus, FallSource, Motion, Severity, type Command, type TwinDesired } from '@yulan/protos';
import type { DeviceSession } from '../device-session.js';
import { RadarDriver, type RadarState } from '../drivers/radar-driver.js';
import type { SerialDeviceConfig } from '../config.js';
import type { Binding } from './binding.js';

const MOTION = { none: Motion.NONE, still: Motion.STILL, moving: Motion.MOVING } as const;

/**
 * MR60FDA1 → fall-sensor. The radar's fall flag is stage 1 (an unconfirmed fall, events
 * `fall.detected` with source radar) and its stationary-dwell alarm while fallen is stage 2
 * (`fall.long_lie`, which the edge pages humans for): the two-stage practice of
 * serial-sensors.md and docs/care.md. The fall flag clearing without a dwell is
 * `fall.cleared`. Telemetry goes out on every change and once per interval.
 */
export function fallBinding(d: SerialDeviceConfig, session: DeviceSession, log: Logger, backoff: { minBackoffMs?: number; maxBackoffMs?: number }): Binding {
  let sensitivity = d.sensitivity;
  let fall: { id: string; atMs: number; confirmed: boolean } | undefined;
  let counter = 0;
  const reading = (s: RadarState) => ({
    fallSensor: {
      presence: s.present, motion: MOTION[s.motion], fall: s.fall, longLie: s.dwell && s.fall,
      sos: false, batteryPct: Number.NaN, // mains powered: no battery to report
      ...(s.movement !== undefined && { movementLevel: s.movement }),
      ...(s.heartRate !== undefined && { heartRateBpm: s.heartRate }),
      ...(s.breathingRate !== undefined && { breathingRateBpm: s.breathingRate }),
    },
  });
  const driver: RadarDriver = new RadarDriver({ port: d.port, backoff, ...(d.silenceS !== undefined && { silenceMs: d.silenceS * 1000 }) }, {
    online: (up, reason) => {
      session.setSerialUp(up, reason);
      if (up && sensitivity !== undefined) void driver.setSensitivity(sensitivity);
    },
    report: (s, changed, r) => {
      const now = Date.now();
      if (r.type === 'fall' && r.fall && !fall) {
        fall = { id: `radar-${now}-${++counter}`, atMs: now, confirmed: false };
        session.event(CareEvent.FallDetected, Severity.WARNING, 'radar fall; awaiting long-lie confirmation', { fall_id: fall.id, source: FallSource.Radar, at_ms: String(now) }, now);
      } else if (r.type === 'dwell' && r.dwelling && fall && !fall.confirmed) {
        fall.confirmed = true;
        session.event(CareEvent.LongLie, Severity.CRITICAL, 'radar: still on the floor (stationary dwell after a fall)', { fall_id: fall.id, source: FallSource.Radar, lying_ms: String(now - fall.atMs) }, now);
      } else if (r.type === 'fall' && !r.fall && fall) {
        if (!fall.confirmed) session.event(CareEvent.FallCleared, Severity.INFO, 'radar: fall flag cleared before a long lie', { fall_id: fall.id, lying_ms: String(now - fall.atMs) }, now);
        fall = undefined;
      }
      if (changed) session.telemetry(reading(s), now);
    },
  }, log);
  const periodic = setInterval(() => { if (driver.online) session.telemetry(reading(driver.state)); }, (d.intervalS ?? 10) * 1000);

  return {
    start: () => driver.start(),
    close: async () => { clearInterval(periodic); await driver.close(); },
    status: () => driver.status(),
    command(cmd: Command) {
      if (cmd.name === 'reboot') {
        const ok = driver.reset();
        session.result(cmd.commandId, ok ? CommandStatus.SUCCEEDED : CommandStatus.FAILED, ok ? 'radar module reset sent' : 'serial port is down');
        return;
      }
      session.result(cmd.commandId, CommandStatus.REJECTED, `unsupported command "${cmd.name}" for a serial MR60FDA1 radar`);
    },
    twin(t: TwinDesired) {
      const want = t.settings?.fallSensor;
      const errors: string[] = [];
      if (want?.cancelWindowS !== undefined) errors.push('cancel_window_s: the radar has no cancel button');
      const report = () => session.twinReported(t.version, { fallSensor: { ...(sensitivity !== undefined && { sensitivity }) } }, errors.join('; '));
      if (want?.sensitivity === undefined) { report(); return; }
      if (want.sensitivity < 1 || want.sensitivity > 10) { errors.push(`sensitivity ${want.sensitivity} out of 1..10`); report(); return; }
      const asked = want.sensitivity;
      void driver.setSensitivity(asked).then((v) => {
        // Reported as applied only when the module echoes the value (it answers every set).
        if (v === undefined) errors.push('radar did not confirm the sensitivity (port down or no answer); will re-apply on reconnect');
        sensitivity = asked;
        report();
      });
    },
  };
}
