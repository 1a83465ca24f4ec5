import type { Logger } from 'pino';
import { CommandStatus, Severity, type Command, type TwinDesired } from '@yulan/protos';
import type { DeviceSession } from '../device-session.js';
import { LockBoardDriver, LockError } from '../drivers/lock-board-driver.js';
import type { SerialDeviceConfig } from '../config.js';
import type { Binding } from './binding.js';

/**
 * Lock board → parcel-locker. The board knows door sensors only: occupancy, size and latch
 * state are not on its wire, so compartments carry door_open alone. `locker.open` is
 * ACCEPTED when sent, SUCCEEDED only once the door sensor reports the door open (the
 * telemetry that shows it goes out first, so the cloud's confirmation sees it), FAILED with
 * the board's reason otherwise.
 */
export function lockerBinding(d: SerialDeviceConfig, session: DeviceSession, log: Logger, backoff: { minBackoffMs?: number; maxBackoffMs?: number }): Binding {
  const n = d.doors ?? 1;
  const publish = (doors: (boolean | undefined)[]) => session.telemetry({
    parcelLocker: {
      compartments: doors.map((open, i) => ({ index: i + 1, doorOpen: open === true, occupied: false, size: '', locked: open !== true })),
      tamper: false, mainsPower: true, supplyVoltageV: Number.NaN,
    },
  });
  const driver: LockBoardDriver = new LockBoardDriver({ port: d.port, address: d.address ?? 1, channels: n, backoff }, {
    online: (up) => session.setSerialUp(up),
    doors: (doors, changed) => {
      if (!changed) return;
      publish(doors);
    },
  }, log);
  const periodic = setInterval(() => { if (driver.online && driver.doors.every((x) => x !== undefined)) publish(driver.doors); }, (d.intervalS ?? 60) * 1000);

  return {
    start: () => driver.start(),
    close: async () => { clearInterval(periodic); await driver.close(); },
    status: () => driver.status(),
    command(cmd: Command) {
      if (cmd.name !== 'locker.open') {
        session.result(cmd.commandId, CommandStatus.REJECTED, `unsupported command "${cmd.name}" for a serial lock board (it drives latches and reads door sensors only)`);
        return;
      }
      const ch = Number(cmd.args.compartment);
      if (!Number.isInteger(ch) || ch < 1 || ch > n) {
        session.result(cmd.commandId, CommandStatus.REJECTED, `compartment must be 1..${n}`);
        return;
      }
      session.result(cmd.commandId, CommandStatus.ACCEPTED, `opening compartment ${ch}`);
      driver.open(ch).then(
        () => session.result(cmd.commandId, CommandStatus.SUCCEEDED, `door ${ch} open (door sensor)`),
        (err: unknown) => {
          const e = err instanceof LockError ? err : new LockError('E_LOCK_NO_REPLY', String(err));
          log.warn({ deviceId: d.id, compartment: ch, code: e.code }, e.message);
          session.result(cmd.commandId, CommandStatus.FAILED, e.message, { code: e.code });
          if (e.code === 'E_LOCK_REFUSED') session.event('locker.latch_fault', Severity.WARNING, e.message, { compartment: String(ch) });
        },
      );
    },
    twin(t: TwinDesired) {
      const want = t.settings?.parcelLocker;
      const errors = want?.tempMinC !== undefined || want?.tempMaxC !== undefined ? ['temperature band: this lock board has no cabinet thermometer'] : [];
      session.twinReported(t.version, { parcelLocker: {} }, errors.join('; '));
    },
  };
}
