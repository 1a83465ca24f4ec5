import { KIND_SLUGS, isValidId, kindFromSlug, type KindSlug } from '@yulan/protos';
import { SimError, SimErrorCode } from './errors.js';
import { isFallScenario } from './models/fall-scenarios.js';
import { validateFailures } from './command-plan.js';
import type { FleetDeviceSpec, FleetOptions } from './fleet.js';

const ID_PREFIX: Record<KindSlug, string> = {
  'ev-charger': 'ev', 'parcel-locker': 'locker', 'fall-sensor': 'fall', 'env-monitor': 'env',
};

/** Deterministic ids: `<prefix>-<site>-<nnnn>`, numbered per site. */
export function fleetDeviceSpecs(kinds: readonly KindSlug[], countPerKind: number, sites: readonly string[]): FleetDeviceSpec[] {
  const out: FleetDeviceSpec[] = [];
  for (const kind of kinds) {
    for (let i = 0; i < countPerKind; i++) {
      const site = sites[i % sites.length] as string;
      const n = Math.floor(i / sites.length) + 1;
      out.push({ id: `${ID_PREFIX[kind]}-${site}-${String(n).padStart(4, '0')}`, site, kind });
    }
  }
  return out;
}

/** Checks the options and returns the fleet's devices; throws SimError(E_SIM_OPTIONS). */
export function validateFleet(o: FleetOptions): FleetDeviceSpec[] {
  const bad = (msg: string): never => {
    throw new SimError(SimErrorCode.BadOptions, msg);
  };
  if (!(o.ratePerDevice > 0) || !Number.isFinite(o.ratePerDevice)) bad(`ratePerDevice must be > 0, got ${o.ratePerDevice}`);
  if (o.qos !== 0 && o.qos !== 1) bad(`qos must be 0 or 1, got ${String(o.qos)}`);
  if (o.timeScale !== undefined && !(o.timeScale > 0)) bad(`timeScale must be > 0, got ${o.timeScale}`);
  if (o.connectConcurrency !== undefined && !(Number.isInteger(o.connectConcurrency) && o.connectConcurrency > 0)) {
    bad(`connectConcurrency must be a positive integer, got ${o.connectConcurrency}`);
  }
  let specs: FleetDeviceSpec[];
  if (o.devices) {
    specs = o.devices;
  } else {
    if (!Number.isInteger(o.countPerKind) || o.countPerKind < 0) bad(`countPerKind must be a non-negative integer, got ${o.countPerKind}`);
    if (o.sites.length === 0) bad('at least one site is needed');
    for (const k of o.kinds) if (!KIND_SLUGS.includes(k)) bad(`unknown kind "${k}" (expected one of ${KIND_SLUGS.join(', ')})`);
    specs = fleetDeviceSpecs(o.kinds, o.countPerKind, o.sites);
  }
  const ids = new Set<string>();
  for (const d of specs) {
    if (!isValidId(d.site)) bad(`invalid site "${d.site}" (letters, digits, _ . -; at most 64)`);
    if (!isValidId(d.id)) bad(`invalid device id "${d.id}" (letters, digits, _ . -; at most 64)`);
    if (kindFromSlug(d.kind) === undefined) bad(`device ${d.id}: unknown kind "${d.kind}"`);
    if (ids.has(d.id)) bad(`duplicate device id "${d.id}"`);
    ids.add(d.id);
  }
  if (specs.length === 0) bad('the fleet has no devices');
  const failureSets = [o.commandFailures, ...specs.map((d) => d.commandFailures), ...Object.values(o.deviceCommandFailures ?? {})];
  for (const f of failureSets) {
    try {
      if (f) validateFailures(f);
    } catch (err) {
      bad(`commandFailures: ${(err as Error).message}`);
    }
  }
  for (const id of Object.keys(o.deviceCommandFailures ?? {})) if (!ids.has(id)) bad(`deviceCommandFailures: no device "${id}" in the fleet`);
  for (const sc of o.scenarios ?? []) scenarioTarget(specs, sc.deviceId, sc.scenario);
  if (o.scenarios?.some((sc) => sc.afterMs !== undefined && !(sc.afterMs >= 0))) bad('scenario afterMs must be >= 0');
  if (o.byCertificate !== undefined) {
    if (o.byCertificate !== 'all' && !(Number.isInteger(o.byCertificate) && o.byCertificate >= 0)) bad(`byCertificate must be a non-negative integer or "all", got ${String(o.byCertificate)}`);
    if (o.dataDir === undefined) bad('devices by certificate need a data dir (to keep key and certificate; the cloud issues missing ones)');
    if (!o.mqttUrl.startsWith('mqtts:')) bad(`devices by certificate connect over mqtts://, not ${o.mqttUrl}`);
  }
  return specs;
}

/** The fall sensor a scenario is for (the first one when no id is given); throws otherwise. */
export function scenarioTarget(specs: readonly FleetDeviceSpec[], deviceId: string | undefined, name: string): string {
  const bad = (msg: string): never => {
    throw new SimError(SimErrorCode.BadOptions, msg);
  };
  if (!isFallScenario(name)) bad(`unknown scenario "${name}"`);
  const d = deviceId === undefined ? specs.find((x) => x.kind === 'fall-sensor') : specs.find((x) => x.id === deviceId);
  if (!d) return bad(deviceId === undefined ? `scenario "${name}" needs a fall sensor in the fleet` : `scenario "${name}": no device "${deviceId}" in the fleet`);
  if (d.kind !== 'fall-sensor') bad(`scenario "${name}": device "${d.id}" is a ${d.kind}, not a fall-sensor`);
  return d.id;
}
