import type { Logger } from 'pino';
import type { CampaignState, DeviceRollout } from './engine.js';
import { ended, type Live, type LiveCampaigns } from './live-campaigns.js';
import { mergeRollouts } from './merge.js';
import type { FirmwareRepository } from './repository.js';

export interface CrossCloudSyncDeps {
  repo: FirmwareRepository;
  camps: LiveCampaigns;
  logger: Logger;
  now: () => number;
  /** plans the campaign again from what was reconciled (the runner's step, unqueued) */
  stepNow(l: Live, depth: number): Promise<void>;
}

/**
 * "Another cloud changed this campaign": the runner's writes are conditional on the rev it
 * last read or wrote, and a live campaign whose rev moved in the database (an operator's
 * action committed through another cloud, control.ts) is merged with it here (merge.ts
 * decides; this part reads and writes). Kept apart from the tick loop because every
 * refused write — a step, an operator's action, the flush at stop — ends up here.
 */
export class CrossCloudSync {
  constructor(private readonly o: CrossCloudSyncDeps) {}

  /** Writes one decision unless another cloud changed the campaign since this runner last
   * read or wrote it (then nothing is written: false). */
  async save(l: Live, state: CampaignState | undefined, rows: readonly DeviceRollout[], now: number): Promise<boolean> {
    const rev = await this.o.repo.saveStep(l.rec.id, state, rows, now, l.rec.rev ?? 0);
    if (rev === undefined) return false;
    l.rec = { ...l.rec, rev };
    return true;
  }

  /** Live campaigns another cloud changed (an operator's action through it, control.ts) are
   * reconciled with the database, queued behind their steps. */
  async pickUpChanges(): Promise<void> {
    const { live } = this.o.camps;
    if (live.size === 0) return;
    const revs = await this.o.repo.revisions([...live.keys()]);
    for (const l of [...live.values()]) {
      if (revs.get(l.rec.id) === (l.rec.rev ?? 0)) continue;
      l.chain = l.chain.then(async () => {
        // Our own write may have raced the read above: only a rev still different is news.
        if (live.get(l.rec.id) === l && (await this.o.repo.revisions([l.rec.id])).get(l.rec.id) !== (l.rec.rev ?? 0)) await this.reconcile(l);
      }).catch((err: unknown) => this.o.logger.error({ err, campaign: l.rec.id }, 'campaign reconcile failed'));
    }
  }

  /**
   * The campaign changed in the database under this runner (another cloud committed an
   * operator's action): memory is merged with it (merge.ts), what only memory knew is
   * written, and the campaign is planned again from there — or let go, if it ended.
   */
  async reconcile(l: Live, depth = 0): Promise<void> {
    const { camps } = this.o;
    const id = l.rec.id;
    const rec = await this.o.repo.getCampaign(id);
    const stored = await this.o.repo.rollouts(id);
    if (camps.live.get(id) !== l) return;
    if (!rec) return camps.unwatch(id);
    // No await from the merge to the swap: a report arriving meanwhile lands in the merged map.
    const m = mergeRollouts(stored, l.devices, l.dirty);
    l.devices.clear();
    for (const [k, d] of m.devices) l.devices.set(k, d);
    l.dirty.clear();
    l.rec = rec;
    this.o.logger.info({ campaign: id, status: rec.state.status }, 'campaign changed through another cloud');
    if (m.keep.length > 0) {
      const rev = await this.o.repo.saveStep(id, undefined, m.keep, this.o.now(), rec.rev ?? 0);
      if (rev === undefined) {
        for (const d of m.keep) l.dirty.add(d.deviceId);
        if (depth < 5) await this.reconcile(l, depth + 1);
        return;
      }
      l.rec = { ...l.rec, rev };
    }
    if (ended(rec.state)) return camps.unwatch(id);
    if (depth < 5) await this.o.stepNow(l, depth + 1);
  }
}
