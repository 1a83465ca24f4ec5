import type { Logger } from 'pino';
import { Channel, deviceTopic, kindFromSlug } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import { CampaignStatus, type CampaignState, type DeviceRollout } from './engine.js';
import type { FirmwareMqtt } from './mqtt.js';
import type { CampaignRecord, FirmwareRecord, FirmwareRepository } from './repository.js';

export const ACTIVE = [CampaignStatus.Running, CampaignStatus.Paused];
export const ended = (s: CampaignState): boolean => s.status === CampaignStatus.Aborted || s.status === CampaignStatus.Completed;

/** A live (running or paused) campaign held in memory; SQLite is written through. */
export interface Live {
  rec: CampaignRecord;
  fw: FirmwareRecord;
  devices: Map<string, DeviceRollout>;
  /** changed only in what is not a decision (telemetry times): written on the next tick */
  dirty: Set<string>;
  /** its devices' topics are subscribed: only then may offers go out (else early reports are lost) */
  ready: boolean;
  /** the tail of its steps: one decision at a time, in order, each saved before the next */
  chain: Promise<void>;
}

/** Device id → site and kind, for topics. */
export interface Addr { site: string; kind: NonNullable<ReturnType<typeof kindFromSlug>> }

export interface LiveCampaignsDeps {
  repo: FirmwareRepository;
  devices: DeviceRepository;
  mqtt: FirmwareMqtt;
  logger: Logger;
}

/**
 * The campaigns this cloud runs, in memory: indexed by device (so a report reaches every
 * campaign watching it) and subscribed to their devices' topics. Shared by the runner's
 * parts (runner.ts, lease-handover.ts, cross-cloud-sync.ts), which all act on the same
 * Live objects: a step, a reconcile and an operator's action meet on one campaign's chain.
 */
export class LiveCampaigns {
  readonly live = new Map<string, Live>();
  /** device id → ids of live campaigns targeting it */
  readonly watched = new Map<string, Set<string>>();
  readonly addrs = new Map<string, Addr>();
  /** campaigns being taken under watch (set before the first await: no double watch) */
  readonly watching = new Set<string>();
  /** false while another cloud holds the lease */
  held = false;

  constructor(private readonly o: LiveCampaignsDeps) {}

  /** Takes a campaign under watch: in memory, and subscribed to its devices' topics
   * (presence already arrives through the cloud's presence subscription). A cloud without
   * the lease leaves it to the one holding it (which adopts it on its next tick). */
  async watch(c: CampaignRecord): Promise<void> {
    if (!this.held || this.watching.has(c.id) || this.live.has(c.id)) return;
    this.watching.add(c.id);
    try {
      await this.watchNow(c);
    } finally {
      this.watching.delete(c.id);
    }
  }

  private async watchNow(c: CampaignRecord): Promise<void> {
    const fw = await this.o.repo.getFirmware(c.firmwareId);
    if (!fw || ended(c.state)) return;
    const rollouts = await this.o.repo.rollouts(c.id);
    if (!this.held) return;
    const l: Live = { rec: c, fw, devices: new Map(rollouts.map((d) => [d.deviceId, d])), dirty: new Set(), ready: false, chain: Promise.resolve() };
    this.live.set(c.id, l);
    // Claimed synchronously (before any await), so a concurrent create sees the claim.
    for (const id of l.devices.keys()) {
      let set = this.watched.get(id);
      if (!set) this.watched.set(id, (set = new Set()));
      set.add(c.id);
    }
    const topics: string[] = [];
    for (const id of l.devices.keys()) {
      let addr = this.addrs.get(id);
      if (!addr) {
        const rec = await this.o.devices.get(id);
        const kind = rec && kindFromSlug(rec.kind);
        if (rec && kind !== undefined) this.addrs.set(id, (addr = { site: rec.site, kind }));
      }
      if (addr) for (const ch of [Channel.Event, Channel.Telemetry, Channel.CommandResult]) topics.push(deviceTopic({ ...addr, deviceId: id }, ch));
    }
    await this.o.mqtt.subscribe(topics).catch((err: unknown) => this.o.logger.error({ err, campaign: c.id }, 'device subscriptions failed'));
    l.ready = true;
  }

  unwatch(campaignId: string): void {
    const l = this.live.get(campaignId);
    this.live.delete(campaignId);
    for (const id of l?.devices.keys() ?? []) {
      const set = this.watched.get(id);
      set?.delete(campaignId);
      if (set?.size === 0) this.watched.delete(id);
    }
  }
}
