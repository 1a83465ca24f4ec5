import type { Logger } from 'pino';
import type { Lease } from '../db/lease.js';
import { Channel, Presence, isValidId, parseDeviceTopic, slugFromKind } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { CommandService } from '../control/commands.js';
import type { DeviceRecord, DeviceRepository } from '../repositories/device-repository.js';
import type { SitePowerCapStore } from './site-power-cap-store.js';

/** Above this a "site cap" is a typo (a site's grid connection is kW to a few MW). */
export const MAX_SITE_CAP_W = 100_000_000;
export const SITE_LIMIT_COMMAND = 'charger.set_site_limit';
export const SITE_LIMIT_CLEAR_COMMAND = 'charger.clear_site_limit';

export interface ChargerShare {
  deviceId: string;
  online: boolean;
  /** this charger's share of the cap in the last division; null: none sent (offline) */
  limitW: number | null;
  commandId: string | null;
  commandStatus: string | null;
}

export interface SitePowerCapView {
  site: string;
  capW: number;
  generation: number;
  updatedAt: string;
  updatedBy: string;
  chargers: ChargerShare[];
}

/** Equal shares of the cap over the online chargers, rounded down to the watt, so the
 * shares never add up to more than the cap. */
export function divideSiteCap(capW: number, online: readonly string[]): Map<string, number> {
  const share = online.length === 0 ? 0 : Math.floor(capW / online.length);
  return new Map(online.map((id) => [id, share]));
}

/**
 * Site power caps (docs/ocpp.md §4.1): a site's grid connection limit in W, held across all
 * of its chargers whichever gateway serves them. The cloud is the one place that sees every
 * charger of the site and its presence, so it divides here: each online ev-charger gets an
 * equal share as the command `charger.set_site_limit` (the gateway turns it into a
 * ChargePointMaxProfile in A; the charger's Accepted confirms it). Re-divided when the cap
 * changes and when a charger of the site comes online or goes offline (presence), which
 * also covers a charger added to the site (it comes online) or disabled (it goes offline).
 *
 * Several clouds on one database: the division runs on the holder of the `site-power-caps`
 * lease only (every cloud hears presence; one sends shares). A cap set on another cloud is
 * stored there and picked up by the holder's poll of the caps table; a cloud taking the lease
 * over divides every site afresh, with division numbers from the database that are higher
 * than any before, so a gateway refuses the former holder's late shares (docs/ocpp.md §4.1).
 */
export class SitePowerCaps {
  /** presence seen here, fresher than the registry (which batches its writes) */
  readonly #online = new Map<string, boolean>();
  /** per site: the last division's shares and their commands */
  readonly #last = new Map<string, Map<string, { limitW: number | null; commandId: string }>>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** per site: the cap its last division used, 0 when removed (the holder's poll re-divides when it changed) */
  readonly #divided = new Map<string, number>();
  #poll: NodeJS.Timeout | undefined;
  #closed = false;
  /** `/api/v1/metrics` `site_power_caps`: caps refused (out of range), divisions, shares sent / not sent */
  readonly stats = { capsRefused: 0, divisions: 0, commandsSent: 0, commandsRefused: 0 };

  constructor(private readonly o: {
    store: SitePowerCapStore;
    devices: DeviceRepository;
    commands: CommandService;
    logger: Logger;
    /** presence changes of one site are collected this long before dividing once */
    settleMs?: number;
    /** several clouds: only the holder divides (unset: always) */
    lease?: Lease;
    /** how often the holder re-reads the caps (a cap set on another cloud) */
    pollMs?: number;
  }) {}

