import { createHash, createPrivateKey, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CloudApi, enc } from './api.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, actionUsage, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { fields, printJson, table } from './output.js';

export const FW_USAGE = `usage: yulan fw upload <file> --version SEMVER --kind KIND --key-id ID (--signature B64 | --sign-key private.pem)
       yulan fw list [--kind K]
       yulan fw campaign create --firmware ID --kind KIND [--site S,S…] [--from-version V,V…]
                                [--stages 0.01,0.1,1] [--advance-at 0.95] [--abort-at 0.1] [--min-sample 10]
                                [--spread S] [--soak S] [--update-timeout S] [--report-every S]
                                [--missed-reports N] [--reoffer S] [--max-offers N] [--deadline S]
                                [--seed N] [--allow-downgrade] [--supersede]
       yulan fw campaign list
       yulan fw campaign pause|resume|abort <id>
       yulan fw campaign show <id> [--devices [--status S,S…] [--stage N] [--limit N]]

Times are in seconds. --supersede aborts live campaigns that claim some of the devices
(otherwise that is refused: one live campaign per device). --devices lists every device's
status and reason (filter with --status failed,pending etc.).
All take --json. The signature is Ed25519 over the image's SHA-256; --sign-key signs
locally (the private key never leaves this machine; the cloud holds only public keys).`;

async function readOrFail(path: string): Promise<Buffer> {
  try { return await readFile(path); } catch (cause) {
    throw new CliError('E_FILE', `cannot read ${path}: ${(cause as Error).message}`, ExitCode.Failure, { cause });
  }
}

