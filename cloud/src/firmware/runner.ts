import type { Logger } from 'pino';
import { Channel, Command, deviceTopic, kindFromSlug, parseDeviceTopic } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { Lease } from '../db/lease.js';
import { decideOperation, registryVersions } from './control.js';
import { decodeMessage, updateCommandId } from './decode.js';
import {
  CampaignStatus, IN_FLIGHT, OperatorAction, RolloutStatus, isFinal, observe, plan,
  type CampaignState, type DeviceRollout,
} from './engine.js';
import { mergeRollouts, takeChanges } from './merge.js';
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

const ACTIVE = [CampaignStatus.Running, CampaignStatus.Paused];
const ended = (s: CampaignState): boolean => s.status === CampaignStatus.Aborted || s.status === CampaignStatus.Completed;

/** A live (running or paused) campaign held in memory; SQLite is written through. */
interface Live {
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
interface Addr { site: string; kind: NonNullable<ReturnType<typeof kindFromSlug>> }

/**
 * Applies the engine's decisions. Every device report that can change an outcome is folded
 * in and the campaign is planned AT ONCE (thresholds fire on the result that crosses them,
 * not on the next tick); a timer plans for the timed rules (soak end, silence, timeouts,
 * deadline). Decisions are persisted atomically before commands go out, so a restarted
 * runner picks up where the last one stopped.
 */
export class CampaignRunner {
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly live = new Map<string, Live>();
  /** device id → ids of live campaigns targeting it */
  private readonly watched = new Map<string, Set<string>>();
  private readonly addrs = new Map<string, Addr>();
  private offMessage: (() => void) | undefined;
  /** campaigns being taken under watch (set before the first await: no double watch) */
  private readonly watching = new Set<string>();
  /** false while another cloud holds the lease */
  private held = false;
  private leaseChanges: Promise<void> = Promise.resolve();
  readonly stats = { undecodable: 0, results: 0, reoffers: 0 };

  constructor(private readonly o: CampaignRunnerOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger;
  }

  async start(): Promise<void> {
    this.offMessage = this.o.mqtt.onMessage((topic, payload) => this.handle(topic, payload));
    const lease = this.o.lease;
    if (!lease) {
      await this.resume();
      return;
    }
    await lease.start((held) => {
      this.leaseChanges = this.leaseChanges.then(() => (held ? this.resume() : this.suspend()))
        .catch((err: unknown) => this.log.error({ err, held }, 'campaign runner: taking over or handing over failed'));
    });
    await this.leaseChanges;
  }

  /** This cloud runs the campaigns (at start, or on taking the lease over from another). */
  private async resume(): Promise<void> {
    this.held = true;
    await this.adopt();
    this.timer = setInterval(() => void this.tick(), this.o.tickMs ?? 1000);
    this.timer.unref();
    this.log.info({ campaigns: this.live.size }, 'campaign runner active on this cloud');
  }

  /** Another cloud runs them now: drop the in-memory state without writing it. */
  private async suspend(): Promise<void> {
    this.held = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await Promise.all([...this.live.values()].map((l) => l.chain));
    this.live.clear();
    this.watched.clear();
    this.watching.clear();
    this.log.info('campaign runner handed over to another cloud');
  }

  /**
   * Takes every active campaign not yet live under watch and reconciles it with what the
   * database says: at start, at a takeover, and each tick (campaigns created through
   * another cloud). An offer is sent again only if the broker never acknowledged it
   * (published_offers), so a takeover does not repeat commands already sent.
   */
  private async adopt(): Promise<void> {
    for (const c of await this.o.repo.listCampaigns(ACTIVE)) {
      if (!this.held) return;
      if (this.live.has(c.id) || this.watching.has(c.id)) continue;
      await this.watch(c);
      const l = this.live.get(c.id);
      if (!l) continue;
      const published = await this.o.repo.publishedOffers(c.id);
      for (const d of [...l.devices.values()]) {
        // Reports lost while no runner listened: the registry's version (from presence) says
        // whether an in-flight device got there; offers decided but never acknowledged go again.
        const rec = IN_FLIGHT.has(d.status) ? await this.o.devices.get(d.deviceId) : undefined;
        if (rec?.firmwareVersion === l.fw.version) {
          await this.apply(l, observe(d, { type: 'presence', online: true, firmwareVersion: l.fw.version }, this.now(), l.fw.version, c.policy), true);
        } else if (d.status === RolloutStatus.Sent && (d.offers ?? 1) > (published.get(d.deviceId) ?? 0)) this.send(l, d.deviceId);
      }
    }
  }

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
    await this.o.mqtt.subscribe(topics).catch((err: unknown) => this.log.error({ err, campaign: c.id }, 'device subscriptions failed'));
    l.ready = true;
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
    if (!this.held) return;
    await this.pickUpChanges().catch((err: unknown) => this.log.error({ err }, 'campaign runner: reading campaign changes failed'));
    for (const l of [...this.live.values()]) await this.step(l);
    await this.adopt().catch((err: unknown) => this.log.error({ err }, 'campaign runner: adopting campaigns failed'));
  }

