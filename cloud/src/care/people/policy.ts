import type { Access, Principal } from '../contracts.js';

/**
 * Who may see which resident (docs/care.md §5), as a pure function of plain facts: no
 * I/O, so the whole table of roles × relationships is tested without a database.
 */

/** none < profile (name, community, devices) < health (alerts, activity, export) */
export const Level = { None: 'none', Profile: 'profile', Health: 'health' } as const;
export type Level = (typeof Level)[keyof typeof Level];

const RANK: Record<Level, number> = { none: 0, profile: 1, health: 2 };

/** What is known about the caller's relationships; only the facts of their role count. */
export interface PrincipalFacts {
  /** residents linked to the person as a family contact */
  familyOf: ReadonlySet<string>;
  /** communities assigned to the person as a community worker (on duty or not) */
  communities: ReadonlySet<string>;
  /** residents with an alert currently paged to the person (call centre) */
  pagedResidents: ReadonlySet<string>;
  /** operators' health-data grants; residentId '*' covers everyone */
  grants: readonly { residentId: string; expiresAt: number }[];
  nowMs: number;
}

export interface ResidentFacts {
  id: string;
  communityId: string;
}

export const NO_FACTS: Omit<PrincipalFacts, 'nowMs'> = {
  familyOf: new Set(),
  communities: new Set(),
  pagedResidents: new Set(),
  grants: [],
};

function granted(facts: PrincipalFacts, residentId: string): boolean {
  return facts.grants.some((g) => g.expiresAt > facts.nowMs && (g.residentId === '*' || g.residentId === residentId));
}

export function accessLevel(principal: Principal, facts: PrincipalFacts, resident: ResidentFacts): Level {
  if (principal.kind === 'admin-token') return Level.Health;
  // API tokens read health data only through the routes their scopes name (alert stream).
  if (principal.kind === 'api-token') return Level.None;
  switch (principal.role) {
    case 'admin':
      return Level.Health;
    case 'operator':
      // Operators run the devices: they need to know who a device belongs to, not how
      // that person is doing, unless someone granted it for a while.
      return granted(facts, resident.id) ? Level.Health : Level.Profile;
    case 'family':
      return facts.familyOf.has(resident.id) ? Level.Health : Level.None;
    case 'worker':
      return facts.communities.has(resident.communityId) ? Level.Health : Level.None;
    case 'callcentre':
      return facts.pagedResidents.has(resident.id) ? Level.Health : Level.None;
    default:
      return Level.None;
  }
}

export function allows(level: Level, access: Access): boolean {
  return RANK[level] >= RANK[access];
}

/** Whether the principal's health-data access covers every resident (admins, and
 * operators holding an unexpired '*' grant). */
export function seesAllHealth(principal: Principal, facts: PrincipalFacts): boolean {
  if (principal.kind === 'admin-token') return true;
  if (principal.kind !== 'person') return false;
  if (principal.role === 'admin') return true;
  return principal.role === 'operator' && facts.grants.some((g) => g.residentId === '*' && g.expiresAt > facts.nowMs);
}

// --- duty hours -------------------------------------------------------------------

/** Communities here keep Asia/Shanghai time: UTC+8 all year, no daylight saving. */
export const UTC_OFFSET_MIN = 480;
export const TIMEZONE = 'Asia/Shanghai' as const;
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** 'HH:MM' → minutes after midnight, or undefined when malformed. */
export function parseClock(text: string): number | undefined {
  const m = CLOCK.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** Minutes after local midnight in Asia/Shanghai at `atMs`. */
export function localMinuteOfDay(atMs: number): number {
  const minutes = Math.floor(atMs / 60_000) + UTC_OFFSET_MIN;
  return ((minutes % 1440) + 1440) % 1440;
}

/** True when `minute` lies in [from, to); a window with from > to wraps past midnight
 * (22:00–06:00), and from = to means all day. */
export function inWindow(minute: number, from: number, to: number): boolean {
  if (from === to) return true;
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

export interface DutyFacts {
  onDuty: boolean;
  dutyFrom: string | null;
  dutyTo: string | null;
}

/** On duty at `atMs`: switched on, and inside the duty hours when there are any. */
export function onDutyAt(a: DutyFacts, atMs: number): boolean {
  if (!a.onDuty) return false;
  if (a.dutyFrom === null || a.dutyTo === null) return true;
  const from = parseClock(a.dutyFrom);
  const to = parseClock(a.dutyTo);
  if (from === undefined || to === undefined) return false;
  return inWindow(localMinuteOfDay(atMs), from, to);
}
