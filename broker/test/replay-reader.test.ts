import { describe, expect, it } from 'vitest';
import { keyOf, OutgoingQueue, type Queued } from '../src/outgoing-queue.js';
import { ReplayReader } from '../src/replay-reader.js';

// The reader on its own, without the stream Aedes wraps around it (whose read-ahead takes
// the next message at once, so some orders cannot be arranged through it).
const packet = (n: number, extra: Partial<Queued> = {}): Queued =>
  ({ cmd: 'publish', topic: 't', payload: Buffer.from(`p${n}`), qos: 1, brokerId: 'b', brokerCounter: n, ...extra }) as unknown as Queued;
const payload = (r: IteratorResult<Queued, undefined>): string | undefined => (r.value as { payload?: Buffer } | undefined)?.payload?.toString();

describe('replay reader', () => {
  it('waits at the end of the queue until every message it read was written, and takes what came meanwhile', async () => {
    const q = new OutgoingQueue();
    q.push(packet(1));
    let ends = 0;
    const reader = new ReplayReader(q, () => ends++);
    const r1 = await reader.next();
    expect(payload(r1)).toBe('p1');
    let settled = false;
    const second = reader.next().then((r) => { settled = true; return r; });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    q.push(packet(2));
    reader.wrote(keyOf(r1.value!));
    expect(payload(await second)).toBe('p2');
    reader.wrote(keyOf(packet(2)));
    expect((await reader.next()).done).toBe(true);
    expect(ends).toBe(1);
    // Once over, it stays over, and ending again does not report twice.
    q.push(packet(3));
    expect((await reader.next()).done).toBe(true);
    reader.end();
    expect(ends).toBe(1);
  });

  it('when the rest of the queue was removed under it, reads afresh and passes over what it wrote', async () => {
    // A QoS 2 message keeps its packet id across connections, so its PUBREC can remove it
    // before the replay reaches it; the Map iterator is then spent at the queue's end.
    const q = new OutgoingQueue();
    q.push(packet(1));
    q.push(packet(2, { qos: 2, messageId: 7 }));
    let ends = 0;
    const reader = new ReplayReader(q, () => ends++);
    const r1 = await reader.next();
    q.byKey.delete(q.keyByMessageId.shift(7)!);
    const pending = reader.next();
    q.push(packet(3)); // held for the replay by the gate meanwhile
    r1.value!.messageId = 31; // Aedes numbered it as it wrote it
    reader.wrote(keyOf(r1.value!));
    expect(payload(await pending)).toBe('p3');
    reader.wrote(keyOf(packet(3)));
    expect((await reader.next()).done).toBe(true);
    expect(ends).toBe(1);
  });

  it('a connection gone while it waits ends the replay and releases the wait', async () => {
    const q = new OutgoingQueue();
    q.push(packet(1));
    let ends = 0;
    const reader = new ReplayReader(q, () => ends++);
    await reader.next();
    const waiting = reader.next();
    await reader.return();
    expect((await waiting).done).toBe(true);
    expect(ends).toBe(1);
  });
});
