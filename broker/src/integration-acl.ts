import { INTEGRATION_USER_PREFIX, TOPIC_ROOT, type IntegrationAccount } from '@yulan/protos';

/**
 * Integration accounts (docs/integrations.md): MQTT accounts an operator creates for
 * outside tools (Telegraf, Node-RED, a script). Their rights are a list of topic filters
 * with read and/or write, compiled once when the account authenticates (or its rules
 * change), so the per-message checks walk pre-split levels against the topic with index
 * arithmetic: no split, no allocation on the hot path, like the device ACL's Set lookup.
 * The account's shape and rule validation are the wire contract (protos/src/integrations.ts).
 */
export const INTEGRATION_ROLE = 'integration' as const;
export { INTEGRATION_USER_PREFIX };
/** Topic level that holds the kind slug (`yulan/v1/{site}/{kind}/…`). */
const KIND_LEVEL = 3;
const HEALTH_KIND = 'fall-sensor';
const ROOT_PREFIX = `${TOPIC_ROOT}/`;

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
