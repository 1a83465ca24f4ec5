export * from './influxd.js';
export * from './redis.js';
