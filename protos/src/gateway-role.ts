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

/** gateway → broker on `bind`: the device's id and exactly one proof — the key it presented
 * to the gateway, or (accounts with `certBind`, docs/ocpp.md §3.1) the client certificate
 * (PEM) it presented in its TLS handshake, which the broker checks as a certificate login. */
export type GatewayBindRequest = { id: string; key: string } | { id: string; cert: string };

/** Why the broker refused a bind by certificate (`refused` notice), besides `disabled`,
 * `unavailable` and `invalid`. */
export const GATEWAY_CERT_REFUSALS = [
  'cert-bind-not-allowed', // the gateway account has no `certBind` (or not for this device's kind)
  'cert-unsupported', // the broker has no device CA (YULAN_DEVICE_CA_FILE)
  'cert-untrusted', // not issued by the device CA, or not a device (client) certificate
  'cert-expired',
  'cert-not-yet-valid',
  'cert-wrong-subject', // CN is not the id bound
  'cert-revoked', // revoked (pushed by the cloud)
  'cert-revoked-or-unregistered', // not the device's registered, unrevoked certificate
] as const;
export type GatewayCertRefusal = (typeof GATEWAY_CERT_REFUSALS)[number];

/** gateway → broker on `unbind`: the device left the gateway (its connection closed). */
export interface GatewayUnbindRequest {
  id: string;
}

/** broker → gateway on `notice`. `bound`: may now speak for it (presence online was
 * published). `refused`: the proof was not accepted (`reason` as the device-auth answer,
 * or a GatewayCertRefusal for a certificate).
 * `unbound`: no longer bound — revoked (disabled at the cloud; cut the device off),
 * `replaced` (bound by another gateway session since: the device moved there) or
 * `unavailable` (the registry could not be asked: try again later). */
export type GatewayNotice =
  | { type: 'bound'; id: string; site: string; kind: string }
  | { type: 'refused'; id: string; reason: 'bad-credentials' | 'disabled' | 'unavailable' | 'invalid' | GatewayCertRefusal }
  | { type: 'unbound'; id: string; reason: 'revoked' | 'replaced' };

export const GATEWAY_NOTICE_TYPES = new Set(['bound', 'refused', 'unbound']);
