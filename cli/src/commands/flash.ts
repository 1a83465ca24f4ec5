import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { sendFile } from '../flash.js';
import { createProgress } from '../progress.js';
import { openSerialLine } from '../serial.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';

export const FLASH_USAGE = `usage: yulan flash --port /dev/ttyX [--baud 115200] [--timeout 60] [--name NAME] firmware.bin

Sends the image with YMODEM (1 KiB blocks, CRC-16) to a device waiting in its bootloader.
--timeout is how long to wait for the bootloader to ask ('C'); --name the file name sent
in the header (default: the file's own name). Start it before or after the device enters
its bootloader; lrzsz's rb works as the receiver too (docs/flashing.md).
Exit codes: 0 flashed, 2 usage, 3 timeout, 7 the device failed (too many NAKs), 5 cancelled by the
device, 6 serial port error.`;

export async function flashCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: { ...HELP, port: { type: 'string', short: 'p' }, baud: { type: 'string' }, timeout: { type: 'string' }, name: { type: 'string' } },
  }), FLASH_USAGE);
  if (values.help) { io.stdout.write(`${FLASH_USAGE}\n`); return ExitCode.Ok; }
  if (!values.port) throw usageError('--port is required', FLASH_USAGE);
  if (positionals.length !== 1) throw usageError('exactly one firmware file is required', FLASH_USAGE);
  const baud = numberOption(values.baud, 'baud', 115_200, 50, 4_000_000);
  const timeoutS = numberOption(values.timeout, 'timeout', 60, 1, 3600);
  const file = positionals[0]!;
  let data: Uint8Array;
  try {
    data = new Uint8Array(await readFile(file));
  } catch (cause) {
    throw new CliError('E_FILE', `cannot read ${file}: ${(cause as Error).message}`, ExitCode.Failure, { cause });
  }
  const name = values.name ?? basename(file);
  const line = await openSerialLine(values.port, baud);
  const progress = createProgress(io.stderr, `flash ${name}`, data.length);
  io.stderr.write(`waiting for the bootloader on ${values.port} (up to ${timeoutS} s)…\n`);
  try {
    const result = await sendFile(line, name, data, { startTimeoutMs: timeoutS * 1000, onProgress: (b) => progress.update(b) });
    progress.done(true);
    if (!result.endConfirmed) io.stderr.write('note: the receiver took the whole file but did not acknowledge the end of the batch (lrzsz\'s rb exits right after that ACK, which can be lost when its port closes)\n');
  } catch (err) {
    progress.done(false);
    throw err;
  } finally {
    await line.close();
  }
  io.stdout.write(`flashed ${name} (${data.length} bytes) to ${values.port}\n`);
  return ExitCode.Ok;
}
