/** Counters of the OCPP gateway, served at GET /metrics. Bad input is counted, never fatal. */
export interface GatewayMetrics {
  connections: number;
  connectionsTotal: number;
  upgradesRefused: Record<string, number>;
  replacedByNewer: number;
  cutOff: number;
  /** profile 3 chargers accepted with their certificate alone (bound at the broker by it) */
  certificateOnly: number;
  callsIn: Record<string, number>;
  callsOut: Record<string, number>;
  callErrorsOut: number;
  badMessages: Record<string, number>;
  rateLimited: number;
  oversizedFrames: number;
  transitionsOutsideTable: number;
  sampledValuesSkipped: number;
  transactionMessagesQueued: number;
  duplicateTransactionMessages: number;
  /** site power cap: SetChargingProfile (ChargePointMaxProfile) sent, and refused or failed */
  siteCapProfilesSent: number;
  siteCapRejected: number;
  /** SendLocalList by `Full|Differential:<answer>`, `current` (nothing to send), `unsupported` (-1); failed pushes by error code */
  localListSent: Record<string, number>;
  localListFailures: Record<string, number>;
}

export function createMetrics(): GatewayMetrics {
  return {
    connections: 0, connectionsTotal: 0, upgradesRefused: {}, replacedByNewer: 0, cutOff: 0, certificateOnly: 0, callsIn: {}, callsOut: {},
    callErrorsOut: 0, badMessages: {}, rateLimited: 0, oversizedFrames: 0, transitionsOutsideTable: 0,
    sampledValuesSkipped: 0, transactionMessagesQueued: 0, duplicateTransactionMessages: 0,
    siteCapProfilesSent: 0, siteCapRejected: 0, localListSent: {}, localListFailures: {},
  };
}

export function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}
