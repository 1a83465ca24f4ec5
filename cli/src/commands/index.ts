import { CliError, ExitCode } from './errors.js';
import { flashCommand } from './flash.js';
import type { CommandIo } from './io.js';

type Command = (args: string[], io: CommandIo) => Promise<number>;

const lazy = (load: () => Promise<Command>): Command => async (args, io) => (await load())(args, io);

/** The engineer's commands (docs/control.md §3); loaded on demand so `yulan up` stays lean. */
export const ENGINEER_COMMANDS: Record<string, Command> = {
  flash: flashCommand,
  provision: lazy(async () => (await import('./provision.js')).provisionCommand),
  device: lazy(async () => (await import('./device.js')).deviceCommand),
  site: lazy(async () => (await import('./site.js')).siteCommand),
  complaint: lazy(async () => (await import('./complaint.js')).complaintCommand),
  cmd: lazy(async () => (await import('./cmd.js')).cmdCommand),
  twin: lazy(async () => (await import('./twin.js')).twinCommand),
  fw: lazy(async () => (await import('./fw.js')).fwCommand),
  tail: lazy(async () => (await import('./tail.js')).tailCommand),
  integration: lazy(async () => (await import('./integration.js')).integrationCommand),
  idtag: lazy(async () => (await import('./idtag.js')).idtagCommand),
  claim: lazy(async () => (await import('./claim.js')).claimCommand),
  security: lazy(async () => (await import('./security.js')).securityCommand),
};

export const ENGINEER_USAGE = `  yulan device add|list|show|disable|enable|cert …  manage the device registry
  yulan site add|list|exceedances …              sites: coordinates, zh/en names, exceedances
  yulan complaint list|show|close …              residents' pollution complaints
  yulan cmd <device> <command> [k=v…] [--wait]   send a command (docs/control.md)
  yulan twin get|set <device> [k=v…]             read or change desired settings
  yulan fw upload|campaign …                     firmware images and rollouts
  yulan tail <device|site>                       live decoded telemetry
  yulan integration add|list|show|set|disable|rotate …  MQTT accounts for outside tools
  yulan idtag add|list|block|unblock|expire|remove …  id tags OCPP chargers authorize
  yulan claim add|list|show|revoke|refusals …     provision a batch of devices by claim
  yulan integration token add|list|show|revoke …  scoped API tokens for tools
  yulan security alerts|rules|minimum|updates    security alerts; minimum firmware, update required
  yulan flash --port /dev/ttyX firmware.bin      YMODEM to a device's bootloader
  yulan provision --port /dev/ttyX --device ID   write id, secret, broker over serial
  (each takes --help; API commands use YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN)`;

/** Runs one; a CliError becomes a one-line message and its exit code. */
export async function runEngineerCommand(name: string, args: string[], io: CommandIo): Promise<number> {
  const command = ENGINEER_COMMANDS[name];
  if (!command) throw new Error(`not an engineer command: ${name}`);
  try {
    return await command(args, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`yulan ${name}: ${err.message}${err.code === 'E_USAGE' ? '' : ` (${err.code})`}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

export { CliError, ExitCode };
