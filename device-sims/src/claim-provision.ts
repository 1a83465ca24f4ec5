import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { CLAIM_USER_PREFIX, provisionRequestTopic, provisionResponseTopic, type KindSlug, type ProvisionResponse } from '@yulan/protos';
import { SimError, SimErrorCode } from './errors.js';
import { loadCredentials, saveCredentials, type CredentialsFile } from './credentials.js';
import { mapLimit } from './gate.js';

export interface ClaimOptions {
  /** the claim id the batch shipped with */
  id: string;
  secret: string;
}

export interface ClaimExchangeOptions {
  mqttUrl: string;
  ca?: string;
  claim: ClaimOptions;
  /** the device's serial number: it becomes its device id */
  serial: string;
  timeoutMs?: number;
}

export interface ClaimedIdentity {
  id: string;
  site: string;
  kind: KindSlug;
  secret: string;
}

/**
 * What a device that shipped with a claim does on its first start: log in as
 * `claim:<id>` (client id `claim:<id>:<serial>`), subscribe to its response topic, publish
 * its request, and take the identity in the answer. A refusal is a SimError naming the
 * cloud's reason (serial-used, exhausted, expired, revoked…).
 */
export async function exchangeClaim(o: ClaimExchangeOptions): Promise<ClaimedIdentity> {
  const username = `${CLAIM_USER_PREFIX}${o.claim.id}`;
  const client = mqtt.connect(o.mqttUrl, {
    clientId: `${username}:${o.serial}`, username, password: o.claim.secret, protocolVersion: 4, clean: true,
    reconnectPeriod: 0, connectTimeout: o.timeoutMs ?? 10_000, ...(o.ca !== undefined ? { ca: o.ca } : {}),
  });
  const responseTopic = provisionResponseTopic(o.claim.id, o.serial);
  try {
    const answer = await new Promise<ProvisionResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SimError(SimErrorCode.ClaimRefused, `no answer to the claim exchange of ${o.serial} in time`)), o.timeoutMs ?? 30_000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        const rc = (err as { code?: unknown }).code;
        reject(new SimError(rc === 4 || rc === 5 ? SimErrorCode.MqttAuth : SimErrorCode.MqttConnect,
          rc === 4 || rc === 5 ? `broker refused claim ${o.claim.id} (wrong secret, revoked or expired)` : `claim login of ${o.serial} failed: ${err.message}`, { cause: err }));
      };
      client.on('error', fail);
      client.on('message', (topic, payload) => {
        if (topic !== responseTopic) return;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(payload.toString('utf8')) as ProvisionResponse);
        } catch (cause) {
          reject(new SimError(SimErrorCode.ClaimRefused, 'the claim answer is not JSON', { cause }));
        }
      });
      client.on('connect', () => {
        client.subscribeAsync(responseTopic, { qos: 1 })
          .then(() => client.publishAsync(provisionRequestTopic(o.claim.id, o.serial), Buffer.from('{}'), { qos: 1 }))
          .catch(fail);
      });
    });
    if (!answer.ok) throw new SimError(SimErrorCode.ClaimRefused, `claim ${o.claim.id} refused for ${o.serial}: ${answer.reason} (${answer.message})`);
    if (answer.secret === undefined) throw new SimError(SimErrorCode.ClaimRefused, `claim ${o.claim.id} answered without a secret for ${o.serial}`);
    return { id: answer.device.id, site: answer.device.site, kind: answer.device.kind as KindSlug, secret: answer.secret };
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}

/**
 * Secrets for a fleet started from a claim: devices already in the credentials file keep
 * theirs (a device exchanges its claim once, ever; the cloud refuses a second time); the
 * others exchange the claim, and each spec takes the claim's site and kind, as a real
 * device's identity comes from its claim.
 */
export async function provisionByClaim(
  specs: { id: string; site: string; kind: KindSlug }[],
  o: { mqttUrl: string; ca?: string; claim: ClaimOptions; credentialsFile?: string; concurrency?: number },
  logger: Logger,
): Promise<Map<string, string>> {
  const file: CredentialsFile = o.credentialsFile ? await loadCredentials(o.credentialsFile) : { version: 1, devices: {} };
  if (!o.credentialsFile) logger.warn('no credentials file: identities exchanged for the claim live in memory only; a restart cannot exchange again');
  const secrets = new Map<string, string>();
  try {
    await mapLimit(specs, o.concurrency ?? 8, async (d) => {
      const known = file.devices[d.id];
      const got = known
        ? { id: d.id, site: known.site, kind: known.kind as KindSlug, secret: known.secret }
        : await exchangeClaim({ mqttUrl: o.mqttUrl, ...(o.ca !== undefined ? { ca: o.ca } : {}), claim: o.claim, serial: d.id });
      if (!known) {
        file.devices[d.id] = { site: got.site, kind: got.kind, secret: got.secret };
        logger.info({ deviceId: d.id, claim: o.claim.id, site: got.site, kind: got.kind }, 'device provisioned by claim');
      }
      d.site = got.site;
      d.kind = got.kind;
      secrets.set(d.id, got.secret);
    });
  } finally {
    if (o.credentialsFile) await saveCredentials(o.credentialsFile, file);
  }
  return secrets;
}
