import type { Logger } from 'pino';
import { BrokerError } from './errors.js';
import type { BrokerMetrics } from './metrics.js';

const NETWORK_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);
const BENIGN_MESSAGES = new Set(['keep alive timeout', 'connection closed', 'connect did not arrive in time']);

/** Sorts Aedes' client/connection errors into counters. Our own refusals were counted
 * where they were raised. Per-connection, not per-message, so logging is affordable. */
export function classifyError(err: Error, metrics: BrokerMetrics, logger: Logger): void {
  if (err instanceof BrokerError) return;
  const code = (err as NodeJS.ErrnoException).code;
  if (err.message === 'drain timeout') {
    metrics.slowConsumerDisconnects++;
    logger.warn('slow subscriber disconnected after drain timeout');
  } else if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    metrics.oversizedPackets++;
  } else if ((code !== undefined && NETWORK_ERRORS.has(code)) || BENIGN_MESSAGES.has(err.message)) {
    logger.debug({ err }, 'connection ended');
  } else {
    metrics.protocolErrors++;
    logger.debug({ err }, 'protocol error');
  }
}
