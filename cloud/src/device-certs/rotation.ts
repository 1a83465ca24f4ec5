import type { FastifyBaseLogger } from 'fastify';
import { ControlTopic } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { IssuedCert } from './ca.js';
import type { DeviceCertsModule } from './index.js';

const HOUR_MS = 3_600_000;

export interface Rotated extends IssuedCert {
  /** The certificates the new one replaces (usable until it is first used, or retireAt). */
  replaces: string[];
  retireAt: string;
}

/**
 * Certificate rotation before expiry without downtime (docs/certificates.md): a new
 * certificate for a new key, while `from` stay valid — the device keeps its session and
 * switches when it likes. The first login with the new one retires them (retireOnFirstUse);
 * after the grace they are refused anyway.
 */
export async function rotateCert(certs: DeviceCertsModule, o: {
  deviceId: string; csr: string; from: readonly string[]; days?: number; graceMs?: number; log: FastifyBaseLogger; now?: Date;
}): Promise<Rotated> {
  if (o.from.length === 0) throw new CloudError(CloudErrorCode.Conflict, `device "${o.deviceId}" has no valid certificate to rotate: issue one instead`);
  const now = o.now ?? new Date();
  const issued = await certs.ca.issue(o.deviceId, o.csr, o.days ?? certs.defaultDays, now);
  const retireAt = new Date(now.getTime() + (o.graceMs ?? certs.rotationGraceMs)).toISOString();
  const dropped = await certs.store.addSuccessor({ fingerprint: issued.fingerprint, deviceId: o.deviceId, serial: issued.serial, notAfter: issued.notAfter, issuedAt: now.toISOString() }, o.from, retireAt);
  o.log.info({ deviceId: o.deviceId, serial: issued.serial, replaces: o.from, retireAt, droppedUnused: dropped }, 'device certificate rotated');
  // Never used, so no session holds them; the push only spares the broker a cloud lookup.
  for (const fp of dropped) void push(certs, fp, o.log);
  return { ...issued, replaces: [...o.from], retireAt };
}

/** A login by certificate succeeded: the first one with a rotated certificate retires its
 * predecessors, and the broker is told (a session still holding one is cut). */
export async function retireOnFirstUse(certs: DeviceCertsModule, deviceId: string, fingerprint: string, log: FastifyBaseLogger): Promise<void> {
  const retired = await certs.store.markUsed(fingerprint);
  if (retired.length === 0) return;
  log.info({ deviceId, fingerprint, retired }, 'rotated device certificate first used: its predecessors are retired');
  for (const fp of retired) void push(certs, fp, log);
}

async function push(certs: DeviceCertsModule, fingerprint: string, log: FastifyBaseLogger): Promise<void> {
  try {
    await certs.publish(ControlTopic.RevokeCert, fingerprint);
  } catch (err) {
    // The registry refuses it already; the list is sent again on the link's next connect.
    log.warn({ err, fingerprint }, 'retired certificate not acknowledged by the broker');
  }
}

export const DEFAULT_ROTATION_GRACE_MS = 7 * 24 * HOUR_MS;
