export { main } from './main.js';
export { runUp, type UpHandle } from './up.js';
export { resolvePort } from './ports.js';
export { loadOrCreateSecrets, writeBrokerAccounts, type ServiceSecrets } from './secrets.js';
export { createCa, issueCert, ensureDevTls, type PemPair, type DevTls } from './dev-ca.js';
