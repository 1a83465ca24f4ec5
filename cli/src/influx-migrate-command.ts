import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError, InfluxMigrateError, loadEdgeConfig, migrateAutogen } from '@yulan/edge';
import { CliError, ExitCode, usageError } from './commands/errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './commands/io.js';

export const INFLUX_MIGRATE_USAGE = `usage: yulan admin influx-migrate [--window-hours N] [--max-windows N] [--drop-autogen] [--checkpoint FILE] [--json]

Moves what older releases wrote into the "autogen" retention policy of the edge's
InfluxDB 1.x database into the per-kind policies (yulan_raw, yulan_agg, yulan_events),
window by window, oldest first, each window's counts verified per series and field.
Uses the edge's settings (YULAN_INFLUX_URL, _DB, _USERNAME, _PASSWORD, YULAN_RETENTION_*).
Safe to run while the edge runs, and again: a copied window rewrites the same points.
  --window-hours N  hours of data per copy (default 24); lower it on a busy server
  --max-windows N   stop after N copied windows; the next run goes on from there
  --checkpoint FILE progress file (default <YULAN_DATA_DIR>/edge/influx-migrate.json)
  --drop-autogen    once everything is verified, drop "autogen" and the data in it
Points older than their new policy's duration are counted as expired, not copied.`;

function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${name} must be a whole number of at least 1`, INFLUX_MIGRATE_USAGE);
  return n;
}

export async function influxMigrateCommand(args: string[], io: CommandIo): Promise<number> {
  const { values } = parse(() => parseArgs({
    args, allowPositionals: false,
    options: {
      ...HELP, json: { type: 'boolean' }, 'drop-autogen': { type: 'boolean' }, checkpoint: { type: 'string' },
      'window-hours': { type: 'string' }, 'max-windows': { type: 'string' },
    },
  }), INFLUX_MIGRATE_USAGE);
  if (values.help) { io.stdout.write(`${INFLUX_MIGRATE_USAGE}\n`); return ExitCode.Ok; }
  let config;
  try {
    // The edge's own validation of the InfluxDB and retention settings; its MQTT and API
    // secrets are not used here, so edge.env without them is enough.
    config = loadEdgeConfig({ YULAN_EDGE_MQTT_PASSWORD: 'not-used-here', YULAN_EDGE_TOKEN: 'not-used-here-not-used-here', ...io.env });
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message);
    throw err;
  }
  if (!config.influx) throw usageError('YULAN_INFLUX_URL is not set: the edge uses its SQLite store, there is nothing to migrate', INFLUX_MIGRATE_USAGE);
  const windowMs = positiveInt(values['window-hours'], '--window-hours', 24) * 3_600_000;
  const maxWindows = values['max-windows'] === undefined ? undefined : positiveInt(values['max-windows'], '--max-windows', 1);
  // The command's own log goes to stderr as JSON lines; stdout carries the report.
  const logger = pino({ level: io.env.YULAN_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  try {
    const result = await migrateAutogen({
      influx: config.influx, retention: config.retention, windowMs, logger,
      checkpointFile: values.checkpoint ?? join(config.dataDir, 'influx-migrate.json'),
      ...(maxWindows !== undefined ? { maxWindows } : {}),
      ...(values['drop-autogen'] ? { dropAutogen: true } : {}),
      ...(values.json ? {} : { onProgress: (line: string) => io.stdout.write(`${line}\n`) }),
    });
    if (values.json) io.stdout.write(`${JSON.stringify(result)}\n`);
    else if (!result.noSource) io.stdout.write(result.complete ? 'migration complete: every window verified\n' : 'migration stopped early (--max-windows): run the command again to go on\n');
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof InfluxMigrateError) {
      throw new CliError(err.code, err.message, /unreachable/.test(err.message) ? ExitCode.Io : ExitCode.Failure, { cause: err });
    }
    throw err;
  }
}
