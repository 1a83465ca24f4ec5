import type { Aedes } from 'aedes';
import type { Logger } from 'pino';

export type BrokerPacket = Parameters<Aedes['publish']>[0];

/**
 * The broker's own publishes (presence, quota notices, claim and certificate answers).
 * What publishes them is built before Aedes, because Aedes takes the hooks they feed when
 * it is created; so they are handed this, which `bind` points at Aedes once it is up.
 */
export interface LatePublish {
  /** Resolves when Aedes has handled it; a failure is logged (unless closing), never thrown. */
  publish(packet: BrokerPacket): Promise<void>;
  /** A QoS 1, non-retained message: the answers the broker sends one device. */
  publishQos1(topic: string, payload: Buffer): Promise<void>;
  bind(aedes: Aedes): void;
}

export function createLatePublish(logger: Logger, isClosing: () => boolean): LatePublish {
  let bound: Aedes | undefined;
  const publish = (packet: BrokerPacket): Promise<void> => {
    const aedes = bound;
    // Nothing publishes before Aedes exists: its hooks are what call in here.
    if (aedes === undefined) throw new Error('broker publish before Aedes is up');
    return new Promise((resolve) => aedes.publish(packet, (err) => {
      if (err && !isClosing()) logger.warn({ err, topic: packet.topic }, 'broker publish failed');
      resolve();
    }));
  };
  return {
    publish,
    publishQos1: (topic, payload) => publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }),
    bind(aedes) {
      bound = aedes;
    },
  };
}
