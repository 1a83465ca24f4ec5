import { Channel, CommandResult, CommandStatus, Event, Presence, Telemetry, parseDeviceTopic } from '@yulan/protos';
import type { Observation } from './observe.js';

const PROGRESS_STEPS = new Set(['downloading', 'verifying', 'installing', 'installed', 'failed', 'rolled_back']);
const RESULT: Partial<Record<CommandStatus, 'accepted' | 'succeeded' | 'failed' | 'rejected' | 'expired'>> = {
  [CommandStatus.ACCEPTED]: 'accepted', [CommandStatus.SUCCEEDED]: 'succeeded', [CommandStatus.FAILED]: 'failed',
  [CommandStatus.REJECTED]: 'rejected', [CommandStatus.EXPIRED]: 'expired',
};

/** Stable per campaign and device: a re-offer or a re-send after a restart is executed at most once. */
export const updateCommandId = (campaignId: string, deviceId: string): string => `fw:${campaignId}:${deviceId}`;

export interface Decoded {
  deviceId: string;
  obs: Observation;
  /** for command results: the campaign the command id names (others ignore it) */
  campaignId?: string;
}

/** One MQTT message as an observation, or undefined for what campaigns do not use.
 * Throws on an undecodable payload (the caller counts it). */
export function decodeMessage(topic: string, payload: Uint8Array): Decoded | undefined {
  const addr = parseDeviceTopic(topic);
  if (!addr) return undefined;
  const deviceId = addr.deviceId;
  switch (addr.channel) {
    case Channel.Presence: {
      const p = Presence.decode(payload);
      return { deviceId, obs: { type: 'presence', online: p.online, firmwareVersion: p.firmwareVersion } };
    }
    case Channel.Telemetry:
      return { deviceId, obs: { type: 'telemetry', version: Telemetry.decode(payload).header?.firmwareVersion ?? '' } };
    case Channel.CommandResult: {
      const r = CommandResult.decode(payload);
      const m = /^fw:([^:]+):(.+)$/.exec(r.commandId);
      const status = RESULT[r.status];
      if (!m || m[2] !== deviceId || !status) return undefined;
      return { deviceId, campaignId: m[1] as string, obs: { type: 'result', status, ...(r.message ? { message: r.message } : {}) } };
    }
    case Channel.Event: {
      const e = Event.decode(payload);
      const step = e.type.startsWith('firmware.') ? e.type.slice('firmware.'.length) : '';
      if (PROGRESS_STEPS.has(step)) {
        return {
          deviceId,
          obs: {
            type: 'progress', step: step as 'installed',
            ...(e.attributes.pct !== undefined ? { pct: Number(e.attributes.pct) } : {}),
            ...(e.attributes.reason !== undefined ? { reason: e.attributes.reason } : {}),
            ...(e.attributes.version !== undefined ? { version: e.attributes.version } : {}),
          },
        };
      }
      const v = e.header?.firmwareVersion;
      return { deviceId, obs: { type: 'event', eventType: e.type, ...(v ? { version: v } : {}) } };
    }
    default:
      return undefined;
  }
}
