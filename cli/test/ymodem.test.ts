import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { YmodemReceiver } from '../../device-sims/src/bootloader/ymodem-receiver.js';
import { Ctl, crc16, dataBlocks, decodeFrame, encodeBatchEnd, encodeHeader, parseHeader } from '../src/ymodem.js';
import { NUDGE, YmodemErrorCode, YmodemSender } from '../src/ymodem-sender.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('YMODEM framing', () => {
  it('computes CRC-16/XMODEM (check value of "123456789" is 0x31C3)', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x31c3);
  });

  it('round-trips header, data and batch-end blocks', () => {
    const header = decodeFrame(encodeHeader('fw.bin', 3000));
    expect(header.kind).toBe('block');
    if (header.kind !== 'block') return;
    expect(header.seq).toBe(0);
    expect(parseHeader(header.data)).toEqual({ name: 'fw.bin', size: 3000 });
    const end = decodeFrame(encodeBatchEnd());
    expect(end.kind === 'block' && parseHeader(end.data)).toBeUndefined();

    const file = Uint8Array.from({ length: 2100 }, (_, i) => i * 7);
    const blocks = [...dataBlocks(file)];
    expect(blocks.map((b) => [b.seq, b.frame[0], b.length])).toEqual([[1, Ctl.STX, 1024], [2, Ctl.STX, 1024], [3, Ctl.SOH, 52]]);
    const last = decodeFrame(blocks[2]!.frame);
    expect(last.kind === 'block' && [...last.data.subarray(52, 55)]).toEqual([Ctl.SUB, Ctl.SUB, Ctl.SUB]);
  });

  it('rejects a frame with a bad CRC or sequence complement, and waits for a partial one', () => {
    const frame = encodeHeader('x', 1);
    expect(decodeFrame(frame.subarray(0, 50))).toEqual({ kind: 'incomplete' });
    const crcBad = frame.slice(); crcBad[10]! ^= 1;
    expect(decodeFrame(crcBad)).toMatchObject({ kind: 'bad', reason: 'crc' });
    const seqBad = frame.slice(); seqBad[2] = 0;
    expect(decodeFrame(seqBad)).toMatchObject({ kind: 'bad', reason: 'seq' });
  });
});

describe('YMODEM sender state machine', () => {
  const C = bytes(Ctl.C), ACK = bytes(Ctl.ACK), NAK = bytes(Ctl.NAK);

  it('waits for C, then header, data, EOT/NAK/EOT/ACK and the empty block 0', () => {
    const s = new YmodemSender('a.bin', new Uint8Array(200), 0);
    expect(s.tick(1000)).toEqual([NUDGE]); // no C yet: prod a receiver whose C we missed
    expect(s.receive(C, 0)[0]![0]).toBe(Ctl.SOH);
    expect(s.receive(ACK, 0)).toEqual([]);
    expect(s.receive(C, 0)[0]![0]).toBe(Ctl.STX); // 200 bytes > 128: one 1 KiB block
    expect(s.receive(ACK, 0)).toEqual([bytes(Ctl.EOT)]);
    expect(s.bytesAcked).toBe(200);
    expect(s.receive(NAK, 0)).toEqual([bytes(Ctl.EOT)]);
    expect(s.receive(ACK, 0)).toEqual([]);
    expect(s.receive(C, 0)).toEqual([encodeBatchEnd()]);
    s.receive(ACK, 0);
    expect(s.phase).toBe('done');
  });

  it('retries a NAKed block up to 10 times, then fails with E_YMODEM_TOO_MANY_NAKS', () => {
    const s = new YmodemSender('a.bin', new Uint8Array(10), 0);
    s.receive(C, 0); s.receive(ACK, 0);
    const block = s.receive(C, 0)[0]!;
    for (let i = 0; i < 10; i++) expect(s.receive(NAK, i)).toEqual([block]);
    expect(s.receive(NAK, 11)).toEqual([]);
    expect(s.error?.code).toBe(YmodemErrorCode.TooManyNaks);
    expect(s.error?.message).toMatch(/block 1/);
  });

  it('fails with E_YMODEM_TIMEOUT when no C arrives, and resends an unanswered block', () => {
    const silent = new YmodemSender('a.bin', new Uint8Array(10), 0, { startTimeoutMs: 5000 });
    silent.tick(4999);
    expect(silent.finished).toBe(false);
    silent.tick(5000);
    expect(silent.error?.code).toBe(YmodemErrorCode.Timeout);

    const s = new YmodemSender('a.bin', new Uint8Array(10), 0, { responseTimeoutMs: 1000 });
    const header = s.receive(C, 0);
    expect(s.tick(1000)).toEqual(header);
  });

  it('treats CAN CAN as a cancel, a lone CAN as noise', () => {
    const s = new YmodemSender('a.bin', new Uint8Array(10), 0);
    s.receive(C, 0);
    s.receive(bytes(Ctl.CAN, 0x00), 0);
    expect(s.finished).toBe(false);
    s.receive(bytes(Ctl.CAN, Ctl.CAN), 0);
    expect(s.error?.code).toBe(YmodemErrorCode.Cancelled);
  });
});

