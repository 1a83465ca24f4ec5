import type { Logger } from 'pino';
import { Channel, Command, Event, Presence, deviceTopic, kindFromSlug, parseDeviceTopic } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import {
  CampaignStatus, RolloutStatus, observe, operate, plan,
  type DeviceRollout, type Observation, type OperatorAction,
} from './engine.js';
import type { FirmwareMqtt } from './mqtt.js';
import type { CampaignRecord, FirmwareRecord, FirmwareRepository } from './repository.js';
import { DOWNLOAD_TOKEN_TTL_MS, issueDownloadToken } from './tokens.js';

export interface CampaignRunnerOptions {
  repo: FirmwareRepository;
  devices: DeviceRepository;
  mqtt: FirmwareMqtt;
  tokenSecret: Buffer;
  /** base URL devices download from (the cloud's public URL) */
  baseUrl: () => string;
  logger: Logger;
  now?: () => number;
  /** how often campaigns are planned (default 1 s) */
  tickMs?: number;
}

const IN_FLIGHT_STATUSES = new Set<string>([RolloutStatus.Sent, RolloutStatus.Downloading, RolloutStatus.Verifying, RolloutStatus.Installing]);
const ACTIVE = [CampaignStatus.Running, CampaignStatus.Paused];
const PROGRESS_STEPS = new Set(['downloading', 'verifying', 'installing', 'installed', 'failed', 'rolled_back']);

/**
 * Applies the engine's decisions: plans each active campaign on a timer, persists every
 * step atomically, publishes `firmware.update` commands, and folds device events and
 * presence into the rollouts. All state lives in SQLite, so a restarted runner picks up
 * exactly where the last one stopped (and re-sends commands to devices that had been
 * sent one: the command id is stable, so a device that already got it ignores it).
 */
export class CampaignRunner {
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** device id → ids of active campaigns targeting it */
  private readonly watched = new Map<string, Set<string>>();
  /** device id → its event topic, for the watched devices */
  private readonly topics = new Map<string, string>();
  private offMessage: (() => void) | undefined;

  constructor(private readonly o: CampaignRunnerOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger;
  }

