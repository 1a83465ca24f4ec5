import { Type } from 'typebox';
import { parseHhMm } from '../domain/local-time.js';
import { isNoiseZone, type NoisePeriods, type NoiseZone } from '../domain/noise.js';
import type { ConfigIssue } from '../errors.js';

const ZONE = '(0|1|2|3|4a|4b)';
const SITE_ZONE = `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}=${ZONE}`;

/** YULAN_* variables of the air-quality computation; config.ts merges them into its schema. */
export const AIR_ENV = {
  YULAN_AQI_ALERT_LEVEL: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,2})$' })),
  YULAN_AIR_UTC_OFFSET_MIN: Type.Optional(Type.String({ pattern: '^-?[0-9]{1,3}$' })),
  YULAN_NOISE_DAY_START: Type.Optional(Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' })),
  YULAN_NOISE_NIGHT_START: Type.Optional(Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' })),
  YULAN_NOISE_ZONE: Type.Optional(Type.String({ pattern: `^${ZONE}$` })),
  YULAN_NOISE_SITE_ZONES: Type.Optional(Type.String({ pattern: `^${SITE_ZONE}(,${SITE_ZONE})*$` })),
};

type AirEnv = Partial<Record<keyof typeof AIR_ENV, string>>;

export interface AirConfig {
  /** An hourly AQI above this is an exceedance event (default 100: beyond 良). */
  aqiAlertLevel: number;
  /** Local time of the standards' days and periods (Asia/Shanghai: +480, no DST). */
  utcOffsetMin: number;
  noisePeriods: NoisePeriods;
  /** GB 3096 zone class of a site's monitors; `defaultZone` for sites not listed. */
  defaultZone: NoiseZone;
  siteZones: Record<string, NoiseZone>;
}

export function airIssues(v: AirEnv, issues: ConfigIssue[]): void {
  if (v.YULAN_AQI_ALERT_LEVEL && Number(v.YULAN_AQI_ALERT_LEVEL) > 500) {
    issues.push({ variable: 'YULAN_AQI_ALERT_LEVEL', message: 'must be 0..500' });
  }
  if (v.YULAN_AIR_UTC_OFFSET_MIN && Math.abs(Number(v.YULAN_AIR_UTC_OFFSET_MIN)) > 840) {
    issues.push({ variable: 'YULAN_AIR_UTC_OFFSET_MIN', message: 'must be -840..840 minutes' });
  }
  const day = parseHhMm(v.YULAN_NOISE_DAY_START ?? '06:00');
  const night = parseHhMm(v.YULAN_NOISE_NIGHT_START ?? '22:00');
  if (day !== undefined && night !== undefined && day >= night) {
    issues.push({ variable: 'YULAN_NOISE_NIGHT_START', message: 'must be later in the day than YULAN_NOISE_DAY_START' });
  }
}

export function airConfig(v: AirEnv): AirConfig {
  const siteZones: Record<string, NoiseZone> = Object.create(null) as Record<string, NoiseZone>;
  for (const pair of v.YULAN_NOISE_SITE_ZONES?.split(',') ?? []) {
    const [site, zone] = pair.split('=') as [string, string];
    if (isNoiseZone(zone)) siteZones[site] = zone;
  }
  const zone = v.YULAN_NOISE_ZONE ?? '2';
  return {
    aqiAlertLevel: Number(v.YULAN_AQI_ALERT_LEVEL ?? 100),
    utcOffsetMin: Number(v.YULAN_AIR_UTC_OFFSET_MIN ?? 480),
    noisePeriods: { dayStart: v.YULAN_NOISE_DAY_START ?? '06:00', nightStart: v.YULAN_NOISE_NIGHT_START ?? '22:00' },
    defaultZone: isNoiseZone(zone) ? zone : '2',
    siteZones,
  };
}