type Fault = 'ok' | 'corrupt' | 'drop-reply' | 'noise' | 'stale-c';
const NOISE = bytes(0x00, 0x7f, 0xff, 0x41);

/**
 * Sender and the device simulator's receiver over a lossy in-memory line with a virtual
 * clock. Faults hit sender→receiver frames (corrupted → NAK or silence) and replies
 * (dropped → the sender's timeout resends → the receiver ACKs a duplicate; noise bytes;
 * a stale 'C' poll ahead of the reply, as from a receiver that polled while the frame was
 * on the line).
 */
function simulate(file: Uint8Array, plan: Fault[]): { sender: YmodemSender; receiver: YmodemReceiver } {
  let now = 0;
  const sender = new YmodemSender('image.bin', file, now, { responseTimeoutMs: 1000, startTimeoutMs: 5000 });
  const receiver = new YmodemReceiver(now, { pollMs: 300 });
  const toSender: Uint8Array[] = [receiver.start(now)];
  let planAt = 0;
  let consecutive = 0;
  const deliver = (frames: Uint8Array[]): void => {
    for (const f of frames) {
      const isBatchEnd = f.length === 133 && f[1] === 0 && f[3] === 0;
      // Stay within the retry budget: after 9 faults in a row the next frame gets through.
      let fault: Fault = plan.length === 0 || consecutive >= 9 || isBatchEnd ? 'ok' : plan[planAt++ % plan.length]!;
      if (fault === 'corrupt') {
        const bad = f.slice();
        if (bad.length === 1) bad[0] = 0x00; else bad[1 + ((planAt * 131) % (bad.length - 1))]! ^= 0x5a;
        toSender.push(receiver.receive(bad, now));
        consecutive++;
        continue;
      }
      const reply = receiver.receive(f, now);
      if (fault === 'drop-reply') { consecutive++; continue; }
      toSender.push(fault === 'noise' ? Uint8Array.from([...NOISE, ...reply]) : fault === 'stale-c' ? Uint8Array.from([Ctl.C, ...reply]) : reply);
      consecutive = 0;
      fault = 'ok';
    }
  };
  for (let steps = 0; !sender.finished && steps < 200_000; steps++) {
    const next = toSender.shift();
    if (next) { deliver(sender.receive(next, now)); continue; }
    now += 100;
    deliver(sender.tick(now));
    toSender.push(receiver.tick(now));
  }
  return { sender, receiver };
}

describe('YMODEM sender against the bootloader receiver (property)', () => {
  it('the receiver reconstructs exactly the file, whatever its size and the fault pattern within the retry budget', () => {
    const seen = { naks: 0, duplicates: 0 };
    fc.assert(fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 1000, maxLength: 6000 })),
      fc.array(fc.constantFrom<Fault>('ok', 'ok', 'corrupt', 'drop-reply', 'noise', 'stale-c'), { maxLength: 40 }),
      (file, plan) => {
        const { sender, receiver } = simulate(file, plan);
        seen.naks += receiver.stats.naks;
        seen.duplicates += receiver.stats.duplicates;
        expect(sender.error).toBeUndefined();
        expect(sender.phase).toBe('done');
        expect(sender.bytesAcked).toBe(file.length);
        expect(receiver.files).toHaveLength(1);
        expect(receiver.files[0]!.name).toBe('image.bin');
        expect(Buffer.from(receiver.files[0]!.data).equals(Buffer.from(file))).toBe(true);
      },
    ), { numRuns: 150 });
    // The faults really happened: bad blocks were refused and lost ACKs caused duplicates.
    expect(seen.naks).toBeGreaterThan(0);
    expect(seen.duplicates).toBeGreaterThan(0);
  });

  it('wraps block sequence numbers past 255', () => {
    const file = Uint8Array.from({ length: 300 * 1024 + 5 }, (_, i) => (i * 31) & 0xff);
    const { sender, receiver } = simulate(file, ['ok', 'corrupt', 'ok', 'ok', 'drop-reply']);
    expect(sender.phase).toBe('done');
    expect(Buffer.from(receiver.files[0]!.data).equals(Buffer.from(file))).toBe(true);
  });
});
