import { describe, expect, it } from 'vitest';
import { YmodemReceiver } from '../../device-sims/src/bootloader/ymodem-receiver.js';
import { Ctl, dataBlocks, decodeFrame, encodeBatchEnd, encodeBlock, encodeHeader } from '../src/ymodem.js';
import { NUDGE, YmodemSender } from '../src/ymodem-sender.js';

// The pure state machines against the situations lrzsz produces on a real line: stale
// 'C' polls queued before the sender starts, retransmitted blocks, an ACK that never
// arrives, and the two EOT conventions (rb ACKs the first EOT, the specification NAKs it).
const b = (...x: number[]): Uint8Array => Uint8Array.from(x);
const C = b(Ctl.C), ACK = b(Ctl.ACK), NAK = b(Ctl.NAK), EOT = b(Ctl.EOT);
const file = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 7) & 0xff);

describe('sender', () => {
  it('nudges a receiver whose first C it never saw, and stops once a C arrives', () => {
    const s = new YmodemSender('a.bin', file(10), 0, { firstNudgeMs: 500, nudgeMs: 3000 });
    expect(s.tick(100)).toEqual([]);
    expect(s.tick(500)).toEqual([NUDGE]);
    expect(s.tick(3000)).toEqual([]);
    expect(s.tick(3500)).toEqual([NUDGE]);
    expect(s.receive(C, 3600)[0]![0]).toBe(Ctl.SOH);
    expect(s.tick(7000)).toEqual([]);
  });

  it('answers a burst of queued Cs with one header, not one per C', () => {
    const s = new YmodemSender('a.bin', file(10), 0);
    const out = s.receive(b(Ctl.C, Ctl.C, Ctl.C, Ctl.C), 0);
    expect(out).toHaveLength(1);
    expect(decodeFrame(out[0]!)).toMatchObject({ kind: 'block', seq: 0 });
    expect(s.receive(ACK, 10)).toEqual([]);
    const block1 = s.receive(C, 20);
    expect(decodeFrame(block1[0]!)).toMatchObject({ kind: 'block', seq: 1 });
  });

  it('takes a C that crossed the header as stale when the ACK follows, and as a NAK when it does not', () => {
    const s = new YmodemSender('a.bin', file(10), 0, { settleMs: 1000 });
    const header = s.receive(C, 0);
    expect(s.receive(C, 5)).toEqual([]); // a poll that crossed the header
    expect(s.receive(ACK, 20)).toEqual([]);
    expect(s.tick(2000)).toEqual([]); // the ACK came: nothing is resent
    expect(s.phase).toBe('wait-c-data');

    const lost = new YmodemSender('a.bin', file(10), 0, { settleMs: 1000 });
    lost.receive(C, 0);
    expect(lost.receive(C, 100)).toEqual([]); // rb purged our header and asks again
    expect(lost.tick(900)).toEqual([]);
    expect(lost.tick(1100)).toEqual(header);
    expect(lost.tick(1200)).toEqual([]); // once, not on every tick
  });

  it('ignores a stale C while waiting for the ACK of a later data block', () => {
    const s = new YmodemSender('a.bin', file(3000), 0, { settleMs: 100 });
    s.receive(C, 0); s.receive(ACK, 0); s.receive(C, 0);
    s.receive(ACK, 0); // block 1 taken, block 2 sent
    expect(s.receive(C, 10)).toEqual([]);
    expect(s.tick(5000)).toEqual([]);
    expect(s.bytesAcked).toBe(1024);
  });

  it("accepts rb's ACK of the first EOT, and the specification's NAK then ACK", () => {
    for (const answers of [[ACK], [NAK, ACK]]) {
      const s = new YmodemSender('a.bin', file(5), 0);
      s.receive(C, 0); s.receive(ACK, 0); s.receive(C, 0);
      expect(s.receive(ACK, 0)).toEqual([EOT]);
      for (const a of answers.slice(0, -1)) expect(s.receive(a, 0)).toEqual([EOT]);
      expect(s.receive(answers.at(-1)!, 0)).toEqual([]);
      expect(s.receive(C, 0)).toEqual([encodeBatchEnd()]);
    }
  });

  it('ends without the final ACK (rb exits right after sending it) and says so', () => {
    const s = new YmodemSender('a.bin', file(5), 0, { endTimeoutMs: 1000, endRetries: 0 });
    s.receive(C, 0); s.receive(ACK, 0); s.receive(C, 0); s.receive(ACK, 0); s.receive(ACK, 0);
    expect(s.receive(C, 0)).toEqual([encodeBatchEnd()]);
    expect(s.tick(999)).toEqual([]);
    expect(s.finished).toBe(false);
    s.tick(1000);
    expect(s.phase).toBe('done');
    expect(s.error).toBeUndefined();
    expect(s.endConfirmed).toBe(false);
    expect(s.bytesAcked).toBe(5);
  });

  it('resends an unanswered end-of-batch block before ending unconfirmed (a slow receiver still gets it)', () => {
    const s = new YmodemSender('a.bin', file(5), 0);
    s.receive(C, 0); s.receive(ACK, 0); s.receive(C, 0); s.receive(ACK, 0); s.receive(ACK, 0);
    expect(s.receive(C, 0)).toEqual([encodeBatchEnd()]);
    expect(s.tick(2999)).toEqual([]);
    expect(s.tick(3000)).toEqual([encodeBatchEnd()]);
    expect(s.finished).toBe(false);
    s.receive(ACK, 3500);
    expect(s.phase).toBe('done');
    expect(s.endConfirmed).toBe(true);
    // and with no answer at all: two resends, then done without confirmation, not failed
    const q = new YmodemSender('a.bin', file(5), 0);
    q.receive(C, 0); q.receive(ACK, 0); q.receive(C, 0); q.receive(ACK, 0); q.receive(ACK, 0); q.receive(C, 0);
    expect([q.tick(3000), q.tick(6000), q.tick(9000)]).toEqual([[encodeBatchEnd()], [encodeBatchEnd()], []]);
    expect(q.phase).toBe('done');
    expect(q.endConfirmed).toBe(false);
    // a receiver that NAKs every resend (already in its next session) ends it unconfirmed too
    const n = new YmodemSender('a.bin', file(5), 0);
    n.receive(C, 0); n.receive(ACK, 0); n.receive(C, 0); n.receive(ACK, 0); n.receive(ACK, 0); n.receive(C, 0);
    expect([n.receive(NAK, 1), n.receive(NAK, 2), n.receive(NAK, 3)]).toEqual([[encodeBatchEnd()], [encodeBatchEnd()], []]);
    expect(n.phase).toBe('done');
    expect(n.error).toBeUndefined();
    expect(n.endConfirmed).toBe(false);
  });

  it('resends the end-of-batch block on a NAK, and takes a NAK as the request for it (like sz)', () => {
    const s = new YmodemSender('a.bin', file(5), 0);
    s.receive(C, 0); s.receive(ACK, 0); s.receive(C, 0); s.receive(ACK, 0); s.receive(ACK, 0);
    expect(s.receive(NAK, 0)).toEqual([encodeBatchEnd()]);
    expect(s.receive(NAK, 0)).toEqual([encodeBatchEnd()]);
    s.receive(ACK, 0);
    expect(s.phase).toBe('done');
    expect(s.endConfirmed).toBe(true);
  });
});

