import { CONTROL_ROOT, slugFromKind } from '@yulan/protos';
import type { DevicePrincipal } from './acl.js';

/** Where the broker reports a device over its publish quota: under `$yulan/`, so no device
 * and no `#` subscriber sees it; the cloud account may subscribe to `$yulan/v1/quota/+`. */
export const QUOTA_NOTICE_PREFIX = `${CONTROL_ROOT}/quota`;

/** A QoS 0 JSON notice: who, how many publishes were refused since the last one, and
 * whether the device was disconnected for it. */
export function quotaNotice(p: DevicePrincipal, refused: number, disconnected: boolean, tsMs: number) {
  return {
    cmd: 'publish' as const,
    topic: `${QUOTA_NOTICE_PREFIX}/${p.deviceId}`,
    payload: Buffer.from(JSON.stringify({ deviceId: p.deviceId, site: p.site, kind: slugFromKind(p.kind), refused, disconnected, tsMs })),
    qos: 0 as const,
    retain: false,
    dup: false,
  };
}
