import { isClaimId, isValidId } from '@yulan/protos';
import { ConsoleClient, provisionOverSerial } from '../provision.js';
import { openSerialLine } from '../serial.js';
import { CloudApi } from './api.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson } from './output.js';

export const PROVISION_USAGE = `usage: yulan provision --port /dev/ttyX --device ID --broker mqtt://host:1883
         (--secret S | --register --site SITE --kind KIND | --claim ID --claim-secret S) [--baud 115200] [--json]

Writes the device id, its secret and the broker URL to a device in its bootloader, over
the serial console (each value checked by CRC, then COMMIT). --register first registers
the device in the cloud (YULAN_CLOUD_URL, YULAN_ADMIN_TOKEN) and uses the secret it issues.
The secret may also come from YULAN_DEVICE_SECRET (keeps it out of shell history).
--claim writes a claim instead of a final secret (docs/security.md, "Provisioning by
claim"): --device is then the device's serial, and the claim secret (--claim-secret or
YULAN_CLAIM_SECRET) is what it logs in with once, to get its own identity.
Exit codes: 0 done, 2 usage, 3 no answer, 4 refused by the cloud (--register), 6 I/O error,
7 refused by the device (ERR, CRC mismatch).`;

export async function provisionCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, port: { type: 'string', short: 'p' }, device: { type: 'string' }, secret: { type: 'string' },
      register: { type: 'boolean' }, site: { type: 'string' }, kind: { type: 'string' }, broker: { type: 'string' },
      baud: { type: 'string' }, json: { type: 'boolean' }, claim: { type: 'string' }, 'claim-secret': { type: 'string' },
    },
  }), PROVISION_USAGE);
  if (values.help) { io.stdout.write(`${PROVISION_USAGE}\n`); return ExitCode.Ok; }
  if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`, PROVISION_USAGE);
  if (!values.port) throw usageError('--port is required', PROVISION_USAGE);
  if (!values.device || !isValidId(values.device)) throw usageError('--device must be a device id (letters, digits, _ . -)', PROVISION_USAGE);
  if (!values.broker) throw usageError('--broker is required (the URL the device connects to)', PROVISION_USAGE);
  if (values.claim !== undefined) {
    if (values.register || values.secret !== undefined) throw usageError('--claim writes the claim secret: no --secret or --register with it', PROVISION_USAGE);
    if (!isClaimId(values.claim)) throw usageError('--claim must be a claim id (a-z 0-9 _ -)', PROVISION_USAGE);
    if (!(values['claim-secret'] ?? io.env.YULAN_CLAIM_SECRET)) throw usageError('--claim needs --claim-secret (or YULAN_CLAIM_SECRET)', PROVISION_USAGE);
  }
  const claimSecret = values.claim !== undefined ? values['claim-secret'] ?? io.env.YULAN_CLAIM_SECRET : undefined;
  const secretGiven = claimSecret ?? values.secret ?? io.env.YULAN_DEVICE_SECRET;
  if (values.register && secretGiven) throw usageError('give either --secret or --register, not both', PROVISION_USAGE);
  if (!values.register && !secretGiven) throw usageError('--secret (or YULAN_DEVICE_SECRET) or --register is required', PROVISION_USAGE);
  if (values.register && (!values.site || !values.kind)) throw usageError('--register needs --site and --kind', PROVISION_USAGE);
  const baud = numberOption(values.baud, 'baud', 115_200, 50, 4_000_000);

  // Open the port before registering: a wrong path must not cost a once-only secret.
  const line = await openSerialLine(values.port, baud);
  try {
    let secret = secretGiven;
    if (values.register) {
      const api = CloudApi.fromEnv(io.env);
      const r = await api.request<{ secret: string }>('/api/v1/devices', { body: { id: values.device, site: values.site, kind: values.kind } });
      secret = r.body.secret;
    }
    try {
      await provisionOverSerial(new ConsoleClient(line), { id: values.device, secret: secret!, broker: values.broker, ...(values.claim !== undefined ? { claim: values.claim } : {}) });
    } catch (err) {
      // The cloud shows a new secret only once: hand it over rather than lose it.
      if (values.register && err instanceof CliError) {
        io.stderr.write(`the device was registered but not provisioned; retry with --secret ${secret} (shown only now)\n`);
      }
      throw err;
    }
    if (values.json) printJson(io.stdout, { device: values.device, broker: values.broker, registered: values.register === true, ...(values.claim !== undefined ? { claim: values.claim } : {}) });
    else io.stdout.write(`provisioned ${values.device} on ${values.port} (broker ${values.broker}${values.register ? ', registered in the cloud' : ''}${values.claim !== undefined ? `, claim ${values.claim}` : ''})\n`);
    return ExitCode.Ok;
  } finally {
    await line.close();
  }
}
