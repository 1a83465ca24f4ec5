import type { Logger } from 'pino';
import { kindFromSlug } from '@yulan/protos';
import { DeviceSession } from './device-session.js';
import { CommandGate, type Binding } from './bindings/binding.js';
import { envBinding } from './bindings/env-binding.js';
import { fallBinding } from './bindings/fall-binding.js';
import { lockerBinding } from './bindings/locker-binding.js';
import type { DriverStatus } from './drivers/driver.js';
import type { SerialGatewayConfig } from './config.js';

export interface SerialGatewayHandle {
  status(): Record<string, DriverStatus & { mqtt: boolean; path: string; sensor: string }>;
  close(): Promise<void>;
}

export const GATEWAY_FIRMWARE = 'serial-gw-0.1.0';

/**
 * Runs every configured serial device as a Yulan device: one driver on its port, one MQTT
 * session under its own credential. Devices are independent: one port failing never
 * touches another's session.
 */
export function startSerialGateway(config: SerialGatewayConfig, secrets: Map<string, string>, logger: Logger): SerialGatewayHandle {
  const log = logger.child({ component: 'serial-gateway' });
  const backoff = { ...(config.minBackoffMs !== undefined && { minBackoffMs: config.minBackoffMs }), ...(config.maxBackoffMs !== undefined && { maxBackoffMs: config.maxBackoffMs }) };
  const devices: { id: string; path: string; sensor: string; session: DeviceSession; binding: Binding }[] = [];
  for (const d of config.devices) {
    const kind = kindFromSlug(d.kind);
    const secret = secrets.get(d.id);
    if (kind === undefined || secret === undefined) throw new Error(`device ${d.id}: no kind or secret (config not validated?)`);
    let binding!: Binding;
    let session!: DeviceSession;
    const gate = new CommandGate(() => session, () => binding);
    session = new DeviceSession({
      mqttUrl: config.mqttUrl, site: d.site, kind, deviceId: d.id, secret, firmwareVersion: GATEWAY_FIRMWARE,
      onCommand: (c) => gate.command(c), onTwin: (t) => gate.twin(t),
    }, log);
    const dlog = log.child({ deviceId: d.id, port: d.port, sensor: d.sensor });
    binding = d.kind === 'env-monitor' ? envBinding(d, session, dlog, backoff)
      : d.kind === 'fall-sensor' ? fallBinding(d, session, dlog, backoff)
        : lockerBinding(d, session, dlog, backoff);
    binding.start();
    devices.push({ id: d.id, path: d.port, sensor: d.sensor, session, binding });
  }
  log.info({ devices: devices.length }, 'serial gateway started');
  // What each line dropped, in the log once a minute when it changed: a flaky cable shows
  // as rising checksum or garbage counts long before readings stop.
  const lastErrors = new Map<string, string>();
  const report = setInterval(() => {
    for (const x of devices) {
      const s = x.binding.status();
      const errs = `${s.frames.checksumErrors}/${s.frames.lengthErrors}/${s.frames.garbageBytes}/${s.port.disconnects}/${s.timeouts}`;
      if (lastErrors.get(x.id) === errs) continue;
      lastErrors.set(x.id, errs);
      log.info({ deviceId: x.id, online: s.online, ...s.frames, disconnects: s.port.disconnects, timeouts: s.timeouts }, 'serial line counters');
    }
  }, 60_000);
  report.unref();
  return {
    status: () => Object.fromEntries(devices.map((x) => [x.id, { ...x.binding.status(), mqtt: x.session.connected, path: x.path, sensor: x.sensor }])),
    async close() {
      clearInterval(report);
      await Promise.all(devices.map(async (x) => { await x.binding.close(); await x.session.close(); }));
    },
  };
}
