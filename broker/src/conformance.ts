import { CONTROL_ROOT } from '@yulan/protos';

/**
 * Three MQTT 3.1.1 deviations of Aedes 1.x, fixed from the outside (hooks, the
 * persistence option and the connection stream), never by patching Aedes.
 */

/**
 * [MQTT-4.7.3-2] a topic name must not contain U+0000, and [MQTT-1.5.3-1] malformed
 * UTF-8 must close the connection. mqtt-packet decodes topics with Buffer#toString,
 * which turns every invalid sequence into U+FFFD, so the raw bytes are gone by the time
 * a hook sees the packet; U+FFFD is therefore refused too. A topic that really contains
 * U+FFFD (valid, but useless as a name) is refused with them; no Yulan topic does.
 */
export function isMalformedTopicName(topic: string): boolean {
  return topic.includes('\u0000') || topic.includes('\uFFFD');
}

/** Error handed to Aedes' authorizePublish callback: Aedes closes the connection on it. */
export class MalformedTopicError extends Error {
  readonly code = 'E_MALFORMED_TOPIC';
  constructor() {
    super('PUBLISH topic name contains U+0000 or invalid UTF-8');
    this.name = 'MalformedTopicError';
  }
}

/**
 * [MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 0x01, then the close.
 * mqtt-packet's parser rejects levels other than 3, 4 and 5 before Aedes sees a CONNECT
 * (Aedes answers 5 itself), and Aedes then closes without a CONNACK. The connection's
 * first chunk is looked at here, before Aedes parses it: when it is such a CONNECT, the
 * CONNACK is written first and Aedes' close follows.
 */
export const CONNACK_UNACCEPTABLE_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01]);

export function isUnsupportedProtocolLevel(chunk: Buffer): boolean {
  if (chunk.length < 2 || chunk[0] !== 0x10) return false;
  let pos = 1;
  for (let i = 0; i < 4; i++) {
    if (pos >= chunk.length) return false;
    if (((chunk[pos++] as number) & 0x80) === 0) break;
  }
  if (pos + 2 > chunk.length) return false;
  const nameLength = chunk.readUInt16BE(pos);
  pos += 2;
  if (pos + nameLength + 1 > chunk.length) return false;
  const name = chunk.toString('latin1', pos, pos + nameLength);
  if (name !== 'MQTT' && name !== 'MQIsdp') return false;
  const level = (chunk[pos + nameLength] as number) & 0x7f; // high bit: bridge mode
  return level !== 3 && level !== 4 && level !== 5;
}

/**
 * [MQTT-3.2.2-2] a clean-session=0 CONNECT whose session exists gets Session Present 1.
 * Aedes decides it from the stored subscriptions alone, so a persistent session without
 * subscriptions got 0. The persistence option is wrapped: client ids seen connecting with
 * clean-session=0 are remembered until a clean-session=1 connect ends their session, and
 * for such an id with no stored subscriptions one marker subscription is returned.
 * Aedes then reports Session Present 1 and passes the marker through authorizeSubscribe
 * on restore, which drops it (publish-hooks.ts), so nothing is ever subscribed.
 * In clustered mode the memory is per process: a session resumed on another worker
 * after one without subscriptions still gets 0 (documented in docs/integrations.md).
 */
export const SESSION_MARKER = `${CONTROL_ROOT}/session-marker`;

interface SubscriptionPersistence {
  subscriptionsByClient(client: { id: string }, cb?: unknown): unknown;
  cleanSubscriptions(client: { id: string }, cb?: unknown): unknown;
}

export function trackPersistentSessions(persistence: unknown): void {
  const p = persistence as SubscriptionPersistence;
  const known = new Set<string>();
  const byClient = p.subscriptionsByClient.bind(p);
  const clean = p.cleanSubscriptions.bind(p);
  // Aedes 1.x calls both without a callback and awaits the promise.
  p.subscriptionsByClient = async (client: { id: string }) => {
    const subs = (await byClient(client)) as { topic: string; qos: number }[];
    const existed = known.has(client.id);
    known.add(client.id);
    return subs.length === 0 && existed ? [{ topic: SESSION_MARKER, qos: 0 }] : subs;
  };
  p.cleanSubscriptions = async (client: { id: string }) => {
    known.delete(client.id);
    return clean(client);
  };
}
