import { describe, expect, it } from 'vitest';
import { FIELD_LABELS, KIND_FIELDS, flattenTelemetry, formatField } from '../src/index.js';

describe('field labels (the console reads these instead of restating names and units)', () => {
  it('labels every field flattenTelemetry writes, in both languages, and KIND_FIELDS lists exactly those', () => {
    const written = {
      'ev-charger': flattenTelemetry({ evCharger: { connectorId: 1, status: 3, powerW: 1, energyKwh: 1, currentA: 1, voltageV: 1, faultCode: 'E1', meterKwh: 1, transactionId: '' } }),
      'parcel-locker': flattenTelemetry({ parcelLocker: { compartments: [], cabinetTempC: 4, tamper: false, mainsPower: true, supplyVoltageV: 12 } }),
      'fall-sensor': flattenTelemetry({ fallSensor: { presence: true, motion: 2, fall: false, longLie: false, heartRateBpm: 70, breathingRateBpm: 14, sos: false, batteryPct: 90, movementLevel: 1 } }),
      'env-monitor': flattenTelemetry({ envMonitor: { pm1Ugm3: 1, pm25Ugm3: 1, pm10Ugm3: 1, temperatureC: 1, humidityPct: 1, noiseDba: 1, no2Ugm3: 1, o3Ugm3: 1, coMgm3: 1, so2Ugm3: 1 } }),
    } as const;
    for (const [kind, flat] of Object.entries(written)) {
      expect(Object.keys(flat.numeric).sort(), kind).toEqual([...KIND_FIELDS[kind as keyof typeof KIND_FIELDS]].sort());
      for (const f of Object.keys(flat.numeric)) expect(FIELD_LABELS[f], f).toMatchObject({ en: expect.any(String), zh: expect.any(String) });
    }
  });

  it('labels the optional fields an OCPP charger adds (SoC, per-phase and offered current, temperature)', () => {
    const flat = flattenTelemetry({ evCharger: { connectorId: 1, status: 3, powerW: 1, energyKwh: 1, currentA: 1, voltageV: 1, faultCode: '', meterKwh: 1, transactionId: '7',
      socPct: 50, currentL1A: 1, currentL2A: 1, currentL3A: 1, currentOfferedA: 16, temperatureC: 30 } });
    for (const f of Object.keys(flat.numeric)) expect(FIELD_LABELS[f], f).toMatchObject({ en: expect.any(String), zh: expect.any(String) });
    expect(formatField('soc_pct', 61, 'en')).toBe('61 %');
  });

  it('formats units, flags and enum values per language', () => {
    expect(formatField('power_w', 7200, 'en')).toBe('7200 W');
    expect(formatField('cabinet_temp_c', 4.25, 'en')).toBe('4.25 °C');
    expect(formatField('tamper', 1, 'zh-CN')).toBe('是');
    expect(formatField('status', 9, 'zh-CN')).toBe('故障');
    expect(formatField('unknown_field', 3, 'en')).toBe('3');
  });
});
