import { Channel, CommandStatus, Severity, type Command, type TwinDesired } from '@yulan/protos';
import type { Logger } from 'pino';
import type { BrokerLink as ChargerLink } from './link-base.js';
import type { ChargerSession, RpcPeer } from './charger-session.js';
import type { GatewayMetrics } from './metrics.js';
import { bump } from './metrics.js';
import { planReservation, refusalReason, unsupportedReason } from './reservations.js';

export interface CommandContext {
  link: ChargerLink;
  session: ChargerSession;
  /** the charger's live connection, undefined between connections */
  rpc: () => RpcPeer | undefined;
  metrics: GatewayMetrics;
  logger: Logger;
  /** a one-time diagnostics upload URL for this command (diagnostics.ts) */
  offerDiagnostics?: (commandId: string) => { location: string; named(fileName: string | undefined): void; cancel(): void };
  /** the durable OCPP reservationId of a charger.reserve_now command (outbox.ts) */
  reservationId: (commandId: string) => number;
}

/** `accepted: null`: the call's answer carries no status (UpdateFirmware.conf is empty). */
export type Call = {
  action: string; params: Record<string, unknown>; accepted: readonly string[] | null;
  /** added to the command's output when the charger accepts */
  output?: Record<string, string>;
  /** asks the charger first; a reason stops the command (REJECTED) */
  precheck?: (rpc: RpcPeer) => Promise<string | undefined>;
} | { refuse: string };

/** Profile id the gateway owns on each charger (TxDefaultProfile, stack level 0). */
const LIMIT_PROFILE_ID = 1001;

export function currentLimitProfile(limitA: number): Record<string, unknown> {
  return {
    connectorId: 0,
    csChargingProfiles: {
      chargingProfileId: LIMIT_PROFILE_ID, stackLevel: 0, chargingProfilePurpose: 'TxDefaultProfile',
      chargingProfileKind: 'Relative', chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: limitA }] },
    },
  };
}

