import { describe, expect, it } from 'vitest';
import { DeviceKind, ProtoError, TwinDesired, TwinReported } from '@yulan/protos';

describe('twin codecs', () => {
  it('round-trips a desired state with the kind oneof and 64-bit version', () => {
    const bytes = TwinDesired.encode({
      version: 2 ** 40 + 3, issuedMs: 1_764_000_000_123,
      settings: { envMonitor: { reportIntervalS: 30, pm25AlertUgm3: 75.5, noiseZoneClass: 0 } },
    });
    const d = TwinDesired.decode(bytes);
    expect(d.version).toBe(2 ** 40 + 3);
    expect(d.settings?.kind).toBe('envMonitor');
    // optional fields: a zero that was set survives, an unset one stays undefined
    expect(d.settings?.envMonitor).toEqual({ reportIntervalS: 30, pm25AlertUgm3: 75.5, noiseZoneClass: 0 });
    expect(d.settings?.envMonitor?.noiseAlertDba).toBeUndefined();
    expect(d.settings?.evCharger).toBeUndefined();
  });

  it('round-trips a reported state with header and error', () => {
    const r = TwinReported.decode(TwinReported.encode({
      header: { deviceId: 'ch-1', kind: DeviceKind.EV_CHARGER, seq: 9, tsMs: 5 },
      appliedVersion: 4, settings: { evCharger: { currentLimitA: 16 } }, error: '',
    }));
    expect(r.header?.deviceId).toBe('ch-1');
    expect(r.appliedVersion).toBe(4);
    expect(r.settings?.evCharger?.currentLimitA).toBe(16);
    expect(r.error).toBe('');
  });

  it('fills defaults for an empty message and rejects garbage with ProtoError', () => {
    expect(TwinDesired.decode(new Uint8Array())).toEqual({ version: 0, issuedMs: 0 });
    expect(() => TwinReported.decode(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))).toThrow(ProtoError);
  });
});
