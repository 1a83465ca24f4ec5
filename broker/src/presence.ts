import { Presence } from '@yulan/protos';
import type { DevicePrincipal } from './acl.js';

/** Why the broker says a device went offline (or online). */
export const PresenceReason = {
  Connect: 'broker-connect',
  Disconnect: 'broker-disconnect',
  Will: 'will',
  Revoked: 'revoked',
  /** disconnected for publishing over its quota again and again (quotas.ts) */
  Quota: 'quota',
  Shutdown: 'shutdown',
  /** the gateway session it was bound to ended (gateway-link.ts) */
  GatewayLost: 'gateway-lost',
} as const;
export type PresenceReason = (typeof PresenceReason)[keyof typeof PresenceReason];

export interface PresencePacket {
  cmd: 'publish';
  topic: string;
  payload: Buffer;
  qos: 1;
  retain: true;
  dup: false;
}

/** The retained QoS 1 presence message the broker publishes for a device. */
export function presencePacket(p: DevicePrincipal, online: boolean, reason: PresenceReason, nowMs: number): PresencePacket {
  const bytes = Presence.encode({ deviceId: p.deviceId, kind: p.kind, online, tsMs: nowMs, reason });
  return {
    cmd: 'publish',
    topic: p.presenceTopic,
    payload: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    qos: 1,
    retain: true,
    dup: false,
  };
}
