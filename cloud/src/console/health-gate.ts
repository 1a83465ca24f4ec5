import type { KindSlug } from '@yulan/protos';
import type { Principal } from '../care/contracts.js';
import type { PeopleModule } from '../care/people/index.js';

/**
 * Residents' health data on the device API (issue 15, docs/care.md §5). A fall sensor's
 * heart and breathing rate, presence and motion describe the person it watches; operators
 * run devices and get them only with a health grant (for every resident the device serves
 * now, or '*'). Elsewhere the values are left out and named in `redacted`.
 */
export const HEALTH_FIELDS: Readonly<Partial<Record<KindSlug, readonly string[]>>> = {
  'fall-sensor': ['presence', 'motion', 'movement_level', 'heart_rate_bpm', 'breathing_rate_bpm'],
};

export interface HealthGate {
  /** Device ids (of those given) whose health fields the principal may see. */
  visible(principal: Principal | undefined, devices: readonly { id: string; kind: KindSlug }[]): Promise<Set<string>>;
}

/** No people module: only the admin token can call, and it sees everything. */
export const OPEN_GATE: HealthGate = {
  async visible(p, devices) {
    return new Set(devices.filter((d) => p?.kind !== 'api-token' || p.healthGrant || !HEALTH_FIELDS[d.kind]).map((d) => d.id));
  },
};

export function peopleHealthGate(people: PeopleModule): HealthGate {
  return {
    async visible(principal, devices) {
      const all = new Set(devices.map((d) => d.id));
      if (!principal || principal.kind === 'admin-token') return all;
      // An API token sees health fields only with its integration's health grant (all or none).
      if (principal.kind === 'api-token') return principal.healthGrant ? all : new Set(devices.filter((d) => !HEALTH_FIELDS[d.kind]).map((d) => d.id));
      if (principal.role === 'admin') return all;
      const out = new Set<string>();
      const facts = await people.directory.facts(principal);
      const live = facts.grants.filter((g) => g.expiresAt > facts.nowMs);
      const everyone = live.some((g) => g.residentId === '*');
      const granted = new Set(live.map((g) => g.residentId));
      for (const d of devices) {
        if (!HEALTH_FIELDS[d.kind]) {
          out.add(d.id);
          continue;
        }
        if (principal.role !== 'operator') continue;
        if (everyone) {
          out.add(d.id);
          continue;
        }
        // A sensor linked to nobody still watches somebody: only '*' opens it.
        const served = await people.repo.residents.residentsOfDevice(d.id, facts.nowMs, facts.nowMs + 1);
        if (served.length > 0 && served.every((r) => granted.has(r))) out.add(d.id);
      }
      return out;
    },
  };
}

/** The fields without the kind's health fields, and which were removed. */
export function redactFields<T>(kind: KindSlug, fields: Record<string, T>): { fields: Record<string, T>; redacted: string[] } {
  const hidden = HEALTH_FIELDS[kind];
  if (!hidden) return { fields, redacted: [] };
  const out: Record<string, T> = {};
  const redacted: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (hidden.includes(k)) redacted.push(k);
    else out[k] = v;
  }
  return { fields: out, redacted };
}
