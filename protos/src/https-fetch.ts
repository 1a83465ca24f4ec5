import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { TLS_MIN_VERSION } from './tls.js';

/**
 * Service-to-service HTTPS with a private CA (YULAN_TLS_CA_FILE; `yulan up`'s development
 * CA). Node's global fetch only trusts extra CAs through NODE_EXTRA_CA_CERTS, read once at
 * process start and for the whole process, and `undici` (whose Agent would take a CA) is
 * not a dependency. This is a fetch-compatible function over node:https with its own
 * keep-alive agent that trusts exactly the given CA (and nothing else) for https:// URLs;
 * http:// URLs go to the global fetch unchanged. It never follows redirects (service calls
 * do not expect any; `redirect: 'error'` rejects on one, as fetch would).
 */
export function fetchTrustingCa(ca: string | Buffer | undefined): typeof fetch {
  if (ca === undefined) return (input, init) => fetch(input, init);
  const agent = new Agent({ ca, keepAlive: true, minVersion: TLS_MIN_VERSION });
  return (input, init) => {
    if (typeof input !== 'string' && !(input instanceof URL)) {
      return Promise.reject(new TypeError('fetchTrustingCa takes a URL and an init, not a Request'));
    }
    const url = new URL(input);
    if (url.protocol !== 'https:') return fetch(input, init);
    return httpsFetch(url, init ?? {}, agent);
  };
}

function httpsFetch(url: URL, init: RequestInit, agent: Agent): Promise<Response> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
  let body: Buffer | undefined;
  if (typeof init.body === 'string') body = Buffer.from(init.body);
  else if (init.body instanceof URLSearchParams) {
    body = Buffer.from(init.body.toString());
    headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
  } else if (init.body instanceof Uint8Array) body = Buffer.from(init.body);
  else if (init.body !== undefined && init.body !== null) return Promise.reject(new TypeError('fetchTrustingCa sends string, URLSearchParams or bytes bodies'));
  if (body !== undefined) headers['content-length'] = String(body.length);
  return new Promise<Response>((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      if (init.redirect === 'error' && status >= 300 && status < 400) {
        res.resume();
        return reject(new TypeError(`unexpected redirect (${status}) from ${url.origin}`));
      }
      const nullBody = status === 204 || status === 205 || status === 304 || init.method === 'HEAD';
      if (nullBody) res.resume();
      resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
        status, statusText: res.statusMessage ?? '', headers: toHeaders(res.headers),
      }));
    });
    const onAbort = (): void => {
      const reason = signal?.reason as Error;
      req.destroy(reason);
      reject(reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal?.removeEventListener('abort', onAbort));
    // As fetch: a network or TLS failure (an untrusted certificate) is a TypeError with the cause.
    req.on('error', (err) => reject(new TypeError(`fetch failed: ${err.message}`, { cause: err })));
    req.end(body);
  });
}

function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
  }
  return out;
}
