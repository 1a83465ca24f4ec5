import type { KindSlug } from './topics.js';

/**
 * The control catalogues (docs/control.md §1): which commands each kind of device accepts
 * with their arguments, and which twin settings it has with their ranges. The cloud builds
 * its validation schemas from these, the CLI its help, the console its forms, so a range
 * is written down once. Plain data: protos does not depend on a schema library.
 */
export type ParamSpec = (
  | { type: 'integer' | 'number'; min?: number; max?: number; unit?: string; doc?: string }
  | { type: 'boolean'; doc?: string }
  | { type: 'enum'; values: readonly string[]; doc?: string }
  | { type: 'string'; minLength?: number; maxLength?: number; pattern?: string; doc?: string }
) & {
  /** a command argument that may be left out (OCPP's optional fields); twin settings are all optional anyway */
  optional?: boolean;
};

export interface CommandSpec {
  /** arguments are required unless marked optional; they travel as strings on the wire */
  args: Readonly<Record<string, ParamSpec>>;
  /** what in the device's own telemetry confirms the effect */
  confirmedBy: string;
  /** sent by the platform, not by hand (left out of the console's and CLI's command lists):
   * what sends it, as a user finds it */
  sentBy?: string;
  /** an OCPP call only the gateway can perform (docs/ocpp.md): an MQTT-native charger
   * refuses it, and help texts say so */
  ocppOnly?: true;
}

const connector: ParamSpec = { type: 'integer', min: 0, max: 32 };
const compartment: ParamSpec = { type: 'integer', min: 0, max: 9999 };
const idTag: ParamSpec = { type: 'string', minLength: 1, maxLength: 20, doc: 'OCPP IdToken (CiString20)' };
const interval: ParamSpec = { type: 'integer', min: 1, max: 86_400, unit: 's', doc: 'seconds between readings' };

const COMMON: Record<string, CommandSpec> = {
  reboot: { args: {}, confirmedBy: 'the device reports again after the reboot' },
  'firmware.update': {
    args: {
      version: { type: 'string', minLength: 1, maxLength: 64 },
      url: { type: 'string', minLength: 1, maxLength: 2048 },
      token: { type: 'string', maxLength: 4096 },
      sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', doc: '64 hex digits' },
      signature: { type: 'string', minLength: 1, maxLength: 1024 },
      size: { type: 'integer', min: 1, unit: 'bytes' },
      key_id: { type: 'string', minLength: 1, maxLength: 128 },
    },
    confirmedBy: 'the device reports the new firmware_version (sent by firmware campaigns, not by hand)',
    sentBy: 'firmware campaigns: yulan fw campaign create',
  },
};

