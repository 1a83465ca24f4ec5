import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { TOPIC_ROOT } from '@yulan/protos';

/**
 * Integration accounts (docs/integrations.md): MQTT accounts an operator creates for
 * outside tools (Telegraf, Node-RED, a script). Their rights are a list of topic filters
 * with read and/or write, compiled once when the account authenticates (or its rules
 * change), so the per-message checks walk pre-split levels against the topic with index
 * arithmetic: no split, no allocation on the hot path, like the device ACL's Set lookup.
 */
export const INTEGRATION_ROLE = 'integration' as const;
/** MQTT username of an integration account: `int:<name>`. `:` is not allowed in device
 * ids, so an integration can never be taken for a device, nor a device for it. */
export const INTEGRATION_USER_PREFIX = 'int:';
export const INTEGRATION_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';
/** Topic level that holds the kind slug (`yulan/v1/{site}/{kind}/…`). */
const KIND_LEVEL = 3;
const HEALTH_KIND = 'fall-sensor';
const ROOT_PREFIX = `${TOPIC_ROOT}/`;

export const IntegrationRuleSchema = Type.Object({
  filter: Type.String({ minLength: 1, maxLength: 256 }),
  read: Type.Boolean(),
  write: Type.Boolean(),
});
export const IntegrationAccountSchema = Type.Object({
  name: Type.String({ pattern: INTEGRATION_NAME_PATTERN }),
  rules: Type.Array(IntegrationRuleSchema, { maxItems: 100 }),
  /** May do anything under `ext/{name}/#`. */
  namespace: Type.Boolean(),
  /** May read fall-sensor (health) topics its rules match. */
  healthGrant: Type.Boolean(),
});
export type IntegrationRule = Static<typeof IntegrationRuleSchema>;
export type IntegrationAccount = Static<typeof IntegrationAccountSchema>;

export function isIntegrationAccount(v: unknown): v is IntegrationAccount {
  return Value.Check(IntegrationAccountSchema, v) && v.rules.every((r) => ruleFilterProblem(r.filter) === undefined);
}

/** Why a rule's filter is unusable, or undefined. Shared with the cloud's validation. */
export function ruleFilterProblem(filter: string): string | undefined {
  if (filter.startsWith('$')) return 'rules cannot name $ topics (platform control, $SYS, $share)';
  if (filter.includes('\u0000')) return 'U+0000 is not allowed in a topic filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '"#" must be a whole last level';
    if (l.includes('+') && l !== '+') return '"+" must be a whole level';
  }
  return undefined;
}

interface CompiledFilter {
  readonly levels: readonly string[];
}

export interface CompiledRules {
  readonly read: readonly CompiledFilter[];
  readonly write: readonly CompiledFilter[];
  readonly healthGrant: boolean;
}

export interface IntegrationPrincipal {
  readonly role: typeof INTEGRATION_ROLE;
  readonly name: string;
  readonly username: string;
  /** Swapped in place when the cloud announces a rule change (integration-link.ts): the
   * live session's next publish, subscribe and delivery use the new rules. */
  rules: CompiledRules;
}

export function compileRules(a: IntegrationAccount): CompiledRules {
  const read: CompiledFilter[] = [];
  const write: CompiledFilter[] = [];
  for (const r of a.rules) {
    const c = { levels: r.filter.split('/') };
    if (r.read) read.push(c);
    if (r.write) write.push(c);
  }
  if (a.namespace) {
    const ns = { levels: ['ext', a.name, '#'] };
    read.push(ns);
    write.push(ns);
  }
  return { read, write, healthGrant: a.healthGrant };
}

export function integrationPrincipal(a: IntegrationAccount): IntegrationPrincipal {
  return { role: INTEGRATION_ROLE, name: a.name, username: `${INTEGRATION_USER_PREFIX}${a.name}`, rules: compileRules(a) };
}

/** Topic-name match of a compiled filter, by index into the topic. `$` topics never
 * match (rules cannot start with `$`, and wildcards do not match them: MQTT-4.7.2-1). */
function matches(f: CompiledFilter, topic: string): boolean {
  if (topic.charCodeAt(0) === 36) return false;
  const levels = f.levels;
  let pos = 0;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level === '#') return true; // also the parent level: `a/#` matches `a`
    if (pos > topic.length) return false;
    let end = topic.indexOf('/', pos);
    if (end === -1) end = topic.length;
    if (level !== '+' && (end - pos !== level.length || !topic.startsWith(level, pos))) return false;
    pos = end + 1;
  }
  return pos === topic.length + 1;
}

/** True when every topic `filter` can match is matched by `rule` (the subscription is
 * no wider than the grant). An overlapping but wider filter is not covered. */
function covers(rule: CompiledFilter, filter: readonly string[]): boolean {
  const r = rule.levels;
  for (let i = 0; i < filter.length; i++) {
    const rl = r[i];
    if (rl === undefined) return false;
    if (rl === '#') return true;
    const fl = filter[i] as string;
    if (fl === '#') return false;
    if (rl === '+') continue;
    if (fl !== rl) return false;
  }
  return r.length === filter.length || (r.length === filter.length + 1 && r[filter.length] === '#');
}

/** `yulan/v1/{site}/fall-sensor/…`, found without splitting. */
function isHealthTopic(topic: string): boolean {
  if (!topic.startsWith(ROOT_PREFIX)) return false;
  const siteEnd = topic.indexOf('/', ROOT_PREFIX.length);
  if (siteEnd === -1) return false;
  const kindStart = siteEnd + 1;
  return topic.startsWith(HEALTH_KIND, kindStart) &&
    (topic.length === kindStart + HEALTH_KIND.length || topic.charCodeAt(kindStart + HEALTH_KIND.length) === 47);
}

export function integrationCanPublish(p: IntegrationPrincipal, topic: string): boolean {
  const w = p.rules.write;
  for (let i = 0; i < w.length; i++) if (matches(w[i] as CompiledFilter, topic)) return true;
  return false;
}

/** May `topic` be delivered to this session? Checked on every delivery, so a narrowed
 * rule or a revoked health grant takes effect on subscriptions made before the change. */
export function integrationCanRead(p: IntegrationPrincipal, topic: string): boolean {
  if (!p.rules.healthGrant && isHealthTopic(topic)) return false;
  const r = p.rules.read;
  for (let i = 0; i < r.length; i++) if (matches(r[i] as CompiledFilter, topic)) return true;
  return false;
}

/**
 * Subscribe checks run once per SUBSCRIBE, so splitting here is fine. `$` filters are
 * refused: `$yulan/…` and `$SYS/…` are platform-internal, and `$share/…` (MQTT 5 shared
 * subscriptions) is not implemented by Aedes 1.x, which would take it as a literal filter.
 */
export function integrationCanSubscribe(p: IntegrationPrincipal, filter: string): boolean {
  if (filter.length === 0 || filter.charCodeAt(0) === 36) return false;
  const levels = filter.split('/');
  // Asking for fall-sensor topics by name without the grant is refused outright (a
  // wildcard kind is allowed; the health topics are then withheld per delivery).
  if (!p.rules.healthGrant && levels[0] === 'yulan' && levels[1] === 'v1' && levels[KIND_LEVEL] === HEALTH_KIND) return false;
  const r = p.rules.read;
  for (let i = 0; i < r.length; i++) if (covers(r[i] as CompiledFilter, levels)) return true;
  return false;
}
