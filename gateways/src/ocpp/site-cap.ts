import { Channel, CommandStatus, Severity, type Command } from '@yulan/protos';
import type { Logger } from 'pino';
import type { BrokerLink as ChargerLink } from './link-base.js';
import type { ChargerSession, RpcPeer } from './charger-session.js';
import type { GatewayMetrics } from './metrics.js';

/** What the site cap needs of a connected charger (gateway.ts's Charger). */
export interface CapMember {
  device: { id: string; site: string };
  session: ChargerSession;
  link: ChargerLink;
  rpc: RpcPeer | undefined;
  booted: boolean;
}

/** Profile id the site cap owns on each charger (ChargePointMaxProfile, connector 0), beside
 * the twin's TxDefaultProfile (1001): the charger enforces the lower of the two. */
const SITE_PROFILE_ID = 1002;
const CLEAR_COMMAND = 'charger.clear_site_limit';
/** The cloud's site-cap commands, handled here rather than by the command runner. */
export const SITE_CAP_COMMANDS: ReadonlySet<string> = new Set(['charger.set_site_limit', CLEAR_COMMAND]);

/** Rounds down to 0.1 A so the shares never add up to more than the cap. */
const floor1 = (a: number): number => Math.floor(a * 10) / 10;

export function siteCapProfile(limitA: number, nowIso: string): Record<string, unknown> {
  return {
    connectorId: 0,
    csChargingProfiles: {
      chargingProfileId: SITE_PROFILE_ID, stackLevel: 0, chargingProfilePurpose: 'ChargePointMaxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { chargingRateUnit: 'A', startSchedule: nowIso, chargingSchedulePeriod: [{ startPeriod: 0, limit: limitA }] },
    },
  };
}

/**
 * The per-charger limits of one site: the cap split evenly over the connectors with an open
 * transaction (a charger gets its connectors' shares); a charger with none gets what one
 * more session would get, so a session that starts before the re-split lands draws at most
 * one share more than the cap allows, and only until the re-split its StartTransaction sends.
 */
export function splitSiteCap(capA: number, active: ReadonlyMap<string, number>): Map<string, number> {
  const total = [...active.values()].reduce((a, b) => a + b, 0);
  const share = capA / Math.max(1, total);
  const idle = floor1(capA / (total + 1));
  return new Map([...active].map(([id, n]) => [id, n > 0 ? floor1(share * n) : idle]));
}

/** The cloud's share in W → A per phase for a ChargePointMaxProfile: W / (phases × the
 * nominal phase voltage), rounded down to 0.1 A so the charger stays under its share. */
export function wattsToAmps(limitW: number, phases: number, voltageV: number): number {
  return floor1(limitW / (phases * voltageV));
}

/** How the cloud's W become A (YULAN_OCPP_PHASES, YULAN_OCPP_NOMINAL_V). */
export interface WattsToAmps { phases: number; voltageV: number }

/**
 * Site power cap. The cloud's (docs/ocpp.md §4.1): `charger.set_site_limit` carries this
 * charger's share in W, applied as a ChargePointMaxProfile in A. The gateway's own
 * (YULAN_OCPP_SITE_LIMITS_A, the fallback for a site without a cloud cap): re-splits a site's limit across its chargers
 * whenever one boots or a session starts or stops there, with SetChargingProfile
 * (ChargePointMaxProfile). Re-splits of one site run one at a time; requests arriving during
 * one run collapse into one more run, so the last split always reflects the last change.
 */
export class SiteCaps {
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  /** the limit each charger last accepted (not sent again while unchanged) */
  readonly #applied = new Map<string, number>();
  /** sites the cloud caps: the gateway's own split stays off there (one owner of profile 1002) */
  readonly #cloudSites = new Set<string>();
  /** per charger: the newest cloud division applied, and one waiting for the charger's boot */
  readonly #generation = new Map<string, number>();
  readonly #waiting = new Map<string, Command>();

  constructor(
    private readonly limits: ReadonlyMap<string, number>,
    private readonly members: () => Iterable<CapMember>,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly toAmps: WattsToAmps = { phases: 3, voltageV: 220 },
  ) {}

