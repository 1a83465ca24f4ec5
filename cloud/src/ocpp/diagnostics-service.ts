import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { CloudErrorCode, HttpError } from '../errors.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { DiagnosticsRecord, DiagnosticsStore, NewDiagnostics } from './diagnostics-store.js';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export interface DiagnosticsStats {
  received: number;
  duplicates: number;
  refusedUnknownDevice: number;
  refusedNotCharger: number;
  refusedTooLarge: number;
  refusedChecksum: number;
  pruned: number;
}

/**
 * Diagnostics files handed over by the OCPP gateways (docs/ocpp.md §4.2): only for
 * registered ev-chargers, at most `maxBytes`, the gateway's sha256 checked against the
 * bytes, stored once per (device, command, sha256); pruned after `retentionDays` (0 = kept).
 * Pruning on every cloud is safe: it is one DELETE by age.
 */
export class DiagnosticsService {
  readonly stats: DiagnosticsStats = { received: 0, duplicates: 0, refusedUnknownDevice: 0, refusedNotCharger: 0, refusedTooLarge: 0, refusedChecksum: 0, pruned: 0 };
  readonly maxBytes: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { store: DiagnosticsStore; devices: DeviceRepository; logger: Logger; maxBytes: number; retentionDays: number; now?: () => number }) {
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

  list(deviceId: string, limit: number): Promise<DiagnosticsRecord[]> {
    return this.o.store.list(deviceId, limit);
  }

  get(deviceId: string, id: string): Promise<DiagnosticsRecord | undefined> {
    return this.o.store.get(deviceId, id);
  }

  body(deviceId: string, id: string): Promise<Buffer | undefined> {
    return this.o.store.body(deviceId, id);
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
