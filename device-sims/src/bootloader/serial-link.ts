import { SerialPort } from 'serialport';

/** A byte pipe to the host; the bootloader logic knows nothing else about the port. */
export interface ByteLink {
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

export class SerialLinkError extends Error {
  readonly code = 'E_SERIAL_OPEN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SerialLinkError';
  }
}

/**
 * Opens a serial port (or one end of a socat pty pair). Never calls SerialPort.list():
 * it spawns udevadm, which containers lack, and the failed spawn takes the process down.
 */
export async function openSerialLink(path: string, baudRate = 115_200): Promise<ByteLink> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new SerialLinkError(`cannot open ${path}: ${err.message}`, { cause: err })) : resolve())));
  return {
    write: (bytes) => { port.write(Buffer.from(bytes)); },
    onData: (listener) => { port.on('data', (b: Buffer) => listener(new Uint8Array(b))); },
    close: () => new Promise<void>((resolve) => { if (!port.isOpen) resolve(); else port.close(() => resolve()); }),
  };
}