  /**
   * `charger.set_site_limit {limit_w, site_cap_w, chargers, generation}` from the cloud.
   * SUCCEEDED only on the charger's Accepted (the cloud confirms this command by the
   * answer); an older division than one applied is refused, so a late delivery cannot
   * raise a charger above its current share. Before the charger has booted it waits.
   * `charger.clear_site_limit {generation}` (the cap was removed) follows the same rules
   * and clears the profile instead.
   */
  async applyCloudLimit(cmd: Command, m: CapMember): Promise<void> {
    const id = m.device.id;
    const a = cmd.args;
    const clear = cmd.name === CLEAR_COMMAND;
    // A share held back for a boot that came late is stale: the cloud has divided again.
    if (cmd.expiresMs > 0 && Date.now() > cmd.expiresMs) {
      return void m.link.commandResult(cmd.commandId, CommandStatus.EXPIRED, 'expired before the charger could take it');
    }
    const limitW = clear ? 0 : Number(a.limit_w);
    const generation = Number(a.generation);
    if (!Number.isFinite(limitW) || limitW < 0 || !Number.isInteger(generation)) {
      return void m.link.commandResult(cmd.commandId, CommandStatus.REJECTED, `${cmd.name} needs ${clear ? '' : 'limit_w ≥ 0 and '}an integer generation`);
    }
    if (!this.#cloudSites.has(m.device.site)) {
      this.#cloudSites.add(m.device.site);
      if (this.limits.has(m.device.site)) this.logger.warn({ site: m.device.site }, 'site has a cloud power cap: YULAN_OCPP_SITE_LIMITS_A is ignored for it');
    }
    const newest = this.#generation.get(id) ?? 0;
    if (generation < newest) {
      return void m.link.commandResult(cmd.commandId, CommandStatus.REJECTED, `superseded: division ${generation} is older than ${newest}, already applied`);
    }
    if (!m.booted || !m.rpc) {
      const prior = this.#waiting.get(id);
      if (prior) m.link.commandResult(prior.commandId, CommandStatus.REJECTED, 'superseded by a newer division before the charger booted');
      this.#waiting.set(id, cmd);
      return;
    }
    if (clear) return this.#clearProfile(cmd, m, generation);
    const limitA = wattsToAmps(limitW, this.toAmps.phases, this.toAmps.voltageV);
    this.metrics.siteCapProfilesSent++;
    try {
      const res = (await m.rpc.call('SetChargingProfile', siteCapProfile(limitA, new Date().toISOString()))) as { status?: string };
      if (res.status !== 'Accepted') {
        this.metrics.siteCapRejected++;
        this.logger.warn({ chargePoint: id, limitA, status: res.status }, 'cloud site limit refused by the charger');
        return void m.link.commandResult(cmd.commandId, CommandStatus.REJECTED, `SetChargingProfile: ${res.status ?? 'no status'}`, { limit_a: String(limitA) });
      }
      this.#generation.set(id, Math.max(generation, this.#generation.get(id) ?? 0));
      this.#applied.set(id, limitA);
      m.link.publish(Channel.Event, m.link.eventBytes('charger.site_limit', Severity.INFO,
        `site ${m.device.site} cap ${a.site_cap_w ?? '?'} W over ${a.chargers ?? '?'} chargers: this charger ${limitW} W = ${limitA} A per phase`, {
          limit_a: String(limitA), limit_w: String(limitW), site_cap_w: a.site_cap_w ?? '', chargers: a.chargers ?? '', generation: String(generation), source: 'cloud',
        }));
      m.link.commandResult(cmd.commandId, CommandStatus.SUCCEEDED, `SetChargingProfile: Accepted (${limitA} A)`, { limit_a: String(limitA), ocpp_status: 'Accepted' });
    } catch (err) {
      this.metrics.siteCapRejected++;
      const e = err as { rpcErrorCode?: string; message?: string };
      m.link.commandResult(cmd.commandId, CommandStatus.FAILED, `SetChargingProfile: ${e.rpcErrorCode ?? 'error'} ${e.message ?? ''}`.trim());
    }
  }

