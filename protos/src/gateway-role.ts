import { CONTROL_ROOT } from './topics.js';

/**
 * The broker's `gateway` role (docs/ocpp.md §3): one MQTT session of a gateway service
 * account speaks for many devices. A device is **bound** to that session once the gateway
 * has presented the device's own key to the broker (`bind`); the session may then publish
 * on that device's topics and subscribe to its `cmd` / `twin-desired`, and nothing else.
 * All topics sit under `$yulan/`, so no wildcard subscriber sees them (keys travel in
 * `bind`), and only the gateway account itself may subscribe to its `notice` topic.
 */
export function gatewayTopics(username: string): { bind: string; unbind: string; notice: string } {
  const base = `${CONTROL_ROOT}/gateway/${username}`;
  return { bind: `${base}/bind`, unbind: `${base}/unbind`, notice: `${base}/notice` };
}

/** gateway → broker on `bind`: the device's id and the key it presented to the gateway. */
export interface GatewayBindRequest {
  id: string;
  key: string;
}

/** gateway → broker on `unbind`: the device left the gateway (its connection closed). */
export interface GatewayUnbindRequest {
  id: string;
}

/** broker → gateway on `notice`. `bound`: may now speak for it (presence online was
 * published). `refused`: the key was not accepted (`reason` as the device-auth answer).
 * `unbound`: no longer bound — revoked (disabled at the cloud; cut the device off),
 * `replaced` (bound by another gateway session since: the device moved there) or
 * `unavailable` (the registry could not be asked: try again later). */
export type GatewayNotice =
  | { type: 'bound'; id: string; site: string; kind: string }
  | { type: 'refused'; id: string; reason: 'bad-credentials' | 'disabled' | 'unavailable' | 'invalid' }
  | { type: 'unbound'; id: string; reason: 'revoked' | 'replaced' };

export const GATEWAY_NOTICE_TYPES = new Set(['bound', 'refused', 'unbound']);
