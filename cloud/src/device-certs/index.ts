import type { Logger } from 'pino';
import { ControlTopic } from '@yulan/protos';
import { DeviceCa } from './ca.js';
import type { DbTarget } from '../db/target.js';
import { PgDeviceCertStore } from './pg-device-cert-store.js';
import { SqliteDeviceCertStore, type DeviceCertStore } from './store.js';

export { deviceCertRoutes, deviceCertAuthRoute } from './routes.js';
import { DEFAULT_ROTATION_GRACE_MS } from './rotation.js';
export { DeviceCa } from './ca.js';
export { SqliteDeviceCertStore, type DeviceCertStore } from './store.js';
export { PgDeviceCertStore } from './pg-device-cert-store.js';

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
  close(): Promise<void>;
}

/** The certificate store on `target`: `<dataDir>/device-certs.sqlite` or the `device_certs` schema in PostgreSQL. */
export function openDeviceCertStore(target: DbTarget): Promise<DeviceCertStore> {
  return target.kind === 'sqlite' ? Promise.resolve(new SqliteDeviceCertStore(target.file)) : PgDeviceCertStore.open(target.db);
}

/** Device certificates (mutual TLS): their store on `db` and the device CA files. */
export async function openDeviceCerts(o: {
  db: DbTarget; caCertFile: string; caKeyFile: string; defaultDays?: number; rotationGraceMs?: number;
  mqtt: { publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1 }): Promise<void>; onConnect?(handler: () => void): void };
  logger: Logger;
}): Promise<DeviceCertsModule> {
  const ca = new DeviceCa(o.caCertFile, o.caKeyFile);
  const store = await openDeviceCertStore(o.db);
  const publish = (topic: string, payload: string): Promise<void> => o.mqtt.publish(topic, Buffer.from(payload, 'utf8'), { qos: 1 });
  // The broker keeps revocations in memory: a restarted broker (or one that missed a push)
  // gets the whole list again; its cloud check refuses revoked certificates meanwhile.
  o.mqtt.onConnect?.(() => {
    store.revokedFingerprints().then((fps) => {
      for (const fp of fps) {
        publish(ControlTopic.RevokeCert, fp).catch((err: unknown) => o.logger.warn({ err, fingerprint: fp }, 'cannot re-send a certificate revocation'));
      }
    }, (err: unknown) => o.logger.error({ err }, 'cannot list revoked certificates to re-send'));
  });
  // A grace that ended is enforced by the registry at once (store.active); the sweep records
  // it and has the broker cut a session still holding such a certificate.
  const sweep = async (now = new Date()): Promise<string[]> => {
    const retired = await store.retireDue(now);
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
    close: async () => { clearInterval(timer); await store.close(); },
  };
}