  async #clearProfile(cmd: Command, m: CapMember, generation: number): Promise<void> {
    const id = m.device.id;
    try {
      const res = (await m.rpc!.call('ClearChargingProfile', { id: SITE_PROFILE_ID })) as { status?: string };
      // Unknown: the charger holds no such profile (never got a share, or rebooted without it) — as wanted.
      if (res.status !== 'Accepted' && res.status !== 'Unknown') {
        return void m.link.commandResult(cmd.commandId, CommandStatus.REJECTED, `ClearChargingProfile: ${res.status ?? 'no status'}`);
      }
      this.#generation.set(id, Math.max(generation, this.#generation.get(id) ?? 0));
      this.#applied.delete(id);
      m.link.publish(Channel.Event, m.link.eventBytes('charger.site_limit', Severity.INFO, `site ${m.device.site} cap removed: this charger's share profile cleared`, {
        cleared: 'true', generation: String(generation), source: 'cloud', ocpp_status: res.status,
      }));
      m.link.commandResult(cmd.commandId, CommandStatus.SUCCEEDED, `ClearChargingProfile: ${res.status}`, { ocpp_status: res.status });
    } catch (err) {
      const e = err as { rpcErrorCode?: string; message?: string };
      m.link.commandResult(cmd.commandId, CommandStatus.FAILED, `ClearChargingProfile: ${e.rpcErrorCode ?? 'error'} ${e.message ?? ''}`.trim());
    }
  }

  /** A (re)connected charger has no profile we know of. */
  forget(chargerId: string): void {
    this.#applied.delete(chargerId);
  }

  resplit(site: string): void {
    // A cloud share that arrived before its charger booted is applied now.
    for (const m of this.members()) {
      const cmd = m.device.site === site && m.booted ? this.#waiting.get(m.device.id) : undefined;
      if (cmd) { this.#waiting.delete(m.device.id); void this.applyCloudLimit(cmd, m); }
    }
    if (!this.limits.has(site) || this.#cloudSites.has(site)) return;
    if (this.#running.has(site)) { this.#again.add(site); return; }
    const run = this.#run(site).catch((err: unknown) => this.logger.warn({ err, site }, 'site cap re-split failed')).finally(() => {
      this.#running.delete(site);
      if (this.#again.delete(site)) this.resplit(site);
    });
    this.#running.set(site, run);
  }

  /** Resolves when no re-split is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  async #run(site: string): Promise<void> {
    const capA = this.limits.get(site)!;
    const on = [...this.members()].filter((m) => m.device.site === site && m.booted && m.rpc);
    const active = new Map(on.map((m) => [m.device.id, [...m.session.connectors.values()].filter((c) => c.transactionId).length]));
    const split = splitSiteCap(capA, active);
    // Lower limits first: the site never passes through a state above its cap.
    const delta = (m: CapMember): number => {
      const was = this.#applied.get(m.device.id);
      return was === undefined ? -Infinity : split.get(m.device.id)! - was;
    };
    const order = on.sort((a, b) => { const da = delta(a); const db = delta(b); return da < db ? -1 : da > db ? 1 : 0; });
    for (const m of order) {
      const limit = split.get(m.device.id)!;
      if (this.#applied.get(m.device.id) === limit) continue;
      this.metrics.siteCapProfilesSent++;
      try {
        const res = (await m.rpc!.call('SetChargingProfile', siteCapProfile(limit, new Date().toISOString()))) as { status?: string };
        if (res.status !== 'Accepted') {
          this.metrics.siteCapRejected++;
          this.#applied.delete(m.device.id);
          this.logger.warn({ chargePoint: m.device.id, site, limit, status: res.status }, 'site cap refused by the charger');
          continue;
        }
        this.#applied.set(m.device.id, limit);
        m.link.publish(Channel.Event, m.link.eventBytes('charger.site_limit', Severity.INFO, `site ${site} cap ${capA} A: this charger ${limit} A`, {
          limit_a: String(limit), site_limit_a: String(capA), active_connectors: String(active.get(m.device.id) ?? 0),
        }));
      } catch (err) {
        this.metrics.siteCapRejected++;
        this.#applied.delete(m.device.id);
        this.logger.info({ err, chargePoint: m.device.id, site }, 'site cap not applied');
      }
    }
  }
}
