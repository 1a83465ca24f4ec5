import type { Logger } from 'pino';
import { loadBrokerConfig, startBroker, startBrokerCluster } from '@yulan/broker';
import { loadEdgeConfig, startEdge } from '@yulan/edge';
import { loadCloudConfig, startCloud } from '@yulan/cloud';
import { parseOcppSimArgs, parseSimArgs, runFleet, simUsage, startOcppSimChargers, wantsOcpp } from '@yulan/device-sims';
import { takeConfigFlag, withConfigFile } from './config-file.js';
import { createLogger } from './logger.js';
import { runUp } from './up.js';
import { ENGINEER_COMMANDS, ENGINEER_USAGE, runEngineerCommand } from './commands/index.js';
import { exitCodeHelp } from './commands/errors.js';

const USAGE = `yulan — IoT edge and device-management platform

Usage:
  yulan up                 run broker, edge, cloud and a simulated fleet on this machine
  yulan broker             run the MQTT broker
  yulan edge               run the edge agent
  yulan cloud              run the cloud API and dashboard
  yulan sim [options]      run a simulated device fleet (yulan sim --help)
  yulan gateway serial --config FILE   serial sensors as Yulan devices (--help)
  yulan gateway ocpp       run the OCPP 1.6J gateway for real chargers (docs/ocpp.md)
${ENGINEER_USAGE}
  yulan backup [--to DIR]  copy every database and file of the data directory, online
  yulan restore --from DIR restore a backup into a fresh data directory
  yulan admin rotate-token replace a lost or leaked admin token (yulan admin --help)
  yulan admin influx-migrate  move InfluxDB 1.x "autogen" data into the per-kind policies
  yulan help               this text

Configuration comes from YULAN_* environment variables, optionally filled in from a
file in .env syntax: --config FILE or YULAN_CONFIG_FILE=FILE (see README.md).

${exitCodeHelp()}`;

interface Closable { close(): Promise<void> }

/** What `yulan <service> --help` prints: services take no arguments, only YULAN_* settings. */
const SERVICE_USAGE: Record<string, string> = {
  up: `Usage: yulan up [--config FILE]

Runs the broker, edge agent, cloud and a simulated fleet on this machine. Settings are
YULAN_* environment variables (README.md), e.g. YULAN_DATA_DIR (default .yulan),
YULAN_MQTT_PORT, YULAN_HTTP_PORT, YULAN_SIM_DEVICES (per kind, 0 for none).
Simulated devices keep installed firmware in <data dir>/sims across restarts.`,
  broker: 'Usage: yulan broker [--config FILE]\n\nRuns the MQTT broker; settings are YULAN_* variables (broker/README.md).',
  edge: 'Usage: yulan edge [--config FILE] [--flows FLOWS.json]\n\nRuns the edge agent; settings are YULAN_* variables (edge/README.md).\n--flows (or YULAN_NODE_RED=1) also runs the embedded Node-RED editor (docs/integrations.md).',
  cloud: 'Usage: yulan cloud [--config FILE]\n\nRuns the cloud API and dashboard; settings are YULAN_* variables (cloud/README.md).',
};

