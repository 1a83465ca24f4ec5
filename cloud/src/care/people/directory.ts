import {
  DEFAULT_LADDER,
  type Access,
  type CareDirectory,
  type LadderPlan,
  type LadderStep,
  type Principal,
  type Recipient,
  type ResidentAlertData,
  type ResidentRef,
} from '../contracts.js';
import { accessLevel, allows, Level, NO_FACTS, onDutyAt, seesAllHealth, type PrincipalFacts } from './policy.js';
import type { ResidentRecord, UserRecord } from './records.js';
import type { PeopleRepository } from './repository.js';

const toRecipient = (u: UserRecord): Recipient => ({
  userId: u.id,
  name: u.name,
  role: u.role,
  locale: u.locale,
  channels: u.channels,
});

/** CareDirectory over people.sqlite; access decisions are delegated to policy.ts. */
export class SqliteCareDirectory implements CareDirectory {
  constructor(
    private readonly repo: PeopleRepository,
    private readonly alertData: () => ResidentAlertData | undefined,
    private readonly now: () => number,
  ) {}

  async residentForDevice(deviceId: string): Promise<ResidentRef | null> {
    const residentId = await this.repo.residents.ownerOfDevice(deviceId);
    const r = residentId === undefined ? undefined : await this.repo.residents.get(residentId);
    return r ? { id: r.id, name: r.name, communityId: r.communityId } : null;
  }

  async ladderPlan(residentId: string | null, atMs: number): Promise<LadderPlan> {
    const callcentre: LadderStep = {
      kind: 'callcentre',
      recipients: (await this.repo.users.activeWithRole('callcentre')).map(toRecipient),
      ackSec: null,
    };
    const resident = residentId === null ? undefined : await this.repo.residents.get(residentId);
    if (!resident) return { residentId, residentName: null, config: { ...DEFAULT_LADDER }, steps: [callcentre] };
    const config = resident.ladder;
    const steps: LadderStep[] = [];
    for (const link of await this.repo.residents.family(resident.id)) {
      const u = await this.activeUser(link.userId);
      if (u) steps.push({ kind: 'family', recipients: [toRecipient(u)], ackSec: config.familyAckSec });
    }
    const onDuty = (await this.repo.staff.assignmentsIn(resident.communityId)).filter((a) => onDutyAt(a, atMs));
    const workers = (await Promise.all(onDuty.map((a) => this.activeUser(a.userId))))
      .filter((u): u is UserRecord => u !== undefined && u.role === 'worker');
    if (workers.length > 0) steps.push({ kind: 'worker', recipients: workers.map(toRecipient), ackSec: config.workerAckSec });
    // The call centre step is kept even when empty: the alert side must see that the
    // ladder ends with nobody and say so loudly, not silently finish.
    steps.push(callcentre);
    return { residentId: resident.id, residentName: resident.name, config, steps };
  }

  async canAccess(principal: Principal, residentId: string, access: Access): Promise<boolean> {
    return allows(await this.levelOf(principal, residentId), access);
  }

  /** The caller's level for one resident; 'none' for an unknown resident. */
  async levelOf(principal: Principal, residentId: string): Promise<Level> {
    const resident = await this.repo.residents.get(residentId);
    if (!resident) return Level.None;
    return accessLevel(principal, await this.facts(principal), resident);
  }

  async visibleResidents(principal: Principal): Promise<string[] | 'all'> {
    const facts = await this.facts(principal);
    if (seesAllHealth(principal, facts)) return 'all';
    return (await this.candidates(principal, facts))
      .filter((r) => accessLevel(principal, facts, r) === Level.Health)
      .map((r) => r.id);
  }

  /** Residents the caller may see at least the profile of, with their level. */
  async visibleProfiles(principal: Principal): Promise<{ resident: ResidentRecord; level: Level }[]> {
    const facts = await this.facts(principal);
    const everyone = principal.kind === 'admin-token' || (principal.kind === 'person' && (principal.role === 'admin' || principal.role === 'operator'));
    const pool = everyone ? await this.repo.residents.all() : await this.candidates(principal, facts);
    return pool
      .map((resident) => ({ resident, level: accessLevel(principal, facts, resident) }))
      .filter((v) => v.level !== Level.None);
  }

  async person(userId: string): Promise<Recipient | null> {
    const u = await this.activeUser(userId);
    return u ? toRecipient(u) : null;
  }

  /** The relationship facts of the caller's role (only those: a family member's facts
   * never include grants, so a stray row cannot widen access). */
  async facts(principal: Principal): Promise<PrincipalFacts> {
    const base: PrincipalFacts = { ...NO_FACTS, nowMs: this.now() };
    if (principal.kind !== 'person') return base;
    const id = principal.userId;
    switch (principal.role) {
      case 'family':
        return { ...base, familyOf: new Set(await this.repo.residents.linkedResidents(id)) };
      case 'worker':
        return { ...base, communities: new Set((await this.repo.staff.assignments(id)).map((a) => a.communityId)) };
      case 'callcentre': {
        const paged = (await this.alertData()?.residentsPagedTo(id)) ?? [];
        return { ...base, pagedResidents: new Set(paged) };
      }
      case 'operator':
        return { ...base, grants: await this.repo.staff.grantsOf(id) };
      default:
        return base;
    }
  }

  /** Residents a non-admin might see, found by relationship rather than a full scan. */
  private async candidates(principal: Principal, facts: PrincipalFacts): Promise<ResidentRecord[]> {
    if (principal.kind !== 'person') return await this.repo.residents.all();
    let ids: Iterable<string>;
    switch (principal.role) {
      case 'family':
        ids = facts.familyOf;
        break;
      case 'worker':
        ids = await this.repo.residents.residentsInCommunitiesOf(principal.userId);
        break;
      case 'callcentre':
        ids = facts.pagedResidents;
        break;
      case 'operator':
        ids = facts.grants.map((g) => g.residentId).filter((r) => r !== '*');
        break;
      default:
        return await this.repo.residents.all();
    }
    const out: ResidentRecord[] = [];
    for (const id of new Set(ids)) {
      const r = await this.repo.residents.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  private async activeUser(userId: string): Promise<UserRecord | undefined> {
    const u = await this.repo.users.get(userId);
    return u && !u.disabled ? u : undefined;
  }
}
