import { Channel, Severity } from '@yulan/protos';
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

/**
 * Site power cap (YULAN_OCPP_SITE_LIMITS_A): re-splits a site's limit across its chargers
 * whenever one boots or a session starts or stops there, with SetChargingProfile
 * (ChargePointMaxProfile). Re-splits of one site run one at a time; requests arriving during
 * one run collapse into one more run, so the last split always reflects the last change.
 */
export class SiteCaps {
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  /** the limit each charger last accepted (not sent again while unchanged) */
  readonly #applied = new Map<string, number>();

  constructor(
    private readonly limits: ReadonlyMap<string, number>,
    private readonly members: () => Iterable<CapMember>,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  /** A (re)connected charger has no profile we know of. */
  forget(chargerId: string): void {
    this.#applied.delete(chargerId);
  }

  resplit(site: string): void {
    if (!this.limits.has(site)) return;
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
