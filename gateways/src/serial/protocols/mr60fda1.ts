import { StreamFramer, be16, sum, type FramerStats } from './stream-framer.js';

/**
 * Seeed MR60FDA1 60 GHz fall radar (serial-sensors.md): 115200 8N1,
 * `53 59 | control | command | lenH lenL | data… | sum | 54 43`, sum = low byte of the sum
 * of every byte before it. The reports are in the domain file; the settings it is silent on
 * follow Seeed's MR60FDA1 user manual (the Arduino library's constants agree): reset
 * `01/02`, firmware query `02/A4`, installation height `06/02` (cm, 2 bytes), fall
 * detection switch `83/00`, fall sensitivity `83/0D` (0–3). A set is answered with a frame
 * of the same control/command carrying the value now in force.
 */
export const RADAR_BAUD = 115200;
export const RADAR_HEADER = [0x53, 0x59] as const;
/** No MR60 frame carries more than a firmware string; anything longer is a corrupt length. */
export const RADAR_MAX_DATA = 64;

export const RadarCtrl = { System: 0x01, Product: 0x02, Install: 0x06, Human: 0x80, Vitals: 0x81, Fall: 0x83, Heart: 0x85 } as const;
export const RadarCmd = {
  Heartbeat: 0x01, Reset: 0x02,
  Presence: 0x01, Motion: 0x02, BodyMovement: 0x03,
  FallSwitch: 0x00, FallState: 0x01, Dwell: 0x05, FallSensitivity: 0x0d,
  InstallHeight: 0x02, Firmware: 0xa4,
  HeartRate: 0x02, BreathRate: 0x02, BreathState: 0x01,
} as const;
/** The manual's "query" form of a setting: command | 0x80, data 0x0F. */
export const RADAR_QUERY_BIT = 0x80;

export interface RadarFrame { control: number; command: number; data: Uint8Array }

export type RadarReport =
  | { type: 'presence'; present: boolean }
  | { type: 'motion'; motion: 'none' | 'still' | 'moving' }
  | { type: 'body-movement'; level: number }
  | { type: 'fall'; fall: boolean }
  | { type: 'dwell'; dwelling: boolean }
  | { type: 'heart-rate'; bpm: number }
  | { type: 'breathing-rate'; perMin: number }
  | { type: 'fall-sensitivity'; value: number }
  | { type: 'heartbeat' }
  | { type: 'other'; control: number; command: number; data: Uint8Array };

export function radarFrameSpec() {
  return {
    header: RADAR_HEADER,
    maxFrame: 9 + RADAR_MAX_DATA,
    inspect(b: Uint8Array, at: number) {
      if (b.length - at < 6) return { kind: 'need-more' } as const;
      const len = be16(b, at + 4);
      if (len > RADAR_MAX_DATA) return { kind: 'length' } as const;
      const total = 9 + len;
      if (b.length - at < total) return { kind: 'need-more' } as const;
      if (b[at + total - 2] !== 0x54 || b[at + total - 1] !== 0x43) return { kind: 'length' } as const;
      if ((sum(b, at, at + 6 + len) & 0xff) !== b[at + 6 + len]) return { kind: 'checksum' } as const;
      return { kind: 'frame', length: total } as const;
    },
  };
}

export function decodeRadarFrame(f: Uint8Array): RadarFrame {
  const len = be16(f, 4);
  return { control: f[2] ?? 0, command: f[3] ?? 0, data: f.slice(6, 6 + len) };
}

/** Meaning of a frame the module sends (reports and answers to settings). */
export function interpretRadar(fr: RadarFrame): RadarReport {
  const v = fr.data[0];
  const k = (fr.control << 8) | fr.command;
  if (v === undefined) return { type: 'other', control: fr.control, command: fr.command, data: fr.data };
  switch (k) {
    case 0x0101: return { type: 'heartbeat' };
    case 0x8001: return { type: 'presence', present: v === 1 };
    case 0x8002: return { type: 'motion', motion: v === 2 ? 'moving' : v === 1 ? 'still' : 'none' };
    case 0x8003: return { type: 'body-movement', level: v };
    case 0x8301: return { type: 'fall', fall: v === 1 };
    case 0x8305: return { type: 'dwell', dwelling: v === 1 };
    case 0x830d: return { type: 'fall-sensitivity', value: v };
    case 0x8502: return { type: 'heart-rate', bpm: v };
    case 0x8102: return { type: 'breathing-rate', perMin: v };
    default: return { type: 'other', control: fr.control, command: fr.command, data: fr.data };
  }
}

export class RadarParser {
  private readonly framer = new StreamFramer(radarFrameSpec());
  get stats(): FramerStats { return this.framer.stats; }
  push(chunk: Uint8Array): RadarReport[] {
    return this.framer.push(chunk).map((f) => interpretRadar(decodeRadarFrame(f)));
  }
}

export function encodeRadarFrame(control: number, command: number, data: readonly number[]): Uint8Array {
  const b = new Uint8Array(9 + data.length);
  b.set([0x53, 0x59, control & 0xff, command & 0xff, (data.length >> 8) & 0xff, data.length & 0xff], 0);
  b.set(data.map((x) => x & 0xff), 6);
  b[6 + data.length] = sum(b, 0, 6 + data.length) & 0xff;
  b[7 + data.length] = 0x54;
  b[8 + data.length] = 0x43;
  return b;
}

/** Yulan's twin sensitivity 1..10 onto the radar's 0..3 (0 least sensitive). */
export function radarSensitivityFromTwin(s: number): number {
  return Math.max(0, Math.min(3, Math.round(((s - 1) / 9) * 3)));
}

export const radarCommands = {
  heartbeat: () => encodeRadarFrame(RadarCtrl.System, RadarCmd.Heartbeat, [0x0f]),
  reset: () => encodeRadarFrame(RadarCtrl.System, RadarCmd.Reset, [0x0f]),
  setFallSensitivity: (v: number) => encodeRadarFrame(RadarCtrl.Fall, RadarCmd.FallSensitivity, [Math.max(0, Math.min(3, v))]),
  queryFallSensitivity: () => encodeRadarFrame(RadarCtrl.Fall, RadarCmd.FallSensitivity | RADAR_QUERY_BIT, [0x0f]),
  setFallDetection: (on: boolean) => encodeRadarFrame(RadarCtrl.Fall, RadarCmd.FallSwitch, [on ? 1 : 0]),
};
