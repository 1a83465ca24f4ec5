import type { Logger } from 'pino';
import { ControlTopic } from '@yulan/protos';
import { DeviceCa } from './ca.js';
import { DeviceCertStore } from './store.js';

export { deviceCertRoutes, deviceCertAuthRoute } from './routes.js';
import { DEFAULT_ROTATION_GRACE_MS } from './rotation.js';
export { DeviceCa } from './ca.js';
export { DeviceCertStore } from './store.js';

export interface DeviceCertsModule {
  ca: DeviceCa;
  store: DeviceCertStore;
  defaultDays: number;
  /** How long a rotated certificate stays valid when its successor is never used. */
  rotationGraceMs: number;
  /** QoS 1 publish on the cloud's MQTT link; rejects when not acknowledged. */
  publish(topic: string, payload: string): Promise<void>;
  /** Retires rotated certificates whose grace ended and tells the broker (hourly; tests call it). */
  sweep(now?: Date): Promise<string[]>;
  close(): void;
}

/** Device certificates (mutual TLS): `<data>/device-certs.sqlite` and the device CA files. */
export function openDeviceCerts(o: {
  file: string; caCertFile: string; caKeyFile: string; defaultDays?: number; rotationGraceMs?: number;
  mqtt: { publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1 }): Promise<void>; onConnect?(handler: () => void): void };
  logger: Logger;
}): DeviceCertsModule {
  const ca = new DeviceCa(o.caCertFile, o.caKeyFile);
  const store = new DeviceCertStore(o.file);
  const publish = (topic: string, payload: string): Promise<void> => o.mqtt.publish(topic, Buffer.from(payload, 'utf8'), { qos: 1 });
  // The broker keeps revocations in memory: a restarted broker (or one that missed a push)
  // gets the whole list again; its cloud check refuses revoked certificates meanwhile.
  o.mqtt.onConnect?.(() => {
    for (const fp of store.revokedFingerprints()) {
      publish(ControlTopic.RevokeCert, fp).catch((err: unknown) => o.logger.warn({ err, fingerprint: fp }, 'cannot re-send a certificate revocation'));
    }
  });
  // A grace that ended is enforced by the registry at once (store.active); the sweep records
  // it and has the broker cut a session still holding such a certificate.
  const sweep = async (now = new Date()): Promise<string[]> => {
    const retired = store.retireDue(now);
    for (const fp of retired) {
      await publish(ControlTopic.RevokeCert, fp).catch((err: unknown) => o.logger.warn({ err, fingerprint: fp }, 'retired certificate not acknowledged by the broker'));
    }
    if (retired.length > 0) o.logger.info({ fingerprints: retired }, 'rotated device certificates retired: their grace ended');
    return retired;
  };
  const timer = setInterval(() => void sweep().catch((err: unknown) => o.logger.error({ err }, 'certificate retirement sweep failed')), 3_600_000);
  timer.unref();
  return {
    ca, store, defaultDays: o.defaultDays ?? 397, rotationGraceMs: o.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS, publish, sweep,
    close: () => { clearInterval(timer); store.close(); },
  };
}
