import type { Logger } from 'pino';
import { Channel, TwinDesired, deviceTopic, kindFromSlug, type DeviceAddress, type KindSlug, type TwinReported } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRecord, DeviceRepository } from '../repositories/device-repository.js';
import type { MqttTransport } from '../mqtt-link.js';
import { fromProtoSettings, mergeSettings, settingsDelta, toProtoSettings, type Settings } from './settings.js';
import type { ControlStore, TwinRow } from './store.js';

/** 409 on a stale If-Match / body version; carries the version the client must re-read. */
export class StaleVersionError extends CloudError {
  readonly currentVersion: number;
  constructor(deviceId: string, expected: number, current: number) {
    super(CloudErrorCode.Conflict, `twin of "${deviceId}" is at desired version ${current}, not ${expected}; re-read and retry`);
    this.name = 'StaleVersionError';
    this.currentVersion = current;
  }
}

export interface TwinView {
  deviceId: string;
  kind: KindSlug;
  desired: { version: number; settings: Settings; updatedAt: string | null; updatedBy?: string | null };
  reported: { appliedVersion: number; settings: Settings; error: string | null; updatedAt: string | null };
  delta: Record<string, { desired: number; reported: number | null }>;
  inSync: boolean;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface TwinServiceOptions {
  store: ControlStore;
  devices: DeviceRepository;
  mqtt: MqttTransport;
  logger: Logger;
  now?: () => number;
  /** at most one re-publish per device per this many ms when it reports an old version */
  republishMs?: number;
}

/** Desired/reported device settings with optimistic concurrency on the desired version. */
export class TwinService {
  private readonly o: Required<Omit<TwinServiceOptions, 'now' | 'republishMs'>> & { now: () => number; republishMs: number };
  private readonly republishedAt = new Map<string, number>();

  constructor(opts: TwinServiceOptions) {
    this.o = { ...opts, now: opts.now ?? Date.now, republishMs: opts.republishMs ?? 5000 };
  }

  private async device(id: string): Promise<DeviceRecord> {
    const d = await this.o.devices.get(id);
    if (!d) throw new CloudError(CloudErrorCode.NotFound, `device "${id}" is not registered`);
    return d;
  }

  async get(deviceId: string): Promise<TwinView> {
    const d = await this.device(deviceId);
    return this.view(d.id, d.kind, await this.o.store.getTwin(d.id));
  }

  /** Merge-patches the desired settings, bumps the version and publishes it retained. */
  async setDesired(deviceId: string, patch: Record<string, unknown>, expectedVersion?: number, by?: string): Promise<{ twin: TwinView; published: boolean }> {
    const d = await this.device(deviceId);
    const cur = await this.o.store.getTwin(d.id);
    const curVersion = cur?.desired_version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== curVersion) throw new StaleVersionError(d.id, expectedVersion, curVersion);
    const next = mergeSettings(d.kind, cur?.desired ?? {}, patch);
    const now = this.o.now();
    // Compare-and-set: a concurrent writer between our read and this write loses cleanly.
    if (!(await this.o.store.setDesired(d.id, d.kind, curVersion, next, now, by ?? null))) {
      throw new StaleVersionError(d.id, curVersion, (await this.o.store.getTwin(d.id))?.desired_version ?? 0);
    }
    const row = (await this.o.store.getTwin(d.id))!;
    this.o.logger.info({ deviceId: d.id, version: row.desired_version, actor: by }, 'desired twin updated');
    const published = await this.publish(d.site, d.kind, row);
    return { twin: this.view(d.id, d.kind, row), published };
  }

  /** A TwinReported from the device (topic vouched for by the broker ACL). */
  async onReported(addr: DeviceAddress & { kindSlug: KindSlug }, msg: TwinReported): Promise<void> {
    const settings = fromProtoSettings(addr.kindSlug, msg.settings);
    if (!settings) throw new CloudError(CloudErrorCode.Validation, `settings of another kind (${msg.settings?.kind ?? '?'})`);
    if (msg.header && msg.header.deviceId !== '' && msg.header.deviceId !== addr.deviceId) {
      throw new CloudError(CloudErrorCode.Validation, `header names device "${msg.header.deviceId}"`);
    }
    const now = this.o.now();
    await this.o.store.setReported(addr.deviceId, addr.kindSlug, msg.appliedVersion, settings, msg.error === '' ? null : msg.error, now);
    const row = await this.o.store.getTwin(addr.deviceId);
    // A device behind the desired version without an error missed the retained message
    // (e.g. a broker restart lost it): publish it again, rate-limited per device.
    if (row && msg.error === '' && msg.appliedVersion < row.desired_version
      && now - (this.republishedAt.get(addr.deviceId) ?? 0) >= this.o.republishMs) {
      this.republishedAt.set(addr.deviceId, now);
      void this.publish(addr.site, addr.kindSlug, row);
    }
  }

  private async publish(site: string, kind: KindSlug, row: TwinRow): Promise<boolean> {
    const topic = deviceTopic({ site, kind: kindFromSlug(kind)!, deviceId: row.device_id }, Channel.TwinDesired);
    const payload = TwinDesired.encode({ version: row.desired_version, settings: toProtoSettings(kind, row.desired), issuedMs: row.desired_at ?? this.o.now() });
    if (!this.o.mqtt.connected()) {
      // Do not hold the request hostage to a broker that is down; mqtt.js queues it.
      this.o.mqtt.publish(topic, payload, { qos: 1, retain: true }).catch((err: unknown) => this.o.logger.warn({ err, deviceId: row.device_id }, 'queued desired twin publish failed'));
      return false;
    }
    try {
      await this.o.mqtt.publish(topic, payload, { qos: 1, retain: true });
      return true;
    } catch (err) {
      // mqtt.js keeps the QoS 1 publish queued and sends it on reconnect.
      this.o.logger.warn({ err, deviceId: row.device_id }, 'desired twin publish pending');
      return false;
    }
  }

  private view(deviceId: string, kind: KindSlug, row: TwinRow | undefined): TwinView {
    const desired = row?.desired ?? {};
    const delta = settingsDelta(desired, row?.reported ?? null);
    return {
      deviceId,
      kind,
      desired: { version: row?.desired_version ?? 0, settings: desired, updatedAt: iso(row?.desired_at ?? null), updatedBy: row?.desired_by ?? null },
      reported: { appliedVersion: row?.applied_version ?? 0, settings: row?.reported ?? {}, error: row?.reported_error ?? null, updatedAt: iso(row?.reported_at ?? null) },
      delta,
      inSync: Object.keys(delta).length === 0 && (row?.applied_version ?? 0) === (row?.desired_version ?? 0),
    };
  }
}
