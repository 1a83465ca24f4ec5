export * from './influxd.js';
export * from './redis.js';
export * from './ports.js';
export * from './wait.js';
export * from './postgres.js';
export * from './server-process.js';
export * from './log-lines.js';
