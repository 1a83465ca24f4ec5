import type { DeviceRecord, SiteRecord } from '../repositories/device-repository.js';

/**
 * OGC SensorThings API 1.1 (sensing profile) entities for environment monitors. Pure.
 * Only env monitors ever become Things: the registry is queried by kind, and nothing here
 * knows of any other kind or of any person.
 */

export interface Quantity {
  /** the telemetry field (protos EnvMonitorTelemetry) */
  field: string;
  name: string;
  definition: string;
  unit: { name: string; symbol: string; definition: string };
  /** an AQI computed at the edge (HJ 633-2012), not a telemetry field */
  aqiPeriod?: 'hour' | 'day';
}

const UCUM = 'http://unitsofmeasure.org/ucum.html#';
const HJ633 = 'https://www.mee.gov.cn/ywgz/fgbz/bz/bzwb/jcffbz/201203/t20120302_224166.shtml';
const AQI_UNIT = { name: 'air quality index (HJ 633-2012)', symbol: 'AQI', definition: HJ633 };
const ugm3 = { name: 'microgram per cubic metre', symbol: 'µg/m³', definition: `${UCUM}ug/m3` };
export const QUANTITIES: readonly Quantity[] = [
  { field: 'pm25_ugm3', name: 'PM2.5', definition: 'http://vocab.nerc.ac.uk/collection/P01/current/PMC25ZZZ/', unit: ugm3 },
  { field: 'pm10_ugm3', name: 'PM10', definition: 'http://vocab.nerc.ac.uk/collection/P01/current/PMC10ZZZ/', unit: ugm3 },
  { field: 'pm1_ugm3', name: 'PM1', definition: 'http://vocab.nerc.ac.uk/collection/P01/current/PMC01ZZZ/', unit: ugm3 },
  { field: 'no2_ugm3', name: 'NO2', definition: 'https://en.wikipedia.org/wiki/Nitrogen_dioxide', unit: ugm3 },
  { field: 'o3_ugm3', name: 'O3', definition: 'https://en.wikipedia.org/wiki/Ozone', unit: ugm3 },
  { field: 'so2_ugm3', name: 'SO2', definition: 'https://en.wikipedia.org/wiki/Sulfur_dioxide', unit: ugm3 },
  { field: 'co_mgm3', name: 'CO', definition: 'https://en.wikipedia.org/wiki/Carbon_monoxide', unit: { name: 'milligram per cubic metre', symbol: 'mg/m³', definition: `${UCUM}mg/m3` } },
  { field: 'noise_dba', name: 'Noise LAeq', definition: 'https://en.wikipedia.org/wiki/Sound_level_meter#LAeq', unit: { name: 'decibel (A-weighted)', symbol: 'dB(A)', definition: `${UCUM}dB` } },
  { field: 'temperature_c', name: 'Air temperature', definition: 'http://vocab.nerc.ac.uk/collection/P07/current/CFSN0023/', unit: { name: 'degree Celsius', symbol: '°C', definition: `${UCUM}Cel` } },
  { field: 'humidity_pct', name: 'Relative humidity', definition: 'http://vocab.nerc.ac.uk/collection/P07/current/CFSN0413/', unit: { name: 'percent', symbol: '%', definition: `${UCUM}%` } },
  { field: 'aqi_hour', name: 'AQI (hourly, HJ 633-2012)', definition: HJ633, unit: AQI_UNIT, aqiPeriod: 'hour' },
  { field: 'aqi_day', name: 'AQI (daily, HJ 633-2012)', definition: HJ633, unit: AQI_UNIT, aqiPeriod: 'day' },
];
const BY_FIELD = new Map(QUANTITIES.map((q) => [q.field, q]));
export const quantityOf = (field: string): Quantity | undefined => BY_FIELD.get(field);

export type Entity = Record<string, unknown>;

/** `Things('id')` — ids are strings, quoted per the URL convention of STA 1.1 §9.2.3. */
export const link = (base: string, set: string, id: string): string => `${base}/${set}('${encodeURIComponent(id.replace(/'/g, "''"))}')`;

export function thing(base: string, d: DeviceRecord): Entity {
  const self = link(base, 'Things', d.id);
  return {
    '@iot.id': d.id, '@iot.selfLink': self, name: d.name ?? d.id, description: `environment monitor ${d.id} at site ${d.site}`,
    properties: { site: d.site, kind: 'env-monitor' },
    'Locations@iot.navigationLink': `${self}/Locations`, 'Datastreams@iot.navigationLink': `${self}/Datastreams`,
    'HistoricalLocations@iot.navigationLink': `${self}/HistoricalLocations`,
  };
}

