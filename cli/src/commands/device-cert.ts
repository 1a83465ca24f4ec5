import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson } from './output.js';
import { makeDeviceCsr } from '../device-cert-csr.js';

export const DEVICE_CERT_USAGE = `usage: yulan device cert issue <id> [--out DIR] [--days N]
       yulan device cert rotate <id> [--out DIR] [--days N] [--grace-hours N]
       yulan device cert list <id>
       yulan device cert revoke <id> [--fingerprint HEX]

issue makes the device's key pair here, sends only a certificate request to the cloud, and
writes DIR/<id>-key.pem (0600), DIR/<id>.pem and DIR/device-ca.pem (DIR: current folder, made
0700 when new). The device then connects to MQTT/TLS (8883) with them and no password.
rotate does what issue does for a device that has a certificate: the old one stays valid until
the new one is first used (or --grace-hours, default 168), then it is retired.
list shows the device's certificates and their status (active, retiring, retired, revoked, expired).
revoke revokes the device's certificates (or one): the broker cuts the session at once.
Both take --json. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

export async function deviceCertCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: { ...HELP, json: { type: 'boolean' }, out: { type: 'string' }, days: { type: 'string' }, fingerprint: { type: 'string' }, 'grace-hours': { type: 'string' } },
  }), DEVICE_CERT_USAGE);
  const [action, id, ...extra] = positionals;
  if (values.help || action === undefined) {
    (values.help ? io.stdout : io.stderr).write(`${DEVICE_CERT_USAGE}\n`);
    return values.help ? ExitCode.Ok : ExitCode.Usage;
  }
  if (id === undefined || extra.length > 0) throw usageError(`yulan device cert ${action} needs exactly one device id`, DEVICE_CERT_USAGE);
  const api = CloudApi.fromEnv(io.env);
  switch (action) {
    case 'issue':
    case 'rotate': {
      const days = values.days === undefined ? undefined : numberOption(values.days, 'days', 397, 1, 825);
      const grace = values['grace-hours'] === undefined ? undefined : numberOption(values['grace-hours'], 'grace-hours', 168, 1, 24 * 90);
      if (grace !== undefined && action === 'issue') throw usageError('--grace-hours goes with rotate', DEVICE_CERT_USAGE);
      // Key made here, never sent: the cloud signs the request and never sees the key.
      const { keyPem, csrPem } = await makeDeviceCsr(id);
      const r = await api.request<{ certificate: string; caCertificate: string; fingerprint: string; serial: string; notAfter: string; replaces?: string[]; retireAt?: string }>(
        `/api/v1/devices/${enc(id)}/certificates${action === 'rotate' ? '/rotate' : ''}`,
        { body: { csr: csrPem, ...(days !== undefined ? { days } : {}), ...(grace !== undefined ? { graceHours: grace } : {}) } });
      const dir = resolve(values.out ?? '.');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const files = { key: join(dir, `${id}-key.pem`), cert: join(dir, `${id}.pem`), ca: join(dir, 'device-ca.pem') };
      writeFileSync(files.key, keyPem, { mode: 0o600 });
      chmodSync(files.key, 0o600);
      writeFileSync(files.cert, r.body.certificate);
      writeFileSync(files.ca, r.body.caCertificate);
      const rotated = r.body.replaces !== undefined ? { replaces: r.body.replaces, retireAt: r.body.retireAt } : {};
      const out = { deviceId: id, fingerprint: r.body.fingerprint, serial: r.body.serial, notAfter: r.body.notAfter, ...rotated, files };
      if (values.json) printJson(io.stdout, out);
      else if (r.body.replaces !== undefined) io.stdout.write(`rotated the certificate of ${id}: the new one is valid until ${r.body.notAfter} (sha256 ${r.body.fingerprint}); the old one (${r.body.replaces.length}) is retired at its first use, at the latest ${r.body.retireAt}\nkey: ${files.key}\ncertificate: ${files.cert}\ndevice CA: ${files.ca}\n`);
      else io.stdout.write(`issued a certificate for ${id} (valid until ${r.body.notAfter}, sha256 ${r.body.fingerprint})\nkey: ${files.key}\ncertificate: ${files.cert}\ndevice CA: ${files.ca}\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      const r = await api.request<{ items: { fingerprint: string; status: string; notAfter: string; issuedAt: string; firstUsedAt: string | null }[] }>(`/api/v1/devices/${enc(id)}/certificates`);
      if (values.json) printJson(io.stdout, r.body);
      else for (const c of r.body.items) io.stdout.write(`${c.status.padEnd(9)} ${c.fingerprint}  issued ${c.issuedAt}  until ${c.notAfter}${c.firstUsedAt ? `  first used ${c.firstUsedAt}` : ''}\n`);
      return ExitCode.Ok;
    }
    case 'revoke': {
      const r = await api.request<{ revoked: string[]; push: string }>(`/api/v1/devices/${enc(id)}/certificates/revoke`,
        { body: values.fingerprint !== undefined ? { fingerprint: values.fingerprint.replace(/:/g, '').toLowerCase() } : {} });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`revoked ${r.body.revoked.length} certificate(s) of ${id}${r.body.push === 'pending' ? ' (the broker has not confirmed yet; it refuses them through the registry meanwhile)' : ''}\n`);
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "${action}"`, DEVICE_CERT_USAGE);
  }
}
