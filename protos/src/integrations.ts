import { KIND_SLUGS, TOPIC_ROOT, isValidId } from './topics.js';

/**
 * Integration accounts (docs/integrations.md): the wire contract between the cloud, which
 * stores them, and the broker, which enforces them (internal integration-auth answer and
 * the `$yulan/v1/control/integration` notice).
 */

/** MQTT username of an integration: `int:<name>`. `:` never occurs in device ids. */
export const INTEGRATION_USER_PREFIX = 'int:';
export const INTEGRATION_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const MAX_INTEGRATION_RULES = 100;

export interface IntegrationRule {
  /** MQTT topic filter; never a `$` topic. */
  filter: string;
  read: boolean;
  write: boolean;
}

export interface IntegrationAccount {
  name: string;
  rules: IntegrationRule[];
  /** May do anything under `ext/{name}/#`. */
  namespace: boolean;
  /** May read fall-sensor (health) topics its rules match. */
  healthGrant: boolean;
}

/** cloud → broker on `$yulan/v1/control/integration`: `update` gives live sessions new
 * rules; `cut` ends them (disabled, secret rotated, deleted). */
export interface IntegrationNotice {
  name: string;
  action: 'update' | 'cut';
  account?: IntegrationAccount;
}

const SLUGS = new Set<string>(KIND_SLUGS);
const CHANNEL_LEVEL = 5;

/** Why a rule's filter is unusable, or undefined. Under `yulan/v1/` the site level must be
 * an id or `+` and the kind level a known kind slug or `+` (rules are scoped by site and
 * kind); elsewhere any non-`$` filter is allowed (an integration's own topics). */
export function ruleFilterProblem(filter: string): string | undefined {
  if (filter.length === 0 || filter.length > 256) return 'a filter has 1 to 256 characters';
  if (filter.startsWith('$')) return 'rules cannot name $ topics (platform control, $SYS, $share)';
  if (filter.includes('\u0000')) return 'U+0000 is not allowed in a topic filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '"#" must be a whole last level';
    if (l.includes('+') && l !== '+') return '"+" must be a whole level';
  }
  if (filter.startsWith(`${TOPIC_ROOT}/`)) {
    const [, , site, kind] = levels;
    if (site !== undefined && site !== '+' && site !== '#' && !isValidId(site)) return `"${site}" is not a site id`;
    if (kind !== undefined && kind !== '+' && kind !== '#' && !SLUGS.has(kind)) return `"${kind}" is not a device kind (${KIND_SLUGS.join(', ')})`;
    if (levels.length > CHANNEL_LEVEL + 1) return 'yulan/v1 topics have six levels';
  }
  return undefined;
}

export function isIntegrationAccount(v: unknown): v is IntegrationAccount {
  const a = v as Partial<IntegrationAccount> | null;
  return typeof a === 'object' && a !== null && typeof a.name === 'string' && INTEGRATION_NAME_RE.test(a.name) &&
    typeof a.namespace === 'boolean' && typeof a.healthGrant === 'boolean' && Array.isArray(a.rules) &&
    a.rules.length <= MAX_INTEGRATION_RULES &&
    a.rules.every((r: Partial<IntegrationRule> | null) =>
      typeof r === 'object' && r !== null && typeof r.filter === 'string' && typeof r.read === 'boolean' &&
      typeof r.write === 'boolean' && ruleFilterProblem(r.filter) === undefined);
}

/** Parses a notice payload; undefined when malformed. */
export function parseIntegrationNotice(payload: Uint8Array): IntegrationNotice | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return undefined;
  }
  const n = v as Partial<IntegrationNotice> | null;
  if (typeof n?.name !== 'string' || !INTEGRATION_NAME_RE.test(n.name)) return undefined;
  if (n.action === 'cut') return { name: n.name, action: 'cut' };
  if (n.action === 'update' && isIntegrationAccount(n.account) && n.account.name === n.name) {
    return { name: n.name, action: 'update', account: n.account };
  }
  return undefined;
}
