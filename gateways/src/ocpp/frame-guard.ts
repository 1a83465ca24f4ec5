import type { GatewayMetrics } from './metrics.js';
import { bump } from './metrics.js';

/** The parts of ocpp-rpc's client the guard needs (runtime fields, see install()). */
interface GuardedClient {
  _onMessage(buf: Buffer): void;
  _pendingResponses: Map<string, unknown>;
  sendRaw(message: string): void;
  close(opts: { code?: number; reason?: string; force?: boolean }): Promise<unknown>;
}

export interface GuardOptions {
  ratePerS: number;
  burst: number;
  metrics: GatewayMetrics;
  now?: () => number;
}

const MAX_ID = 36;

/**
 * Checks every frame a charger sends before ocpp-rpc sees it, so bad framing gets the
 * OCPP 1.6 answer (ocpp-rpc answers it with the 2.0 code RpcFrameworkError and a null
 * message id), a uniqueId already in progress gets ProtocolError, and a charger that
 * floods is limited on its own (token bucket; GenericError, then the socket is closed
 * when it keeps going) without slowing any other. Schema checks stay ocpp-rpc's
 * strictMode (the official 1.6 JSON schemas).
 *
 * ocpp-rpc has no hook before its parser; its client reads `this._onMessage` on every
 * frame, so the guard wraps that method on the instance. Pinned to ocpp-rpc 2.2.x; the
 * bad-input tests fail loudly if an upgrade changes it.
 */
export function installFrameGuard(client: unknown, o: GuardOptions): void {
  const c = client as GuardedClient;
  const now = o.now ?? Date.now;
  const inner = c._onMessage.bind(c);
  let tokens = o.burst;
  let last = now();
  let refusedInRow = 0;
  const reply = (id: unknown, code: string, description: string): void => {
    bump(o.metrics.badMessages, code);
    c.sendRaw(JSON.stringify([4, typeof id === 'string' ? id.slice(0, MAX_ID) : '', code, description, {}]));
  };
  c._onMessage = (buf: Buffer): void => {
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      return reply('', 'FormationViolation', 'frame is not JSON');
    }
    if (!Array.isArray(msg) || typeof msg[0] !== 'number' || typeof msg[1] !== 'string') {
      return reply(Array.isArray(msg) ? msg[1] : '', 'FormationViolation', 'frame must be [MessageTypeId, UniqueId, …]');
    }
    const [type, id] = msg as [number, string];
    if (id.length === 0 || id.length > MAX_ID) return reply(id, 'FormationViolation', `UniqueId must be 1..${MAX_ID} characters`);
    if (type === 3 || type === 4) return inner(buf);
    if (type !== 2) return reply(id, 'ProtocolError', `unknown MessageTypeId ${type}`);
    if (msg.length !== 4 || typeof msg[2] !== 'string' || typeof msg[3] !== 'object' || msg[3] === null || Array.isArray(msg[3])) {
      return reply(id, 'FormationViolation', 'CALL must be [2, UniqueId, Action, {payload}]');
    }
    const t = now();
    tokens = Math.min(o.burst, tokens + ((t - last) / 1000) * o.ratePerS);
    last = t;
    if (tokens < 1) {
      o.metrics.rateLimited++;
      if (++refusedInRow > o.burst) {
        void c.close({ code: 1008, reason: 'message rate limit exceeded' });
        return;
      }
      return reply(id, 'GenericError', `rate limit: at most ${o.ratePerS} messages/s (burst ${o.burst}); retry later`);
    }
    tokens -= 1;
    refusedInRow = 0;
    if (c._pendingResponses.has(id)) return reply(id, 'ProtocolError', `UniqueId ${id} is already in progress`);
    inner(buf);
  };
}