/** Monitors do not move: one HistoricalLocation, from registration, at the site. */
export function historicalLocation(base: string, d: DeviceRecord): Entity {
  const id = `${d.id}@${d.createdAt}`;
  const self = link(base, 'HistoricalLocations', id);
  return {
    '@iot.id': id, '@iot.selfLink': self, time: new Date(d.createdAt).toISOString(),
    'Thing@iot.navigationLink': `${self}/Thing`, 'Locations@iot.navigationLink': `${self}/Locations`,
  };
}

/** What is observed is the ambient air and sound of a site: its FeatureOfInterest. */
export function featureOfInterest(base: string, s: SiteRecord): Entity {
  return {
    '@iot.id': s.id, '@iot.selfLink': link(base, 'FeaturesOfInterest', s.id), name: `Ambient air and sound at ${s.nameEn}`,
    description: `${s.nameZh} / ${s.nameEn}`, encodingType: 'application/geo+json', feature: { type: 'Point', coordinates: [s.lon, s.lat] },
  };
}

export function location(base: string, s: SiteRecord): Entity {
  const self = link(base, 'Locations', s.id);
  return {
    '@iot.id': s.id, '@iot.selfLink': self, name: s.nameEn, description: `${s.nameZh} / ${s.nameEn}`,
    encodingType: 'application/geo+json', location: { type: 'Point', coordinates: [s.lon, s.lat] },
    properties: { nameZh: s.nameZh, nameEn: s.nameEn }, 'Things@iot.navigationLink': `${self}/Things`,
  };
}

export const datastreamId = (deviceId: string, field: string): string => `${deviceId}:${field}`;

export function parseDatastreamId(id: string): { deviceId: string; quantity: Quantity } | undefined {
  const i = id.lastIndexOf(':');
  const q = i > 0 ? quantityOf(id.slice(i + 1)) : undefined;
  return q ? { deviceId: id.slice(0, i), quantity: q } : undefined;
}

export function datastream(base: string, d: DeviceRecord, q: Quantity): Entity {
  const id = datastreamId(d.id, q.field);
  const self = link(base, 'Datastreams', id);
  return {
    '@iot.id': id, '@iot.selfLink': self, name: `${q.name} at ${d.id}`, description: `${q.name} measured by environment monitor ${d.id}`,
    observationType: 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement', unitOfMeasurement: q.unit,
    properties: { site: d.site, scope: 'device' },
    'Thing@iot.navigationLink': `${self}/Thing`, 'Sensor@iot.navigationLink': `${self}/Sensor`,
    'ObservedProperty@iot.navigationLink': `${self}/ObservedProperty`, 'Observations@iot.navigationLink': `${self}/Observations`,
  };
}

export function observedProperty(base: string, q: Quantity): Entity {
  return { '@iot.id': q.field, '@iot.selfLink': link(base, 'ObservedProperties', q.field), name: q.name, definition: q.definition, description: q.name };
}

export const SENSOR_ID = 'yulan-env-monitor';
export function sensor(base: string): Entity {
  return {
    '@iot.id': SENSOR_ID, '@iot.selfLink': link(base, 'Sensors', SENSOR_ID), name: 'Yulan environment monitor',
    description: 'low-cost PM, gas and sound-level sensor station', encodingType: 'text/html', metadata: 'https://github.com/yulan',
  };
}

export function observation(base: string, dsId: string, ts: number, seq: number, value: number): Entity {
  const id = `${dsId}:${ts}:${seq}`;
  const time = new Date(ts).toISOString();
  return { '@iot.id': id, '@iot.selfLink': link(base, 'Observations', id), phenomenonTime: time, resultTime: time, result: value };
}

/** An hourly or daily AQI: phenomenonTime is the period; null result = invalid period
 * (not enough valid data per GB 3095-2012), never guessed. */
export function aqiObservation(base: string, dsId: string, startMs: number, endMs: number, value: number | null, labels: Record<string, string>): Entity {
  const id = `${dsId}:${startMs}`;
  return {
    '@iot.id': id, '@iot.selfLink': link(base, 'Observations', id),
    phenomenonTime: `${new Date(startMs).toISOString()}/${new Date(endMs).toISOString()}`, resultTime: new Date(endMs).toISOString(),
    result: value,
    parameters: {
      valid: value !== null, level: labels.level ?? '', category: labels.category ?? '', categoryEn: labels.category_en ?? '',
      colour: labels.colour ?? '', primaryPollutants: labels.primary ? labels.primary.split(',') : [],
    },
  };
}

/** `$select`: only the listed properties (and never more than the entity has). */
export function select(e: Entity, fields: readonly string[] | undefined): Entity {
  if (!fields) return e;
  const out: Entity = {};
  for (const f of fields) if (f in e) out[f] = e[f];
  return out;
}
