import type { Logger } from 'pino';
import { Channel, Command, deviceTopic, parseDeviceTopic } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { Lease } from '../db/lease.js';
import { decideOperation, registryVersions } from './control.js';
import { CrossCloudSync } from './cross-cloud-sync.js';
import { decodeMessage, updateCommandId } from './decode.js';
import { CampaignStatus, OperatorAction, RolloutStatus, isFinal, observe, plan, type DeviceRollout } from './engine.js';
import { LeaseHandover } from './lease-handover.js';
import { LiveCampaigns, ended, type Live } from './live-campaigns.js';
import { takeChanges } from './merge.js';
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
  /** how often campaigns are planned for timed rules (default 1 s); results plan at once */
  tickMs?: number;
  /** Several clouds on one PostgreSQL database: the runner works only while it holds this
   * lease, and a cloud that takes it over resumes the campaigns from the database. */
  lease?: Lease;
}

/**
 * Applies the engine's decisions. Every device report that can change an outcome is folded
 * in and the campaign is planned AT ONCE (thresholds fire on the result that crosses them,
 * not on the next tick); a timer plans for the timed rules (soak end, silence, timeouts,
 * deadline). Decisions are persisted atomically before commands go out, so a restarted
 * runner picks up where the last one stopped. Which cloud runs the campaigns and taking
 * them over is lease-handover.ts; what another cloud changed is cross-cloud-sync.ts.
 */
export class CampaignRunner {
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly camps: LiveCampaigns;
  private readonly live: Map<string, Live>;
  private readonly sync: CrossCloudSync;
  private readonly handover: LeaseHandover;
  private offMessage: (() => void) | undefined;
  readonly stats = { undecodable: 0, results: 0, reoffers: 0 };

  constructor(private readonly o: CampaignRunnerOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger;
    this.camps = new LiveCampaigns({ repo: o.repo, devices: o.devices, mqtt: o.mqtt, logger: o.logger });
    this.live = this.camps.live;
    this.sync = new CrossCloudSync({
      repo: o.repo, camps: this.camps, logger: o.logger, now: this.now,
      stepNow: (l, depth) => this.stepNow(l, depth),
    });
    this.handover = new LeaseHandover({
      repo: o.repo, devices: o.devices, camps: this.camps, logger: o.logger, now: this.now, lease: o.lease,
      loop: { start: () => this.startLoop(), stop: () => this.stopLoop() },
      apply: (l, next, decide) => this.apply(l, next, decide),
      send: (l, deviceId) => this.send(l, deviceId),
    });
  }

  async start(): Promise<void> {
    this.offMessage = this.o.mqtt.onMessage((topic, payload) => this.handle(topic, payload));
    await this.handover.start();
  }

