import type { RpcPeer } from './charger-session.js';
import type { Call } from './platform-commands.js';

/** What planning a reservation command needs from the gateway (platform-commands.ts). */
export interface ReservationDeps {
  /** the durable reservationId of this command (outbox.ts) */
  reservationId: (commandId: string) => number;
}

/**
 * ReserveNow / CancelReservation / ClearCache (OCPP 1.6 Reservation profile and Core) for
 * `charger.reserve_now`, `charger.cancel_reservation`, `charger.clear_cache`; undefined for
 * any other command. The charger keeps and expires reservations itself; the gateway only
 * numbers them.
 */
export function planReservation(name: string, args: Readonly<Record<string, string>>, commandId: string, deps: ReservationDeps, nowMs = Date.now()): Call | undefined {
  switch (name) {
    case 'charger.reserve_now': {
      // The cloud checked it was in the future when asked; a command queued for an offline
      // charger can arrive after it.
      const expiry = Date.parse(args.expiry ?? '');
      if (!Number.isFinite(expiry) || expiry <= nowMs) return { refuse: `the reservation's expiry ${args.expiry ?? ''} has passed` };
      const connectorId = Number(args.connector_id ?? 1);
      const reservationId = deps.reservationId(commandId);
      return {
        action: 'ReserveNow', accepted: ['Accepted'],
        params: {
          connectorId, expiryDate: new Date(expiry).toISOString(), idTag: args.id_tag ?? '', reservationId,
          ...(args.parent_id_tag ? { parentIdTag: args.parent_id_tag } : {}),
        },
        output: { reservation_id: String(reservationId), connector_id: String(connectorId), expiry: new Date(expiry).toISOString() },
        ...(connectorId === 0 ? { precheck: reservesConnectorZero } : {}),
      };
    }
    case 'charger.cancel_reservation':
      return { action: 'CancelReservation', params: { reservationId: Number(args.reservation_id) }, accepted: ['Accepted'] };
    case 'charger.clear_cache':
      return { action: 'ClearCache', params: {}, accepted: ['Accepted'] };
    default:
      return undefined;
  }
}

/** 1.6 §5.13: connector 0 may be reserved only where ReserveConnectorZeroSupported is
 * true; asking first turns the charger's bare Rejected into a reason an operator can act on. */
async function reservesConnectorZero(rpc: RpcPeer): Promise<string | undefined> {
  try {
    const res = (await rpc.call('GetConfiguration', { key: ['ReserveConnectorZeroSupported'] })) as { configurationKey?: { key: string; value?: string }[] };
    const v = res.configurationKey?.find((k) => k.key === 'ReserveConnectorZeroSupported')?.value;
    return v?.toLowerCase() === 'true' ? undefined
      : `the charger does not support reserving connector 0 (ReserveConnectorZeroSupported is ${v ?? 'not reported'}): name a connector`;
  } catch (err) {
    return `the charger does not say it supports reserving connector 0 (GetConfiguration: ${(err as { rpcErrorCode?: string }).rpcErrorCode ?? (err as Error).message}): name a connector`;
  }
}

/** Why the charger refused, in an operator's words (the OCPP status travels as ocpp_status). */
const REFUSALS: Record<string, Record<string, string>> = {
  ReserveNow: {
    Faulted: 'the connector is faulted',
    Occupied: 'the connector is in use or already reserved',
    Rejected: 'the charger does not take reservations (or not on this connector)',
    Unavailable: 'the connector is unavailable (made inoperative)',
  },
  CancelReservation: { Rejected: 'the charger holds no reservation with this id (ended, used or never made)' },
  ClearCache: { Rejected: 'the charger refused to clear its authorization cache' },
};

export function refusalReason(action: string, status: string): string | undefined {
  return REFUSALS[action]?.[status];
}

/** A CALLERROR saying the charger lacks the feature, in an operator's words. */
export function unsupportedReason(action: string, rpcErrorCode: string | undefined): string | undefined {
  if (!REFUSALS[action] || (rpcErrorCode !== 'NotImplemented' && rpcErrorCode !== 'NotSupported')) return undefined;
  return `the charger does not support ${action} (${rpcErrorCode})`;
}
