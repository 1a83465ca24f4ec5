import type { AedesPublishPacket, Subscription } from 'aedes';
import { slugFromKind } from '@yulan/protos';
import { canPublish, canSubscribe, Role } from './acl.js';
import { QuotaVerdict } from './quotas.js';
import { PacketTooLargeError } from './errors.js';
import { admit, publishSize } from './flow-control.js';
import { PresenceReason } from './presence.js';
import { isMalformedTopicName, MalformedTopicError, SESSION_MARKER } from './conformance.js';
import { INTEGRATION_ROLE, integrationCanRead } from './integration-acl.js';
import { CLAIM_ROLE } from './claim-acl.js';
import { GATEWAY_ROLE, gatewayCanRead } from './gateway-acl.js';
import { isWillOf } from './aedes-view.js';
import { DISCARD_TOPIC, repointToDiscard, type HookContext, type Hooks, type HookState } from './hook-context.js';

type PublishHooks = Pick<Hooks, 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>;

/** The per-message hooks: they only read the session the connect hooks built. */
export function createPublishHooks(ctx: HookContext, sessions: HookState['sessions']): PublishHooks {
  const { metrics, maxPacketBytes, queueLimit } = ctx;
  return {
    authorizePublish(client, packet, cb) {
      // client is null only for wills restored from persistent storage: none with the
      // in-memory store; with the shared store, wills of a dead broker process, already
      // checked against the ACL at CONNECT (checkWillAtConnect).
      if (client === null) return cb(null);
      const s = sessions.get(client);
      if (s === undefined || s.endReason !== undefined) return discard(packet, cb);
      // Aedes closes the connection on the error and counts it (classifyError).
      if (isMalformedTopicName(packet.topic)) return cb(new MalformedTopicError());
      const payloadBytes = packet.payload.length;
      if (payloadBytes + packet.topic.length > maxPacketBytes) {
        // The frame guard catches this first (and destroys the connection) when it sees
        // the header; this covers a packet that arrived whole in the chunk that tripped
        // it, so only count it when the guard did not.
        if (!client.conn.destroyed) metrics.oversizedPackets++;
        return cb(new PacketTooLargeError(payloadBytes + packet.topic.length, maxPacketBytes));
      }
      if (ctx.certRotation && s.principal.role === Role.Device && ctx.certRotation.isRequest(s.principal.deviceId, packet.topic)) {
        // Answered on the device's reply topic; never routed to anyone.
        ctx.certRotation.handle(client, s.principal.deviceId, Buffer.from(packet.payload));
        return discard(packet, cb);
      }
      if (s.principal.role === GATEWAY_ROLE && ctx.gateways?.isRequest(s.principal, packet.topic)) {
        // A bind/unbind goes to the broker itself, never onto the bus (it carries a key).
        ctx.gateways.handle(client, s.principal, packet.topic, Buffer.from(packet.payload));
        return discard(packet, cb);
      }
      if (!canPublish(s.principal, packet.topic)) {
        metrics.aclDenied.publish++;
        return discard(packet, cb);
      }
      const isWill = isWillOf(client, packet);
      if (s.principal.role === CLAIM_ROLE) {
        // A claim session's request goes to the cloud, never onto the bus (claim-link.ts).
        if (!isWill) ctx.claims?.request(s.principal, Buffer.from(packet.payload), () => setImmediate(() => client.close()));
        return discard(packet, cb);
      }
      if (ctx.quotas && !isWill && s.principal.role === Role.Device) {
        const p = s.principal;
        const verdict = ctx.quotas.check(p.deviceId, slugFromKind(p.kind) ?? 'env-monitor', payloadBytes + packet.topic.length, Date.now(),
          (refused) => ctx.onQuota?.(p, refused, false));
        if (verdict !== QuotaVerdict.Ok) {
          metrics.quotaRefused++;
          if (verdict === QuotaVerdict.Disconnect) {
            metrics.quotaDisconnects++;
            s.endReason = PresenceReason.Quota;
            ctx.onQuota?.(p, 0, true);
            setImmediate(() => client.close());
          }
          return discard(packet, cb);
        }
      }
      if (isWill) s.willFired = true;
      metrics.messagesIn++;
      cb(null);
    },

    authorizeSubscribe(client, sub: Subscription, cb) {
      // Restored marker of a persistent session without subscriptions (conformance.ts).
      if (sub.topic === SESSION_MARKER) return cb(null, null);
      const s = sessions.get(client);
      if (s !== undefined && s.endReason === undefined && canSubscribe(s.principal, sub.topic)) {
        if (sub.qos > s.maxSubQos) s.maxSubQos = sub.qos;
        return cb(null, sub);
      }
      metrics.aclDenied.subscribe++;
      // A null subscription is a SUBACK 0x80 for this filter; the connection stays up.
      cb(null, null);
    },

    authorizeForward(client, packet: AedesPublishPacket) {
      const s = sessions.get(client);
      if (s === undefined || packet.topic === DISCARD_TOPIC) return null;
      if (s.principal.role === INTEGRATION_ROLE && !integrationCanRead(s.principal, packet.topic)) return null;
      if (s.principal.role === GATEWAY_ROLE && !gatewayCanRead(s.principal, packet.topic)) return null;
      // A live QoS 1+ delivery to a persistent session (a replayed one already carries the
      // message id the replay gave it; retained messages sent on subscribe are not queued).
      if (ctx.replay && packet.qos > 0 && packet.messageId === undefined && !packet.retain && client.clean === false &&
        ctx.replay.holdsLive(client, packet)) {
        metrics.heldForReplay++;
        return null;
      }
      const payload = packet.payload;
      const qos = s.maxSubQos === 0 ? 0 : packet.qos;
      const size = publishSize(packet.topic, payload.length, qos);
      if (!admit(s.out, qos, size, queueLimit)) {
        metrics.droppedQos0++;
        return null;
      }
      metrics.messagesOut++;
      return packet;
    },
  };
}

function discard(packet: { topic: string; retain: boolean }, cb: (err?: Error | null) => void): void {
  repointToDiscard(packet);
  cb(null);
}
