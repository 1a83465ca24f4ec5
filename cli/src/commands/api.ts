import { readFileSync } from 'node:fs';
import { fetchTrustingCa } from '@yulan/protos';
import { CliError, ExitCode } from './errors.js';

export interface ApiOptions {
  method?: string; body?: unknown; headers?: Record<string, string>; raw?: Uint8Array; query?: Record<string, string | undefined>;
  /** default 30 s; a long poll passes its hold time plus slack */
  timeoutMs?: number;
  /** the answer's bytes as a Buffer (a download), not parsed */
  binary?: boolean;
}

/** The cloud's error body (cloud/README.md, "Errors"). */
interface ApiErrorBody { statusCode?: number; error?: string; message?: string; code?: string }

export class ApiError extends CliError {
  constructor(readonly status: number, readonly apiCode: string | undefined, message: string) {
    super(apiCode ?? `E_HTTP_${status}`, message, status >= 500 ? ExitCode.Failure : ExitCode.Refused);
    this.name = 'ApiError';
  }
}

/**
 * A small client for the cloud API: YULAN_CLOUD_URL + YULAN_ADMIN_TOKEN, JSON in and out,
 * cloud errors turned into one readable line with the cloud's own code.
 */
export class CloudApi {
  private constructor(readonly base: string, private readonly token: string, private readonly fetchImpl: typeof fetch = fetch) {}

  static fromEnv(env: NodeJS.ProcessEnv): CloudApi {
    const missing = ['YULAN_CLOUD_URL', 'YULAN_ADMIN_TOKEN'].filter((k) => !env[k]);
    if (missing.length > 0) {
      throw new CliError('E_CLI_CONFIG', `${missing.join(' and ')} must be set (the cloud's URL, e.g. http://localhost:8080, and the admin token printed on its first start)`, ExitCode.Usage);
    }
    try {
      new URL(env.YULAN_CLOUD_URL!);
    } catch (cause) {
      throw new CliError('E_CLI_CONFIG', `YULAN_CLOUD_URL is not a URL: "${env.YULAN_CLOUD_URL}"`, ExitCode.Usage, { cause });
    }
    // An https:// cloud with a private CA (`yulan up`'s development CA): trust that CA.
    let ca: Buffer | undefined;
    if (env.YULAN_TLS_CA_FILE) {
      try {
        ca = readFileSync(env.YULAN_TLS_CA_FILE);
      } catch (cause) {
        throw new CliError('E_CLI_CONFIG', `YULAN_TLS_CA_FILE ${env.YULAN_TLS_CA_FILE}: ${(cause as Error).message}`, ExitCode.Usage, { cause });
      }
    }
    return new CloudApi(env.YULAN_CLOUD_URL!.replace(/\/+$/, ''), env.YULAN_ADMIN_TOKEN!, fetchTrustingCa(ca));
  }

  async request<T>(path: string, opts: ApiOptions = {}): Promise<{ status: number; body: T; headers: Headers }> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, v);
    const url = `${this.base}${path}${qs.size > 0 ? `?${qs}` : ''}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json', ...opts.headers };
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    // fetch's BodyInit takes ArrayBuffer-backed views only; a Buffer may sit on a shared pool.
    if (opts.raw) { body = new Uint8Array(opts.raw); headers['content-type'] ??= 'application/octet-stream'; }
    else if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['content-type'] = 'application/json'; }
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000) });
    } catch (cause) {
      const reason = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).message;
      throw new CliError('E_API_UNREACHABLE', `cannot reach the cloud at ${this.base}: ${reason}`, ExitCode.Io, { cause });
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (opts.binary && res.ok) return { status: res.status, body: bytes as T, headers: res.headers };
    const text = bytes.toString('utf8');
    let parsed: unknown;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
    if (!res.ok) {
      const e = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as ApiErrorBody;
      const what = res.status === 404 && !e.code ? `${path} is not available on this cloud (404)` : `${e.message ?? (text.slice(0, 200) || res.statusText)} (HTTP ${res.status})`;
      throw new ApiError(res.status, e.code, res.status === 401 ? `the cloud refused the admin token (HTTP 401): check YULAN_ADMIN_TOKEN` : what);
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
}

export const enc = encodeURIComponent;
