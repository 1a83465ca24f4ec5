export * from './frames.js';
export * from './serial-emulator.js';
export * from './pms5003-emulator.js';
export * from './sds011-emulator.js';
export * from './mr60fda1-emulator.js';
export * from './lock-board-emulator.js';
export * from './pty-pair.js';