/** Yulan ev-charger command (docs/control.md §1) → the OCPP call that performs it. */
function plan(name: string, args: Readonly<Record<string, string>>, session: ChargerSession, uploadTo?: string): Call {
  const connectorId = Number(args.connector_id ?? 1);
  switch (name) {
    case 'charger.start_session':
      return { action: 'RemoteStartTransaction', params: { connectorId, idTag: args.id_tag ?? '' }, accepted: ['Accepted'] };
    case 'charger.stop_session': {
      const tx = session.transactionOn(connectorId);
      return tx === undefined ? { refuse: `no session running on connector ${connectorId}` }
        : { action: 'RemoteStopTransaction', params: { transactionId: tx }, accepted: ['Accepted'] };
    }
    case 'charger.change_availability':
      return { action: 'ChangeAvailability', params: { connectorId: 0, type: args.available === 'true' ? 'Operative' : 'Inoperative' }, accepted: ['Accepted', 'Scheduled'] };
    case 'charger.reset':
      return { action: 'Reset', params: { type: args.type === 'hard' ? 'Hard' : 'Soft' }, accepted: ['Accepted'] };
    case 'reboot':
      return { action: 'Reset', params: { type: 'Soft' }, accepted: ['Accepted'] };
    case 'charger.unlock_connector':
      return { action: 'UnlockConnector', params: { connectorId }, accepted: ['Unlocked'] };
    case 'firmware.update': {
      // The command's url already names the device; the charger downloads with the
      // short-lived token appended, and reports progress with FirmwareStatusNotification.
      // `version` too: 1.6 UpdateFirmware has no field for it; a charger that cannot read it
      // from the image can from the URL (the simulator does; the cloud ignores the parameter).
      const url = args.url ?? '';
      const extra = [args.token ? `token=${encodeURIComponent(args.token)}` : '', args.version ? `version=${encodeURIComponent(args.version)}` : ''].filter(Boolean).join('&');
      const location = extra ? `${url}${url.includes('?') ? '&' : '?'}${extra}` : url;
      if (!/^(https?|ftps?):\/\//.test(location)) return { refuse: 'firmware.update needs an http(s) url' };
      return { action: 'UpdateFirmware', params: { location, retrieveDate: new Date().toISOString(), retries: 3, retryInterval: 60 }, accepted: null };
    }
    case 'charger.get_configuration':
      return { action: 'GetConfiguration', params: args.key ? { key: [args.key] } : {}, accepted: null };
    case 'charger.change_configuration':
      return { action: 'ChangeConfiguration', params: { key: args.key ?? '', value: args.value ?? '' }, accepted: ['Accepted', 'RebootRequired'] };
    case 'charger.trigger_message':
      return {
        action: 'TriggerMessage', accepted: ['Accepted'],
        params: { requestedMessage: args.message ?? '', ...(args.connector_id !== undefined ? { connectorId: Number(args.connector_id) } : {}) },
      };
    case 'charger.get_diagnostics': {
      if (uploadTo === undefined) return { refuse: 'diagnostics uploads are not available on this gateway' };
      const when = (k: string) => (args[k] ? { [k === 'start_time' ? 'startTime' : 'stopTime']: args[k] } : {});
      return { action: 'GetDiagnostics', params: { location: uploadTo, retries: 1, retryInterval: 60, ...when('start_time'), ...when('stop_time') }, accepted: null };
    }
    case 'charger.set_current_limit':
      return { action: 'SetChargingProfile', params: currentLimitProfile(Number(args.limit_a)), accepted: ['Accepted'] };
    default:
      return { refuse: `command "${name}" is not supported by the OCPP gateway` };
  }
}

/**
 * Runs a platform command on the charger and answers the cloud. The charger's OCPP answer
 * only acknowledges (ACCEPTED) or refuses (REJECTED); success is for the cloud to see in
 * the charger's own reports (StatusNotification / MeterValues), as for every device.
 */
export async function runCommand(cmd: Command, c: CommandContext): Promise<void> {
  if (cmd.expiresMs > 0 && Date.now() > cmd.expiresMs) {
    c.link.commandResult(cmd.commandId, CommandStatus.EXPIRED, 'expired before it reached the charger');
    return;
  }
  const upload = cmd.name === 'charger.get_diagnostics' ? c.offerDiagnostics?.(cmd.commandId) : undefined;
  const p: Call = planReservation(cmd.name, cmd.args, cmd.commandId, c) ?? plan(cmd.name, cmd.args, c.session, upload?.location);
  if ('refuse' in p) {
    c.link.commandResult(cmd.commandId, CommandStatus.REJECTED, p.refuse);
    return;
  }
  const rpc = c.rpc();
  if (!rpc) {
    upload?.cancel();
    c.link.commandResult(cmd.commandId, CommandStatus.FAILED, 'charger not connected');
    return;
  }
  try {
    const why = await p.precheck?.(rpc);
    if (why !== undefined) {
      c.link.commandResult(cmd.commandId, CommandStatus.REJECTED, `${p.action}: ${why}`);
      return;
    }
    bump(c.metrics.callsOut, p.action);
    const res = (await rpc.call(p.action, p.params)) as { status?: string };
    const status = res.status ?? '';
    if (upload) {
      // No fileName: the charger has no diagnostics to send (1.6 §6.25); else wait for the upload.
      const fileName = (res as { fileName?: string }).fileName;
      upload.named(fileName);
      if (fileName === undefined) {
        upload.cancel();
        c.link.commandResult(cmd.commandId, CommandStatus.REJECTED, 'GetDiagnostics: the charger has no diagnostics');
        return;
      }
    }
    if (p.accepted === null || p.accepted.includes(status)) {
      // Where the answer is the whole effect (configuration, unlock), it is SUCCEEDED; else
      // an ACK, and the charger's reports must show the effect.
      const done = ANSWER_IS_RESULT.has(p.action);
      const output = done ? { ...answerOutput(p.action, res), ...p.output } : {};
      c.link.commandResult(cmd.commandId, done ? CommandStatus.SUCCEEDED : CommandStatus.ACCEPTED, `${p.action}: ${status || 'accepted'}`,
        { ...output, ...(status ? { ocpp_status: status } : {}) });
      reportAnswer(p.action, p.params, res, c);
    } else {
      const reason = refusalReason(p.action, status);
      c.link.commandResult(cmd.commandId, CommandStatus.REJECTED, `${p.action}: ${status || 'no status'}${reason ? ` (${reason})` : ''}`, { ocpp_status: status });
    }
  } catch (err) {
    upload?.cancel();
    c.metrics.callErrorsOut++;
    const e = err as { rpcErrorCode?: string; message?: string };
    const unsupported = unsupportedReason(p.action, e.rpcErrorCode);
    c.link.commandResult(cmd.commandId, unsupported ? CommandStatus.REJECTED : CommandStatus.FAILED,
      unsupported ? `${p.action}: ${unsupported}` : `${p.action}: ${e.rpcErrorCode ?? 'error'} ${e.message ?? ''}`.trim());
  }
}

const ANSWER_IS_RESULT = new Set(['GetConfiguration', 'ChangeConfiguration', 'UnlockConnector', 'ReserveNow', 'CancelReservation', 'ClearCache']);

/** GetConfiguration's keys as the command's output (shown by the commands API). */
function answerOutput(action: string, res: unknown): Record<string, string> {
  if (action !== 'GetConfiguration') return {};
  const r = res as { configurationKey?: { key: string; value?: string }[] };
  return Object.fromEntries((r.configurationKey ?? []).slice(0, 200).map((k) => [k.key, k.value ?? '']));
}

/** What only the charger's answer shows (no telemetry changes) is reported as an event,
 * which is what the cloud confirms these commands by. */
function reportAnswer(action: string, params: Record<string, unknown>, res: unknown, c: CommandContext): void {
  const ev = (type: string, message: string, attributes: Record<string, string>): void =>
    c.link.publish(Channel.Event, c.link.eventBytes(type, Severity.INFO, message, attributes));
  if (action === 'ReserveNow') {
    // no id tag in the event: it names a card holder (the command's args keep it for operators)
    ev('charger.reserved', `connector ${String(params.connectorId)} reserved until ${String(params.expiryDate)}`,
      { reservation_id: String(params.reservationId), connector_id: String(params.connectorId), expiry: String(params.expiryDate) });
  }
  if (action === 'CancelReservation') ev('charger.reservation_cancelled', `reservation ${String(params.reservationId)} cancelled`, { reservation_id: String(params.reservationId) });
  if (action === 'ClearCache') ev('charger.cache_cleared', 'authorization cache cleared', {});
  if (action === 'UnlockConnector') ev('charger.connector_unlocked', `connector ${String(params.connectorId)} unlocked`, { connector_id: String(params.connectorId) });
  if (action === 'ChangeConfiguration') {
    const status = (res as { status?: string }).status ?? '';
    ev('charger.configuration_changed', `${String(params.key)} changed (${status})`, { key: String(params.key), status });
  }
  if (action === 'GetConfiguration') {
    const r = res as { configurationKey?: { key: string; value?: string; readonly: boolean }[]; unknownKey?: string[] };
    const attributes: Record<string, string> = {};
    for (const k of (r.configurationKey ?? []).slice(0, 200)) attributes[k.key] = `${k.value ?? ''}${k.readonly ? ' (read-only)' : ''}`;
    if (r.unknownKey?.length) attributes['(unknown)'] = r.unknownKey.join(',');
    ev('charger.configuration', `${Object.keys(attributes).length} configuration keys`, attributes);
  }
}

/** The twin's current_limit_a → SetChargingProfile (TxDefaultProfile on connector 0);
 * reported as applied only when the charger accepted it. */
export async function applyTwin(d: TwinDesired, c: CommandContext): Promise<void> {
  const limit = d.settings?.evCharger?.currentLimitA;
  const rpc = c.rpc();
  if (limit === undefined || !rpc) return;
  try {
    bump(c.metrics.callsOut, 'SetChargingProfile');
    const res = (await rpc.call('SetChargingProfile', currentLimitProfile(limit))) as { status?: string };
    if (res.status === 'Accepted') c.link.twinReported(d.version, { evCharger: { currentLimitA: limit } });
    else c.link.twinReported(d.version, {}, `SetChargingProfile: ${res.status ?? 'no status'}`);
  } catch (err) {
    c.metrics.callErrorsOut++;
    c.logger.info({ err }, 'current limit not applied');
    c.link.twinReported(d.version, {}, `SetChargingProfile failed: ${(err as Error).message}`);
  }
}
