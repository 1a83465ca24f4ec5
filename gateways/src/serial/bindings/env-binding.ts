import type { Logger } from 'pino';
import { CommandStatus, Severity, type Command, type TwinDesired } from '@yulan/protos';
import type { DeviceSession } from '../device-session.js';
import { PmDriver, type PmSample } from '../drivers/pm-driver.js';
import type { SerialDeviceConfig } from '../config.js';
import type { Binding } from './binding.js';

/**
 * PMS5003 / SDS011 → env-monitor. The module measures particulates only: temperature,
 * humidity and noise are sent as NaN, which the platform's field flattening leaves out, so
 * no invented value is ever stored. `env.sleep` / `env.wake` drive the module's sleep, and
 * the twin's report_interval_s sets the sampling period (and with it the duty cycle).
 */
export function envBinding(d: SerialDeviceConfig, session: DeviceSession, log: Logger, backoff: { minBackoffMs?: number; maxBackoffMs?: number }): Binding {
  let intervalS = d.intervalS ?? 60;
  const driver = new PmDriver({
    sensor: d.sensor === 'sds011' ? 'sds011' : 'pms5003', port: d.port, mode: d.mode ?? 'passive',
    intervalMs: intervalS * 1000, dutyCycle: d.dutyCycle ?? true, settleMs: (d.settleS ?? 30) * 1000, backoff,
  }, {
    online: (up) => session.setSerialUp(up),
    sample: (s: PmSample) => session.telemetry({
      envMonitor: { pm1Ugm3: s.pm1 ?? Number.NaN, pm25Ugm3: s.pm25, pm10Ugm3: s.pm10, temperatureC: Number.NaN, humidityPct: Number.NaN, noiseDba: Number.NaN },
    }, s.tsMs),
    // The envelope's firmware is the gateway's; the module's own goes out as an event (and in /metrics).
    firmware: (version, moduleId) => session.event('sensor.module_firmware', Severity.INFO, `${d.sensor} firmware ${version}`, { sensor: d.sensor, firmware: version, module_id: moduleId }),
  }, log);

  return {
    start: () => driver.start(),
    close: () => driver.close(),
    status: () => driver.status(),
    command(cmd: Command) {
      const done = (ok: boolean, msg: string) => session.result(cmd.commandId, ok ? CommandStatus.SUCCEEDED : CommandStatus.FAILED, msg);
      switch (cmd.name) {
        case 'env.sleep':
        case 'env.wake': {
          session.result(cmd.commandId, CommandStatus.ACCEPTED, 'sending to the sensor');
          const ok = driver.hold(cmd.name === 'env.sleep');
          done(ok, ok ? (cmd.name === 'env.sleep' ? 'sensor asleep' : 'sensor awake') : 'serial port is down');
          return;
        }
        case 'env.set_interval': {
          const s = Number(cmd.args.interval_s);
          if (!Number.isInteger(s) || s < 1 || s > 86_400) { session.result(cmd.commandId, CommandStatus.REJECTED, 'interval_s must be 1..86400'); return; }
          session.result(cmd.commandId, CommandStatus.ACCEPTED, 'applying');
          intervalS = s;
          driver.setInterval(s * 1000);
          done(true, `reporting every ${s} s`);
          return;
        }
        default:
          session.result(cmd.commandId, CommandStatus.REJECTED, `unsupported command "${cmd.name}" for a serial ${d.sensor}`);
      }
    },
    twin(t: TwinDesired) {
      const want = t.settings?.envMonitor;
      const errors: string[] = [];
      if (want?.reportIntervalS !== undefined) {
        if (want.reportIntervalS >= 1 && want.reportIntervalS <= 86_400) { intervalS = want.reportIntervalS; driver.setInterval(intervalS * 1000); }
        else errors.push(`report_interval_s ${want.reportIntervalS} out of 1..86400`);
      }
      // Alert thresholds and noise zones are the edge's business, not the sensor's.
      if (want?.pm25AlertUgm3 !== undefined || want?.noiseAlertDba !== undefined || want?.noiseZoneClass !== undefined) {
        errors.push('pm25_alert_ugm3 / noise_alert_dba / noise_zone_class are not settings of a serial particulate sensor');
      }
      session.twinReported(t.version, { envMonitor: { reportIntervalS: intervalS } }, errors.join('; '));
    },
  };
}
