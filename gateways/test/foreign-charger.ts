import { OcppClient } from 'ocpp-ts';
import { waitFor } from './harness.js';

/** What the central system may ask a 1.6 charge point (ocpp-ts answers only those it has a listener for). */
const CS_ACTIONS = [
  'CancelReservation', 'ChangeAvailability', 'ChangeConfiguration', 'ClearCache', 'ClearChargingProfile', 'DataTransfer',
  'GetCompositeSchedule', 'GetConfiguration', 'GetDiagnostics', 'GetLocalListVersion', 'RemoteStartTransaction',
  'RemoteStopTransaction', 'ReserveNow', 'Reset', 'SendLocalList', 'SetChargingProfile', 'TriggerMessage',
  'UnlockConnector', 'UpdateFirmware',
] as const;
type CsAction = (typeof CS_ACTIONS)[number];
type Payload = Record<string, unknown>;

/** ocpp-ts keeps its socket in a private field and has no close(); a reboot needs it. */
interface ClientInternals { connection: { socket: { close(code?: number, reason?: string): void } } | null }

/**
 * A charge point played by **ocpp-ts** (another OCPP 1.6J library, not ocpp-rpc and not
 * Yulan's raw frames): its own framing, uuid message ids, its own schema validation of
 * what the gateway sends it. Records every CALL it receives and answers from `answers`
 * (default `{status: 'Accepted'}`).
 */
export class ForeignCharger {
  readonly received: { action: CsAction; payload: Payload }[] = [];
  closed: { code: number; reason: string } | undefined;
  answers: Partial<Record<CsAction, (payload: Payload) => unknown>> = {};

  private constructor(readonly id: string, readonly client: OcppClient) {
    for (const action of CS_ACTIONS) {
      (client as unknown as { on(e: string, l: (p: Payload, cb: (r: unknown) => void) => void): void }).on(action, (payload, cb) => {
        this.received.push({ action, payload });
        cb(this.answers[action]?.(payload) ?? { status: 'Accepted' });
      });
    }
    client.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; });
  }

  /** `baseUrl` is the gateway's `ws://…/ocpp`; ocpp-ts appends the id to it itself. */
  static connect(baseUrl: string, id: string, key: string): Promise<ForeignCharger> {
    const client = new OcppClient(id);
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      client.once('error', fail);
      client.once('connect', () => {
        client.off('error', fail);
        // Later socket errors surface as a close; an unhandled 'error' would throw.
        client.on('error', () => undefined);
        resolve(new ForeignCharger(id, client));
      });
      client.connect(`${baseUrl}/`, { Authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}` });
    });
  }

  /** ocpp-ts's typed callRequest, for any CP → CS action. */
  call<T = Payload>(action: string, payload: unknown): Promise<T> {
    return (this.client as unknown as { callRequest(a: string, p: unknown): Promise<T> }).callRequest(action, payload);
  }

  async waitForCall(action: CsAction, from = 0): Promise<Payload> {
    const hit = await waitFor(() => this.received.slice(from).find((c) => c.action === action), `${action} at ${this.id}`);
    return hit.payload;
  }

  /** Closes the WebSocket as a charger does when it reboots; resolves once it is closed. */
  async close(): Promise<void> {
    (this.client as unknown as ClientInternals).connection?.socket.close(1000, 'reboot');
    await waitFor(() => this.closed, `${this.id} closed`);
  }
}
