import { CloudApi } from './api.js';
import { ExitCode, usageError } from './errors.js';
import type { CommandIo } from './io.js';
import { printJson, table } from './output.js';

interface CapView {
  site: string; capW: number; generation: number; updatedAt: string; updatedBy: string;
  chargers: { deviceId: string; online: boolean; limitW: number | null; commandStatus: string | null }[];
}

const USAGE = 'usage: yulan site cap set <site> <watts> | yulan site cap show <site> | yulan site cap clear <site>';

/** `yulan site cap set|show|clear` (docs/ocpp.md §4.1): a site's power cap in W, divided by
 * the cloud over the site's online chargers; clear removes it (the chargers' share
 * profiles are cleared). */
export async function siteCap(rest: string[], json: boolean | undefined, io: CommandIo): Promise<number> {
  const [action, site, watts, ...extra] = rest;
  if (extra.length > 0) throw usageError(`unexpected argument "${extra[0]}"`, USAGE);
  if (site === undefined) throw usageError('yulan site cap needs an action and a site id', USAGE);
  const path = `/api/v1/sites/${encodeURIComponent(site)}/power-cap`;
  let view: CapView;
  if (action === 'set') {
    // Whole watts, as the API takes them: "22kW" or "2.5e4" would hide a unit mistake.
    if (watts === undefined || !/^[0-9]+$/.test(watts)) throw usageError(`the cap is a whole number of watts, got "${watts ?? ''}"`, USAGE);
    view = (await CloudApi.fromEnv(io.env).request<CapView>(path, { method: 'PUT', body: { capW: Number(watts) } })).body;
  } else if (action === 'clear') {
    if (watts !== undefined) throw usageError(`unexpected argument "${watts}"`, USAGE);
    const r = (await CloudApi.fromEnv(io.env).request<{ site: string; clearedAt: string }>(path, { method: 'DELETE' })).body;
    if (json) printJson(io.stdout, r);
    else io.stdout.write(`site ${r.site}: power cap removed at ${r.clearedAt}; its chargers' share profiles are being cleared (show them: yulan device list --site ${r.site})\n`);
    return ExitCode.Ok;
  } else if (action === 'show') {
    if (watts !== undefined) throw usageError(`unexpected argument "${watts}"`, USAGE);
    view = (await CloudApi.fromEnv(io.env).request<CapView>(path)).body;
  } else {
    throw usageError(`unknown action "${action ?? ''}" (set, show or clear)`, USAGE);
  }
  if (json) { printJson(io.stdout, view); return ExitCode.Ok; }
  const on = view.chargers.filter((c) => c.online).length;
  io.stdout.write(`site ${view.site}: cap ${view.capW} W over ${on} online charger${on === 1 ? '' : 's'} (set by ${view.updatedBy} at ${view.updatedAt})\n`);
  table(io.stdout, ['charger', 'online', 'share (W)', 'confirmation'], view.chargers.map((c) => [
    c.deviceId, c.online ? 'yes' : 'no', c.limitW === null ? '-' : String(c.limitW), c.commandStatus ?? '-',
  ]));
  return ExitCode.Ok;
}
