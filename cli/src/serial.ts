import { SerialPort } from 'serialport';
import { CliError, ExitCode } from './commands/errors.js';

/** The host side of a serial line: bytes in order, writes drained before close. */
export interface SerialLine {
  write(bytes: Uint8Array): Promise<void>;
  onData(listener: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

/**
 * Opens a port by path. Never enumerates ports (SerialPort.list() spawns udevadm, and a
 * failed spawn crashes the process where udev is absent, e.g. in containers).
 */
export async function openSerialLine(path: string, baudRate: number): Promise<SerialLine> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => {
    if (!err) { resolve(); return; }
    reject(new CliError('E_SERIAL_OPEN', `cannot open serial port ${path}: ${err.message}`, ExitCode.Io, { cause: err }));
  }));
  let failure: Error | undefined;
  port.on('error', (err: Error) => { failure = err; });
  return {
    write: (bytes) => new Promise<void>((resolve, reject) => {
      if (failure) { reject(new CliError('E_SERIAL_IO', `serial port ${path}: ${failure.message}`, ExitCode.Io, { cause: failure })); return; }
      port.write(Buffer.from(bytes), (err) => {
        if (err) reject(new CliError('E_SERIAL_IO', `writing to ${path}: ${err.message}`, ExitCode.Io, { cause: err }));
        else port.drain(() => resolve());
      });
    }),
    onData: (listener) => { port.on('data', (b: Buffer) => listener(new Uint8Array(b))); },
    close: () => new Promise<void>((resolve) => { if (!port.isOpen) resolve(); else port.close(() => resolve()); }),
  };
}
