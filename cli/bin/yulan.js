#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript (npm run build / tsc -b).
import { main } from '../dist/main.js';

// Exit explicitly once main is done: services have been closed in order by then, and a
// stray handle (a client's keep-alive socket, a timer in a dependency) must not keep a
// stopped platform's process alive. stdout is flushed first.
const exit = (code) => process.stdout.write('', () => process.exit(code));

main(process.argv.slice(2)).then(
  (code) => exit(typeof code === 'number' ? code : 0),
  (err) => {
    console.error(`yulan: ${err?.message ?? err}`);
    exit(1);
  },
);
