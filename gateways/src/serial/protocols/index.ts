export * from './stream-framer.js';
export * from './pms5003.js';
export * from './sds011.js';
export * from './mr60fda1.js';
export * from './lock-board.js';
