export { main } from './main.js';
export { runUp, type UpHandle } from './up.js';
export { resolvePort } from './ports.js';
export { loadOrCreateSecrets, writeBrokerAccounts, type ServiceSecrets } from './secrets.js';
