#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Bootloader } from './bootloader.js';
import { openSerialLink } from './serial-link.js';

/**
 * A simulated device in its bootloader, for demos and tests of `yulan flash` / `yulan
 * provision` without hardware:
 *
 *   socat -d -d pty,raw,echo=0,link=/tmp/yl/host pty,raw,echo=0,link=/tmp/yl/dev &
 *   node device-sims/dist/bootloader/main.js --port /tmp/yl/dev --out /tmp/yl/flash
 *   yulan flash --port /tmp/yl/host firmware.bin
 *   sz --ymodem firmware.bin </tmp/yl/host >/tmp/yl/host     (lrzsz works as the sender too)
 */
const USAGE = `usage: bootloader --port PATH --out DIR [--baud N] [--corrupt 2,5] [--cancel-at N] [--silent] [--reject-commit REASON]`;

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' }, out: { type: 'string' }, baud: { type: 'string', default: '115200' },
      corrupt: { type: 'string' }, 'cancel-at': { type: 'string' }, silent: { type: 'boolean', default: false },
      'reject-commit': { type: 'string' }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.port || !values.out) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const link = await openSerialLink(values.port, Number(values.baud));
  const boot = new Bootloader(link, {
    outDir: values.out,
    silent: values.silent,
    faults: {
      ...(values.corrupt ? { corruptBlocks: values.corrupt.split(',').map(Number) } : {}),
      ...(values['cancel-at'] ? { cancelAtBlock: Number(values['cancel-at']) } : {}),
    },
    ...(values['reject-commit'] ? { rejectCommit: values['reject-commit'] } : {}),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`bootloader ready on ${values.port}\n`);
  const stop = (): void => { void boot.close().then(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  setInterval(() => {}, 1 << 30); // keep running until signalled
}

run().catch((err: unknown) => {
  process.stderr.write(`bootloader: ${(err as Error).message}\n`);
  process.exit(1);
});
