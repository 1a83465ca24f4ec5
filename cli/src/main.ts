import type { Logger } from 'pino';
import { loadBrokerConfig, startBroker } from '@yulan/broker';
import { loadEdgeConfig, startEdge } from '@yulan/edge';
import { loadCloudConfig, startCloud } from '@yulan/cloud';
import { parseSimArgs, runFleet, simUsage } from '@yulan/device-sims';
import { createLogger } from './logger.js';
import { runUp } from './up.js';

const USAGE = `yulan — IoT edge and device-management platform

Usage:
  yulan up                 run broker, edge, cloud and a simulated fleet on this machine
  yulan broker             run the MQTT broker
  yulan edge               run the edge agent
  yulan cloud              run the cloud API and dashboard
  yulan sim [options]      run a simulated device fleet (yulan sim --help)
  yulan help               this text

Configuration comes from YULAN_* environment variables (see README.md).`;

interface Closable { close(): Promise<void> }

/** Keeps the process alive until SIGINT/SIGTERM, then closes `closables` in order. */
export function closeOnSignal(logger: Logger, closables: Closable[]): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    const stop = async (signal: string): Promise<void> => {
      if (closing) {
        logger.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(130);
      }
      closing = true;
      logger.info({ signal }, 'shutting down');
      let code = 0;
      for (const c of closables) {
        try { await c.close(); } catch (err) { code = 1; logger.error({ err }, 'error during shutdown'); }
      }
      logger.info('stopped');
      resolve(code);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const env = process.env;
  switch (cmd) {
    case 'up': {
      const logger = createLogger(env);
      const stack = await runUp(env, logger, (line) => process.stdout.write(`${line}\n`));
      return closeOnSignal(logger, [stack]);
    }
    case 'broker': {
      const logger = createLogger(env);
      const broker = await startBroker(loadBrokerConfig(env), logger.child({ svc: 'broker' }));
      logger.info({ mqttPort: broker.mqttPort, wsPort: broker.wsPort }, 'broker listening');
      return closeOnSignal(logger, [broker]);
    }
    case 'edge': {
      const logger = createLogger(env);
      const edge = await startEdge(loadEdgeConfig(env), logger.child({ svc: 'edge' }));
      logger.info({ httpPort: edge.httpPort }, 'edge agent running');
      return closeOnSignal(logger, [edge]);
    }
    case 'cloud': {
      const logger = createLogger(env);
      const cloud = await startCloud(loadCloudConfig(env), logger.child({ svc: 'cloud' }));
      if (cloud.adminToken) {
        process.stdout.write(`\nAdmin token (shown once, store it now): ${cloud.adminToken}\n\n`);
      }
      logger.info({ url: cloud.url }, 'cloud API listening');
      return closeOnSignal(logger, [cloud]);
    }
    case 'sim': {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`${simUsage}\n`);
        return 0;
      }
      const logger = createLogger(env);
      const fleet = await runFleet(parseSimArgs(rest), logger.child({ svc: 'sim' }));
      logger.info({ devices: fleet.devices.length }, 'fleet running');
      return closeOnSignal(logger, [fleet]);
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
