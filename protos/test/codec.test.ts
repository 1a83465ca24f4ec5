import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import {
  Command, DeviceKind, Event, Motion, ProtoError, Severity, Telemetry, flattenTelemetry,
} from '@yulan/protos';

describe('generated codecs', () => {
  it('round-trips a fall-sensor reading with 64-bit fields as numbers', () => {
    const bytes = Telemetry.encode({
      header: { deviceId: 'fs-1', kind: DeviceKind.FALL_SENSOR, seq: 2 ** 40 + 7, tsMs: 1_764_000_000_123, firmwareVersion: '1.2.0' },
      fallSensor: { presence: true, motion: Motion.STILL, fall: true, longLie: false, heartRateBpm: 72, sos: false, batteryPct: 88 },
    });
    const t = Telemetry.decode(bytes);
    expect(t.header).toEqual({ deviceId: 'fs-1', kind: DeviceKind.FALL_SENSOR, seq: 2 ** 40 + 7, tsMs: 1_764_000_000_123, firmwareVersion: '1.2.0' });
    expect(t.reading).toBe('fallSensor');
    expect(t.fallSensor?.heartRateBpm).toBe(72);
    expect(t.fallSensor?.breathingRateBpm).toBeUndefined();
    expect(t.evCharger).toBeUndefined();
    expect(flattenTelemetry(t).numeric).toMatchObject({ presence: 1, fall: 1, heart_rate_bpm: 72, battery_pct: 88 });
  });

  it('fills proto3 defaults and leaves absent messages undefined', () => {
    const e = Event.decode(Event.encode({ type: 'sos.pressed', severity: Severity.CRITICAL }));
    expect(e.header).toBeUndefined();
    expect(e.message).toBe('');
    expect(e.attributes).toEqual({});
  });

  it('rejects malformed bytes with a typed error', () => {
    expect(() => Telemetry.decode(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))).toThrow(ProtoError);
    try {
      Telemetry.decode(Uint8Array.from([0x0a, 0x50, 0x01]));
      expect.unreachable();
    } catch (err) {
      expect((err as ProtoError).code).toBe('E_PROTO_DECODE');
    }
  });

  it('refuses to encode a wrongly typed field', () => {
    expect(() => Command.encode({ commandId: 5 as unknown as string })).toThrow(/commandId/);
  });

  it('decoding arbitrary bytes either succeeds or throws ProtoError, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      try { Telemetry.decode(bytes); } catch (err) { expect(err).toBeInstanceOf(ProtoError); }
    }), { numRuns: 2000 });
  });

  it('round-trips arbitrary environment readings', () => {
    fc.assert(fc.property(
      fc.record({ pm25Ugm3: fc.double({ noNaN: true }), noiseDba: fc.double({ noNaN: true }), so2Ugm3: fc.option(fc.double({ noNaN: true }), { nil: undefined }) }),
      fc.nat(), (r, seq) => {
        const t = Telemetry.decode(Telemetry.encode({ header: { seq, kind: DeviceKind.ENV_MONITOR }, envMonitor: r }));
        expect(t.header?.seq).toBe(seq);
        expect(t.envMonitor?.pm25Ugm3).toBe(r.pm25Ugm3);
        expect(t.envMonitor?.so2Ugm3).toBe(r.so2Ugm3);
      }));
  });
});

describe('generated code', () => {
  it('is up to date with the .proto files', () => {
    const out = execFileSync(process.execPath, ['protos/scripts/generate.mjs', '--check'], { encoding: 'utf8' });
    expect(out).toContain('up to date');
  });
});
