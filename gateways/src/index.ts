// Field gateways speak a device's own protocol on one side and the Yulan wire format on
// the other, so everything downstream treats a real charger or sensor as any other device.
export * from './serial/index.js';
export * from './ocpp/index.js';
