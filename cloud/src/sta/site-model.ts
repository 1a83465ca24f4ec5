import type { SiteRecord } from '../repositories/device-repository.js';
import { QUANTITIES, link, type Entity } from './sta-model.js';

/**
 * A site as a SensorThings Thing (issue 14): the site's AQI (HJ 633-2012) is computed at
 * the edge from the mean of its monitors' concentrations, so it is observed by no single
 * monitor. STA 1.1 gives every Datastream exactly one Thing; the site is that Thing — a
 * virtual station whose Location is the site's Location and whose FeatureOfInterest is
 * the site's ambient air, as for its monitors. Its id is `site:<site id>`: a colon is in no
 * device id (ID_PATTERN), so a site Thing never collides with a monitor. Pure.
 */

export const SITE_PREFIX = 'site:';
export const siteThingId = (site: string): string => `${SITE_PREFIX}${site}`;
/** The site id of a site Thing id, or undefined for any other id. */
export const siteOfThing = (id: string): string | undefined => (id.startsWith(SITE_PREFIX) ? id.slice(SITE_PREFIX.length) : undefined);

const OM = 'http://www.opengis.net/def/observationType/OGC-OM/2.0/';
const HJ633 = 'https://www.mee.gov.cn/ywgz/fgbz/bz/bzwb/jcffbz/201203/t20120302_224166.shtml';
const GB3096 = 'https://www.mee.gov.cn/ywgz/fgbz/bz/bzwb/wlhj/shjzlbz/200809/t20080917_128815.shtml';
const NO_UNIT = { name: null, symbol: null, definition: null };
const AQI_UNIT = QUANTITIES.find((q) => q.field === 'aqi_hour')?.unit;
const DBA = { name: 'decibel (A-weighted)', symbol: 'dB(A)', definition: 'http://unitsofmeasure.org/ucum.html#dB' };

/** An edge air-index point (edge GET /v1/air-quality). */
export interface AirPoint { ts: number; endMs: number; value: number | null; values?: Record<string, number>; labels?: Record<string, string> }

export interface SiteQuantity {
  field: string;
  name: string;
  definition: string;
  unit: { name: string | null; symbol: string | null; definition: string | null };
  observationType: string;
  measure: 'aqi' | 'noise';
  period: 'hour' | 'day' | 'night';
  /** the Observation's result from the stored period; null = invalid period */
  result: (p: AirPoint) => number | string | null;
}

const POLLUTANTS = [
  ['so2', 'SO2'], ['no2', 'NO2'], ['co', 'CO'], ['o3_1h', 'O3 1-hour'], ['o3_8h', 'O3 8-hour'], ['pm10', 'PM10'], ['pm25', 'PM2.5'],
] as const;
const PERIOD_NAME = { hour: 'hourly', day: 'daily' } as const;

function aqiQuantities(period: 'hour' | 'day'): SiteQuantity[] {
  const p = PERIOD_NAME[period];
  const valid = (x: AirPoint): boolean => x.value !== null;
  return [
    { field: `aqi_${period}`, name: `AQI (${p}, HJ 633-2012)`, definition: HJ633, unit: AQI_UNIT ?? NO_UNIT, observationType: `${OM}OM_Measurement`,
      measure: 'aqi', period, result: (x) => x.value },
    ...POLLUTANTS.map(([k, n]): SiteQuantity => ({
      field: `iaqi_${k}_${period}`, name: `IAQI ${n} (${p}, HJ 633-2012)`, definition: HJ633, unit: AQI_UNIT ?? NO_UNIT,
      observationType: `${OM}OM_Measurement`, measure: 'aqi', period, result: (x) => x.values?.[`iaqi.${k}`] ?? null,
    })),
    { field: `category_${period}`, name: `AQI category (${p}, HJ 633-2012)`, definition: HJ633, unit: NO_UNIT,
      observationType: `${OM}OM_CategoryObservation`, measure: 'aqi', period, result: (x) => (valid(x) ? x.labels?.category ?? null : null) },
    // '' when the AQI is 50 or less: the standard names no primary pollutant then.
    { field: `primary_${period}`, name: `Primary pollutant(s) (${p}, HJ 633-2012)`, definition: HJ633, unit: NO_UNIT,
      observationType: `${OM}OM_Observation`, measure: 'aqi', period, result: (x) => (valid(x) ? x.labels?.primary ?? '' : null) },
  ];
}

export const SITE_QUANTITIES: readonly SiteQuantity[] = [
  ...aqiQuantities('hour'),
  ...aqiQuantities('day'),
  { field: 'noise_ld', name: 'Noise Ld (day, GB 3096-2008)', definition: GB3096, unit: DBA, observationType: `${OM}OM_Measurement`,
    measure: 'noise', period: 'day', result: (x) => x.value },
  { field: 'noise_ln', name: 'Noise Ln (night, GB 3096-2008)', definition: GB3096, unit: DBA, observationType: `${OM}OM_Measurement`,
    measure: 'noise', period: 'night', result: (x) => x.value },
];
const BY_FIELD = new Map(SITE_QUANTITIES.map((q) => [q.field, q]));
export const siteQuantityOf = (field: string): SiteQuantity | undefined => BY_FIELD.get(field);