  #held(): boolean {
    return !this.#closed && (this.o.lease?.held() ?? true);
  }

  async set(site: string, capW: number, actor: string): Promise<SitePowerCapView> {
    if (!Number.isInteger(capW) || capW < 1 || capW > MAX_SITE_CAP_W) {
      this.stats.capsRefused++;
      throw new CloudError(CloudErrorCode.Validation, `capW must be a whole number of watts from 1 to ${MAX_SITE_CAP_W} (got ${String(capW)})`);
    }
    await this.#knownSite(site);
    const r = await this.o.store.set(site, capW, actor, new Date().toISOString());
    this.o.logger.info({ site, capW, actor }, 'site power cap set');
    // not the holder: the holder's poll divides it
    if (this.#held()) await this.divide(site);
    return this.view(site, r.capW);
  }

  async get(site: string): Promise<SitePowerCapView> {
    if (!isValidId(site)) throw new CloudError(CloudErrorCode.Validation, 'invalid site id');
    const r = await this.o.store.get(site);
    if (!r || r.clearedAt) throw new CloudError(CloudErrorCode.NotFound, `site "${site}" has no power cap`);
    return this.view(site, r.capW);
  }

  /** Removes the site's cap: each of its chargers has its share's profile cleared now if
   * online, else when it next comes online (it may still hold the last share). */
  async clear(site: string, actor: string): Promise<{ site: string; clearedAt: string }> {
    await this.#knownSite(site);
    const r = await this.o.store.clear(site, actor, new Date().toISOString());
    if (!r) throw new CloudError(CloudErrorCode.NotFound, `site "${site}" has no power cap`);
    this.o.logger.info({ site, previousW: r.capW, actor }, 'site power cap removed');
    if (this.#held()) await this.divide(site);
    return { site, clearedAt: r.clearedAt! };
  }

  audit(site: string, limit: number): ReturnType<SitePowerCapStore['auditOf']> {
    return this.o.store.auditOf(site, limit);
  }

  /** Every MQTT message of the cloud's link; only ev-charger presence matters. Never throws. */
  handle(topic: string, payload: Uint8Array): void {
    const addr = parseDeviceTopic(topic);
    if (!addr || addr.channel !== Channel.Presence || slugFromKind(addr.kind) !== 'ev-charger') return;
    let online: boolean;
    try { online = Presence.decode(payload).online; } catch { return; }
    const was = this.#online.get(addr.deviceId);
    this.#online.set(addr.deviceId, online);
    // A charger that came (back) online may have lost its profile: send it its share again.
    if (online) this.#last.get(addr.site)?.delete(addr.deviceId);
    if (was === online && !online) return;
    if (!this.#held()) return;
    void this.o.store.get(addr.site).then((cap) => { if (cap) this.#settle(addr.site); },
      (err: unknown) => this.o.logger.error({ err, site: addr.site }, 'site power cap lookup failed'));
  }

  /** Divides on this cloud while it holds the lease (always with one cloud): every capped
   * site at once (after a restart or a take-over nothing is known of the chargers' profiles). */
  async start(): Promise<void> {
    const took = (held: boolean): void => {
      this.#last.clear();
      this.#divided.clear();
      clearInterval(this.#poll);
      this.#poll = undefined;
      if (!held || this.#closed) return;
      this.#poll = setInterval(() => { void this.#recheck(); }, this.o.pollMs ?? 5000);
      this.#poll.unref();
      void this.#recheck();
    };
    if (this.o.lease) await this.o.lease.start(took);
    else took(true);
  }

  /** Settles every site whose cap differs from the one its last division used. */
  async #recheck(): Promise<void> {
    try {
      for (const cap of await this.o.store.all()) if (this.#divided.get(cap.site) !== (cap.clearedAt ? 0 : cap.capW)) this.#settle(cap.site);
    } catch (err) {
      this.o.logger.error({ err }, 'site power caps: cannot read the caps');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.o.lease?.close();
  }

  /** Re-divides one site now; divisions of a site run one at a time, and requests during
   * one collapse into one more, so the last division reflects the last change. */
  divide(site: string): Promise<void> {
    const running = this.#running.get(site);
    if (running) { this.#again.add(site); return running.then(() => this.#running.get(site)); }
    const run = this.#divide(site).catch((err: unknown) => this.o.logger.error({ err, site }, 'site power cap division failed')).finally(() => {
      this.#running.delete(site);
      if (this.#again.delete(site)) void this.divide(site);
    });
    this.#running.set(site, run);
    return run;
  }

  #settle(site: string): void {
    clearTimeout(this.#timers.get(site));
    const t = setTimeout(() => { this.#timers.delete(site); void this.divide(site); }, this.o.settleMs ?? 300);
    t.unref();
    this.#timers.set(site, t);
  }

  async #chargers(site: string): Promise<DeviceRecord[]> {
    const out: DeviceRecord[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await this.o.devices.list({ site, kind: 'ev-charger', limit: 1000, offset });
      out.push(...page.items);
      if (page.items.length < 1000) return out;
    }
  }

  #isOnline(d: DeviceRecord): boolean {
    return d.status !== 'disabled' && (this.#online.get(d.id) ?? d.status === 'online');
  }

  async #divide(site: string): Promise<void> {
    if (!this.#held()) return;
    const cap = await this.o.store.get(site);
    if (!cap) return;
    this.#divided.set(site, cap.clearedAt ? 0 : cap.capW);
    const online = (await this.#chargers(site)).filter((d) => this.#isOnline(d)).map((d) => d.id).sort();
    // removed: every online charger's share is "none" (its profile cleared)
    const shares: Map<string, number | null> = cap.clearedAt ? new Map(online.map((id) => [id, null])) : divideSiteCap(cap.capW, online);
    const last = this.#last.get(site) ?? new Map<string, { limitW: number | null; commandId: string }>();
    for (const id of [...last.keys()]) if (!shares.has(id)) last.delete(id);
    this.#last.set(site, last);
    const todo: string[] = [];
    for (const id of online) {
      const l = last.get(id);
      if (!l || l.limitW !== shares.get(id)) { todo.push(id); continue; }
      const status = (await this.o.commands.get(l.commandId))?.status;
      if (status === 'failed' || status === 'timed_out' || status === 'expired') todo.push(id);
    }
    if (todo.length === 0) return;
    this.stats.divisions++;
    const generation = await this.o.store.nextGeneration(site);
    // Lower limits first (and chargers whose profile we do not know: they may hold an old,
    // higher one), so the site passes through as few states above its cap as possible.
    const delta = (id: string): number => { const l = last.get(id); return l === undefined || l.limitW === null ? -Infinity : (shares.get(id) ?? Infinity) - l.limitW; };
    todo.sort((a, b) => delta(a) - delta(b) || (a < b ? -1 : 1));
    for (const id of todo) {
      const limitW: number | null = shares.get(id) ?? null;
      try {
        const { row } = await this.o.commands.create(id, {
          ...(limitW === null
            ? { name: SITE_LIMIT_CLEAR_COMMAND, args: { generation } }
            : { name: SITE_LIMIT_COMMAND, args: { limit_w: limitW, site_cap_w: cap.capW, chargers: online.length, generation } }),
          // A share is only right until the next division: never delivered late.
          expiresInSec: 60, timeoutSec: 30,
        }, undefined, 'site-power-cap');
        last.set(id, { limitW, commandId: row.id });
        this.stats.commandsSent++;
      } catch (err) {
        this.stats.commandsRefused++;
        last.delete(id);
        this.o.logger.warn({ err, site, deviceId: id }, 'site power cap share not sent');
      }
    }
    this.o.logger.info({ site, capW: cap.clearedAt ? null : cap.capW, online: online.length, generation, sent: todo.length }, cap.clearedAt ? 'site power cap removed from the chargers' : 'site power cap divided');
  }

  async #knownSite(site: string): Promise<void> {
    if (!isValidId(site)) throw new CloudError(CloudErrorCode.Validation, 'invalid site id');
    if (await this.o.devices.getSite(site)) return;
    const any = await this.o.devices.list({ site, limit: 1, offset: 0 });
    if (any.items.length === 0) throw new CloudError(CloudErrorCode.NotFound, `site "${site}" is not registered and has no devices`);
  }

  async view(site: string, capW: number): Promise<SitePowerCapView> {
    const r = (await this.o.store.get(site))!;
    const last = this.#last.get(site) ?? new Map();
    const chargers = await Promise.all((await this.#chargers(site)).map(async (d): Promise<ChargerShare> => {
      const l = last.get(d.id);
      return {
        deviceId: d.id, online: this.#isOnline(d), limitW: l?.limitW ?? null, commandId: l?.commandId ?? null,
        commandStatus: l ? (await this.o.commands.get(l.commandId))?.status ?? null : null,
      };
    }));
    return { site, capW, generation: r.generation, updatedAt: r.updatedAt, updatedBy: r.updatedBy, chargers };
  }
}
