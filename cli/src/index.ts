export { main } from './main.js';
export { runUp, type UpHandle } from './up.js';
export { PortPlan } from './ports.js';
export { loadOrCreateSecrets, writeBrokerAccounts, type ServiceSecrets } from './secrets.js';
export { createCa, issueCert, ensureDevTls, type PemPair, type DevTls } from './dev-ca.js';