export const SITE_SENSOR_ID = 'yulan-site-index';

export function siteSensor(base: string): Entity {
  return {
    '@iot.id': SITE_SENSOR_ID, '@iot.selfLink': link(base, 'Sensors', SITE_SENSOR_ID), name: 'Yulan site index (HJ 633-2012, GB 3096-2008)',
    description: "computed at the edge: the AQI of the mean of the site's monitors' valid concentrations; noise Ld/Ln as the energy mean of their levels",
    encodingType: 'text/html', metadata: HJ633,
  };
}

export function siteThing(base: string, s: SiteRecord): Entity {
  const id = siteThingId(s.id);
  const self = link(base, 'Things', id);
  return {
    '@iot.id': id, '@iot.selfLink': self, name: `${s.nameEn} (site)`, description: `site ${s.nameZh} / ${s.nameEn}: air quality index and noise of all its environment monitors`,
    properties: { site: s.id, kind: 'site', nameZh: s.nameZh, nameEn: s.nameEn },
    'Locations@iot.navigationLink': `${self}/Locations`, 'Datastreams@iot.navigationLink': `${self}/Datastreams`,
    'HistoricalLocations@iot.navigationLink': `${self}/HistoricalLocations`,
  };
}

/** A site is where it was registered: one HistoricalLocation, from then. */
export function siteHistoricalLocation(base: string, s: SiteRecord): Entity {
  const id = `${siteThingId(s.id)}@${s.createdAt}`;
  const self = link(base, 'HistoricalLocations', id);
  return {
    '@iot.id': id, '@iot.selfLink': self, time: new Date(s.createdAt).toISOString(),
    'Thing@iot.navigationLink': `${self}/Thing`, 'Locations@iot.navigationLink': `${self}/Locations`,
  };
}

export const siteDatastreamId = (site: string, field: string): string => `${siteThingId(site)}:${field}`;

/** `site:<id>:<field>` → the site and quantity, or undefined. */
export function parseSiteDatastreamId(id: string): { site: string; quantity: SiteQuantity } | undefined {
  const i = id.lastIndexOf(':');
  const site = i > 0 ? siteOfThing(id.slice(0, i)) : undefined;
  const q = site ? siteQuantityOf(id.slice(i + 1)) : undefined;
  return site && q ? { site, quantity: q } : undefined;
}

export function siteDatastream(base: string, s: SiteRecord, q: SiteQuantity): Entity {
  const id = siteDatastreamId(s.id, q.field);
  const self = link(base, 'Datastreams', id);
  return {
    '@iot.id': id, '@iot.selfLink': self, name: `${q.name} at ${s.nameEn}`, description: `${q.name} of site ${s.nameZh} / ${s.nameEn}`,
    observationType: q.observationType, unitOfMeasurement: q.unit,
    properties: { site: s.id, scope: 'site', measure: q.measure, period: q.period },
    'Thing@iot.navigationLink': `${self}/Thing`, 'Sensor@iot.navigationLink': `${self}/Sensor`,
    'ObservedProperty@iot.navigationLink': `${self}/ObservedProperty`, 'Observations@iot.navigationLink': `${self}/Observations`,
  };
}

export function siteObservedProperty(base: string, q: SiteQuantity): Entity {
  return { '@iot.id': q.field, '@iot.selfLink': link(base, 'ObservedProperties', q.field), name: q.name, definition: q.definition, description: q.name };
}

/** One stored period: phenomenonTime is the period, resultTime its end; a null result is
 * an invalid period (not enough valid data, GB 3095-2012), never guessed. */
export function siteObservation(base: string, dsId: string, q: SiteQuantity, p: AirPoint): Entity {
  const id = `${dsId}:${p.ts}`;
  const l = p.labels ?? {};
  const result = q.result(p);
  const parameters = q.measure === 'aqi'
    ? { valid: p.value !== null, aqi: p.value, level: l.level ?? '', category: l.category ?? '', categoryEn: l.category_en ?? '', colour: l.colour ?? '',
        primaryPollutants: l.primary ? l.primary.split(',') : [] }
    : { valid: p.value !== null, zone: l.zone ?? '', limitDba: p.values?.limit_dba ?? null, exceeded: l.exceeded === 'true', minutes: p.values?.minutes ?? null };
  return {
    '@iot.id': id, '@iot.selfLink': link(base, 'Observations', id),
    phenomenonTime: `${new Date(p.ts).toISOString()}/${new Date(p.endMs).toISOString()}`, resultTime: new Date(p.endMs).toISOString(),
    result, parameters,
  };
}
