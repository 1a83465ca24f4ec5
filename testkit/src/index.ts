export * from './influxd.js';
