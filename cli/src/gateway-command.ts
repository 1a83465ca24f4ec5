import type { Logger } from 'pino';
import { loadOcppGatewayConfig, startOcppGateway } from '@yulan/gateways';

export const GATEWAY_USAGE = `Usage: yulan gateway ocpp [--config FILE]

Runs the OCPP 1.6J gateway (docs/ocpp.md): chargers connect to
ws(s)://host:YULAN_OCPP_PORT/ocpp/{chargePointId} with HTTP Basic auth (charge point id,
AuthorizationKey = the device secret). Needs YULAN_GATEWAY_TOKEN (the cloud's),
YULAN_CLOUD_URL and YULAN_MQTT_URL; TLS (profile 2) with YULAN_OCPP_TLS_CERT/KEY.`;

/** `yulan gateway ocpp`: starts the gateway; returns its handle for the shutdown path. */
export async function runGateway(rest: string[], env: NodeJS.ProcessEnv, logger: Logger): Promise<{ close(): Promise<void> } | number> {
  const [which, ...more] = rest;
  if (which === '--help' || which === '-h' || more.includes('--help')) {
    process.stdout.write(`${GATEWAY_USAGE}\n`);
    return 0;
  }
  if (which !== 'ocpp' || more.length > 0) {
    process.stderr.write(`yulan gateway: expected "ocpp"${which ? `, got "${[which, ...more].join(' ')}"` : ''}\n\n${GATEWAY_USAGE}\n`);
    return 2;
  }
  const gw = await startOcppGateway(loadOcppGatewayConfig(env), logger.child({ svc: 'gateway-ocpp' }));
  logger.info({ url: gw.url }, 'OCPP gateway running');
  return gw;
}
