import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

// Shared by every service with a TLS listener (broker MQTT/TLS and WSS, cloud and edge
// HTTPS): one place for the protocol floor, the cipher list and the reload rules, so the
// three cannot drift apart. No service internals here.

/** TLS 1.0/1.1 are refused (ETSI EN 303 645 5.5-1: best-practice cryptography). */
export const TLS_MIN_VERSION = 'TLSv1.2' as const;

/** TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only; TLS 1.3 suites are all modern
 * and are left to OpenSSL's default order. */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface TlsFiles {
  /** PEM certificate chain (leaf first). */
  certFile: string;
  /** PEM private key of the leaf. */
  keyFile: string;
  /** PEM CA bundle that client certificates must chain to (mutual TLS); optional. */
  caFile?: string;
}

/** Reads the PEM files into server options; throws (with the file named) when one is
 * unreadable or the key does not match the certificate. */
export function readTlsOptions(files: TlsFiles): SecureContextOptions {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`TLS ${what} file ${file}: ${(err as Error).message}`);
    }
  };
  const options: SecureContextOptions = {
    cert: read('certificate', files.certFile),
    key: read('key', files.keyFile),
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    ...(files.caFile !== undefined ? { ca: read('CA', files.caFile) } : {}),
  };
  // Fails here, at start or reload, instead of at the first handshake.
  createSecureContext(options);
  return options;
}

interface ReloadTarget {
  setSecureContext(options: SecureContextOptions): void;
}

interface MiniLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TlsReloader {
  /** Reads the files again and hands them to every server; false (old ones kept) on error. */
  reload(why: string): boolean;
  readonly reloads: number;
  readonly failures: number;
  close(): void;
}

/**
 * Certificates are renewed while sessions run: on SIGHUP or when the certificate or key
 * file changes, new handshakes use the new files (`setSecureContext`); established
 * connections keep theirs. A half-written pair (new cert, old key) fails the check in
 * readTlsOptions, is logged, and the old context stays until the second file lands.
 */
export function watchTlsFiles(files: TlsFiles, servers: ReloadTarget[], logger: MiniLogger, pollMs = 1000): TlsReloader {
  let reloads = 0;
  let failures = 0;
  const reload = (why: string): boolean => {
    let options: SecureContextOptions;
    try {
      options = readTlsOptions(files);
    } catch (err) {
      failures++;
      logger.warn({ why, err: (err as Error).message }, 'TLS certificate reload failed; keeping the previous one');
      return false;
    }
    for (const s of servers) s.setSecureContext(options);
    reloads++;
    logger.info({ why, certFile: files.certFile }, 'TLS certificate reloaded');
    return true;
  };
  const onChange = (curr: { mtimeMs: number }, prev: { mtimeMs: number }): void => {
    if (curr.mtimeMs !== prev.mtimeMs) reload('file changed');
  };
  const watched = [files.certFile, files.keyFile, ...(files.caFile !== undefined ? [files.caFile] : [])];
  for (const f of watched) watchFile(f, { interval: pollMs, persistent: false }, onChange);
  const onHup = (): void => void reload('SIGHUP');
  process.on('SIGHUP', onHup);
  return {
    reload,
    get reloads() { return reloads; },
    get failures() { return failures; },
    close() {
      for (const f of watched) unwatchFile(f, onChange);
      process.off('SIGHUP', onHup);
    },
  };
}

export const TlsRefusal = {
  ProtocolVersion: 'protocolVersion',
  Timeout: 'timeout',
  Certificate: 'certificate',
  NotTls: 'notTls',
  Other: 'other',
} as const;
export type TlsRefusal = (typeof TlsRefusal)[keyof typeof TlsRefusal];

/** Why a handshake failed, from the error of a `tlsClientError` event: the counter key. */
export function tlsRefusalReason(err: { code?: string; message?: string }): TlsRefusal {
  const code = err.code ?? '';
  const text = `${code} ${err.message ?? ''}`.toLowerCase();
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return TlsRefusal.Timeout;
  if (text.includes('unsupported_protocol') || text.includes('unsupported protocol') || text.includes('version too low') ||
    text.includes('no_protocols') || text.includes('inappropriate fallback')) return TlsRefusal.ProtocolVersion;
  if (text.includes('certificate') || text.includes('unknown_ca') || text.includes('unknown ca')) return TlsRefusal.Certificate;
  if (text.includes('wrong_version_number') || text.includes('wrong version number') || text.includes('http_request') ||
    text.includes('packet_length') || text.includes('record_layer') || text.includes('unexpected_record')) return TlsRefusal.NotTls;
  return TlsRefusal.Other;
}

export function emptyTlsRefusals(): Record<TlsRefusal, number> {
  return { protocolVersion: 0, timeout: 0, certificate: 0, notTls: 0, other: 0 };
}
