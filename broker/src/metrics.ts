import type { GatewayLinkStats } from './gateway-link.js';
import { emptyTlsRefusals, type TlsRefusal } from '@yulan/protos';
import { emptyCertRefusals, type CertRefusal } from './device-cert.js';
import { emptyClaimMetrics, type ClaimMetrics } from './claim-link.js';
import { emptyCertRotationCounts, type CertRotationCounts } from './cert-rotation.js';

/** Broker counters, exposed by `handle.metrics()` and `GET /metrics`. Plain mutable
 * numbers: incrementing a field is the cheapest thing the hot path can do. */
export interface BrokerMetrics {
  connections: { current: number; total: number };
  /** Open transport connections (TCP + WebSocket), including ones not yet authenticated. */
  sockets: { current: number; total: number };
  messagesIn: number;
  messagesOut: number;
  authFailures: number;
  /** Unknown devices refused because the cloud could not be asked. */
  authUnavailable: number;
  /** CONNECTs refused because their socket closed, or a newer CONNECT of the same client
   * id was accepted, while their credentials were being checked. */
  connectsAbandoned: number;
  /** Live sessions closed because a new CONNECT with the same client id was accepted
   * ([MQTT-3.1.4-2]); counted where the old session lived. A steady rise means two devices
   * share an id. */
  sessionsReplaced: number;
  aclDenied: { publish: number; subscribe: number };
  droppedQos0: number;
  /** QoS 1/2 messages dropped from an offline persistent session's full queue (oldest first). */
  droppedQueued: number;
  /** Live deliveries left to a reconnected session's queue replay, so they go out in order. */
  heldForReplay: number;
  oversizedPackets: number;
  protocolErrors: number;
  /** Subscribers disconnected because their socket stayed full past the drain timeout. */
  slowConsumerDisconnects: number;
  revocations: number;
  /** Publishes refused for being over the device's quota (acknowledged, discarded). */
  quotaRefused: number;
  /** Devices disconnected for staying over their quota. */
  quotaDisconnects: number;
  /** CONNECTs of a device refused while it cools down after a quota disconnect. */
  quotaCooldownRefusals: number;
  /** CONNECTs refused unchecked: too many failed authentications from the address or id. */
  authThrottled: number;
  /** CONNECTs refused: too many from one address in the window. */
  connectsThrottled: number;
  /** TLS handshakes refused, by reason (old protocol, stalled, not TLS, bad certificate). */
  tlsRefused: Record<TlsRefusal, number>;
  /** Certificate reloads that took effect (SIGHUP or a changed file). */
  tlsReloads: number;
  /** Devices logged in by certificate (mutual TLS), and certificate logins refused, by reason. */
  certLogins: number;
  certRefused: Record<CertRefusal, number>;
  /** Provisioning by claim: claim sessions and exchanges (claim-link.ts). */
  claims: ClaimMetrics;
  /** Certificate rotations asked over MQTT (cert-rotation.ts), by outcome. */
  certRotations: CertRotationCounts;
  bytesIn: number;
  bytesOut: number;
  /** Gauge: bytes waiting to be written to subscribers right now (all clients). */
  outgoingQueuedBytes: number;
  /** Gauge: published messages waiting for a delivery slot. */
  busBacklog: number;
  /** Gauge: publishers whose sockets are not being read until the backlog drains. */
  publishersHeld: number;
  /** Admin API requests refused for a missing or wrong broker token (admin-api.ts). */
  adminRefused: number;
  /** Clients disconnected through the admin API (the console's broker view). */
  adminDisconnects: number;
  /** Gauge: messages held for persistent sessions, sent-unacknowledged or unsent (single
   * process; 0 in the clustered mode, where Redis holds them). */
  sessionQueued: number;
  /** Gateway accounts' bindings (gateway-link.ts): binds, refusals, by certificate too. */
  gatewayBinds?: GatewayLinkStats;
}

export function createMetrics(): BrokerMetrics {
  return {
    connections: { current: 0, total: 0 },
    sockets: { current: 0, total: 0 },
    messagesIn: 0,
    messagesOut: 0,
    authFailures: 0,
    authUnavailable: 0,
    connectsAbandoned: 0,
    sessionsReplaced: 0,
    aclDenied: { publish: 0, subscribe: 0 },
    droppedQos0: 0,
    droppedQueued: 0,
    heldForReplay: 0,
    oversizedPackets: 0,
    protocolErrors: 0,
    slowConsumerDisconnects: 0,
    revocations: 0,
    quotaRefused: 0,
    quotaDisconnects: 0,
    quotaCooldownRefusals: 0,
    authThrottled: 0,
    connectsThrottled: 0,
    tlsRefused: emptyTlsRefusals(),
    tlsReloads: 0,
    certLogins: 0,
    certRefused: emptyCertRefusals(),
    claims: emptyClaimMetrics(),
    certRotations: emptyCertRotationCounts(),
    bytesIn: 0,
    bytesOut: 0,
    outgoingQueuedBytes: 0,
    busBacklog: 0,
    publishersHeld: 0,
    sessionQueued: 0,
    adminRefused: 0,
    adminDisconnects: 0,
  };
}