export const COMMAND_CATALOG: Readonly<Record<KindSlug, Readonly<Record<string, CommandSpec>>>> = {
  'ev-charger': {
    ...COMMON,
    'charger.start_session': {
      args: { connector_id: connector, id_tag: { type: 'string', minLength: 1, maxLength: 20 } },
      confirmedBy: 'status CHARGING and current_a > 0',
    },
    'charger.stop_session': { args: { connector_id: connector }, confirmedBy: 'current_a = 0' },
    'charger.set_current_limit': { args: { limit_a: { type: 'number', min: 6, max: 80, unit: 'A' } }, confirmedBy: 'current_a ≤ limit' },
    'charger.change_availability': { args: { available: { type: 'boolean' } }, confirmedBy: 'status AVAILABLE / UNAVAILABLE' },
    'charger.reset': { args: { type: { type: 'enum', values: ['soft', 'hard'] } }, confirmedBy: 'the charger reports again' },
    // OCPP chargers through the gateway (docs/ocpp.md); OCPP CiString50 keys, CiString500 values.
    'charger.unlock_connector': { args: { connector_id: connector }, confirmedBy: 'the charger answers Unlocked', ocppOnly: true },
    'charger.get_configuration': {
      args: { key: { type: 'string', minLength: 1, maxLength: 50, optional: true, doc: 'one key; all keys when left out' } },
      confirmedBy: "the charger's GetConfiguration answer",
      ocppOnly: true,
    },
    'charger.change_configuration': {
      args: { key: { type: 'string', minLength: 1, maxLength: 50 }, value: { type: 'string', maxLength: 500 } },
      confirmedBy: 'the charger answers Accepted (or RebootRequired)',
      ocppOnly: true,
    },
    'charger.trigger_message': {
      args: {
        message: { type: 'enum', values: ['BootNotification', 'DiagnosticsStatusNotification', 'FirmwareStatusNotification', 'Heartbeat', 'MeterValues', 'StatusNotification'] },
        connector_id: { ...connector, optional: true },
      },
      confirmedBy: 'the charger answers Accepted',
      ocppOnly: true,
    },
    // Reservations (OCPP 1.6 Reservation profile): the gateway numbers the reservation and
    // returns it as `reservation_id` in the command's output, which CancelReservation names.
    // connector_id 0 reserves any connector, only on a charger whose
    // ReserveConnectorZeroSupported is true (the gateway asks it first).
    'charger.reserve_now': {
      args: {
        connector_id: connector,
        id_tag: idTag,
        expiry: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$', doc: 'ISO-8601 date-time with a zone, in the future: when the reservation ends' },
        parent_id_tag: { ...idTag, optional: true, doc: 'a tag whose children may use the reservation too' },
      },
      confirmedBy: 'the charger answers Accepted (reservation_id in the output; the connector reports Reserved)',
      ocppOnly: true,
    },
    'charger.cancel_reservation': {
      args: { reservation_id: { type: 'integer', min: 1, max: 2_147_483_647, doc: 'the reservation_id charger.reserve_now returned' } },
      confirmedBy: 'the charger answers Accepted (Rejected: it holds no such reservation)',
      ocppOnly: true,
    },
    'charger.clear_cache': { args: {}, confirmedBy: 'the charger answers Accepted (its authorization cache is emptied)', ocppOnly: true },
    // Sent by the cloud's site power cap (docs/ocpp.md §4.1) to each online charger of a
    // capped site, not by hand: the charger's share in W; the gateway turns it into a
    // ChargePointMaxProfile in A. `generation` orders the re-divisions (an older one is refused).
    'charger.set_site_limit': {
      args: {
        limit_w: { type: 'integer', min: 0, max: 100_000_000, unit: 'W', doc: "this charger's share of the site cap" },
        site_cap_w: { type: 'integer', min: 1, max: 100_000_000, unit: 'W', doc: 'the whole site cap' },
        chargers: { type: 'integer', min: 1, max: 100_000, doc: 'online chargers the cap is divided over' },
        generation: { type: 'integer', min: 1, doc: 'division number; the gateway refuses one older than it applied' },
      },
      confirmedBy: 'the charger accepts the ChargePointMaxProfile (event charger.site_limit)',
      sentBy: 'the site power cap: yulan site cap set',
    },
    // Sent by the cloud when a site's cap is removed, to each charger of the site as it is
    // online, not by hand: the gateway clears the site's ChargePointMaxProfile (profile 1002).
    'charger.clear_site_limit': {
      args: {
        generation: { type: 'integer', min: 1, doc: 'division number; the gateway refuses one older than it applied' },
      },
      confirmedBy: 'the charger accepts ClearChargingProfile, or has no such profile (event charger.site_limit)',
      sentBy: 'the site power cap: yulan site cap clear',
    },
    'charger.get_diagnostics': {
      args: {
        start_time: { type: 'string', minLength: 20, maxLength: 40, optional: true, doc: 'ISO-8601: oldest log entries to include' },
        stop_time: { type: 'string', minLength: 20, maxLength: 40, optional: true, doc: 'ISO-8601: newest log entries to include' },
      },
      confirmedBy: 'the diagnostics file arrives at the gateway (event diagnostics.uploaded)',
      ocppOnly: true,
    },
  },
  'parcel-locker': {
    ...COMMON,
    'locker.open': { args: { compartment }, confirmedBy: "that compartment's door_open = true" },
    'locker.lock': { args: { compartment }, confirmedBy: 'locked = true' },
    'locker.unlock': { args: { compartment }, confirmedBy: 'locked = false' },
    'locker.clear': { args: { compartment }, confirmedBy: 'occupied = false' },
  },
  'fall-sensor': {
    ...COMMON,
    'fall.test_alarm': { args: {}, confirmedBy: 'a test.alarm event' },
  },
  'env-monitor': {
    ...COMMON,
    'env.sleep': { args: {}, confirmedBy: 'telemetry stops' },
    'env.wake': { args: {}, confirmedBy: 'telemetry resumes' },
    'env.set_interval': { args: { interval_s: { ...interval, doc: 'new interval between readings' } }, confirmedBy: 'readings arrive at the new interval' },
  },
};

/** Twin settings per kind (twin.proto field names); every one is optional. */
export const SETTINGS_CATALOG: Readonly<Record<KindSlug, Readonly<Record<string, ParamSpec>>>> = {
  'ev-charger': {
    report_interval_s: interval,
    current_limit_a: { type: 'number', min: 6, max: 80, unit: 'A', doc: 'maximum charging current' },
  },
  'parcel-locker': {
    report_interval_s: interval,
    temp_min_c: { type: 'number', min: -40, max: 60, unit: '°C', doc: 'chilled band, lower end (below temp_max_c)' },
    temp_max_c: { type: 'number', min: -40, max: 60, unit: '°C', doc: 'chilled band, upper end' },
  },
  'fall-sensor': {
    report_interval_s: interval,
    sensitivity: { type: 'integer', min: 1, max: 10, doc: 'fall detection sensitivity' },
    cancel_window_s: { type: 'integer', min: 0, max: 600, unit: 's', doc: 'time the resident has to cancel a detected fall' },
  },
  'env-monitor': {
    report_interval_s: interval,
    pm25_alert_ugm3: { type: 'number', min: 0, max: 1000, unit: 'µg/m³', doc: 'PM2.5 alert threshold' },
    noise_alert_dba: { type: 'number', min: 0, max: 140, unit: 'dB(A)', doc: 'noise alert threshold' },
    noise_zone_class: { type: 'integer', min: 0, max: 4, doc: 'GB 3096-2008 acoustic functional zone class' },
  },
};

/** A value range in a few characters, for help and error texts: `6..80 A`, `soft|hard`. */
export function describeParam(p: ParamSpec): string {
  switch (p.type) {
    case 'integer':
    case 'number': {
      const range = p.min !== undefined && p.max !== undefined ? `${p.min}..${p.max}`
        : p.min !== undefined ? `≥ ${p.min}` : p.max !== undefined ? `≤ ${p.max}` : p.type;
      return p.unit ? `${range} ${p.unit}` : range;
    }
    case 'boolean': return 'true|false';
    case 'enum': return p.values.join('|');
    case 'string': return p.pattern ? (p.doc ?? 'text') : `text${p.maxLength !== undefined ? ` (≤ ${p.maxLength} chars)` : ''}`;
  }
}