  private startLoop(): void {
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the timer; resolves once a tick under way has ended. */
  private stopLoop(): Promise<void> | undefined {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.ticking;
  }

  /** Takes a campaign under watch (live-campaigns.ts); a cloud without the lease leaves it
   * to the one holding it (which adopts it on its next tick). */
  watch(c: CampaignRecord): Promise<void> {
    return this.camps.watch(c);
  }

  liveCampaign(id: string): { rec: CampaignRecord; fw: FirmwareRecord } | undefined {
    const l = this.live.get(id);
    return l && { rec: l.rec, fw: l.fw };
  }

  /** Plans every live campaign once (and writes deferred telemetry times). Serialised. */
  tick(): Promise<void> {
    this.ticking ??= this.tickAll().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async tickAll(): Promise<void> {
    if (!this.camps.held) return;
    await this.sync.pickUpChanges().catch((err: unknown) => this.log.error({ err }, 'campaign runner: reading campaign changes failed'));
    for (const l of [...this.live.values()]) await this.step(l);
    await this.handover.adopt().catch((err: unknown) => this.log.error({ err }, 'campaign runner: adopting campaigns failed'));
  }

  /** One plan over a live campaign, queued behind its previous one (never rejects). */
  private step(l: Live): Promise<void> {
    l.chain = l.chain.then(() => this.stepNow(l)).catch((err: unknown) => this.log.error({ err, campaign: l.rec.id }, 'campaign step failed'));
    return l.chain;
  }

  /** Persisted first, then its commands go out. The plan and the in-memory update happen
   * before the save's await, so a report arriving meanwhile is planned by the next step. */
  private async stepNow(l: Live, depth = 0): Promise<void> {
    if (!l.ready || this.live.get(l.rec.id) !== l) return;
    const now = this.now();
    const p = plan(l.rec.state, [...l.devices.values()], now, l.rec.policy, l.fw.version);
    const stateChanged = JSON.stringify(p.campaign) !== JSON.stringify(l.rec.state);
    const t = takeChanges(l, p.changed);
    if ((stateChanged || t.rows.length > 0) && !(await this.sync.save(l, stateChanged ? p.campaign : undefined, t.rows, now))) {
      // Planned over a state another cloud has changed: nothing of it is sent.
      t.revert();
      return this.sync.reconcile(l, depth);
    }
    if (stateChanged) {
      l.rec = { ...l.rec, state: p.campaign, updatedAt: now };
      this.log.info({ campaign: l.rec.id, status: p.campaign.status, stage: p.campaign.stage, reason: p.campaign.reason }, 'campaign changed');
    }
    for (const id of p.send) this.send(l, id);
    if (ended(p.campaign)) this.camps.unwatch(l.rec.id);
  }

  /** Stores one folded observation. What can end a device or fire a rule (a final status,
   * a health counter, a re-offer) is saved and planned at once; progress within an update
   * (downloading → installing → soaking, telemetry times) is written with the next tick,
   * in one transaction for all devices: at fleet scale a commit per report would be the bottleneck. */
  private apply(l: Live, next: DeviceRollout, decide: boolean): Promise<void> | undefined {
    const prev = l.devices.get(next.deviceId);
    if (!prev || prev === next) return undefined;
    l.devices.set(next.deviceId, next);
    const decision = decide || isFinal(next.status) !== isFinal(prev.status) || prev.errors !== next.errors || prev.reboots !== next.reboots
      || prev.falseAlarms !== next.falseAlarms || (next.reoffer === true && prev.reoffer !== true);
    l.dirty.add(next.deviceId);
    return decision ? this.step(l) : undefined;
  }

  private send(l: Live, deviceId: string): void {
    this.sendUpdate(l, deviceId).catch((err: unknown) => this.log.error({ err, campaign: l.rec.id, deviceId }, 'firmware.update not sent'));
  }

  private async sendUpdate(l: Live, deviceId: string): Promise<void> {
    const now = this.now();
    const addr = this.camps.addrs.get(deviceId);
    if (!addr) {
      const d = l.devices.get(deviceId);
      if (d && !isFinal(d.status)) await this.apply(l, { ...d, status: RolloutStatus.Cancelled, reason: 'device no longer registered', finishedAt: now }, true);
      return;
    }
    const offers = l.devices.get(deviceId)?.offers ?? 1;
    const fw = l.fw;
    const token = issueDownloadToken(this.o.tokenSecret, deviceId, fw.id, now);
    const url = `${this.o.baseUrl()}/api/v1/firmware/${encodeURIComponent(fw.id)}/image?device=${encodeURIComponent(deviceId)}`;
    const cmd = Command.encode({
      commandId: updateCommandId(l.rec.id, deviceId),
      name: 'firmware.update',
      args: { version: fw.version, url, token, sha256: fw.sha256, signature: fw.signature, size: String(fw.size), key_id: fw.keyId },
      issuedMs: now,
      expiresMs: now + DOWNLOAD_TOKEN_TTL_MS,
    });
    try {
      await this.o.mqtt.publish(deviceTopic({ ...addr, deviceId }, Channel.Command), cmd);
      this.log.debug({ campaign: l.rec.id, deviceId, version: fw.version }, 'firmware.update sent');
      // A runner taking over (or restarting) does not send this offer again.
      await this.o.repo.markPublished(l.rec.id, deviceId, offers);
    } catch (err) {
      // It stays "sent": the device's return or its next old-version report re-offers it.
      this.log.warn({ err, campaign: l.rec.id, deviceId }, 'firmware.update publish failed');
    }
  }

  /** Folds one MQTT message into the rollouts of the live campaigns watching its device. */
  handle(topic: string, payload: Uint8Array): void {
    // The session carries every device's traffic: decode only what a live campaign watches.
    const addr = parseDeviceTopic(topic);
    if (!addr || !this.camps.watched.has(addr.deviceId)) return;
    let m: ReturnType<typeof decodeMessage>;
    try {
      m = decodeMessage(topic, payload);
    } catch (err) {
      this.stats.undecodable++;
      this.log.debug({ err, topic }, 'undecodable message ignored');
      return;
    }
    if (!m) return;
    const campaigns = this.camps.watched.get(m.deviceId);
    if (!campaigns) return;
    if (m.obs.type === 'result') this.stats.results++;
    const now = this.now();
    for (const id of [...campaigns]) {
      const l = this.live.get(id);
      if (!l || (m.campaignId !== undefined && m.campaignId !== id)) continue;
      const d = l.devices.get(m.deviceId);
      if (!d) continue;
      const next = observe(d, m.obs, now, l.fw.version, l.rec.policy);
      if (next.reoffer && !d.reoffer) this.stats.reoffers++;
      try {
        void this.apply(l, next, false);
      } catch (err) {
        this.log.error({ err, campaign: id, deviceId: m.deviceId }, 'campaign step failed');
      }
    }
  }

  /** Pause, resume or abort of a campaign this cloud runs, queued behind its steps (an
   * operator's action is a decision like the others): the error text when it does not apply,
   * false when this cloud does not run the campaign (control.ts then commits the action in
   * the database, for the runner wherever it runs). */
  async operate(campaignId: string, action: OperatorAction, reason?: string): Promise<string | undefined | false> {
    const l = this.live.get(campaignId);
    if (!l) return false;
    let out: string | undefined | false = false;
    l.chain = l.chain.then(async () => { out = this.live.get(campaignId) === l ? await this.operateNow(l, action, reason) : false; })
      .catch((err: unknown) => { this.log.error({ err, campaign: campaignId }, 'campaign operation failed'); out = 'the operation failed; see the log'; });
    await l.chain;
    return out;
  }

  private async operateNow(l: Live, action: OperatorAction, reason?: string, attempt = 0): Promise<string | undefined | false> {
    const campaignId = l.rec.id;
    // Resume's checks (claims of other live campaigns, the registry's versions) as through any cloud.
    const resuming = action === OperatorAction.Resume && l.rec.state.status === CampaignStatus.Paused;
    const open = resuming ? [...l.devices.values()].filter((d) => !isFinal(d.status)) : [];
    const claims = resuming ? await this.o.repo.claims(open.map((d) => d.deviceId), campaignId) : new Map();
    const versions = await registryVersions(this.o.devices, open);
    const now = this.now();
    const r = decideOperation(l.rec, [...l.devices.values()], claims, action, now, reason, versions);
    if ('error' in r) return r.error;
    const t = takeChanges(l, r.changed);
    if (!(await this.sync.save(l, r.campaign, t.rows, now))) {
      // Another cloud changed it first: act on what it is now (or leave it to control.ts if it ended).
      t.revert();
      await this.sync.reconcile(l, 5);
      if (this.live.get(campaignId) !== l) return false;
      return attempt < 3 ? this.operateNow(l, action, reason, attempt + 1) : 'the campaign kept changing; try again';
    }
    l.rec = { ...l.rec, state: r.campaign, updatedAt: now };
    this.log.info({ campaign: campaignId, action, reason: r.campaign.reason }, 'campaign operated');
    if (ended(r.campaign)) this.camps.unwatch(campaignId);
    else await this.stepNow(l);
    return undefined;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.offMessage?.();
    await this.handover.settled();
    await this.ticking;
    for (const l of [...this.live.values()]) {
      await l.chain;
      if (l.dirty.size === 0) continue;
      const t = takeChanges(l, []);
      if (!(await this.sync.save(l, undefined, t.rows, this.now()))) {
        t.revert();
        // merged with what another cloud wrote, and saved; no new plan, nothing more is sent
        await this.sync.reconcile(l, 5);
      }
    }
    this.live.clear();
    this.camps.watched.clear();
    this.camps.held = false;
    // Released last: another cloud takes over from what was just saved.
    await this.o.lease?.close();
    // Publishes still in flight are not waited for: the link may already be closed (they stay
    // "sent", and the next start sends them again).
  }
}
