import { readFileSync } from 'node:fs';
import { KIND_SLUGS, isClaimId, isValidId, type KindSlug } from '@yulan/protos';
import { SimError, SimErrorCode } from './errors.js';
import type { FleetOptions, FleetScenario } from './fleet.js';
import { FALL_SCENARIOS, isFallScenario } from './models/fall-scenarios.js';
import { parseCommandFailures, type CommandFailures } from './command-plan.js';

export const simUsage = `Usage: yulan sim [options]

Runs a fleet of simulated devices publishing protobuf telemetry over MQTT.

  --kind <slug|all>        device kind(s): ${KIND_SLUGS.join(', ')}, or all
                           (repeatable or comma-separated; default all)
  --count N                devices per kind (default 1)
  --rate R                 telemetry messages per second per device, may be fractional (default 1)
  --sites a,b,c            sites to spread devices over (default site-1)
  --site-count N           or generate N sites: site-001 … site-N
  --qos 0|1                telemetry QoS (default 0; events are always QoS 1)
  --seed N                 random seed; same seed, same fleet behaviour (default 1)
  --mqtt URL               broker URL (default mqtt://127.0.0.1:1883, or $YULAN_MQTT_URL)
  --cloud URL              register devices at this cloud API (POST /api/v1/devices)
  --token T                admin token for --cloud (or $YULAN_ADMIN_TOKEN)
  --credentials FILE       JSON file (mode 0600) keeping issued device secrets across restarts
  --claim ID               start from a claim (docs/security.md): each device exchanges it once
                           for its own identity over MQTT (site and kind come from the claim);
                           keep --credentials, a device cannot exchange the claim twice
  --claim-secret S         the claim's secret (or $YULAN_CLAIM_SECRET)
  --connect-concurrency N  simultaneous MQTT handshakes (default 50)
  --time-scale X           simulated seconds per real second (default 1)
  --scenario NAME          force a fall-sensor scenario: ${FALL_SCENARIOS.join(', ')}
  --device ID              the fall sensor for --scenario (default: the first one, e.g. fall-site-1-0001)
  --scenario-after S       start the scenario S simulated seconds after start (default 0)
  --command-failures SPEC  inject command failures on every device, seeded by --seed, e.g.
                           refuse=0.05,timeout=0.05,no-effect=0.05,slow=0.1,slow-ms=10000
                           (refuse: REJECTED; timeout: never answers; no-effect: SUCCEEDED
                           but telemetry never shows it; slow: every answer slow-ms late)
  --firmware-keys FILE     trusted firmware keys ([{id, publicKeyPem}], as YULAN_FIRMWARE_KEYS):
                           devices then download, verify and install firmware.update
  --data-dir DIR           the simulator's data dir: firmware the devices installed is kept
                           there (firmware.json) and survives a restart, as on real devices
  --ca FILE                PEM CA the broker's certificate chains to, for mqtts:// (or $YULAN_TLS_CA_FILE)
  --by-certificate N|all   the first N devices (or all) connect by client certificate over
                           mqtts:// (key made here, certificate issued through --cloud, both kept
                           in --data-dir/certs and reused on restart)
  --protocol ocpp          chargers speaking OCPP 1.6J to the OCPP gateway instead of MQTT
                           (yulan sim --kind ev-charger --protocol ocpp --help)
  -h, --help               show this help
`;

const fail = (message: string): never => {
  throw new SimError(SimErrorCode.BadArgs, `${message}\n\n${simUsage}`);
};

function number(flag: string, raw: string, opts: { integer?: boolean; min?: number; exclusiveMin?: number }): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) fail(`${flag} expects a number, got "${raw}"`);
  if (opts.integer && !Number.isInteger(v)) fail(`${flag} expects an integer, got "${raw}"`);
  if (opts.min !== undefined && v < opts.min) fail(`${flag} must be at least ${opts.min}, got ${raw}`);
  if (opts.exclusiveMin !== undefined && v <= opts.exclusiveMin) fail(`${flag} must be greater than ${opts.exclusiveMin}, got ${raw}`);
  return v;
}

