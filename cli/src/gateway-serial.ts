import { parseArgs } from 'node:util';
import { SerialConfigError, loadSerialGatewayConfig, loadSerialHttpConfig, startSerialGateway, startSerialHttp } from '@yulan/gateways';
import { createLogger } from './logger.js';

export const GATEWAY_SERIAL_USAGE = `usage: yulan gateway serial --config FILE

Runs the serial gateway: each device in FILE (JSON) is read on its serial port and
published as that Yulan device, under that device's own credential (README.md, "Wiring a
real serial sensor"). Example:

  { "mqttUrl": "mqtt://127.0.0.1:1883",
    "credentialsFile": "serial-credentials.json",
    "devices": [
      { "id": "env-lobby", "site": "xuhui", "kind": "env-monitor", "sensor": "pms5003",
        "port": "/dev/yulan-pm-lobby", "mode": "passive", "intervalS": 60, "dutyCycle": true },
      { "id": "fall-101", "site": "xuhui", "kind": "fall-sensor", "sensor": "mr60fda1",
        "port": "/dev/yulan-radar-101", "sensitivity": 5 },
      { "id": "locker-a", "site": "xuhui", "kind": "parcel-locker", "sensor": "lock-board",
        "port": "/dev/yulan-lock-a", "address": 1, "doors": 12 } ] }

With YULAN_SERIAL_HTTP_PORT set: /healthz and /metrics (drop counters per device and port)
on YULAN_SERIAL_HTTP_HOST (default 127.0.0.1; another host needs YULAN_SERIAL_HTTP_TOKEN).

Exit 2 on a bad config (every problem is listed). Logs with YULAN_LOG_LEVEL / YULAN_LOG_FORMAT.`;

/** `yulan gateway serial`: parsed before the global --config (.env) flag, which it would otherwise take. */
export async function gatewaySerialCommand(args: string[], env: NodeJS.ProcessEnv, out: NodeJS.WriteStream, err: NodeJS.WriteStream): Promise<number> {
  let file: string | undefined;
  try {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) { out.write(`${GATEWAY_SERIAL_USAGE}\n`); return 0; }
    file = values.config;
  } catch (e) {
    err.write(`yulan gateway serial: ${(e as Error).message}\n\n${GATEWAY_SERIAL_USAGE}\n`);
    return 2;
  }
  if (!file) { err.write(`yulan gateway serial: --config FILE is required\n\n${GATEWAY_SERIAL_USAGE}\n`); return 2; }
  let loaded;
  let httpConfig;
  // The environment's problems and the file's are reported together, so one run shows all.
  let envError: SerialConfigError | undefined;
  try {
    httpConfig = loadSerialHttpConfig(env);
  } catch (e) {
    if (!(e instanceof SerialConfigError)) throw e;
    envError = e;
  }
  try {
    loaded = await loadSerialGatewayConfig(file);
  } catch (e) {
    if (!(e instanceof SerialConfigError)) throw e;
    err.write(`yulan gateway serial: ${e.message}\n${envError ? `yulan gateway serial: ${envError.message}\n` : ''}`);
    return 2;
  }
  if (envError) { err.write(`yulan gateway serial: ${envError.message}\n`); return 2; }
  const logger = createLogger(env);
  const gw = startSerialGateway(loaded.config, loaded.secrets, logger.child({ svc: 'gateway-serial' }));
  const http = httpConfig ? await startSerialHttp(gw, httpConfig, logger.child({ svc: 'gateway-serial' })) : undefined;
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal }, 'shutting down');
  await http?.close();
  await gw.close();
  return 0;
}
