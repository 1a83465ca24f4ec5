import type { Logger } from 'pino';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { Lease } from '../db/lease.js';
import { IN_FLIGHT, RolloutStatus, observe, type DeviceRollout } from './engine.js';
import { ACTIVE, type Live, type LiveCampaigns } from './live-campaigns.js';
import type { FirmwareRepository } from './repository.js';

export interface LeaseHandoverDeps {
  repo: FirmwareRepository;
  devices: DeviceRepository;
  camps: LiveCampaigns;
  logger: Logger;
  now: () => number;
  /** Several clouds on one PostgreSQL database: absent, this cloud always runs the campaigns */
  lease: Lease | undefined;
  /** the runner's tick loop: started on taking over; stopping resolves once a tick under way ended */
  loop: { start(): void; stop(): Promise<void> | undefined };
  /** the runner's fold of one observation (saved and planned at once when `decide`) */
  apply(l: Live, next: DeviceRollout, decide: boolean): Promise<void> | undefined;
  /** the runner's offer to one device */
  send(l: Live, deviceId: string): void;
}

/**
 * Which cloud runs the campaigns, and taking them over: the runner works only while this
 * cloud holds the `firmware-campaigns` lease; gaining it resumes every active campaign from
 * the database (adopt), losing it drops the in-memory state unwritten — the holder's
 * writes are the ones that count. Apart from the tick loop because a takeover is the one
 * moment memory is built from the database rather than from the runner's own decisions.
 */
export class LeaseHandover {
  private changes: Promise<void> = Promise.resolve();

  constructor(private readonly o: LeaseHandoverDeps) {}

  async start(): Promise<void> {
    const lease = this.o.lease;
    if (!lease) {
      await this.resume();
      return;
    }
    await lease.start((held) => {
      this.changes = this.changes.then(() => (held ? this.resume() : this.suspend()))
        .catch((err: unknown) => this.o.logger.error({ err, held }, 'campaign runner: taking over or handing over failed'));
    });
    await this.changes;
  }

  /** Resolves once every gain or loss of the lease seen so far has been acted on. */
  settled(): Promise<void> {
    return this.changes;
  }

  /** This cloud runs the campaigns (at start, or on taking the lease over from another). */
  private async resume(): Promise<void> {
    this.o.camps.held = true;
    await this.adopt();
    this.o.loop.start();
    this.o.logger.info({ campaigns: this.o.camps.live.size }, 'campaign runner active on this cloud');
  }

  /** Another cloud runs them now: drop the in-memory state without writing it. */
  private async suspend(): Promise<void> {
    const { camps } = this.o;
    camps.held = false;
    await this.o.loop.stop();
    await Promise.all([...camps.live.values()].map((l) => l.chain));
    camps.live.clear();
    camps.watched.clear();
    camps.watching.clear();
    this.o.logger.info('campaign runner handed over to another cloud');
  }

  /**
   * Takes every active campaign not yet live under watch and reconciles it with what the
   * database says: at start, at a takeover, and each tick (campaigns created through
   * another cloud). An offer is sent again only if the broker never acknowledged it
   * (published_offers), so a takeover does not repeat commands already sent.
   */
  async adopt(): Promise<void> {
    const { camps } = this.o;
    for (const c of await this.o.repo.listCampaigns(ACTIVE)) {
      if (!camps.held) return;
      if (camps.live.has(c.id) || camps.watching.has(c.id)) continue;
      await camps.watch(c);
      const l = camps.live.get(c.id);
      if (!l) continue;
      const published = await this.o.repo.publishedOffers(c.id);
      for (const d of [...l.devices.values()]) {
        // Reports lost while no runner listened: the registry's version (from presence) says
        // whether an in-flight device got there; offers decided but never acknowledged go again.
        const rec = IN_FLIGHT.has(d.status) ? await this.o.devices.get(d.deviceId) : undefined;
        if (rec?.firmwareVersion === l.fw.version) {
          await this.o.apply(l, observe(d, { type: 'presence', online: true, firmwareVersion: l.fw.version }, this.o.now(), l.fw.version, c.policy), true);
        } else if (d.status === RolloutStatus.Sent && (d.offers ?? 1) > (published.get(d.deviceId) ?? 0)) this.o.send(l, d.deviceId);
      }
    }
  }
}
