#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript (npm run build / tsc -b).
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    console.error(`yulan: ${err?.message ?? err}`);
    process.exitCode = 1;
  },
);
