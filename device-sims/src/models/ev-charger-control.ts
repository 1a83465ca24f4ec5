import { COMMAND_CATALOG, ConnectorStatus, type EvChargerSettings } from '@yulan/protos';
import {
  accept, checkSetting, enumArg, intArg, numArg, refuse, stringArg,
  type CommandCheck, type CommandOutcome, type SettingsOutcome,
} from './control.js';
import type { EvChargerState } from './ev-charger.js';

/**
 * Operator control of a charger, in OCPP 1.6 terms: RemoteStart/StopTransaction,
 * ChangeAvailability, Reset and a charging-profile current cap. Commands only record a
 * request; the next step performs it as an ordinary §4.9 transition, so readings never
 * show a transition outside the table and events stay consistent with the readings.
 */

export const CURRENT_LIMIT_RANGE_A = [6, 80] as const;
const S = ConnectorStatus;
const SESSION_STATES: readonly ConnectorStatus[] = [S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE];

export function checkChargerCommand(s: EvChargerState, name: string, args: Record<string, string>): CommandCheck {
  const connector = (): CommandCheck | undefined => {
    const c = intArg(args, 'connector_id', 0, 99);
    if (!c.ok) return refuse(c.message);
    if (c.value !== s.config.connectorId) return refuse(`unknown connector ${c.value} (this charger has connector ${s.config.connectorId})`);
    return undefined;
  };
  switch (name) {
    case 'charger.start_session': {
      // OCPP IdToken is CiString20.
      const tag = stringArg(args, 'id_tag', 20);
      return connector() ?? (tag.ok ? accept() : refuse(tag.message));
    }
    case 'charger.stop_session':
      return connector() ?? accept();
    case 'charger.set_current_limit': {
      const v = numArg(args, 'limit_a', ...CURRENT_LIMIT_RANGE_A);
      return v.ok ? accept() : refuse(v.message);
    }
    case 'charger.set_site_limit': {
      const w = intArg(args, 'limit_w', 0, 100_000_000);
      const g = intArg(args, 'generation', 1, Number.MAX_SAFE_INTEGER);
      return !w.ok ? refuse(w.message) : !g.ok ? refuse(g.message) : accept();
    }
    case 'charger.clear_site_limit': {
      const g = intArg(args, 'generation', 1, Number.MAX_SAFE_INTEGER);
      return g.ok ? accept() : refuse(g.message);
    }
    case 'charger.change_availability': {
      const v = enumArg(args, 'available', ['true', 'false']);
      return v.ok ? accept() : refuse(v.message);
    }
    case 'charger.reset': {
      const v = enumArg(args, 'type', ['soft', 'hard']);
      return v.ok ? accept(true) : refuse(v.message);
    }
    default:
      // An OCPP call the gateway makes (ReserveNow, ClearCache, …): say why, not just "unsupported".
      if (COMMAND_CATALOG['ev-charger'][name]?.ocppOnly) return refuse(`"${name}" is an OCPP command (docs/ocpp.md): this charger speaks MQTT, not OCPP`);
      return refuse(`unsupported command "${name}" for an ev-charger`);
  }
}

