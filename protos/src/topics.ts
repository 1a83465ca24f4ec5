import { DeviceKind } from './gen/yulan-v1.js';
import { ProtoError, ProtoErrorCode } from './errors.js';

/**
 * The MQTT topic scheme, defined once. Device traffic lives under
 *
 *   yulan/v1/{site}/{kind}/{deviceId}/{channel}
 *
 * where kind is a slug (ev-charger, parcel-locker, fall-sensor, env-monitor) and channel
 * one of {@link Channel}. Platform control traffic lives under `$yulan/v1/...`; MQTT
 * wildcards never match topics that start with `$`, so no `#` subscriber ever sees it.
 */
export const TOPIC_ROOT = 'yulan/v1';
export const CONTROL_ROOT = '$yulan/v1';

export const Channel = {
  /** device → platform, protobuf Telemetry, QoS 0 or 1 */
  Telemetry: 'telemetry',
  /** device → platform, protobuf Event, QoS 1 */
  Event: 'event',
  /** device or broker → platform, protobuf Presence, retained */
  Presence: 'presence',
  /** platform → device, protobuf Command, QoS 1 */
  Command: 'cmd',
  /** device → platform, protobuf CommandResult, QoS 1 */
  CommandResult: 'cmd-result',
  /** platform → device, protobuf TwinDesired, QoS 1, retained */
  TwinDesired: 'twin-desired',
  /** device → platform, protobuf TwinReported, QoS 1 */
  TwinReported: 'twin-reported',
} as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

/** Channels a device may publish on (its own prefix only). */
export const DEVICE_PUBLISH_CHANNELS: readonly Channel[] = [
  Channel.Telemetry, Channel.Event, Channel.Presence, Channel.CommandResult, Channel.TwinReported,
];
/** Channels a device may subscribe to (its own prefix only, no wildcards). */
export const DEVICE_SUBSCRIBE_CHANNELS: readonly Channel[] = [Channel.Command, Channel.TwinDesired];

const CHANNELS = new Set<string>(Object.values(Channel));

export const KindSlug = {
  [DeviceKind.EV_CHARGER]: 'ev-charger',
  [DeviceKind.PARCEL_LOCKER]: 'parcel-locker',
  [DeviceKind.FALL_SENSOR]: 'fall-sensor',
  [DeviceKind.ENV_MONITOR]: 'env-monitor',
} as const;
export type KindSlug = (typeof KindSlug)[keyof typeof KindSlug];
export type KnownKind = keyof typeof KindSlug;
export const KIND_SLUGS: readonly KindSlug[] = Object.values(KindSlug);

const SLUG_TO_KIND = new Map<string, KnownKind>(
  (Object.entries(KindSlug) as [string, KindSlug][]).map(([k, s]) => [s, Number(k) as KnownKind]),
);

export function kindFromSlug(slug: string): KnownKind | undefined {
  return SLUG_TO_KIND.get(slug);
}
export function slugFromKind(kind: number): KindSlug | undefined {
  return (KindSlug as Record<number, KindSlug>)[kind];
}

/** Site and device ids: 1–64 characters, letters, digits, `_`, `-`, `.`; never MQTT
 * wildcards, `/` or `$`, so an id can never widen a topic filter. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Names a device may not take (any case): the broker's service accounts (`edge`, `cloud`,
 * `yulan up`'s OCPP gateway account `gateway`) are matched by username before devices, so a
 * device of that name could never log in; the others are kept for the platform. */
export const RESERVED_IDS: ReadonlySet<string> = new Set(['edge', 'cloud', 'broker', 'admin', 'yulan', 'gateway']);

/** Most points or events one query to the edge's `/v1/telemetry` and `/v1/events` returns
 * (and so the cloud's device-data routes that pass the query on); longer ranges are read
 * page by page (`from` = the last point's ts + 1). */
export const MAX_QUERY_LIMIT = 10_000;

export function isReservedId(id: string): boolean {
  return RESERVED_IDS.has(id.toLowerCase());
}

export interface DeviceAddress {
  site: string;
  kind: KnownKind;
  deviceId: string;
}
export interface DeviceTopic extends DeviceAddress {
  channel: Channel;
}

function check(id: string, what: string): void {
  if (!isValidId(id)) throw new ProtoError(ProtoErrorCode.Topic, `invalid ${what} "${id}"`);
}

export function deviceTopic(addr: DeviceAddress, channel: Channel): string {
  check(addr.site, 'site');
  check(addr.deviceId, 'device id');
  const slug = slugFromKind(addr.kind);
  if (!slug) throw new ProtoError(ProtoErrorCode.Topic, `unknown device kind ${addr.kind}`);
  return `${TOPIC_ROOT}/${addr.site}/${slug}/${addr.deviceId}/${channel}`;
}

/** Parses a concrete (wildcard-free) device topic; returns undefined for anything else. */
export function parseDeviceTopic(topic: string): DeviceTopic | undefined {
  const parts = topic.split('/');
  if (parts.length !== 6 || parts[0] !== 'yulan' || parts[1] !== 'v1') return undefined;
  const [, , site, slug, deviceId, channel] = parts as [string, string, string, string, string, string];
  const kind = kindFromSlug(slug);
  if (kind === undefined || !isValidId(site) || !isValidId(deviceId) || !CHANNELS.has(channel)) {
    return undefined;
  }
  return { site, kind, deviceId, channel: channel as Channel };
}

/** Filter matching one channel of every device (or of one site / kind). */
export function channelFilter(channel: Channel, opts: { site?: string; kind?: KnownKind } = {}): string {
  if (opts.site !== undefined) check(opts.site, 'site');
  const kind = opts.kind === undefined ? '+' : slugFromKind(opts.kind);
  if (!kind) throw new ProtoError(ProtoErrorCode.Topic, `unknown device kind ${opts.kind}`);
  return `${TOPIC_ROOT}/${opts.site ?? '+'}/${kind}/+/${channel}`;
}

/** Control topics (platform-internal; only service accounts may use them). */
export const ControlTopic = {
  /** cloud → broker: payload is the UTF-8 device id to cut off and refuse. */
  Revoke: `${CONTROL_ROOT}/control/revoke`,
  /** A device certificate revoked: payload its SHA-256 fingerprint (64 lower-case hex). */
  RevokeCert: `${CONTROL_ROOT}/control/revoke-cert`,
  /** cloud → broker: JSON `{ name, action: 'update' | 'cut', account? }` for an integration
   * account whose rules changed (update) or which was disabled, rotated or deleted (cut). */
  Integration: `${CONTROL_ROOT}/control/integration`,
} as const;