  async start(): Promise<void> {
    this.offMessage = this.o.mqtt.onMessage((topic, payload) => this.handle(topic, payload));
    for (const c of this.o.repo.listCampaigns(ACTIVE)) {
      await this.watch(c);
      // Commands decided before a crash may never have left: send them again.
      const fw = this.o.repo.getFirmware(c.firmwareId);
      if (!fw) continue;
      for (const d of this.o.repo.rollouts(c.id)) {
        // Reports lost while no runner listened: the registry's version (from presence) says
        // whether an in-flight device got there.
        const rec = IN_FLIGHT_STATUSES.has(d.status) ? await this.o.devices.get(d.deviceId) : undefined;
        if (rec?.firmwareVersion === fw.version) {
          this.o.repo.saveStep(c.id, undefined, [observe(d, { type: 'presence', online: true, firmwareVersion: fw.version }, this.now(), fw.version)], this.now());
        } else if (d.status === RolloutStatus.Sent) await this.sendUpdate(c, fw, d.deviceId);
      }
    }
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 1000);
    this.timer.unref();
  }

  /** Subscribes to the event topics of a campaign's devices (presence already arrives
   * through the cloud's presence subscription). */
  async watch(c: CampaignRecord): Promise<void> {
    const topics: string[] = [];
    for (const d of this.o.repo.rollouts(c.id)) {
      let set = this.watched.get(d.deviceId);
      if (!set) this.watched.set(d.deviceId, (set = new Set()));
      set.add(c.id);
      const rec = await this.o.devices.get(d.deviceId);
      const kind = rec && kindFromSlug(rec.kind);
      if (rec && kind !== undefined) {
        const t = deviceTopic({ site: rec.site, kind, deviceId: rec.id }, Channel.Event);
        this.topics.set(rec.id, t);
        topics.push(t);
      }
    }
    await this.o.mqtt.subscribe(topics).catch((err: unknown) => this.log.error({ err, campaign: c.id }, 'event subscription failed'));
  }

  /** Plans every active campaign once. Serialised: a slow tick never overlaps the next. */
  tick(): Promise<void> {
    this.ticking ??= this.tickAll().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async tickAll(): Promise<void> {
    // Re-asserted every tick (idempotent per owner; the link keeps them across reconnects):
    // cheap insurance should a subscription have failed when the campaign started.
    await this.o.mqtt.subscribe([...this.topics.values()]).catch((err: unknown) => this.log.warn({ err }, 'event subscriptions not re-asserted'));
    for (const c of this.o.repo.listCampaigns(ACTIVE)) {
      try {
        await this.step(c);
      } catch (err) {
        this.log.error({ err, campaign: c.id }, 'campaign step failed');
      }
    }
  }

  private async step(c: CampaignRecord): Promise<void> {
    const now = this.now();
    const p = plan(c.state, this.o.repo.rollouts(c.id), now, c.policy);
    const stateChanged = JSON.stringify(p.campaign) !== JSON.stringify(c.state);
    if (stateChanged || p.changed.length > 0) this.o.repo.saveStep(c.id, stateChanged ? p.campaign : undefined, p.changed, now);
    if (stateChanged) this.log.info({ campaign: c.id, status: p.campaign.status, stage: p.campaign.stage, reason: p.campaign.reason }, 'campaign changed');
    const fw = this.o.repo.getFirmware(c.firmwareId);
    if (!fw) return;
    for (const id of p.send) await this.sendUpdate(c, fw, id);
    if (p.campaign.status === CampaignStatus.Aborted || p.campaign.status === CampaignStatus.Completed) this.unwatch(c.id);
  }

  private async sendUpdate(c: CampaignRecord, fw: FirmwareRecord, deviceId: string): Promise<void> {
    const now = this.now();
    const rec = await this.o.devices.get(deviceId);
    const kind = rec && kindFromSlug(rec.kind);
    if (!rec || kind === undefined) {
      const d = this.o.repo.rollout(c.id, deviceId);
      if (d) this.o.repo.saveStep(c.id, undefined, [{ ...d, status: RolloutStatus.Failed, reason: 'device no longer registered' }], now);
      return;
    }
    const token = issueDownloadToken(this.o.tokenSecret, deviceId, fw.id, now);
    const url = `${this.o.baseUrl()}/api/v1/firmware/${encodeURIComponent(fw.id)}/image?device=${encodeURIComponent(deviceId)}`;
    const cmd = Command.encode({
      // Stable per campaign and device: a re-send after a restart is executed at most once.
      commandId: `fw:${c.id}:${deviceId}`,
      name: 'firmware.update',
      args: { version: fw.version, url, token, sha256: fw.sha256, signature: fw.signature, size: String(fw.size), key_id: fw.keyId },
      issuedMs: now,
      expiresMs: now + DOWNLOAD_TOKEN_TTL_MS,
    });
    try {
      await this.o.mqtt.publish(deviceTopic({ site: rec.site, kind, deviceId }, Channel.Command), cmd);
      this.log.debug({ campaign: c.id, deviceId, version: fw.version }, 'firmware.update sent');
    } catch (err) {
      // The rollout stays "sent"; the update timeout fails it if the device never hears.
      this.log.warn({ err, campaign: c.id, deviceId }, 'firmware.update publish failed');
    }
  }

  /** Folds one MQTT message into the rollouts of the campaigns watching its device. */
  handle(topic: string, payload: Uint8Array): void {
    const addr = parseDeviceTopic(topic);
    if (!addr || (addr.channel !== Channel.Event && addr.channel !== Channel.Presence)) return;
    const campaigns = this.watched.get(addr.deviceId);
    if (!campaigns || campaigns.size === 0) return;
    let obs: Observation;
    try {
      if (addr.channel === Channel.Presence) {
        const p = Presence.decode(payload);
        obs = { type: 'presence', online: p.online, firmwareVersion: p.firmwareVersion };
      } else {
        const e = Event.decode(payload);
        const step = e.type.startsWith('firmware.') ? e.type.slice('firmware.'.length) : '';
        obs = PROGRESS_STEPS.has(step)
          ? {
              type: 'progress', step: step as 'installed',
              ...(e.attributes.pct !== undefined ? { pct: Number(e.attributes.pct) } : {}),
              ...(e.attributes.reason !== undefined ? { reason: e.attributes.reason } : {}),
              ...(e.attributes.version !== undefined ? { version: e.attributes.version } : {}),
            }
          : { type: 'event', eventType: e.type };
      }
    } catch (err) {
      this.log.debug({ err, topic }, 'undecodable message ignored');
      return;
    }
    const now = this.now();
    for (const id of campaigns) {
      const c = this.o.repo.getCampaign(id);
      const d = c && this.o.repo.rollout(id, addr.deviceId);
      const fw = c && this.o.repo.getFirmware(c.firmwareId);
      if (!c || !d || !fw) continue;
      const next: DeviceRollout = observe(d, obs, now, fw.version);
      if (next !== d) this.o.repo.saveStep(id, undefined, [next], now);
    }
  }

  /** Pause, resume or abort; returns the error text when the action does not apply. */
  operate(campaignId: string, action: OperatorAction): string | undefined {
    const c = this.o.repo.getCampaign(campaignId);
    if (!c) return 'not found';
    const r = operate(c.state, this.o.repo.rollouts(campaignId), action, this.now());
    if ('error' in r) return r.error;
    this.o.repo.saveStep(campaignId, r.campaign, r.changed, this.now());
    this.log.info({ campaign: campaignId, action }, 'campaign operated');
    if (r.campaign.status === CampaignStatus.Aborted) this.unwatch(campaignId);
    return undefined;
  }

  private unwatch(campaignId: string): void {
    for (const [deviceId, set] of this.watched) {
      set.delete(campaignId);
      if (set.size === 0) {
        this.watched.delete(deviceId);
        this.topics.delete(deviceId);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.offMessage?.();
    await this.ticking;
  }
}