/** `--help` never starts anything, and neither does an argument a service does not take. */
function serviceArgs(cmd: string, rest: string[]): number | undefined {
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${SERVICE_USAGE[cmd] ?? USAGE}\n`);
    return 0;
  }
  if (rest.length > 0) {
    process.stderr.write(`yulan ${cmd}: unexpected argument "${rest[0]}"\n\n${SERVICE_USAGE[cmd] ?? USAGE}\n`);
    return 2;
  }
  return undefined;
}

/**
 * Listens for SIGINT/SIGTERM from the moment it is called — before services start, so a
 * Ctrl-C during start-up is not lost — and, once `closables` are known, closes them in
 * order. A second signal exits at once.
 */
function shutdownOnSignal(logger: Logger): (closables: Closable[]) => Promise<number> {
  let signalled: (signal: string) => void = () => {};
  const signal = new Promise<string>((resolve) => { signalled = resolve; });
  let count = 0;
  const onSignal = (name: string): void => {
    count += 1;
    if (count > 1) {
      logger.warn({ signal: name }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    signalled(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP reloads TLS certificates (protos/src/tls.ts) for a service under systemd; in a
  // terminal it is the terminal closing, which must stop `yulan up` as it did before.
  if (process.stdin.isTTY) process.on('SIGHUP', onSignal);
  return async (closables) => {
    const name = await signal;
    logger.info({ signal: name }, 'shutting down');
    let code = 0;
    for (const c of closables) {
      try { await c.close(); } catch (err) { code = 1; logger.error({ err }, 'error during shutdown'); }
    }
    logger.info('stopped');
    return code;
  };
}

export async function main(rawArgv: string[]): Promise<number> {
  if (rawArgv[0] === 'gateway' && rawArgv[1] === 'serial') {
    const { gatewaySerialCommand } = await import('./gateway-serial.js');
    return gatewaySerialCommand(rawArgv.slice(2), process.env, process.stdout, process.stderr);
  }
  const { argv, file } = takeConfigFlag(rawArgv);
  const [cmd, ...rest] = argv;
  const env = withConfigFile(process.env, file ?? process.env.YULAN_CONFIG_FILE);
  if (cmd !== undefined && Object.hasOwn(ENGINEER_COMMANDS, cmd)) {
    return runEngineerCommand(cmd, rest, { env, stdout: process.stdout, stderr: process.stderr });
  }
  if (cmd === 'admin') {
    const { adminCommand } = await import('./admin-command.js');
    return adminCommand(rest, { env, stdout: process.stdout, stderr: process.stderr });
  }
  if (cmd === 'backup' || cmd === 'restore') {
    const { dataCommand } = await import('./backup-command.js');
    return dataCommand(cmd, rest, { env, stdout: process.stdout, stderr: process.stderr });
  }
  switch (cmd) {
    case 'up': {
      const early = serviceArgs('up', rest);
      if (early !== undefined) return early;
      const logger = createLogger(env);
      const shutdown = shutdownOnSignal(logger);
      const stack = await runUp(env, logger, (line) => process.stdout.write(`${line}\n`));
      return shutdown([stack]);
    }
    case 'broker': {
      const early = serviceArgs('broker', rest);
      if (early !== undefined) return early;
      const logger = createLogger(env);
      const shutdown = shutdownOnSignal(logger);
      const config = loadBrokerConfig(env);
      // YULAN_BROKER_WORKERS > 1: this process becomes the cluster primary and forks workers
      // that run this same command (broker/README.md, "Clustered mode").
      const broker = config.workers > 1
        ? await startBrokerCluster(config, logger.child({ svc: 'broker' }))
        : await startBroker(config, logger.child({ svc: 'broker' }));
      logger.info({ mqttPort: broker.mqttPort, wsPort: broker.wsPort, workers: config.workers }, 'broker listening');
      return shutdown([broker]);
    }
    case 'edge': {
      // `--flows FILE` turns the embedded Node-RED on, starting from FILE (docs/integrations.md).
      const at = rest.indexOf('--flows');
      if (at !== -1 && rest[at + 1] === undefined) return serviceArgs('edge', ['--flows']) ?? 2;
      const flows = at === -1 ? undefined : rest.splice(at, 2)[1];
      const early = serviceArgs('edge', rest);
      if (early !== undefined) return early;
      const logger = createLogger(env);
      const shutdown = shutdownOnSignal(logger);
      const edge = await startEdge(loadEdgeConfig(flows ? { ...env, YULAN_NODE_RED_FLOWS: flows } : env), logger.child({ svc: 'edge' }));
      logger.info({ httpPort: edge.httpPort }, 'edge agent running');
      if (edge.nodeRed?.generatedPassword) {
        process.stdout.write(`Node-RED editor: ${edge.nodeRed.url}  user ${edge.nodeRed.username}  password ${edge.nodeRed.generatedPassword}\n(shown once; stored hashed in the data directory)\n`);
      }
      return shutdown([edge]);
    }
    case 'cloud': {
      const early = serviceArgs('cloud', rest);
      if (early !== undefined) return early;
      const logger = createLogger(env);
      const shutdown = shutdownOnSignal(logger);
      const cloud = await startCloud(loadCloudConfig(env), logger.child({ svc: 'cloud' }));
      if (cloud.adminToken) {
        process.stdout.write(`\nAdmin token (shown once, store it now): ${cloud.adminToken}\n\n`);
      }
      logger.info({ url: cloud.url }, 'cloud API listening');
      return shutdown([cloud]);
    }
    case 'sim': {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`${simUsage}\n`);
        return 0;
      }
      const logger = createLogger(env);
      const shutdown = shutdownOnSignal(logger);
      if (wantsOcpp(rest)) {
        const ocpp = await startOcppSimChargers(parseOcppSimArgs(rest, env), logger.child({ svc: 'sim-ocpp' }));
        logger.info({ chargers: ocpp.ids }, 'OCPP chargers running');
        return shutdown([ocpp]);
      }
      const fleet = await runFleet(parseSimArgs(rest, env), logger.child({ svc: 'sim' }));
      logger.info({ devices: fleet.devices.length }, 'fleet running');
      return shutdown([fleet]);
    }
    case 'gateway': {
      const { runGateway } = await import('./gateway-command.js');
      if (rest.includes('--help') || rest.includes('-h')) return runGateway(['--help'], env, createLogger(env)) as Promise<number>;
      const logger = createLogger(env);
      const shutdown = shutdownOnSignal(logger);
      const gw = await runGateway(rest, env, logger);
      return typeof gw === 'number' ? gw : shutdown([gw]);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`yulan: unknown command "${cmd}"\n\n${USAGE}\n`);
      return 2;
  }
}