describe('receiver', () => {
  function start(name: string, size: number): { r: YmodemReceiver; out: number[] } {
    const r = new YmodemReceiver(0);
    return { r, out: [...r.receive(encodeHeader(name, size), 0)] };
  }

  it('ACKs a repeated header without another C, and keeps one file', () => {
    const { r, out } = start('a.bin', 5);
    expect(out).toEqual([Ctl.ACK, Ctl.C]);
    expect([...r.receive(encodeHeader('a.bin', 5), 0)]).toEqual([Ctl.ACK]);
    expect(r.stats.duplicates).toBe(1);
    const [block] = [...dataBlocks(file(5))];
    expect([...r.receive(block!.frame, 0)]).toEqual([Ctl.ACK]);
    expect([...r.receive(block!.frame, 0)]).toEqual([Ctl.ACK]); // duplicate data block: discarded
    expect([...r.receive(EOT, 0)]).toEqual([Ctl.NAK]);
    expect([...r.receive(EOT, 0)]).toEqual([Ctl.ACK, Ctl.C]);
    expect(r.files).toHaveLength(1);
    expect([...r.files[0]!.data]).toEqual([...file(5)]);
  });

  it('takes block 0 after its NAK of the first EOT as the end of the file', () => {
    const { r } = start('a.bin', 200);
    for (const blk of dataBlocks(file(200))) r.receive(blk.frame, 0);
    expect([...r.receive(EOT, 0)]).toEqual([Ctl.NAK]);
    expect([...r.receive(encodeBatchEnd(), 0)]).toEqual([Ctl.ACK]);
    expect(r.phase).toBe('done');
    expect(r.files.map((f) => [f.name, f.data.length])).toEqual([['a.bin', 200]]);
    expect([...r.files[0]!.data]).toEqual([...file(200)]);
  });

  it('goes on after an EOT that was line noise, when the next block follows', () => {
    const { r } = start('a.bin', 1100);
    const [b1, b2] = [...dataBlocks(file(1100))].map((x) => x.frame);
    r.receive(b1!, 0);
    expect([...r.receive(EOT, 0)]).toEqual([Ctl.NAK]);
    expect([...r.receive(b2!, 0)]).toEqual([Ctl.ACK]);
    expect([...r.receive(EOT, 0)]).toEqual([Ctl.NAK]); // a fresh EOT is NAKed again
    expect([...r.receive(EOT, 0)]).toEqual([Ctl.ACK, Ctl.C]);
    expect([...r.files[0]!.data]).toEqual([...file(1100)]);
  });

  it('keeps the padding when the header gives no size (the size field is optional)', () => {
    const r = new YmodemReceiver(0);
    r.receive(encodeBlock(0, new TextEncoder().encode('raw.bin\0'), 128, 0), 0);
    r.receive(encodeBlock(1, file(3), 128), 0);
    r.receive(EOT, 0); r.receive(EOT, 0);
    expect(r.files[0]!.data.length).toBe(128);
  });
});

