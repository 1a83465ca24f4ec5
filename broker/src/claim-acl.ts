import { CLAIM_USER_PREFIX, isClaimId, isValidSerial, provisionRequestTopic, provisionResponseTopic, type KindSlug } from '@yulan/protos';

/**
 * Claim sessions (docs/security.md, "Provisioning by claim"): a device logging in with its
 * batch's claim credential, before it has an identity of its own. Its only rights are the
 * one topic pair of its serial: publish the request, subscribe to the response. It cannot
 * publish telemetry, subscribe to anything else, or see another serial's response.
 */
export const CLAIM_ROLE = 'claim' as const;
export { CLAIM_USER_PREFIX };

export interface ClaimPrincipal {
  readonly role: typeof CLAIM_ROLE;
  readonly claimId: string;
  readonly serial: string;
  readonly kind: KindSlug;
  readonly site: string;
  readonly requestTopic: string;
  readonly responseTopic: string;
  /** exchange requests this session has made (claim-link.ts bounds them) */
  requests: number;
  /** a request is at the cloud now: the next waits */
  inFlight: boolean;
}

export function claimPrincipal(claimId: string, serial: string, kind: KindSlug, site: string): ClaimPrincipal {
  return {
    role: CLAIM_ROLE, claimId, serial, kind, site,
    requestTopic: provisionRequestTopic(claimId, serial),
    responseTopic: provisionResponseTopic(claimId, serial),
    requests: 0,
    inFlight: false,
  };
}

/** `claim:<claimId>` and client id `claim:<claimId>:<serial>`: the serial is bound to the
 * session at CONNECT, so one session speaks for one serial only. */
export function parseClaimLogin(username: string, clientId: string): { claimId: string; serial: string } | string {
  const claimId = username.slice(CLAIM_USER_PREFIX.length);
  if (!isClaimId(claimId)) return 'invalid claim id';
  const prefix = `${username}:`;
  if (!clientId.startsWith(prefix)) return 'claim client id must be "claim:<claimId>:<serial>"';
  const serial = clientId.slice(prefix.length);
  if (!isValidSerial(serial)) return 'invalid serial number in the client id';
  return { claimId, serial };
}

export function claimCanPublish(p: ClaimPrincipal, topic: string): boolean {
  return topic === p.requestTopic;
}

export function claimCanSubscribe(p: ClaimPrincipal, filter: string): boolean {
  return filter === p.responseTopic;
}
