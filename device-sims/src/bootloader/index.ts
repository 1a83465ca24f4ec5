export * from './ymodem-receiver.js';
export * from './console.js';
export * from './serial-link.js';
export * from './bootloader.js';
