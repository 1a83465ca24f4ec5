import { CloudApi } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, actionUsage, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson, table } from './output.js';
import { siteExceedances } from './site-exceedances.js';
import { siteCap } from './site-cap.js';

export const SITE_USAGE = `usage: yulan site add <id> --name-zh NAME --name-en NAME --lat DEG --lon DEG
       yulan site list
       yulan site exceedances [<id>] [--open] [--from T] [--to T]
       yulan site cap set <id> <watts>
       yulan site cap show <id>
       yulan site cap clear <id>

WGS 84 coordinates in degrees (lat -90..90, lon -180..180). All take --json.
exceedances: a site's (or every site's) AQI and noise exceedances, with since and until
(default the last 7 days; T is epoch ms or ISO-8601; --open: only those going on).
cap: the site's power cap in whole watts, divided by the cloud over the site's online
chargers (each share sent to its charger as a ChargePointMaxProfile; docs/ocpp.md §4.1);
clear removes the cap and clears the chargers' share profiles.
Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface SiteView { id: string; nameZh: string; nameEn: string; lat: number; lon: number; createdAt: string }

export async function siteCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, 'name-zh': { type: 'string' }, 'name-en': { type: 'string' }, lat: { type: 'string' }, lon: { type: 'string' },
      open: { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' },
    },
  }), SITE_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${actionUsage(SITE_USAGE, ['site', ...positionals.slice(0, 1)])}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  switch (action) {
    case 'add': {
      if (rest.length !== 1) throw usageError('yulan site add needs exactly one site id', SITE_USAGE);
      const nameZh = values['name-zh'];
      const nameEn = values['name-en'];
      if (!nameZh || !nameEn || values.lat === undefined || values.lon === undefined) {
        throw usageError('--name-zh, --name-en, --lat and --lon are required', SITE_USAGE);
      }
      const body = { id: rest[0], nameZh, nameEn, lat: numberOption(values.lat, 'lat', 0, -90, 90), lon: numberOption(values.lon, 'lon', 0, -180, 180) };
      const r = await CloudApi.fromEnv(io.env).request<SiteView>('/api/v1/sites', { body });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`registered site ${r.body.id} (${r.body.nameZh} / ${r.body.nameEn}) at ${r.body.lat}, ${r.body.lon}\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, SITE_USAGE);
      const r = await CloudApi.fromEnv(io.env).request<{ items: SiteView[] }>('/api/v1/sites');
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['id', 'name (zh)', 'name (en)', 'lat', 'lon'], r.body.items.map((s) => [s.id, s.nameZh, s.nameEn, String(s.lat), String(s.lon)]));
      return ExitCode.Ok;
    }
    case 'cap':
      return siteCap(rest, values.json, io);
    case 'exceedances':
      if (rest.length > 1) throw usageError(`unexpected argument "${rest[1]}"`, SITE_USAGE);
      return siteExceedances(rest[0], values, io);
    default:
      throw usageError(`unknown action "${action}"`, SITE_USAGE);
  }
}
