import { TOPIC_ROOT, gatewayTopics } from '@yulan/protos';
import type { DevicePrincipal } from './acl.js';

/**
 * The `gateway` role (docs/ocpp.md §3): a service account (accounts file, role `gateway`)
 * whose session multiplexes many devices. It holds no right of its own on device topics:
 * each right comes from a device **bound** to this session, which happens only when the
 * gateway presents that device's key — or, for an account with `certBind`, its registered
 * client certificate — and the broker's device check accepts it (gateway-link.ts). A device is bound to at most one gateway session at a time, so no
 * gateway can publish for another gateway's device, and no device for another device.
 */
export const GATEWAY_ROLE = 'gateway' as const;

export interface GatewayPrincipal {
  readonly role: typeof GATEWAY_ROLE;
  readonly username: string;
  /** Devices bound to this session, by id (their own device principal: its topics). */
  readonly bound: Map<string, DevicePrincipal>;
  readonly bindTopic: string;
  readonly unbindTopic: string;
  readonly noticeTopic: string;
  /** May bind a device by its client certificate instead of its key (accounts file
   * `certBind`, opt-in: a certificate is not a secret, docs/ocpp.md §3.1). */
  readonly certBind: boolean;
  /** With certBind: only devices of these kinds (slugs); undefined = any kind. */
  readonly certBindKinds: ReadonlySet<string> | undefined;
  /** Devices bound by certificate: id → the certificate's fingerprint (a revoke-cert of it unbinds). */
  readonly boundByCert: Map<string, string>;
}

export function gatewayPrincipal(username: string, certBind?: true | readonly string[]): GatewayPrincipal {
  const t = gatewayTopics(username);
  return {
    role: GATEWAY_ROLE, username, bound: new Map(), bindTopic: t.bind, unbindTopic: t.unbind, noticeTopic: t.notice,
    certBind: certBind !== undefined, certBindKinds: Array.isArray(certBind) ? new Set(certBind) : undefined, boundByCert: new Map(),
  };
}

const ROOT = `${TOPIC_ROOT}/`;

/** The device id level of `yulan/v1/{site}/{kind}/{id}/…`, found by index (hot path). */
function deviceIdOf(topic: string): string | undefined {
  if (!topic.startsWith(ROOT)) return undefined;
  const siteEnd = topic.indexOf('/', ROOT.length);
  if (siteEnd < 0) return undefined;
  const kindEnd = topic.indexOf('/', siteEnd + 1);
  if (kindEnd < 0) return undefined;
  const idEnd = topic.indexOf('/', kindEnd + 1);
  if (idEnd < 0) return undefined;
  return topic.slice(kindEnd + 1, idEnd);
}

function boundFor(p: GatewayPrincipal, topic: string): DevicePrincipal | undefined {
  const id = deviceIdOf(topic);
  return id === undefined ? undefined : p.bound.get(id);
}

/** Exactly the topics the bound device itself could publish to. */
export function gatewayCanPublish(p: GatewayPrincipal, topic: string): boolean {
  return boundFor(p, topic)?.publishTopics.has(topic) ?? false;
}

/** Its notice topic, or exactly the filters the bound device itself could subscribe to
 * (no wildcards: a gateway never sees a device that is not bound to it). */
export function gatewayCanSubscribe(p: GatewayPrincipal, filter: string): boolean {
  if (filter === p.noticeTopic) return true;
  return boundFor(p, filter)?.subscribeTopics.has(filter) ?? false;
}

/** Checked per delivery: a subscription outlives an unbind (revoked, moved to another
 * gateway), and the device's commands must stop reaching this session at once. */
export function gatewayCanRead(p: GatewayPrincipal, topic: string): boolean {
  if (topic === p.noticeTopic) return true;
  return boundFor(p, topic)?.subscribeTopics.has(topic) ?? false;
}
