import { StreamFramer, le16, sum, type FramerStats } from './stream-framer.js';

/**
 * Nova SDS011 (serial-sensors.md): 9600 8N1, little-endian, 10-byte frames `AA C0 … sum AB`
 * (data) and `AA C5 …` (command replies). The domain file gives the data frame and the
 * command shape; the reply payloads below follow Nova's "Laser Dust Sensor Control
 * Protocol V1.3": `AA C5 cmd d1 d2 d3 id1 id2 sum AB` with d1 = 1 for a set, 0 for a query.
 */
export const SDS_BAUD = 9600;
export const SDS_HEADER = [0xaa] as const;
export const SdsCommand = { ReportingMode: 0x02, Query: 0x04, DeviceId: 0x05, SleepWork: 0x06, Firmware: 0x07, WorkingPeriod: 0x08 } as const;
/** Device id FFFF addresses every sensor on the line. */
export const SDS_ANY = 0xffff;

export interface SdsReading { type: 'reading'; pm25: number; pm10: number; deviceId: number }
export interface SdsReply {
  type: 'reply';
  command: number;
  /** Reporting mode (0 active, 1 query), sleep/work (0 sleep, 1 work), period (minutes, 0 continuous) */
  set: boolean;
  value: number;
  deviceId: number;
}
export interface SdsFirmware { type: 'firmware'; year: number; month: number; day: number; deviceId: number }
export type SdsFrame = SdsReading | SdsReply | SdsFirmware;

export function sdsFrameSpec() {
  return {
    header: SDS_HEADER,
    maxFrame: 10,
    inspect(b: Uint8Array, at: number) {
      if (b.length - at < 2) return { kind: 'need-more' } as const;
      const t = b[at + 1];
      // AA is a common byte inside data; only AA C0 / AA C5 opens a frame.
      if (t !== 0xc0 && t !== 0xc5) return { kind: 'not-header' } as const;
      if (b.length - at < 10) return { kind: 'need-more' } as const;
      if (b[at + 9] !== 0xab) return { kind: 'length' } as const;
      if ((sum(b, at + 2, at + 8) & 0xff) !== b[at + 8]) return { kind: 'checksum' } as const;
      return { kind: 'frame', length: 10 } as const;
    },
  };
}

export function decodeSdsFrame(f: Uint8Array): SdsFrame {
  const deviceId = le16(f, 6);
  if (f[1] === 0xc0) return { type: 'reading', pm25: le16(f, 2) / 10, pm10: le16(f, 4) / 10, deviceId };
  const command = f[2] ?? 0;
  if (command === SdsCommand.Firmware) return { type: 'firmware', year: f[3] ?? 0, month: f[4] ?? 0, day: f[5] ?? 0, deviceId };
  return { type: 'reply', command, set: f[3] === 1, value: f[4] ?? 0, deviceId };
}

export class SdsParser {
  private readonly framer = new StreamFramer(sdsFrameSpec());
  get stats(): FramerStats { return this.framer.stats; }
  push(chunk: Uint8Array): SdsFrame[] {
    return this.framer.push(chunk).map(decodeSdsFrame);
  }
}

/** `AA B4 cmd d1..d12 idL idH sum AB` (19 bytes), sum of bytes 2–16, low byte. */
export function encodeSdsCommand(cmd: number, data: readonly number[] = [], deviceId = SDS_ANY): Uint8Array {
  const b = new Uint8Array(19);
  b[0] = 0xaa;
  b[1] = 0xb4;
  b[2] = cmd & 0xff;
  for (let i = 0; i < 12; i++) b[3 + i] = (data[i] ?? 0) & 0xff;
  b[15] = deviceId & 0xff;
  b[16] = (deviceId >> 8) & 0xff;
  b[17] = sum(b, 2, 17) & 0xff;
  b[18] = 0xab;
  return b;
}

export const sdsCommands = {
  /** mode: 'active' reports every second (or each working period); 'query' only when asked */
  setReportingMode: (mode: 'active' | 'query') => encodeSdsCommand(SdsCommand.ReportingMode, [1, mode === 'query' ? 1 : 0]),
  query: () => encodeSdsCommand(SdsCommand.Query),
  sleep: () => encodeSdsCommand(SdsCommand.SleepWork, [1, 0]),
  work: () => encodeSdsCommand(SdsCommand.SleepWork, [1, 1]),
  /** minutes 0 (continuous) … 30: the sensor sleeps and wakes itself (fan and laser last longer) */
  setWorkingPeriod: (minutes: number) => encodeSdsCommand(SdsCommand.WorkingPeriod, [1, Math.max(0, Math.min(30, Math.round(minutes)))]),
  firmware: () => encodeSdsCommand(SdsCommand.Firmware),
};
