import type { Logger } from 'pino';

/**
 * One credential check against the cloud's internal endpoints (device-auth,
 * integration-auth), shared so both read the cloud's answer by the same rules: 200 is an
 * answer to parse, 401 `bad-credentials` and 403 `disabled` are denials, and anything
 * else — a network error, a 5xx, a 401 for the broker's own token, a 404 from a wrong URL —
 * says nothing about the credential, so it is "unavailable" (and logged when it is a 4xx).
 */
export type CloudCheck =
  | { kind: 'answer'; body: unknown }
  | { kind: 'denied'; reason: 'bad-credentials' | 'disabled' }
  | { kind: 'unavailable'; message: string; cause?: unknown };

export async function postCloudCheck(
  endpoint: string, token: string, payload: unknown, timeoutMs: number, logger: Logger, what: string,
  /** https:// with a private CA (YULAN_TLS_CA_FILE): fetchTrustingCa from @yulan/protos */
  fetchImpl: typeof fetch = fetch,
): Promise<CloudCheck> {
  let res: Response;
  let body: unknown;
  try {
    res = await fetchImpl(endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    body = await res.json().catch(() => undefined);
  } catch (cause) {
    return { kind: 'unavailable', message: `${what} request failed: ${(cause as Error).message}`, cause };
  }
  if (res.status === 200) return { kind: 'answer', body };
  const reason = (body as { reason?: unknown } | undefined)?.reason;
  if (res.status === 401 && reason === 'bad-credentials') return { kind: 'denied', reason: 'bad-credentials' };
  if (res.status === 403 && reason === 'disabled') return { kind: 'denied', reason: 'disabled' };
  if (res.status < 500) logger.error({ status: res.status, reason }, `${what} endpoint answered unexpectedly`);
  return { kind: 'unavailable', message: `${what} answered ${res.status}` };
}
