import { describe, expect, it } from 'vitest';
import type { Principal, Role } from '../src/care/contracts.js';
import {
  accessLevel,
  allows,
  inWindow,
  localMinuteOfDay,
  NO_FACTS,
  onDutyAt,
  parseClock,
  seesAllHealth,
  type PrincipalFacts,
} from '../src/care/people/policy.js';

const NOW = Date.UTC(2025, 0, 15, 4, 0); // 12:00 in Shanghai
const person = (role: Role): Principal => ({ kind: 'person', userId: 'u1', role, name: 'N', locale: 'zh-CN' });
const facts = (over: Partial<PrincipalFacts> = {}): PrincipalFacts => ({ ...NO_FACTS, nowMs: NOW, ...over });
const mine = { id: 'r-mine', communityId: 'c-mine' };
const other = { id: 'r-other', communityId: 'c-other' };

describe('access policy: roles × relationships', () => {
  const linked = facts({
    familyOf: new Set(['r-mine']),
    communities: new Set(['c-mine']),
    pagedResidents: new Set(['r-mine']),
  });
  const table: [string, Principal, PrincipalFacts, typeof mine, 'none' | 'profile' | 'health'][] = [
    ['admin token, anyone', { kind: 'admin-token' }, facts(), other, 'health'],
    ['admin person, anyone', person('admin'), facts(), other, 'health'],
    ['family, linked resident', person('family'), linked, mine, 'health'],
    ['family, unlinked resident', person('family'), linked, other, 'none'],
    ['family, same community but not linked', person('family'), facts({ communities: new Set(['c-other']) }), other, 'none'],
    ['worker, resident of an assigned community', person('worker'), linked, mine, 'health'],
    ['worker, resident elsewhere', person('worker'), linked, other, 'none'],
    ['worker, family link does not count', person('worker'), facts({ familyOf: new Set(['r-other']) }), other, 'none'],
    ['call centre, alert paged to them', person('callcentre'), linked, mine, 'health'],
    ['call centre, nothing paged', person('callcentre'), linked, other, 'none'],
    ['operator, no grant', person('operator'), facts(), mine, 'profile'],
    ['operator, grant for this resident', person('operator'), facts({ grants: [{ residentId: 'r-mine', expiresAt: NOW + 1 }] }), mine, 'health'],
    ['operator, grant for another resident', person('operator'), facts({ grants: [{ residentId: 'r-mine', expiresAt: NOW + 1 }] }), other, 'profile'],
    ['operator, expired grant', person('operator'), facts({ grants: [{ residentId: 'r-mine', expiresAt: NOW }] }), mine, 'profile'],
    ['operator, wildcard grant', person('operator'), facts({ grants: [{ residentId: '*', expiresAt: NOW + 60_000 }] }), other, 'health'],
    ['operator, expired wildcard grant', person('operator'), facts({ grants: [{ residentId: '*', expiresAt: NOW - 1 }] }), other, 'profile'],
    ['family holding a grant row: grants are for operators only', person('family'), facts({ grants: [{ residentId: '*', expiresAt: NOW + 1 }] }), other, 'none'],
  ];
  it.each(table)('%s', (_name, principal, f, resident, expected) => {
    expect(accessLevel(principal, f, resident)).toBe(expected);
  });

  it('allows: health implies profile, profile does not imply health, none allows nothing', () => {
    expect(allows('health', 'profile')).toBe(true);
    expect(allows('health', 'health')).toBe(true);
    expect(allows('profile', 'profile')).toBe(true);
    expect(allows('profile', 'health')).toBe(false);
    expect(allows('none', 'profile')).toBe(false);
  });

  it('seesAllHealth: admins and operators with an unexpired wildcard grant only', () => {
    expect(seesAllHealth({ kind: 'admin-token' }, facts())).toBe(true);
    expect(seesAllHealth(person('admin'), facts())).toBe(true);
    expect(seesAllHealth(person('operator'), facts())).toBe(false);
    expect(seesAllHealth(person('operator'), facts({ grants: [{ residentId: '*', expiresAt: NOW + 1 }] }))).toBe(true);
    expect(seesAllHealth(person('operator'), facts({ grants: [{ residentId: '*', expiresAt: NOW }] }))).toBe(false);
    expect(seesAllHealth(person('operator'), facts({ grants: [{ residentId: 'r-mine', expiresAt: NOW + 1 }] }))).toBe(false);
    expect(seesAllHealth(person('family'), facts({ grants: [{ residentId: '*', expiresAt: NOW + 1 }] }))).toBe(false);
  });
});

describe('duty hours (Asia/Shanghai, UTC+8, no DST)', () => {
  /** epoch ms of a Shanghai local time on 2025-01-15 (or 2025-07-15: no DST either) */
  const at = (hh: number, mm: number, month = 0) => Date.UTC(2025, month, 15, hh - 8, mm);

  it('parses HH:MM and rejects anything else', () => {
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('08:30')).toBe(510);
    expect(parseClock('23:59')).toBe(1439);
    for (const bad of ['24:00', '8:30', '08:60', '', '08:30:00', 'ab:cd']) expect(parseClock(bad), bad).toBeUndefined();
  });

  it('local minute of day is UTC+8 in winter and summer alike', () => {
    expect(localMinuteOfDay(at(0, 0))).toBe(0);
    expect(localMinuteOfDay(at(8, 15))).toBe(495);
    expect(localMinuteOfDay(at(8, 15, 6))).toBe(495);
    expect(localMinuteOfDay(Date.UTC(2025, 0, 15, 16, 0))).toBe(0); // 16:00 UTC = midnight next day
  });

  it('windows: [from, to), wrapping past midnight, from = to is all day', () => {
    expect(inWindow(540, 480, 1080)).toBe(true);
    expect(inWindow(1080, 480, 1080)).toBe(false);
    expect(inWindow(479, 480, 1080)).toBe(false);
    expect(inWindow(1400, 1320, 360)).toBe(true);
    expect(inWindow(100, 1320, 360)).toBe(true);
    expect(inWindow(720, 1320, 360)).toBe(false);
    expect(inWindow(720, 600, 600)).toBe(true);
  });

  const day = { onDuty: true, dutyFrom: '08:00', dutyTo: '18:00' };
  const night = { onDuty: true, dutyFrom: '22:00', dutyTo: '06:00' };
  const cases: [string, { onDuty: boolean; dutyFrom: string | null; dutyTo: string | null }, number, boolean][] = [
    ['day shift, 09:00', day, at(9, 0), true],
    ['day shift, 07:59', day, at(7, 59), false],
    ['day shift, 18:00 (end is exclusive)', day, at(18, 0), false],
    ['day shift but switched off', { ...day, onDuty: false }, at(9, 0), false],
    ['night shift, 23:30', night, at(23, 30), true],
    ['night shift, 05:59', night, at(5, 59), true],
    ['night shift, 12:00', night, at(12, 0), false],
    ['no hours: on duty whenever switched on', { onDuty: true, dutyFrom: null, dutyTo: null }, at(3, 0), true],
    ['no hours and off', { onDuty: false, dutyFrom: null, dutyTo: null }, at(3, 0), false],
    ['malformed hours never count as on duty', { onDuty: true, dutyFrom: '8am', dutyTo: '18:00' }, at(9, 0), false],
  ];
  it.each(cases)('%s', (_name, a, atMs, expected) => {
    expect(onDutyAt(a, atMs)).toBe(expected);
  });
});
