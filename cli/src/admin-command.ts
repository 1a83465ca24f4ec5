import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { CloudError, rotateAdminTokenOffline } from '@yulan/cloud';
import { CloudApi } from './commands/api.js';
import { CliError, ExitCode, usageError } from './commands/errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './commands/io.js';

export const ADMIN_USAGE = `usage: yulan admin rotate-token [--offline] [--json]
       yulan admin influx-migrate [options]   (yulan admin influx-migrate --help)

Replaces the admin token with a new one, printed once; the old token stops working at
once. The rotation is recorded in the audit log (action admin.token.rotate).
  online   (YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN set): asks the running cloud, with the
           current token, e.g. after the token leaked.
  offline  (--offline, or those two unset): a lost token. Stop the cloud, then run this on
           its data directory (YULAN_DATA_DIR, default .yulan) as the user that owns it;
           refused while a cloud runs on it.
If the cloud's settings fix YULAN_ADMIN_TOKEN, that value wins again at its next start:
remove it or put the new token there (docs/deploy.md).`;

function actor(): string {
  try { return `local:${userInfo().username}`; } catch { return 'local'; }
}

export async function adminCommand(args: string[], io: CommandIo): Promise<number> {
  try {
    // influx-migrate has options of its own (cli/src/influx-migrate-command.ts).
    if (args[0] === 'influx-migrate') {
      const { influxMigrateCommand } = await import('./influx-migrate-command.js');
      return await influxMigrateCommand(args.slice(1), io);
    }
    const { values, positionals } = parse(() => parseArgs({ args, allowPositionals: true, options: { ...HELP, offline: { type: 'boolean' }, json: { type: 'boolean' } } }), ADMIN_USAGE);
    if (values.help) { io.stdout.write(`${ADMIN_USAGE}\n`); return ExitCode.Ok; }
    if (positionals[0] !== 'rotate-token' || positionals.length > 1) throw usageError(positionals[0] ? `unknown admin action "${positionals.join(' ')}"` : 'name an action', ADMIN_USAGE);
    const online = !values.offline && Boolean(io.env.YULAN_CLOUD_URL && io.env.YULAN_ADMIN_TOKEN);
    let token: string;
    let where: string;
    if (online) {
      const api = CloudApi.fromEnv(io.env);
      token = (await api.request<{ token: string }>('/api/v1/admin/token/rotate', { method: 'POST' })).body.token;
      where = api.base;
    } else {
      const dataDir = resolve(io.env.YULAN_DATA_DIR ?? '.yulan');
      if (io.env.YULAN_DATABASE_URL) {
        // The registry (and its token digest) is in PostgreSQL, shared by every cloud: rotate
        // online through any of them, or recover a lost token with YULAN_ADMIN_TOKEN.
        throw new CliError('E_OFFLINE_POSTGRES', 'with YULAN_DATABASE_URL the admin token is kept in PostgreSQL: rotate online (YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN set; every cloud refuses the old token within 5 s), or, if it is lost, set a new YULAN_ADMIN_TOKEN (32+ characters) in cloud.env of every cloud and restart them (docs/deploy.md, "A lost or leaked admin token")', ExitCode.Refused);
      }
      try {
        token = await rotateAdminTokenOffline(dataDir, actor());
      } catch (err) {
        if (err instanceof CloudError) throw new CliError(err.code, err.message, ExitCode.Refused, { cause: err });
        throw err;
      }
      where = dataDir;
    }
    if (values.json) io.stdout.write(`${JSON.stringify({ token, mode: online ? 'online' : 'offline', where })}\n`);
    else io.stdout.write(`New admin token (shown once, store it now): ${token}\nThe old token no longer works (${online ? `cloud at ${where}` : `data directory ${where}`}).\n`);
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`yulan admin: ${err.message}${err.code === 'E_USAGE' ? '' : ` (${err.code})`}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
