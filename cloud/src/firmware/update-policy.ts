import type { KindSlug } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { DbTarget } from '../db/target.js';
import { openUpdatePolicyStore, type MinimumVersion, type UpdatePolicyStore } from './update-policy-store.js';
import { compareSemver } from './semver.js';

export interface UpdateRequired {
  id: string;
  kind: KindSlug;
  site: string;
  status: string;
  firmwareVersion: string | null;
  minimumVersion: string;
  security: boolean;
}

export type { MinimumVersion } from './update-policy-store.js';

/**
 * Minimum supported firmware per device kind (ETSI EN 303 645 5.3-8/5.3-11; docs/security.md,
 * "Update required"): the operator names the lowest version still supported for a kind,
 * marked as a security update or not, with an advisory; devices of that kind reporting a
 * lower version (or none) are "update required". The security monitor turns their number
 * into an alert that stays open until none is left.
 */
export class UpdatePolicy {
  constructor(private readonly o: { store: UpdatePolicyStore; devices: DeviceRepository; now?: () => number }) {}

  static async open(o: { target: DbTarget; devices: DeviceRepository; now?: () => number }): Promise<UpdatePolicy> {
    return new UpdatePolicy({ store: await openUpdatePolicyStore(o.target), devices: o.devices, ...(o.now ? { now: o.now } : {}) });
  }

  async set(m: Omit<MinimumVersion, 'setAt'>): Promise<MinimumVersion> {
    const v: MinimumVersion = { ...m, setAt: new Date((this.o.now ?? Date.now)()).toISOString() };
    await this.o.store.set(v);
    return v;
  }

  clear(kind: KindSlug): Promise<boolean> {
    return this.o.store.clear(kind);
  }

  list(): Promise<MinimumVersion[]> {
    return this.o.store.list();
  }

  /** Devices below their kind's minimum, disabled ones left out (they cannot update and are
   * not in service). A device that reports no version is below: it cannot show it is not. */
  async required(): Promise<UpdateRequired[]> {
    const out: UpdateRequired[] = [];
    for (const min of await this.list()) {
      for (let offset = 0; ; offset += 1000) {
        const page = await this.o.devices.list({ kind: min.kind, limit: 1000, offset });
        for (const d of page.items) {
          if (d.status === 'disabled') continue;
          if (d.firmwareVersion !== null && compareSemver(d.firmwareVersion, min.version) >= 0) continue;
          out.push({ id: d.id, kind: d.kind as KindSlug, site: d.site, status: d.status, firmwareVersion: d.firmwareVersion, minimumVersion: min.version, security: min.security });
        }
        if (page.items.length < 1000) break;
      }
    }
    return out;
  }

  close(): Promise<void> {
    return this.o.store.close();
  }
}
