import { onDutyAt } from './policy.js';
import type { ResidentRecord, UserRecord } from './records.js';
import type { PeopleRepository } from './repository.js';

/** One person to phone about a resident, as the care page's alert card lists them. */
export interface ContactEntry {
  userId: string;
  name: string;
  role: 'family' | 'worker';
  /** family: "daughter", …; workers: null */
  relation: string | null;
  phone: string | null;
}

export interface ResidentContacts {
  residentId: string;
  name: string;
  address: string | null;
  phone: string | null;
  /** family contacts in ladder order, then the community worker(s) on duty now */
  contacts: ContactEntry[];
}

/**
 * Who the person handling an alert may want to phone: the resident, their family in
 * ladder order and the worker(s) on duty now (the same people the ladder pages). The
 * caller is left out (nobody needs a link to ring themselves); disabled people too.
 * The call centre is not listed: its agents are reached through the ladder, and their
 * own numbers are not the family's to see.
 */
export async function residentContacts(repo: PeopleRepository, r: ResidentRecord, atMs: number, callerId: string | null): Promise<ResidentContacts> {
  const active = async (id: string): Promise<UserRecord | undefined> => {
    const u = await repo.users.get(id);
    return u && !u.disabled && u.id !== callerId ? u : undefined;
  };
  const contacts: ContactEntry[] = [];
  for (const link of await repo.residents.family(r.id)) {
    const u = await active(link.userId);
    if (u) contacts.push({ userId: u.id, name: u.name, role: 'family', relation: link.relation, phone: u.phone });
  }
  for (const a of await repo.staff.assignmentsIn(r.communityId)) {
    const u = onDutyAt(a, atMs) ? await active(a.userId) : undefined;
    if (u && u.role === 'worker') contacts.push({ userId: u.id, name: u.name, role: 'worker', relation: null, phone: u.phone });
  }
  return { residentId: r.id, name: r.name, address: r.address, phone: r.phone, contacts };
}
