import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson } from './output.js';
import { makeDeviceCsr } from '../device-cert-csr.js';

export const DEVICE_CERT_USAGE = `usage: yulan device cert issue <id> [--out DIR] [--days N]
       yulan device cert revoke <id> [--fingerprint HEX]

issue makes the device's key pair here, sends only a certificate request to the cloud, and
writes DIR/<id>-key.pem (0600), DIR/<id>.pem and DIR/device-ca.pem (DIR: current folder, made
0700 when new). The device then connects to MQTT/TLS (8883) with them and no password.
revoke revokes the device's certificates (or one): the broker cuts the session at once.
Both take --json. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

export async function deviceCertCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: { ...HELP, json: { type: 'boolean' }, out: { type: 'string' }, days: { type: 'string' }, fingerprint: { type: 'string' } },
  }), DEVICE_CERT_USAGE);
  const [action, id, ...extra] = positionals;
  if (values.help || action === undefined) {
    (values.help ? io.stdout : io.stderr).write(`${DEVICE_CERT_USAGE}\n`);
    return values.help ? ExitCode.Ok : ExitCode.Usage;
  }
  if (id === undefined || extra.length > 0) throw usageError(`yulan device cert ${action} needs exactly one device id`, DEVICE_CERT_USAGE);
  const api = CloudApi.fromEnv(io.env);
  switch (action) {
    case 'issue': {
      const days = values.days === undefined ? undefined : numberOption(values.days, 'days', 397, 1, 825);
      // Key made here, never sent: the cloud signs the request and never sees the key.
      const { keyPem, csrPem } = await makeDeviceCsr(id);
      const r = await api.request<{ certificate: string; caCertificate: string; fingerprint: string; serial: string; notAfter: string }>(
        `/api/v1/devices/${enc(id)}/certificates`, { body: { csr: csrPem, ...(days !== undefined ? { days } : {}) } });
      const dir = resolve(values.out ?? '.');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const files = { key: join(dir, `${id}-key.pem`), cert: join(dir, `${id}.pem`), ca: join(dir, 'device-ca.pem') };
      writeFileSync(files.key, keyPem, { mode: 0o600 });
      chmodSync(files.key, 0o600);
      writeFileSync(files.cert, r.body.certificate);
      writeFileSync(files.ca, r.body.caCertificate);
      const out = { deviceId: id, fingerprint: r.body.fingerprint, serial: r.body.serial, notAfter: r.body.notAfter, files };
      if (values.json) printJson(io.stdout, out);
      else io.stdout.write(`issued a certificate for ${id} (valid until ${r.body.notAfter}, sha256 ${r.body.fingerprint})\nkey: ${files.key}\ncertificate: ${files.cert}\ndevice CA: ${files.ca}\n`);
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
