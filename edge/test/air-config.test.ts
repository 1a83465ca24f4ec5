import { describe, expect, it } from 'vitest';
import { ConfigError, loadEdgeConfig } from '../src/index.js';

const base = { YULAN_EDGE_MQTT_PASSWORD: 'pw', YULAN_EDGE_TOKEN: 'a-token-of-16-chars' };
const issues = (env: Record<string, string>): string[] => {
  try {
    loadEdgeConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => i.variable);
    throw err;
  }
  return [];
};

describe('air-quality configuration (YULAN_AQI_*, YULAN_NOISE_*)', () => {
  it('defaults: alert above AQI 100, Shanghai time, 06:00–22:00 days, zone 2', () => {
    expect(loadEdgeConfig(base).air).toEqual({
      aqiAlertLevel: 100, utcOffsetMin: 480, noisePeriods: { dayStart: '06:00', nightStart: '22:00' }, defaultZone: '2', siteZones: {},
    });
  });

  it('reads the alert level, periods and zones per site', () => {
    const c = loadEdgeConfig({
      ...base, YULAN_AQI_ALERT_LEVEL: '150', YULAN_NOISE_DAY_START: '07:00', YULAN_NOISE_NIGHT_START: '23:00',
      YULAN_NOISE_ZONE: '1', YULAN_NOISE_SITE_ZONES: 'road-7=4a,rail.2=4b', YULAN_AIR_UTC_OFFSET_MIN: '-300',
    }).air;
    expect(c).toMatchObject({ aqiAlertLevel: 150, utcOffsetMin: -300, defaultZone: '1', noisePeriods: { dayStart: '07:00', nightStart: '23:00' } });
    expect({ ...c.siteZones }).toEqual({ 'road-7': '4a', 'rail.2': '4b' });
  });

  it('names every bad variable', () => {
    expect(issues({ YULAN_AQI_ALERT_LEVEL: '501' })).toEqual(['YULAN_AQI_ALERT_LEVEL']);
    expect(issues({ YULAN_AQI_ALERT_LEVEL: 'high' })).toEqual(['YULAN_AQI_ALERT_LEVEL']);
    expect(issues({ YULAN_NOISE_ZONE: '5' })).toEqual(['YULAN_NOISE_ZONE']);
    expect(issues({ YULAN_NOISE_SITE_ZONES: 'a=1,b' })).toEqual(['YULAN_NOISE_SITE_ZONES']);
    expect(issues({ YULAN_NOISE_DAY_START: '6:00' })).toEqual(['YULAN_NOISE_DAY_START']);
    expect(issues({ YULAN_NOISE_DAY_START: '22:00', YULAN_NOISE_NIGHT_START: '06:00' })).toEqual(['YULAN_NOISE_NIGHT_START']);
    expect(issues({ YULAN_AIR_UTC_OFFSET_MIN: '900' })).toEqual(['YULAN_AIR_UTC_OFFSET_MIN']);
  });
});