/** Ed25519 signature (base64) over the SHA-256 digest, as the cloud and devices verify it. */
export function signDigest(image: Uint8Array, privateKeyPem: string): string {
  const digest = createHash('sha256').update(image).digest();
  let key;
  try { key = createPrivateKey(privateKeyPem); } catch (cause) {
    throw new CliError('E_SIGN_KEY', `--sign-key is not a PEM private key: ${(cause as Error).message}`, ExitCode.Usage, { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CliError('E_SIGN_KEY', `--sign-key must be an Ed25519 key, not ${key.asymmetricKeyType}`, ExitCode.Usage);
  return sign(null, digest, key).toString('base64');
}

const list = (v: string | undefined): string[] | undefined => v?.split(',').map((s) => s.trim()).filter(Boolean);

export async function fwCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, version: { type: 'string' }, kind: { type: 'string' }, 'key-id': { type: 'string' },
      signature: { type: 'string' }, 'sign-key': { type: 'string' }, firmware: { type: 'string' }, site: { type: 'string' },
      'from-version': { type: 'string' }, stages: { type: 'string' }, 'advance-at': { type: 'string' }, 'abort-at': { type: 'string' },
      spread: { type: 'string' }, soak: { type: 'string' }, 'allow-downgrade': { type: 'boolean' },
      'update-timeout': { type: 'string' }, 'report-every': { type: 'string' }, 'missed-reports': { type: 'string' },
      reoffer: { type: 'string' }, 'max-offers': { type: 'string' }, deadline: { type: 'string' }, 'min-sample': { type: 'string' },
      seed: { type: 'string' }, supersede: { type: 'boolean' },
      devices: { type: 'boolean' }, status: { type: 'string' }, stage: { type: 'string' }, limit: { type: 'string' },
    },
  }), FW_USAGE);
  if (values.help) { io.stdout.write(`${actionUsage(FW_USAGE, ['fw', ...positionals.slice(0, 2)])}\n`); return ExitCode.Ok; }
  const [action, ...rest] = positionals;
  const out = (body: unknown, human: () => void): number => { if (values.json) printJson(io.stdout, body); else human(); return ExitCode.Ok; };

  if (action === 'upload') {
    if (rest.length !== 1) throw usageError('fw upload needs exactly one image file', FW_USAGE);
    const missing = (['version', 'kind', 'key-id'] as const).filter((k) => !values[k]);
    if (missing.length > 0) throw usageError(`missing ${missing.map((m) => `--${m}`).join(', ')}`, FW_USAGE);
    if (!!values.signature === !!values['sign-key']) throw usageError('give exactly one of --signature and --sign-key', FW_USAGE);
    const image = await readOrFail(rest[0]!);
    const signature = values.signature ?? signDigest(image, (await readOrFail(values['sign-key']!)).toString('utf8'));
    const api = CloudApi.fromEnv(io.env);
    const r = await api.request<Record<string, unknown>>('/api/v1/firmware', {
      raw: image,
      headers: { 'x-firmware-version': values.version!, 'x-firmware-kind': values.kind!, 'x-firmware-key-id': values['key-id']!, 'x-firmware-signature': signature, 'x-firmware-size': String(image.length) },
    });
    return out(r.body, () => io.stdout.write(`uploaded ${String(r.body.id)}: ${values.kind} ${values.version}, ${image.length} bytes, sha256 ${String(r.body.sha256)}\n`));
  }
  if (action === 'list') {
    const r = await CloudApi.fromEnv(io.env).request<{ items: Record<string, unknown>[] }>('/api/v1/firmware', { query: { kind: values.kind } });
    return out(r.body, () => table(io.stdout, ['id', 'kind', 'version', 'size', 'key', 'created'], r.body.items.map((f) => [f.id, f.kind, f.version, f.size, f.keyId, f.createdAt])));
  }
  if (action !== 'campaign') throw usageError(action ? `unknown action "${action}"` : 'expected upload, list or campaign', FW_USAGE);

  const [sub, id, ...extra] = rest;
  if (extra.length > 0) throw usageError(`unexpected argument "${extra[0]}"`, FW_USAGE);
  const showCampaign = (c: Record<string, unknown>): void => {
    const { failures, policy, target, counts, ...head } = c as { failures: { deviceId: string; stage: number; reason: string }[]; policy: unknown; target: unknown; counts: unknown };
    fields(io.stdout, { ...head, target, counts, policy });
    if (failures.length > 0) table(io.stdout, ['failed device', 'stage', 'reason'], failures.map((f) => [f.deviceId, f.stage, f.reason]));
  };
  switch (sub) {
    case 'create': {
      if (id) throw usageError(`unexpected argument "${id}"`, FW_USAGE);
      if (!values.firmware || !values.kind) throw usageError('--firmware and --kind are required', FW_USAGE);
      type NumFlag = 'advance-at' | 'abort-at' | 'spread' | 'soak' | 'update-timeout' | 'report-every' | 'missed-reports' | 'reoffer' | 'max-offers' | 'deadline' | 'min-sample' | 'seed';
      const num = (flag: NumFlag, max: number, min = 0) => (values[flag] === undefined ? undefined : numberOption(values[flag], flag, 0, min, max));
      const int = (flag: NumFlag, max: number, min = 1) => {
        const n = num(flag, max, min);
        if (n !== undefined && !Number.isInteger(n)) throw usageError(`--${flag} must be a whole number, got "${values[flag]}"`, FW_USAGE);
        return n;
      };
      const stages = list(values.stages)?.map((s) => numberOption(s, 'stages', 0, 0, 1));
      const body = {
        firmwareId: values.firmware,
        target: { kind: values.kind, ...(values.site ? { sites: list(values.site) } : {}), ...(values['from-version'] ? { fromVersions: list(values['from-version']) } : {}) },
        ...(stages ? { stages } : {}), advanceAt: num('advance-at', 1), abortAt: num('abort-at', 1),
        spreadSec: num('spread', 86_400), soakSec: num('soak', 7 * 86_400), updateTimeoutSec: num('update-timeout', 7 * 86_400, 1),
        reportEverySec: num('report-every', 86_400, 0.001), missedReports: int('missed-reports', 100), reofferSec: num('reoffer', 86_400, 0.001),
        maxOffers: int('max-offers', 100), deadlineSec: num('deadline', 90 * 86_400, 1), minSample: int('min-sample', 100_000),
        seed: int('seed', 2 ** 31, 0),
        ...(values['allow-downgrade'] ? { allowDowngrade: true } : {}), ...(values.supersede ? { supersede: true } : {}),
      };
      const r = await CloudApi.fromEnv(io.env).request<Record<string, unknown>>('/api/v1/campaigns', { body: JSON.parse(JSON.stringify(body)) as unknown });
      return out(r.body, () => { io.stdout.write(`campaign ${String(r.body.id)} created\n`); showCampaign(r.body); });
    }
    case 'list': {
      const r = await CloudApi.fromEnv(io.env).request<{ items: Record<string, unknown>[] }>('/api/v1/campaigns');
      return out(r.body, () => table(io.stdout, ['id', 'firmware', 'status', 'stage', 'devices', 'updated'], r.body.items.map((c) => [c.id, c.firmwareId, c.status, `${String(c.stage)}/${String(c.stages)}`, c.devices, c.updatedAt])));
    }
    case 'show': {
      if (!id) throw usageError('fw campaign show needs a campaign id', FW_USAGE);
      const api = CloudApi.fromEnv(io.env);
      const r = await api.request<Record<string, unknown>>(`/api/v1/campaigns/${enc(id)}`);
      if (!values.devices) {
        if (values.status || values.stage || values.limit) throw usageError('--status, --stage and --limit go with --devices', FW_USAGE);
        return out(r.body, () => showCampaign(r.body));
      }
      const stage = values.stage === undefined ? undefined : String(numberOption(values.stage, 'stage', 1, 1, 100));
      const d = await api.request<{ total: number; items: Record<string, unknown>[] }>(`/api/v1/campaigns/${enc(id)}/devices`, {
        query: { status: values.status, stage, limit: String(numberOption(values.limit, 'limit', 1000, 1, 10_000)) },
      });
      return out({ ...r.body, devices: d.body }, () => {
        showCampaign(r.body);
        table(io.stdout, ['device', 'stage', 'status', 'version', 'offers', 'online', 'reason'],
          d.body.items.map((x) => [x.deviceId, x.stage, x.status, x.version ?? '', x.offers, x.online === null ? '?' : x.online ? 'yes' : 'no', x.reason ?? '']));
        if (d.body.total > d.body.items.length) io.stdout.write(`(${d.body.items.length} of ${d.body.total}; --limit shows more)
`);
      });
    }
    case 'pause':
    case 'resume':
    case 'abort': {
      if (!id) throw usageError(`fw campaign ${sub} needs a campaign id`, FW_USAGE);
      const r = await CloudApi.fromEnv(io.env).request<Record<string, unknown>>(`/api/v1/campaigns/${enc(id)}/${sub}`, { method: 'POST' });
      return out(r.body, () => showCampaign(r.body));
    }
    default:
      throw usageError(sub ? `unknown campaign action "${sub}"` : 'expected campaign create|list|show|pause|resume|abort', FW_USAGE);
  }
}
