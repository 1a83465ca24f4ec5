/**
 * YMODEM (batch, CRC-16) framing, pure: no I/O, no clock. The sender state machine
 * (ymodem-sender.ts) builds on it; the serial transport lives in flash.ts.
 *
 * Frame: SOH|STX, seq, 255-seq, 128|1024 data bytes, CRC-16/XMODEM (big-endian).
 * Block 0 carries "name\0size\0"; an all-NUL block 0 ends the batch.
 */
export const Ctl = {
  SOH: 0x01,
  STX: 0x02,
  EOT: 0x04,
  ACK: 0x06,
  NAK: 0x15,
  CAN: 0x18,
  C: 0x43,
  /** CP/M end-of-file, the conventional padding of the last data block. */
  SUB: 0x1a,
} as const;

export const SHORT_BLOCK = 128;
export const LONG_BLOCK = 1024;

/** CRC-16/XMODEM: poly 0x1021, init 0, no reflection, no final xor. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]! << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** One frame; `data` shorter than the block size is padded with `pad`. */
export function encodeBlock(seq: number, data: Uint8Array, size: 128 | 1024, pad: number = Ctl.SUB): Uint8Array {
  if (data.length > size) throw new RangeError(`block of ${data.length} bytes does not fit ${size}`);
  const frame = new Uint8Array(3 + size + 2);
  frame[0] = size === LONG_BLOCK ? Ctl.STX : Ctl.SOH;
  frame[1] = seq & 0xff;
  frame[2] = 0xff - (seq & 0xff);
  frame.set(data, 3);
  frame.fill(pad, 3 + data.length, 3 + size);
  const crc = crc16(frame, 3, 3 + size);
  frame[3 + size] = crc >> 8;
  frame[4 + size] = crc & 0xff;
  return frame;
}

/** Block 0: file name and decimal size, NUL-padded; 128 bytes unless the name needs more. */
export function encodeHeader(name: string, size: number): Uint8Array {
  const text = new TextEncoder().encode(`${name}\0${size}\0`);
  if (text.length > LONG_BLOCK) throw new RangeError('file name too long for a YMODEM header');
  return encodeBlock(0, text, text.length <= SHORT_BLOCK ? SHORT_BLOCK : LONG_BLOCK, 0);
}

/** The empty block 0 that tells the receiver the batch is over. */
export function encodeBatchEnd(): Uint8Array {
  return encodeBlock(0, new Uint8Array(0), SHORT_BLOCK, 0);
}

/**
 * Splits a file into data blocks (seq 1, 2, … mod 256): 1 KiB frames, and a 128-byte
 * frame for a tail of ≤ 128 bytes (less padding on slow lines).
 */
export function* dataBlocks(file: Uint8Array): Generator<{ seq: number; offset: number; length: number; frame: Uint8Array }> {
  let seq = 1;
  for (let offset = 0; offset < file.length; seq++) {
    const remaining = file.length - offset;
    const size = remaining <= SHORT_BLOCK ? SHORT_BLOCK : LONG_BLOCK;
    const length = Math.min(size, remaining);
    yield { seq: seq & 0xff, offset, length, frame: encodeBlock(seq, file.subarray(offset, offset + length), size) };
    offset += length;
  }
}

export type DecodedFrame =
  | { kind: 'block'; seq: number; data: Uint8Array; consumed: number }
  | { kind: 'bad'; reason: 'crc' | 'seq'; consumed: number }
  | { kind: 'incomplete' };

/** Decodes a SOH/STX frame at the start of `buf` (used by tests and tools; the device
 * simulator has its own independent receiver so one cannot hide the other's bug). */
export function decodeFrame(buf: Uint8Array): DecodedFrame {
  const size = buf[0] === Ctl.STX ? LONG_BLOCK : buf[0] === Ctl.SOH ? SHORT_BLOCK : -1;
  if (size < 0) throw new RangeError(`not a frame start: 0x${(buf[0] ?? 0).toString(16)}`);
  const total = 3 + size + 2;
  if (buf.length < total) return { kind: 'incomplete' };
  if (((buf[1]! + buf[2]!) & 0xff) !== 0xff) return { kind: 'bad', reason: 'seq', consumed: total };
  const crc = (buf[3 + size]! << 8) | buf[4 + size]!;
  if (crc16(buf, 3, 3 + size) !== crc) return { kind: 'bad', reason: 'crc', consumed: total };
  return { kind: 'block', seq: buf[1]!, data: buf.slice(3, 3 + size), consumed: total };
}

/** Parses block 0's payload; undefined for the empty batch-end block. */
export function parseHeader(data: Uint8Array): { name: string; size: number } | undefined {
  if (data[0] === 0) return undefined;
  const nul = data.indexOf(0);
  const name = new TextDecoder().decode(data.subarray(0, nul));
  const rest = new TextDecoder().decode(data.subarray(nul + 1, data.indexOf(0, nul + 1)));
  return { name, size: Number.parseInt(rest.split(' ')[0] ?? '', 10) };
}
