/**
 * What the security monitor watches (docs/security.md, "Security alerts"; ETSI EN 303 645
 * 5.10-1): each rule reads one figure from the broker's counters (its admin API, the same
 * figures as its /metrics) or from the cloud's own, and fires when that figure rises by
 * `threshold` or more within `windowSec`. Counters only ever grow (a restart sets them back
 * to zero; the engine takes that as a reset), so "rises by" is a rate over the window.
 */

export type Source = 'broker' | 'cloud';

/** The cloud's own refusal counters (http-refusals.ts) plus the claims module's. */
export interface CloudCounters {
  /** sign-ins refused: wrong login or password (401) or backing off (429) */
  signInRefused: number;
  /** API requests refused for a missing, wrong or over-limit credential (401/429), sign-in and the internal endpoints excepted */
  credentialRefused: number;
  /** claim logins and exchanges refused, all reasons (claims/service.ts) */
  claimsRefused: number;
}

type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null ? v as Json : {});
const sum = (v: unknown): number => Object.values(obj(v)).reduce<number>((a, x) => a + num(x), 0);

export interface RuleDefinition {
  id: string;
  source: Source;
  description: string;
  threshold: number;
  windowSec: number;
  read(counters: Json): number;
}

/** Defaults: well above what a healthy fleet produces (a device retrying a stale secret a
 * few times a minute stays under), low enough that a spray or a probe is seen within a minute. */
export const RULES: readonly RuleDefinition[] = [
  {
    id: 'mqtt-auth', source: 'broker', threshold: 30, windowSec: 60,
    description: 'MQTT logins refused: wrong secrets, throttled failures, refused certificates and claim logins',
    read: (b) => num(b.authFailures) + num(b.authThrottled) + sum(b.certRefused) + num(obj(b.claims).loginsRefused),
  },
  {
    id: 'mqtt-connect-flood', source: 'broker', threshold: 30, windowSec: 60,
    description: 'MQTT connections refused for their rate per address, or during a quota cool-down',
    read: (b) => num(b.connectsThrottled) + num(b.quotaCooldownRefusals),
  },
  {
    id: 'mqtt-quota', source: 'broker', threshold: 500, windowSec: 60,
    description: 'publishes refused over a device\'s quota',
    read: (b) => num(b.quotaRefused),
  },
  {
    id: 'mqtt-acl', source: 'broker', threshold: 30, windowSec: 60,
    description: 'publishes and subscriptions denied by the ACL (a client reaching for topics not its own)',
    read: (b) => sum(b.aclDenied),
  },
  {
    id: 'tls-refused', source: 'broker', threshold: 30, windowSec: 60,
    description: 'TLS handshakes refused: old protocols, not TLS, stalled, bad certificates',
    read: (b) => sum(b.tlsRefused),
  },
  {
    id: 'broker-admin', source: 'broker', threshold: 5, windowSec: 60,
    description: 'requests to the broker\'s admin API with a missing or wrong broker token',
    read: (b) => num(b.adminRefused),
  },
  {
    id: 'claims', source: 'cloud', threshold: 1, windowSec: 300,
    description: 'claim uses refused: a serial used twice, over the count, expired, revoked, wrong secret',
    read: (c) => num(c.claimsRefused),
  },
  {
    id: 'sign-in', source: 'cloud', threshold: 20, windowSec: 60,
    description: 'console and care-page sign-ins refused (wrong password or backing off)',
    read: (c) => num(c.signInRefused),
  },
  {
    id: 'api-credentials', source: 'cloud', threshold: 30, windowSec: 60,
    description: 'API requests refused for a missing, wrong or over-limit token',
    read: (c) => num(c.credentialRefused),
  },
];

export interface RuleSetting {
  threshold: number;
  windowSec: number;
}

/**
 * Parses YULAN_SECURITY_RULES: comma-separated `id=threshold/windowSec` or `id=off`, each
 * overriding one default. Returns the problems (naming the rule, never guessing) or the
 * overrides; `null` in the map switches a rule off.
 */
export function parseRuleOverrides(spec: string | undefined): { overrides: Map<string, RuleSetting | null>; problems: string[] } {
  const overrides = new Map<string, RuleSetting | null>();
  const problems: string[] = [];
  if (spec === undefined) return { overrides, problems };
  const known = new Set(RULES.map((r) => r.id));
  for (const item of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([a-z-]+)=(?:(off)|([0-9]{1,7})\/([0-9]{1,6}))$/.exec(item);
    if (!m) { problems.push(`YULAN_SECURITY_RULES: "${item.slice(0, 60)}" is not id=threshold/windowSec or id=off`); continue; }
    const id = m[1] as string;
    if (!known.has(id)) { problems.push(`YULAN_SECURITY_RULES: unknown rule "${id}" (known: ${[...known].join(', ')})`); continue; }
    if (overrides.has(id)) { problems.push(`YULAN_SECURITY_RULES: rule "${id}" given twice`); continue; }
    if (m[2] === 'off') { overrides.set(id, null); continue; }
    const threshold = Number(m[3]);
    const windowSec = Number(m[4]);
    if (threshold < 1) problems.push(`YULAN_SECURITY_RULES: ${id}: the threshold must be at least 1`);
    else if (windowSec < 1 || windowSec > 86_400) problems.push(`YULAN_SECURITY_RULES: ${id}: the window must be 1..86400 seconds`);
    else overrides.set(id, { threshold, windowSec });
  }
  return { overrides, problems };
}

/** The rules in force: the defaults with the overrides applied, the switched-off ones left out. */
export function effectiveRules(overrides: ReadonlyMap<string, RuleSetting | null>): RuleDefinition[] {
  const out: RuleDefinition[] = [];
  for (const r of RULES) {
    const o = overrides.get(r.id);
    if (o === null) continue;
    out.push(o === undefined ? r : { ...r, ...o });
  }
  return out;
}
