export { loadOcppGatewayConfig, type OcppGatewayConfig } from './config.js';
export { startOcppGateway, type OcppGatewayHandle } from './gateway.js';
export { GatewayError, GatewayErrorCode, GatewayConfigError } from './errors.js';
export type { GatewayMetrics } from './metrics.js';
