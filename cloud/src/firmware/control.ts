import type { DeviceRepository } from '../repositories/device-repository.js';
import { describeStoredClaims } from './claims.js';
import { CampaignStatus, OperatorAction, isFinal, operate, type DeviceRollout } from './engine.js';
import type { CampaignRecord, Claims, FirmwareRepository } from './repository.js';
import type { CampaignRunner } from './runner.js';

export interface ControlDeps {
  repo: FirmwareRepository;
  devices: DeviceRepository;
  runner: CampaignRunner;
  now: () => number;
}

/**
 * Pause, resume or abort through any cloud: the error text when the action does not apply
 * ('not found' for no such campaign), undefined when done. The cloud running the campaign
 * (the `firmware-campaigns` lease holder; always the one cloud on SQLite) applies it at
 * once, in line with its steps. Any other cloud commits it in the database — the engine's
 * decision over the stored campaign under its row lock, with a new rev — and the runner,
 * wherever it runs, finds the new rev at its next tick and acts on it
 * (cross-cloud-sync.ts `reconcile`). Two actions at once on two clouds are applied one after the other.
 */
export async function operateCampaign(deps: ControlDeps, id: string, action: OperatorAction, reason?: string): Promise<string | undefined> {
  const here = await deps.runner.operate(id, action, reason);
  if (here !== false) return here;
  // The fleet may have moved while it was paused: the registry's versions (read before the
  // transaction, which may be retried) guard the downgrade rule on resume.
  const versions = action === OperatorAction.Resume ? await registryVersions(deps.devices, await deps.repo.rollouts(id)) : new Map<string, string>();
  const now = deps.now();
  const out = await deps.repo.operateCampaign(id, (c, rollouts, claims) => decideOperation(c, rollouts, claims, action, now, reason, versions), now);
  if (!out) return 'not found';
  return 'error' in out ? out.error : undefined;
}

/** device id → the version the registry has for it, for the unfinished ones of `rollouts` */
export async function registryVersions(devices: DeviceRepository, rollouts: Iterable<DeviceRollout>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of rollouts) {
    const v = isFinal(d.status) ? null : (await devices.get(d.deviceId))?.firmwareVersion;
    if (v) out.set(d.deviceId, v);
  }
  return out;
}

/** The engine's `operate` over a stored campaign, with resume's checks: no other live
 * campaign may claim its unfinished devices, and their versions are the registry's. Pure. */
export function decideOperation(
  c: CampaignRecord, rollouts: readonly DeviceRollout[], claims: Claims, action: OperatorAction, now: number, reason: string | undefined,
  versions: ReadonlyMap<string, string>,
): { campaign: CampaignRecord['state']; changed: DeviceRollout[] } | { error: string } {
  const byId = new Map<string, DeviceRollout>();
  let devices = rollouts;
  if (action === OperatorAction.Resume && c.state.status === CampaignStatus.Paused) {
    const conflict = describeStoredClaims(claims);
    if (conflict) return { error: `conflict: ${conflict}` };
    devices = rollouts.map((d) => {
      const v = versions.get(d.deviceId);
      if (!v || isFinal(d.status) || d.version === v) return d;
      const moved = { ...d, version: v };
      byId.set(d.deviceId, moved);
      return moved;
    });
  }
  const r = operate(c.state, devices, action, now, reason);
  if ('error' in r) return r;
  for (const d of r.changed) byId.set(d.deviceId, d);
  return { campaign: r.campaign, changed: [...byId.values()] };
}
