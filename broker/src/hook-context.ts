import type { AedesOptions, Client } from 'aedes';
import { CONTROL_ROOT } from '@yulan/protos';
import type { Logger } from 'pino';
import type { DevicePrincipal, Principal } from './acl.js';
import type { ConnectionLimits, PublishQuotas } from './quotas.js';
import type { Accounts } from './accounts.js';
import type { DeviceAuthenticator } from './device-auth.js';
import type { CertRevocations, DeviceCertAuthenticator } from './device-cert.js';
import type { CertRotation } from './cert-rotation.js';
import type { OutgoingState } from './flow-control.js';
import type { BrokerMetrics } from './metrics.js';
import { ConnectOrder } from './connect-order.js';
import type { ReplayGate } from './persistence.js';
import type { PresenceReason } from './presence.js';
import type { IntegrationAuthenticator } from './integration-auth.js';
import type { ClaimGate } from './claim-link.js';
import type { GatewayLink } from './gateway-link.js';

// What the connect hooks (auth-hooks.ts, authenticators.ts) and the per-message hooks
// (publish-hooks.ts) share: the session they build and read, and what they are given.

/** Per-connection state, built once at authentication so per-message hooks only read it. */
export interface Session {
  readonly principal: Principal;
  readonly out: OutgoingState;
  /** Set by the broker when it ends the session itself (revocation, shutdown). */
  endReason: PresenceReason | undefined;
  /** The client's last will passed the ACL and is being published. */
  willFired: boolean;
  /** Its id connected to another broker process, which closes this session and has
   * published online presence already: no offline presence from here. */
  takenOver: boolean;
  /** Order of the connection it came on (see connect-order.ts). */
  readonly connectSeq: number;
  /** Highest QoS granted to any of its subscriptions. When 0, every delivery to it is
   * QoS 0 (MQTT downgrades to the subscription QoS), so it may be dropped under load
   * whatever QoS the publisher used. Never lowered on unsubscribe: erring high only
   * means push-back instead of a drop. */
  maxSubQos: number;
}

export interface ConnectInfo {
  clientId: string;
  clean: boolean;
  /** Order of the connection: when its socket was accepted (see connectionOpened). */
  seq: number;
}

export interface HookContext {
  accounts: Accounts;
  deviceAuth: DeviceAuthenticator;
  metrics: BrokerMetrics;
  logger: Logger;
  maxPacketBytes: number;
  queueLimit: number;
  isClosing: () => boolean;
  /** Sessions live in storage shared with other broker processes (clustered mode). */
  sharedState?: boolean;
  /** True while devices must wait for persistent subscribers after a restart (startup-hold.ts). */
  holdDevices?: () => boolean;
  /** Orders a reconnected persistent session's backlog before live deliveries (persistence.ts). */
  replay?: ReplayGate;
  /** Integration accounts (`int:<name>`), authenticated through the cloud. */
  integrations?: IntegrationAuthenticator;
  /** Per-address connect rate and failed-authentication limits (quotas.ts). */
  limits?: ConnectionLimits;
  /** Per-device publish quotas (quotas.ts). */
  quotas?: PublishQuotas;
  /** A device went over its quota: `refused` publishes since the last call (at most one per 10 s). */
  onQuota?(principal: DevicePrincipal, refused: number, disconnected: boolean): void;
  /** Device certificates (mutual TLS, device-cert.ts): set when a device CA is configured. */
  certAuth?: { auth: DeviceCertAuthenticator; revoked: CertRevocations };
  /** Claim sessions (`claim:<id>`, provisioning by claim; claim-link.ts). */
  claims?: ClaimGate;
  /** Certificate rotation over the device's session (cert-rotation.ts): with certAuth. */
  certRotation?: Pick<CertRotation, 'isRequest' | 'handle'>;
  /** Gateway accounts' device bindings (gateway-link.ts). */
  gateways?: Pick<GatewayLink, 'isRequest' | 'handle'>;
}

export type Hooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

export interface BrokerHooks extends Hooks {
  sessionOf(client: Client): Session | undefined;
  /** Call when a client's connection has ended (forgets its CONNECT order). */
  sessionEnded(client: Client): void;
  /** Call for every accepted transport connection, before Aedes reads from it: the order
   * of connections is the order their sockets were accepted. */
  connectionOpened(stream: object): void;
}

/** What the hooks keep per client between CONNECT and the end of the connection. */
export interface HookState {
  // WeakMaps keyed by the Aedes client: state dies with the connection, and we never
  // write our own fields onto Aedes' objects.
  readonly sessions: WeakMap<Client, Session>;
  /** The CONNECT as sent, from preConnect to authenticate. */
  readonly connects: WeakMap<Client, ConnectInfo>;
  readonly order: ConnectOrder;
}

export function createHookState(): HookState {
  return { sessions: new WeakMap(), connects: new WeakMap(), order: new ConnectOrder() };
}

/** Denied publishes are re-pointed here: a `$` topic no ACL lets anyone subscribe to.
 * MQTT 3.1.1 has no negative PUBACK, and Aedes closes the connection on an
 * authorizePublish error; re-pointing acknowledges and discards instead. */
export const DISCARD_TOPIC = `${CONTROL_ROOT}/discard`;

/** Re-points a publish Aedes goes on to handle to the discard topic (see DISCARD_TOPIC). */
export function repointToDiscard(packet: { topic: string; retain: boolean }): void {
  packet.topic = DISCARD_TOPIC;
  packet.retain = false;
}
