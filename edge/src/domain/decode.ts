import {
  Channel, CommandResult, CommandStatus, CommandStatusName, Event, Presence, SeverityName, Telemetry,
  flattenTelemetry, parseDeviceTopic, slugFromKind, type DeviceTopic, type Envelope, type KindSlug,
} from '@yulan/protos';
import type { EventRecord, PresenceRecord, ReadingRecord } from './records.js';

/** Why a message was dead-lettered; the keys of the `deadLetters` metric. */
export const DeadLetterReason = {
  BadTopic: 'bad-topic',
  UnsupportedChannel: 'unsupported-channel',
  Decode: 'decode',
  MissingHeader: 'missing-header',
  DeviceMismatch: 'device-mismatch',
  KindMismatch: 'kind-mismatch',
  BadSeq: 'bad-seq',
  BadTs: 'bad-ts',
  TsInFuture: 'ts-in-future',
  EmptyReading: 'empty-reading',
  StaleSeq: 'stale-seq',
} as const;
export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

/** Device clocks before this are "never set" (1970 after a battery swap), not history. */
export const MIN_DEVICE_TS_MS = Date.UTC(2015, 0, 1);

export interface DecodeOptions {
  nowMs: number;
  maxFutureSkewMs: number;
}

export type Decoded =
  | { ok: true; record: ReadingRecord | EventRecord | PresenceRecord }
  | { ok: false; reason: DeadLetterReason; detail: string };

const fail = (reason: DeadLetterReason, detail: string): Decoded => ({ ok: false, reason, detail });

function checkEnvelope(h: Envelope | undefined, t: DeviceTopic, o: DecodeOptions): Decoded | undefined {
  if (!h) return fail(DeadLetterReason.MissingHeader, 'no envelope');
  if (h.deviceId !== t.deviceId) return fail(DeadLetterReason.DeviceMismatch, `envelope device "${h.deviceId}"`);
  if (h.kind !== t.kind) return fail(DeadLetterReason.KindMismatch, `envelope kind ${h.kind}`);
  return checkSeqTs(h.seq, h.tsMs, o);
}

function checkSeqTs(seq: number, tsMs: number, o: DecodeOptions): Decoded | undefined {
  if (!Number.isSafeInteger(seq) || seq < 0) return fail(DeadLetterReason.BadSeq, `seq ${seq}`);
  if (!Number.isSafeInteger(tsMs) || tsMs < MIN_DEVICE_TS_MS) return fail(DeadLetterReason.BadTs, `ts ${tsMs}`);
  if (tsMs > o.nowMs + o.maxFutureSkewMs) return fail(DeadLetterReason.TsInFuture, `ts ${tsMs} > now ${o.nowMs}`);
  return undefined;
}

/**
 * Turns one MQTT message into a record, or says precisely why not. Pure: the clock is an
 * argument. Command results become events (type `command.result`) so they are queryable
 * through /v1/events and share the never-drop guarantee.
 */
export function decodeMessage(topic: string, payload: Uint8Array, o: DecodeOptions): Decoded {
  const t = parseDeviceTopic(topic);
  if (!t) return fail(DeadLetterReason.BadTopic, topic.slice(0, 200));
  const kind = slugFromKind(t.kind) as KindSlug;
  const ref = { deviceId: t.deviceId, site: t.site, kind };
  try {
    switch (t.channel) {
      case Channel.Telemetry: {
        const m = Telemetry.decode(payload);
        const bad = checkEnvelope(m.header, t, o);
        if (bad) return bad;
        if (!m.reading) return fail(DeadLetterReason.EmptyReading, 'no reading');
        const flat = flattenTelemetry(m);
        const h = m.header as Envelope;
        return { ok: true, record: { type: 'reading', ...ref, seq: h.seq, tsMs: h.tsMs, fields: flat.numeric, text: flat.text } };
      }
      case Channel.Event: {
        const m = Event.decode(payload);
        const bad = checkEnvelope(m.header, t, o);
        if (bad) return bad;
        const h = m.header as Envelope;
        return {
          ok: true,
          record: {
            type: 'event', ...ref, seq: h.seq, tsMs: h.tsMs, eventType: m.type || 'unknown',
            severity: SeverityName[m.severity] ?? 'unspecified', message: m.message, attributes: m.attributes,
          },
        };
      }
      case Channel.CommandResult: {
        const m = CommandResult.decode(payload);
        const bad = checkEnvelope(m.header, t, o);
        if (bad) return bad;
        const h = m.header as Envelope;
        const status = CommandStatusName[m.status] ?? 'unspecified';
        return {
          ok: true,
          record: {
            type: 'event', ...ref, seq: h.seq, tsMs: h.tsMs, eventType: 'command.result',
            severity: m.status === CommandStatus.FAILED || m.status === CommandStatus.REJECTED ? 'warning' : 'info', message: m.message,
            attributes: { ...m.output, command_id: m.commandId, status },
          },
        };
      }
      case Channel.Presence: {
        const m = Presence.decode(payload);
        if (m.deviceId !== t.deviceId) return fail(DeadLetterReason.DeviceMismatch, `presence device "${m.deviceId}"`);
        if (m.kind !== t.kind) return fail(DeadLetterReason.KindMismatch, `presence kind ${m.kind}`);
        // Presence has no seq; a broker-generated one without a clock reading gets ours.
        const tsMs = m.tsMs === 0 ? o.nowMs : m.tsMs;
        const bad = checkSeqTs(0, tsMs, o);
        if (bad) return bad;
        return {
          ok: true,
          record: { type: 'presence', ...ref, tsMs, online: m.online, reason: m.reason, firmwareVersion: m.firmwareVersion },
        };
      }
      default:
        return fail(DeadLetterReason.UnsupportedChannel, t.channel);
    }
  } catch (err) {
    return fail(DeadLetterReason.Decode, (err as Error).message.slice(0, 200));
  }
}
