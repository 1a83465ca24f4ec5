// One device publishing QoS 0 as fast as its socket takes it, for the noisy-neighbour
// scenario: in its own process, so the flood does not slow the measuring process itself.
// Disconnected (a quota doing its job), it reconnects after 1 s, as a field device would.
import mqtt from 'mqtt';

export interface FloodJob { url: string; id: string; secret: string; topic: string; payloadBytes: number; seconds: number }
export interface FloodResult { sent: number; disconnects: number; error?: string }

process.once('message', (job: FloodJob) => {
  void (async () => {
    const payload = Buffer.alloc(job.payloadBytes, 7);
    const end = Date.now() + job.seconds * 1000;
    let sent = 0;
    let disconnects = 0;
    while (Date.now() < end) {
      const client = await mqtt.connectAsync(job.url, { clientId: job.id, username: job.id, password: job.secret, protocolVersion: 4, reconnectPeriod: 0 })
        .catch(() => undefined);
      if (!client) { await new Promise((r) => setTimeout(r, 1000)); continue; }
      let closed = false;
      // a socket the broker closed never drains: its 'close' wakes the wait below
      let wake: (() => void) | undefined;
      client.on('close', () => { closed = true; wake?.(); });
      // a reset by the broker (quota disconnect) must not crash the flood
      client.on('error', () => undefined);
      while (Date.now() < end && !closed) {
        // Up to 500 in the socket, then wait for it to drain: full speed, bounded memory.
        for (let i = 0; i < 500 && !closed; i++, sent++) client.publish(job.topic, payload, { qos: 0 });
        await new Promise<void>((resolve) => {
          const s = (client as unknown as { stream?: { writableNeedDrain?: boolean; once(e: string, f: () => void): void } }).stream;
          wake = resolve;
          if (s?.writableNeedDrain) s.once('drain', resolve);
          else setImmediate(resolve);
        });
      }
      if (closed) {
        disconnects++;
        await new Promise((r) => setTimeout(r, 1000));
      } else {
        client.end(true);
      }
    }
    process.send?.({ sent, disconnects } satisfies FloodResult, () => process.exit(0));
  })().catch((err: unknown) => process.send?.({ sent: 0, disconnects: 0, error: (err as Error).message } satisfies FloodResult, () => process.exit(1)));
});
