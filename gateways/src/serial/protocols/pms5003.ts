import { StreamFramer, be16, sum, type FramerStats } from './stream-framer.js';

/**
 * Plantower PMS5003 (serial-sensors.md): 9600 8N1, big-endian, `42 4D len(2) … sum(2)`.
 * Data frames have len 28 (32 bytes). The domain file is silent on command replies; the
 * modules answer a mode or sleep command with an 8-byte frame of len 4 carrying the command
 * byte and its data (`42 4D 00 04 E1 00 01 74`), as Plantower's protocol appendix and every
 * open-source driver show, so len 4 is accepted too and anything else is a length error.
 */
export const PMS_BAUD = 9600;
export const PMS_HEADER = [0x42, 0x4d] as const;
const DATA_LEN = 28;
const ACK_LEN = 4;

export const PmsCommand = {
  Mode: 0xe1, // data 0 passive, 1 active
  Read: 0xe2, // read in passive mode
  Sleep: 0xe4, // data 0 sleep, 1 wake
} as const;

export interface PmsReading {
  type: 'reading';
  /** µg/m³, "CF=1" (factory calibration) */
  cf1: { pm1: number; pm25: number; pm10: number };
  /** µg/m³, atmospheric environment: the values for AQI */
  atm: { pm1: number; pm25: number; pm10: number };
  /** particles per 0.1 L above 0.3, 0.5, 1.0, 2.5, 5.0, 10 µm */
  counts: [number, number, number, number, number, number];
  /** bytes 28–29: "reserved", in practice the version and error code */
  version: number;
  errorCode: number;
}
export interface PmsAck { type: 'ack'; command: number; data: number }
export type PmsFrame = PmsReading | PmsAck;

export function pmsFrameSpec() {
  return {
    header: PMS_HEADER,
    maxFrame: 4 + DATA_LEN,
    inspect(b: Uint8Array, at: number) {
      if (b.length - at < 4) return { kind: 'need-more' } as const;
      const len = be16(b, at + 2);
      if (len !== DATA_LEN && len !== ACK_LEN) return { kind: 'length' } as const;
      const total = 4 + len;
      if (b.length - at < total) return { kind: 'need-more' } as const;
      const want = be16(b, at + total - 2);
      if ((sum(b, at, at + total - 2) & 0xffff) !== want) return { kind: 'checksum' } as const;
      return { kind: 'frame', length: total } as const;
    },
  };
}

/** Decodes one whole valid frame (as the framer returns them). */
export function decodePmsFrame(f: Uint8Array): PmsFrame {
  if (f.length === 4 + ACK_LEN) return { type: 'ack', command: f[4] ?? 0, data: f[5] ?? 0 };
  const w = (i: number) => be16(f, i);
  return {
    type: 'reading',
    cf1: { pm1: w(4), pm25: w(6), pm10: w(8) },
    atm: { pm1: w(10), pm25: w(12), pm10: w(14) },
    counts: [w(16), w(18), w(20), w(22), w(24), w(26)],
    version: f[28] ?? 0,
    errorCode: f[29] ?? 0,
  };
}

export class PmsParser {
  private readonly framer = new StreamFramer(pmsFrameSpec());
  get stats(): FramerStats { return this.framer.stats; }
  push(chunk: Uint8Array): PmsFrame[] {
    return this.framer.push(chunk).map(decodePmsFrame);
  }
}

/** `42 4D cmd dataH dataL sumH sumL`, sum of the first five bytes. */
export function encodePmsCommand(cmd: number, data: number): Uint8Array {
  const b = new Uint8Array([0x42, 0x4d, cmd & 0xff, (data >> 8) & 0xff, data & 0xff, 0, 0]);
  const s = sum(b, 0, 5);
  b[5] = (s >> 8) & 0xff;
  b[6] = s & 0xff;
  return b;
}

export const pmsCommands = {
  active: () => encodePmsCommand(PmsCommand.Mode, 1),
  passive: () => encodePmsCommand(PmsCommand.Mode, 0),
  read: () => encodePmsCommand(PmsCommand.Read, 0),
  sleep: () => encodePmsCommand(PmsCommand.Sleep, 0),
  wake: () => encodePmsCommand(PmsCommand.Sleep, 1),
};
