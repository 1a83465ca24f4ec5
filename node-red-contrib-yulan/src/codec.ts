import fs = require('node:fs');
import path = require('node:path');
import protobuf = require('protobufjs');

/** The wire contract, vendored by scripts/vendor-protos.mjs from protos/proto. */
const root = protobuf.Root.fromJSON(JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'vendor', 'yulan-v1.json'), 'utf8')) as protobuf.INamespace);
const TYPES: Record<string, protobuf.Type> = {
  telemetry: root.lookupType('yulan.v1.Telemetry'),
  event: root.lookupType('yulan.v1.Event'),
  presence: root.lookupType('yulan.v1.Presence'),
  'cmd-result': root.lookupType('yulan.v1.CommandResult'),
  'twin-reported': root.lookupType('yulan.v1.TwinReported'),
};
const KINDS = new Set(['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor']);
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface DeviceTopic {
  site: string;
  kind: string;
  deviceId: string;
  channel: string;
}

export function parseTopic(topic: string): DeviceTopic | undefined {
  const p = topic.split('/');
  if (p.length !== 6 || p[0] !== 'yulan' || p[1] !== 'v1') return undefined;
  const [, , site, kind, deviceId, channel] = p as [string, string, string, string, string, string];
  return ID.test(site) && KINDS.has(kind) && ID.test(deviceId) ? { site, kind, deviceId, channel } : undefined;
}

/** Decodes a device message to a plain object (64-bit numbers as numbers, enums as names,
 * defaults filled in). Throws on bytes that are not the channel's message. */
export function decode(channel: string, bytes: Uint8Array): Record<string, unknown> {
  const type = TYPES[channel];
  if (!type) throw new Error(`no message type for channel "${channel}"`);
  return type.toObject(type.decode(bytes), { longs: Number, enums: String, defaults: true, oneofs: true }) as Record<string, unknown>;
}

/** Filter for one channel; an empty site/kind/device means "any" (`+`). */
export function channelFilter(channel: string, site?: string, kind?: string, device?: string): string {
  const level = (v: string | undefined, what: string, valid: (x: string) => boolean): string => {
    const t = (v ?? '').trim();
    if (t === '' || t === '+') return '+';
    if (!valid(t)) throw new Error(`invalid ${what} "${t}"`);
    return t;
  };
  return `yulan/v1/${level(site, 'site', (x) => ID.test(x))}/${level(kind, 'kind', (x) => KINDS.has(x))}/${level(device, 'device id', (x) => ID.test(x))}/${channel}`;
}
