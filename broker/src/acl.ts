import {
  CONTROL_ROOT,
  DEVICE_PUBLISH_CHANNELS,
  DEVICE_SUBSCRIBE_CHANNELS,
  TOPIC_ROOT,
  certRotationTopics,
  deviceTopic,
  kindFromSlug,
  type KnownKind,
} from '@yulan/protos';
import { INTEGRATION_ROLE, integrationCanPublish, integrationCanSubscribe, type IntegrationPrincipal } from './integration-acl.js';
import { CLAIM_ROLE, claimCanPublish, claimCanSubscribe, type ClaimPrincipal } from './claim-acl.js';
import { GATEWAY_ROLE, gatewayCanPublish, gatewayCanSubscribe, type GatewayPrincipal } from './gateway-acl.js';

/**
 * Topic ACL (docs/architecture.md, "Topic ACL"). Pure functions over a principal that is
 * built once per connection, so the per-message checks are a Set lookup or a prefix
 * compare — no splitting or allocation on the hot path.
 */
export const Role = { Device: 'device', Edge: 'edge', Cloud: 'cloud', Integration: INTEGRATION_ROLE, Claim: CLAIM_ROLE, Gateway: GATEWAY_ROLE } as const;
export type Role = (typeof Role)[keyof typeof Role];
export type ServiceRole = typeof Role.Edge | typeof Role.Cloud;

export interface DevicePrincipal {
  readonly role: typeof Role.Device;
  readonly deviceId: string;
  readonly site: string;
  readonly kind: KnownKind;
  readonly presenceTopic: string;
  /** The exact topics it may publish to (its own prefix, allowed channels). */
  readonly publishTopics: ReadonlySet<string>;
  /** The exact filters it may subscribe to (its cmd and twin-desired topics). */
  readonly subscribeTopics: ReadonlySet<string>;
}
export interface ServicePrincipal {
  readonly role: ServiceRole;
  readonly username: string;
}
export type Principal = DevicePrincipal | ServicePrincipal | IntegrationPrincipal | ClaimPrincipal | GatewayPrincipal;

/** Builds a device principal; throws ProtoError(E_TOPIC) on an invalid site or id. */
export function devicePrincipal(deviceId: string, site: string, kind: KnownKind): DevicePrincipal {
  const addr = { deviceId, site, kind };
  return {
    role: Role.Device,
    deviceId,
    site,
    kind,
    presenceTopic: deviceTopic(addr, 'presence'),
    publishTopics: new Set(DEVICE_PUBLISH_CHANNELS.map((c) => deviceTopic(addr, c))),
    // and its certificate-rotation replies (cert-rotation.ts), which only it may read
    subscribeTopics: new Set([...DEVICE_SUBSCRIBE_CHANNELS.map((c) => deviceTopic(addr, c)), certRotationTopics(deviceId).reply]),
  };
}

export function servicePrincipal(username: string, role: ServiceRole): ServicePrincipal {
  return { role, username };
}

const DEVICE_ROOT = `${TOPIC_ROOT}/`;
const CONTROL_PREFIX = `${CONTROL_ROOT}/control`;
const CLOUD_PUBLISH_CHANNELS = new Set<string>(['cmd', 'twin-desired']);
/** Channels the cloud may subscribe to across devices (`+` levels allowed). */
const CLOUD_WIDE_CHANNELS = new Set<string>(['presence', 'cmd-result', 'twin-reported']);
/** Channels the cloud may only subscribe to one device at a time (exact topic): it
 * watches a device while confirming a command, and must never swallow the whole stream. */
const CLOUD_EXACT_CHANNELS = new Set<string>(['telemetry', 'event']);

export function canPublish(p: Principal, topic: string): boolean {
  switch (p.role) {
    case Role.Device:
      return p.publishTopics.has(topic);
    case Role.Cloud:
      return isControlTopic(topic) || isCloudDeviceTopic(topic);
    case Role.Edge:
      return false;
    case Role.Integration:
      return integrationCanPublish(p, topic);
    case Role.Claim:
      return claimCanPublish(p, topic);
    case Role.Gateway:
      return gatewayCanPublish(p, topic);
  }
}

export function canSubscribe(p: Principal, filter: string): boolean {
  switch (p.role) {
    case Role.Device:
      // Exact topics only; the Set holds concrete topics, so any wildcard filter misses.
      return p.subscribeTopics.has(filter);
    case Role.Edge:
      return filter === `${TOPIC_ROOT}/#` || (filter.startsWith(DEVICE_ROOT) && filter.length > DEVICE_ROOT.length);
    case Role.Cloud:
      return isCloudFilter(filter);
    case Role.Integration:
      return integrationCanSubscribe(p, filter);
    case Role.Claim:
      return claimCanSubscribe(p, filter);
    case Role.Gateway:
      return gatewayCanSubscribe(p, filter);
  }
}

/** `yulan/v1/{site|+}/{kind|+}/{id|+}/{presence,cmd-result,twin-reported}`, or the exact
 * telemetry/event topic of one device. No `#`, no wildcard channel. */
function isCloudFilter(filter: string): boolean {
  // the broker's over-quota notices (quota-notice.ts)
  if (filter === `${CONTROL_ROOT}/quota/+`) return true;
  if (!filter.startsWith(DEVICE_ROOT) || filter.includes('#')) return false;
  const parts = filter.split('/');
  if (parts.length !== 6) return false;
  const [, , site, slug, id, channel] = parts as [string, string, string, string, string, string];
  if (site.length === 0 || id.length === 0 || (slug !== '+' && kindFromSlug(slug) === undefined)) return false;
  if (CLOUD_WIDE_CHANNELS.has(channel)) return true;
  return CLOUD_EXACT_CHANNELS.has(channel) && !site.includes('+') && slug !== '+' && !id.includes('+');
}

/** `$yulan/v1/control/#` — the filter also matches its parent level. */
function isControlTopic(topic: string): boolean {
  return topic === CONTROL_PREFIX || topic.startsWith(`${CONTROL_PREFIX}/`);
}

/** `yulan/v1/+/+/+/{cmd,twin-desired}` with a real kind slug and valid-looking levels. */
function isCloudDeviceTopic(topic: string): boolean {
  if (!topic.startsWith(DEVICE_ROOT)) return false;
  const parts = topic.split('/');
  if (parts.length !== 6) return false;
  const [, , site, slug, id, channel] = parts as [string, string, string, string, string, string];
  return site.length > 0 && id.length > 0 && kindFromSlug(slug) !== undefined && CLOUD_PUBLISH_CHANNELS.has(channel);
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}