/**
 * lrzsz's sz as a model, from its source (lsz.c): getnak() takes the first C or NAK;
 * wcputsec() resends a block on C or NAK and takes any ACK as the answer; the EOT is
 * repeated until an ACK, after purging the input (`purge`: whether the stale bytes have
 * arrived by then, which on a real line depends on timing). It reads one byte at a time
 * from whatever the receiver has sent, queued polls included; an empty queue where it
 * waits for an answer is a deadlock.
 */
function szModel(receiver: YmodemReceiver, queued: number[], name: string, data: Uint8Array, purge: boolean): void {
  const line = [...queued];
  const send = (frame: Uint8Array): void => { line.push(...receiver.receive(frame, 0)); };
  const read = (): number => {
    const x = line.shift();
    if (x === undefined) throw new Error(`sz would wait forever (receiver ${receiver.phase})`);
    return x;
  };
  const getnak = (): void => { for (let c = read(); c !== Ctl.C && c !== Ctl.NAK; c = read()); };
  const putsec = (frame: Uint8Array): void => {
    send(frame);
    for (let c = read(); c !== Ctl.ACK; c = read()) if (c === Ctl.C || c === Ctl.NAK) send(frame);
  };
  getnak();
  putsec(encodeHeader(name, data.length));
  getnak();
  for (const blk of dataBlocks(data)) putsec(blk.frame);
  do { if (purge) line.length = 0; send(EOT); } while (read() !== Ctl.ACK);
  getnak();
  putsec(encodeBatchEnd());
}

describe('receiver against lrzsz sz started after several C polls', () => {
  for (const polls of [1, 2, 3, 6]) {
    for (const [size, purge] of [[1, false], [1025, true], [1025, false], [70_000, false]] as const) {
      it(`${polls} queued polls, ${size} bytes${purge ? ', stale answers purged before the EOT' : ''}`, () => {
        const r = new YmodemReceiver(0, { pollMs: 100 });
        const queued = [...r.start(0)];
        for (let t = 100; queued.length < polls; t += 100) queued.push(...r.tick(t));
        const data = file(size);
        szModel(r, queued, 'fw.bin', data, purge);
        expect(r.phase).toBe('done');
        expect(r.files).toHaveLength(1);
        expect(r.files[0]!.name).toBe('fw.bin');
        expect(Buffer.from(r.files[0]!.data).equals(Buffer.from(data))).toBe(true);
      });
    }
  }
});