function url(flag: string, raw: string, protocols: readonly string[]): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return fail(`${flag} expects a URL, got "${raw}"`);
  }
  if (!protocols.includes(u.protocol)) fail(`${flag} must use ${protocols.join(' or ')}, got "${raw}"`);
  return raw;
}

/** -h/--help makes parseSimArgs throw SimError(E_SIM_HELP) whose message is the usage text. */
export function isHelpRequest(err: unknown): boolean {
  return err instanceof SimError && err.code === SimErrorCode.Help;
}

/**
 * Parses `yulan sim` arguments. `env` supplies YULAN_MQTT_URL and YULAN_ADMIN_TOKEN
 * fallbacks (flags win). Throws SimError(E_SIM_ARGS) with the usage text appended.
 */
export function parseSimArgs(argv: string[], env: Record<string, string | undefined> = {}): FleetOptions {
  const kinds = new Set<KindSlug>();
  let count = 1, rate = 1, qos: 0 | 1 = 0, seed = 1;
  let sites: string[] | undefined, siteCount: number | undefined;
  let mqttUrl = env.YULAN_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  let cloudUrl: string | undefined, token = env.YULAN_ADMIN_TOKEN, credentials: string | undefined;
  let concurrency: number | undefined, timeScale: number | undefined;
  let scenario: string | undefined, scenarioDevice: string | undefined, scenarioAfter: number | undefined;
  let commandFailures: CommandFailures | undefined;
  let firmwareKeys: string | undefined;
  let dataDir: string | undefined;
  let claimId: string | undefined, claimSecret = env.YULAN_CLAIM_SECRET;
  let caFile = env.YULAN_TLS_CA_FILE;
  let byCertificate: number | 'all' | undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') throw new SimError(SimErrorCode.Help, simUsage);
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || (v.startsWith('--') && v.length > 2)) fail(`${flag} needs a value`);
      return v as string;
    };
    switch (flag) {
      case '--kind':
        for (const k of value().split(',').map((s) => s.trim()).filter(Boolean)) {
          if (k === 'all') KIND_SLUGS.forEach((s) => kinds.add(s));
          else if ((KIND_SLUGS as readonly string[]).includes(k)) kinds.add(k as KindSlug);
          else fail(`unknown --kind "${k}" (expected ${KIND_SLUGS.join(', ')} or all)`);
        }
        break;
      case '--count': count = number(flag, value(), { integer: true, min: 1 }); break;
      case '--rate': rate = number(flag, value(), { exclusiveMin: 0 }); break;
      case '--sites': {
        sites = value().split(',').map((s) => s.trim()).filter(Boolean);
        if (sites.length === 0) fail('--sites needs at least one site');
        for (const s of sites) if (!isValidId(s)) fail(`invalid site "${s}" (letters, digits, _ . -)`);
        break;
      }
      case '--site-count': siteCount = number(flag, value(), { integer: true, min: 1 }); break;
      case '--qos': {
        const v = value();
        if (v !== '0' && v !== '1') fail(`--qos must be 0 or 1, got "${v}"`);
        qos = v === '1' ? 1 : 0;
        break;
      }
      case '--seed': seed = number(flag, value(), { integer: true, min: 0 }); break;
      case '--mqtt': mqttUrl = url(flag, value(), ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']); break;
      case '--cloud': cloudUrl = url(flag, value(), ['http:', 'https:']); break;
      case '--token': token = value(); break;
      case '--credentials': credentials = value(); break;
      case '--connect-concurrency': concurrency = number(flag, value(), { integer: true, min: 1 }); break;
      case '--time-scale': timeScale = number(flag, value(), { exclusiveMin: 0 }); break;
      case '--scenario': {
        const v = value();
        if (!isFallScenario(v)) fail(`unknown --scenario "${v}" (expected ${FALL_SCENARIOS.join(', ')})`);
        scenario = v;
        break;
      }
      case '--device': {
        const v = value();
        if (!isValidId(v)) fail(`invalid --device "${v}" (letters, digits, _ . -)`);
        scenarioDevice = v;
        break;
      }
      case '--scenario-after': scenarioAfter = number(flag, value(), { min: 0 }); break;
      case '--command-failures': {
        const v = value();
        try {
          commandFailures = parseCommandFailures(v);
        } catch (err) {
          fail(`--command-failures: ${(err as Error).message}`);
        }
        break;
      }
      case '--firmware-keys': firmwareKeys = value(); break;
      case '--data-dir': dataDir = value(); break;
      case '--claim': claimId = value(); break;
      case '--claim-secret': claimSecret = value(); break;
      case '--ca': caFile = value(); break;
      case '--by-certificate': {
        const v = value();
        byCertificate = v === 'all' ? 'all' : number(flag, v, { integer: true, min: 1 });
        break;
      }
      default: fail(`unknown argument "${arg}"`);
    }
  }
  if (sites && siteCount !== undefined) fail('use either --sites or --site-count, not both');
  if (siteCount !== undefined) {
    const width = Math.max(3, String(siteCount).length);
    sites = Array.from({ length: siteCount }, (_, i) => `site-${String(i + 1).padStart(width, '0')}`);
  }
  if (!scenario && (scenarioDevice !== undefined || scenarioAfter !== undefined)) fail('--device and --scenario-after are only used with --scenario');
  if (cloudUrl && !token) fail('--cloud needs an admin token (--token or $YULAN_ADMIN_TOKEN)');
  if (token && !cloudUrl && argv.some((a) => a === '--token' || a.startsWith('--token='))) fail('--token is only used with --cloud');

  if (claimId !== undefined && !isClaimId(claimId)) fail(`invalid --claim "${claimId}" (a-z 0-9 _ -)`);
  if (claimId !== undefined && !claimSecret) fail('--claim needs its secret (--claim-secret or $YULAN_CLAIM_SECRET)');
  if (claimId !== undefined && cloudUrl) fail('--claim and --cloud are two ways to get an identity: use one');

  const options: FleetOptions = {
    kinds: kinds.size > 0 ? [...kinds] : [...KIND_SLUGS],
    countPerKind: count,
    sites: sites ?? ['site-1'],
    ratePerDevice: rate,
    qos,
    mqttUrl,
    seed,
  };
  if (cloudUrl && token) options.cloud = { url: cloudUrl, adminToken: token };
  if (credentials) options.credentialsFile = credentials;
  if (concurrency !== undefined) options.connectConcurrency = concurrency;
  if (timeScale !== undefined) options.timeScale = timeScale;
  if (commandFailures) options.commandFailures = commandFailures;
  if (firmwareKeys) options.firmwareKeysFile = firmwareKeys;
  if (dataDir) options.dataDir = dataDir;
  if (claimId !== undefined && claimSecret) options.claim = { id: claimId, secret: claimSecret };
  if (byCertificate !== undefined) {
    if (!options.cloud || !dataDir) fail('--by-certificate needs --cloud (to issue the certificates) and --data-dir (to keep them)');
    if (!mqttUrl.startsWith('mqtts:')) fail('--by-certificate needs an mqtts:// --mqtt URL');
    options.byCertificate = byCertificate;
  }
  if (caFile && mqttUrl.startsWith('mqtts:')) {
    try {
      options.ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      fail(`--ca ${caFile}: ${(err as Error).message}`);
    }
  }
  if (scenario && isFallScenario(scenario)) {
    const sc: FleetScenario = { scenario };
    if (scenarioDevice !== undefined) sc.deviceId = scenarioDevice;
    if (scenarioAfter !== undefined) sc.afterMs = scenarioAfter * 1000;
    options.scenarios = [sc];
  }
  return options;
}