  /** Live campaigns another cloud changed (an operator's action through it, control.ts) are
   * reconciled with the database, queued behind their steps. */
  private async pickUpChanges(): Promise<void> {
    if (this.live.size === 0) return;
    const revs = await this.o.repo.revisions([...this.live.keys()]);
    for (const l of [...this.live.values()]) {
      if (revs.get(l.rec.id) === (l.rec.rev ?? 0)) continue;
      l.chain = l.chain.then(async () => {
        // Our own write may have raced the read above: only a rev still different is news.
        if (this.live.get(l.rec.id) === l && (await this.o.repo.revisions([l.rec.id])).get(l.rec.id) !== (l.rec.rev ?? 0)) await this.reconcile(l);
      }).catch((err: unknown) => this.log.error({ err, campaign: l.rec.id }, 'campaign reconcile failed'));
    }
  }

  /**
   * The campaign changed in the database under this runner (another cloud committed an
   * operator's action): memory is merged with it (merge.ts), what only memory knew is
   * written, and the campaign is planned again from there — or let go, if it ended.
   */
  private async reconcile(l: Live, depth = 0): Promise<void> {
    const id = l.rec.id;
    const rec = await this.o.repo.getCampaign(id);
    const stored = await this.o.repo.rollouts(id);
    if (this.live.get(id) !== l) return;
    if (!rec) return this.unwatch(id);
    // No await from the merge to the swap: a report arriving meanwhile lands in the merged map.
    const m = mergeRollouts(stored, l.devices, l.dirty);
    l.devices.clear();
    for (const [k, d] of m.devices) l.devices.set(k, d);
    l.dirty.clear();
    l.rec = rec;
    this.log.info({ campaign: id, status: rec.state.status }, 'campaign changed through another cloud');
    if (m.keep.length > 0) {
      const rev = await this.o.repo.saveStep(id, undefined, m.keep, this.now(), rec.rev ?? 0);
      if (rev === undefined) {
        for (const d of m.keep) l.dirty.add(d.deviceId);
        if (depth < 5) await this.reconcile(l, depth + 1);
        return;
      }
      l.rec = { ...l.rec, rev };
    }
    if (ended(rec.state)) return this.unwatch(id);
    if (depth < 5) await this.stepNow(l, depth + 1);
  }

  /** Writes one decision unless another cloud changed the campaign since this runner last
   * read or wrote it (then nothing is written: false). */
  private async save(l: Live, state: CampaignState | undefined, rows: readonly DeviceRollout[], now: number): Promise<boolean> {
    const rev = await this.o.repo.saveStep(l.rec.id, state, rows, now, l.rec.rev ?? 0);
    if (rev === undefined) return false;
    l.rec = { ...l.rec, rev };
    return true;
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
    if ((stateChanged || t.rows.length > 0) && !(await this.save(l, stateChanged ? p.campaign : undefined, t.rows, now))) {
      // Planned over a state another cloud has changed: nothing of it is sent.
      t.revert();
      return this.reconcile(l, depth);
    }
    if (stateChanged) {
      l.rec = { ...l.rec, state: p.campaign, updatedAt: now };
      this.log.info({ campaign: l.rec.id, status: p.campaign.status, stage: p.campaign.stage, reason: p.campaign.reason }, 'campaign changed');
    }
    for (const id of p.send) this.send(l, id);
    if (ended(p.campaign)) this.unwatch(l.rec.id);
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
    const addr = this.addrs.get(deviceId);
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
    if (!addr || !this.watched.has(addr.deviceId)) return;
    let m: ReturnType<typeof decodeMessage>;
    try {
      m = decodeMessage(topic, payload);
    } catch (err) {
      this.stats.undecodable++;
      this.log.debug({ err, topic }, 'undecodable message ignored');
      return;
    }
    if (!m) return;
    const campaigns = this.watched.get(m.deviceId);
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
    if (!(await this.save(l, r.campaign, t.rows, now))) {
      // Another cloud changed it first: act on what it is now (or leave it to control.ts if it ended).
      t.revert();
      await this.reconcile(l, 5);
      if (this.live.get(campaignId) !== l) return false;
      return attempt < 3 ? this.operateNow(l, action, reason, attempt + 1) : 'the campaign kept changing; try again';
    }
    l.rec = { ...l.rec, state: r.campaign, updatedAt: now };
    this.log.info({ campaign: campaignId, action, reason: r.campaign.reason }, 'campaign operated');
    if (ended(r.campaign)) this.unwatch(campaignId);
    else await this.stepNow(l);
    return undefined;
  }

  private unwatch(campaignId: string): void {
    const l = this.live.get(campaignId);
    this.live.delete(campaignId);
    for (const id of l?.devices.keys() ?? []) {
      const set = this.watched.get(id);
      set?.delete(campaignId);
      if (set?.size === 0) this.watched.delete(id);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.offMessage?.();
    await this.leaseChanges;
    await this.ticking;
    for (const l of [...this.live.values()]) {
      await l.chain;
      if (l.dirty.size === 0) continue;
      const t = takeChanges(l, []);
      if (!(await this.save(l, undefined, t.rows, this.now()))) {
        t.revert();
        // merged with what another cloud wrote, and saved; no new plan, nothing more is sent
        await this.reconcile(l, 5);
      }
    }
    this.live.clear();
    this.watched.clear();
    this.held = false;
    // Released last: another cloud takes over from what was just saved.
    await this.o.lease?.close();
    // Publishes still in flight are not waited for: the link may already be closed (they stay
    // "sent", and the next start sends them again).
  }
}
