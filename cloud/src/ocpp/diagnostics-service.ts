import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../care/contracts.js';
import { CloudError, CloudErrorCode, HttpError } from '../errors.js';
import { DeviceStatus, type DeviceRepository } from '../repositories/device-repository.js';
import type { DiagnosticsRecord, DiagnosticsStore, NewDiagnostics } from './diagnostics-store.js';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

/** Who reads diagnostics through the API and why, as the audit log names them. */
export interface DiagnosticsReader {
  actor: string;
  purpose: string;
}

export interface DiagnosticsStats {
  received: number;
  duplicates: number;
  refusedUnknownDevice: number;
  refusedNotCharger: number;
  refusedDisabled: number;
  refusedTooLarge: number;
  refusedChecksum: number;
  pruned: number;
}

/**
 * Diagnostics files handed over by the OCPP gateways (docs/ocpp.md §4.2): only for
 * registered, enabled ev-chargers, at most `maxBytes`, the gateway's sha256 checked against the
 * bytes, stored once per (device, command, sha256); pruned after `retentionDays` (0 = kept).
 * Pruning on every cloud is safe: it is one DELETE by age.
 * Every listing and download through the API is audited here, not in the routes, so no
 * caller and no store (SQLite or PostgreSQL) can read a charger's files unaudited.
 */
export class DiagnosticsService {
  readonly stats: DiagnosticsStats = { received: 0, duplicates: 0, refusedUnknownDevice: 0, refusedNotCharger: 0, refusedDisabled: 0, refusedTooLarge: 0, refusedChecksum: 0, pruned: 0 };
  readonly maxBytes: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { store: DiagnosticsStore; devices: DeviceRepository; audit: AuditLog; logger: Logger; maxBytes: number; retentionDays: number; now?: () => number }) {
    this.maxBytes = o.maxBytes;
  }

  #now(): number {
    return (this.o.now ?? Date.now)();
  }

  async receive(meta: Omit<NewDiagnostics, 'sha256'> & { sha256: string }, body: Buffer): Promise<{ record: DiagnosticsRecord; created: boolean }> {
    const device = await this.o.devices.get(meta.deviceId);
    if (!device) {
      this.stats.refusedUnknownDevice++;
      throw new HttpError(404, CloudErrorCode.NotFound, `device "${meta.deviceId}" is not registered`);
    }
    // least privilege: the gateway token hands over files of chargers only
    if (device.kind !== 'ev-charger') {
      this.stats.refusedNotCharger++;
      throw new HttpError(403, CloudErrorCode.Forbidden, `device "${meta.deviceId}" is not an ev-charger`);
    }
    // Disabled after the upload (the gateway held the file): the cloud takes nothing from a
    // disabled device. 403 keeps it a final answer for every gateway version; the code tells
    // this one to offer the file again once the charger is back (diagnostics-handover.ts).
    if (device.status === DeviceStatus.Disabled) {
      this.stats.refusedDisabled++;
      throw new HttpError(403, CloudErrorCode.DeviceDisabled, `device "${meta.deviceId}" is disabled; its diagnostics are not accepted while it is`);
    }
    if (body.length > this.o.maxBytes) {
      this.stats.refusedTooLarge++;
      throw new HttpError(413, CloudErrorCode.Validation, `diagnostics larger than ${this.o.maxBytes} bytes`);
    }
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (sha256 !== meta.sha256.toLowerCase()) {
      this.stats.refusedChecksum++;
      throw new HttpError(400, CloudErrorCode.Validation, 'sha256 does not match the body (damaged in transit?)');
    }
    const r = await this.o.store.put({ ...meta, sha256 }, body, this.#now());
    if (r.created) {
      this.stats.received++;
      this.o.logger.info({ deviceId: meta.deviceId, id: r.record.id, bytes: body.length, commandId: meta.commandId }, 'diagnostics received');
    } else {
      this.stats.duplicates++;
    }
    return r;
  }

  /** A registered device's files, newest first; audited (`device.diagnostics.list`). */
  async list(deviceId: string, limit: number, by: DiagnosticsReader): Promise<DiagnosticsRecord[]> {
    if (!(await this.o.devices.get(deviceId))) throw new CloudError(CloudErrorCode.NotFound, `device "${deviceId}" is not registered`);
    const items = await this.o.store.list(deviceId, limit);
    // before the list leaves: a read that cannot be logged does not happen (as for residents' data)
    await this.o.audit.record({ actor: by.actor, action: 'device.diagnostics.list', residentId: null, purpose: by.purpose,
      detail: `${deviceId} (${items.length} listed)` });
    return items;
  }

  /** The record only (the route's ETag check): no bytes leave, so not audited. */
  get(deviceId: string, id: string): Promise<DiagnosticsRecord | undefined> {
    return this.o.store.get(deviceId, id);
  }

  /** One file's record and bytes; audited (`device.diagnostics.download`). */
  async download(deviceId: string, id: string, by: DiagnosticsReader): Promise<{ record: DiagnosticsRecord; body: Buffer }> {
    const record = await this.o.store.get(deviceId, id);
    if (!record) throw new CloudError(CloudErrorCode.NotFound, `no diagnostics file "${id}" for device "${deviceId}"`);
    const body = await this.o.store.body(deviceId, id);
    if (!body) throw new CloudError(CloudErrorCode.NotFound, `diagnostics file "${id}" is gone (pruned)`);
    await this.o.audit.record({ actor: by.actor, action: 'device.diagnostics.download', residentId: null, purpose: by.purpose,
      detail: `${deviceId} ${record.fileName} (${record.id}, ${record.bytes} bytes)` });
    this.o.logger.info({ actor: by.actor, deviceId, fileId: id, bytes: record.bytes }, 'diagnostics downloaded');
    return { record, body };
  }

  async prune(): Promise<number> {
    if (this.o.retentionDays <= 0) return 0;
    const n = await this.o.store.prune(this.#now() - this.o.retentionDays * DAY_MS);
    this.stats.pruned += n;
    if (n > 0) this.o.logger.info({ pruned: n, retentionDays: this.o.retentionDays }, 'diagnostics pruned');
    return n;
  }

  /** prunes now and hourly */
  start(): void {
    const run = (): void => void this.prune().catch((err: unknown) => this.o.logger.warn({ err }, 'pruning diagnostics failed; next hour again'));
    run();
    this.#timer = setInterval(run, PRUNE_EVERY_MS);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.o.store.close();
  }
}
