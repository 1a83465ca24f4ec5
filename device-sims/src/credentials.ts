import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SimError, SimErrorCode } from './errors.js';

/** One device's issued secret; the cloud shows it once, so this file is its only copy. */
export interface StoredCredential {
  site: string;
  kind: string;
  secret: string;
}
export interface CredentialsFile {
  version: 1;
  devices: Record<string, StoredCredential>;
}

export async function loadCredentials(path: string): Promise<CredentialsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, devices: {} };
    throw new SimError(SimErrorCode.CredentialsFile, `cannot read credentials file ${path}`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new SimError(SimErrorCode.CredentialsFile, `credentials file ${path} is not valid JSON`, { cause });
  }
  const devices = (parsed as { devices?: unknown } | null)?.devices;
  if ((parsed as { version?: unknown }).version !== 1 || typeof devices !== 'object' || devices === null) {
    throw new SimError(SimErrorCode.CredentialsFile, `credentials file ${path} is not a version-1 credentials file`);
  }
  for (const [id, c] of Object.entries(devices as Record<string, unknown>)) {
    const v = c as Partial<StoredCredential> | null;
    if (typeof v?.secret !== 'string' || typeof v.site !== 'string' || typeof v.kind !== 'string') {
      throw new SimError(SimErrorCode.CredentialsFile, `credentials file ${path}: entry "${id}" needs string site, kind and secret`);
    }
  }
  return parsed as CredentialsFile;
}

/** Atomic write (temp file + rename), owner-only permissions: it holds device secrets. */
export async function saveCredentials(path: string, data: CredentialsFile): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (cause) {
    throw new SimError(SimErrorCode.CredentialsFile, `cannot write credentials file ${path}`, { cause });
  }
}