/** Executes a checked command at the state's clock; the effect shows from the next step. */
export function executeChargerCommand(prev: EvChargerState, name: string, args: Record<string, string>): CommandOutcome<EvChargerState> {
  const s: EvChargerState = { ...prev, pending: { ...prev.pending } };
  const inSession = s.transactionId !== '';
  const fail = (message: string): CommandOutcome<EvChargerState> => ({ state: prev, ok: false, message });
  switch (name) {
    case 'charger.start_session':
      // RemoteStartTransaction is Rejected by a charger that cannot charge now.
      if (s.status === S.FAULTED) return fail(`connector faulted (${s.faultCode})`);
      if (s.inoperative || s.status === S.UNAVAILABLE) return fail('connector unavailable');
      if (inSession) return fail(`session ${s.transactionId} already running`);
      s.pending.start = args.id_tag ?? '';
      return { state: s, ok: true, message: 'session starting' };
    case 'charger.stop_session':
      if (!inSession && s.status !== S.PREPARING && s.pending.start === undefined) return fail('no session running');
      delete s.pending.start;
      s.pending.stop = 'Remote';
      return { state: s, ok: true, message: inSession ? `stopping session ${s.transactionId}` : 'cancelling the session start' };
    case 'charger.set_current_limit':
      s.currentLimitA = Number(args.limit_a);
      return { state: s, ok: true, message: `current limited to ${s.currentLimitA} A` };
    case 'charger.set_site_limit': {
      // The site cap's share (docs/ocpp.md §4.1), in W as an MQTT charger meters it.
      const generation = Number(args.generation);
      if (generation < (s.siteLimitGeneration ?? 0)) return fail(`superseded: division ${generation} is older than ${s.siteLimitGeneration}`);
      s.siteLimitW = Number(args.limit_w);
      s.siteLimitGeneration = generation;
      return { state: s, ok: true, message: `site share ${s.siteLimitW} W` };
    }
    case 'charger.clear_site_limit': {
      // the site's cap was removed: no share any more (same ordering rule as a share)
      const generation = Number(args.generation);
      if (generation < (s.siteLimitGeneration ?? 0)) return fail(`superseded: division ${generation} is older than ${s.siteLimitGeneration}`);
      delete s.siteLimitW;
      s.siteLimitGeneration = generation;
      return { state: s, ok: true, message: 'site share removed' };
    }
    case 'charger.change_availability': {
      const available = args.available === 'true';
      s.inoperative = !available;
      if (available) {
        s.pending.available = true;
        return { state: s, ok: true, message: 'operative', output: { ocpp_status: 'Accepted' } };
      }
      // OCPP: with a transaction running the change is Scheduled for when it ends.
      if (inSession) return { state: s, ok: true, message: 'unavailable after the running session', output: { ocpp_status: 'Scheduled' } };
      return { state: s, ok: true, message: 'inoperative', output: { ocpp_status: 'Accepted' } };
    }
    case 'charger.reset':
      return { state: rebootCharger(s, args.type === 'hard' ? 'HardReset' : 'SoftReset'), ok: true, message: `${args.type} reset` };
    default:
      return fail(`unsupported command "${name}"`);
  }
}

/** A reboot ends a running session (StopTransaction reason Reboot/SoftReset/HardReset). */
export function rebootCharger(prev: EvChargerState, reason = 'Reboot'): EvChargerState {
  const { start: _dropped, ...pending } = prev.pending;
  if (prev.transactionId === '') return { ...prev, pending };
  return { ...prev, pending: { ...pending, stop: reason } };
}

/** The transition an operator request asks for now (consuming it), else undefined. */
export function remoteTransition(s: EvChargerState): { to: ConnectorStatus; reason?: string } | undefined {
  const p = s.pending;
  if (p.stop !== undefined) {
    const reason = p.stop;
    s.pending = { ...p, stop: undefined };
    if (s.transactionId !== '' && SESSION_STATES.includes(s.status)) return { to: S.FINISHING, reason };
    if (s.status === S.PREPARING) return { to: S.AVAILABLE, reason };
  }
  if (s.pending.available) {
    s.pending = { ...s.pending, available: undefined };
    if (s.status === S.UNAVAILABLE) return { to: S.AVAILABLE };
  }
  if (s.pending.release) {
    s.pending = { ...s.pending, release: undefined };
    if (s.status === S.RESERVED && !s.reserved) return { to: S.AVAILABLE };
  }
  if (s.pending.start !== undefined) {
    if (s.status === S.AVAILABLE || s.status === S.PREPARING) return { to: S.CHARGING };
    // Not allowed straight to Charging by §4.9: go through Preparing, keep the request.
    if (s.status === S.FINISHING || s.status === S.RESERVED) return { to: S.PREPARING };
    if (s.status === S.FAULTED || s.status === S.UNAVAILABLE) s.pending = { ...s.pending, start: undefined };
  }
  if (s.inoperative && (s.status === S.AVAILABLE || s.status === S.RESERVED)) return { to: S.UNAVAILABLE };
  if (s.reserved && s.status === S.AVAILABLE) return { to: S.RESERVED };
  return undefined;
}

export function applyChargerSettings(prev: EvChargerState, settings: EvChargerSettings): SettingsOutcome<EvChargerState> {
  const errors: string[] = [];
  const limit = checkSetting(errors, 'current_limit_a', settings.currentLimitA, ...CURRENT_LIMIT_RANGE_A);
  return { state: limit === undefined ? prev : { ...prev, currentLimitA: limit }, errors };
}

export function chargerSettings(s: EvChargerState): EvChargerSettings {
  return s.currentLimitA > 0 ? { currentLimitA: s.currentLimitA } : {};
}
