import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { SimError, SimErrorCode } from './errors.js';

/** MQTT refusal codes (3.1.1) that mean "your credentials are wrong". */
const AUTH_CODES = new Set([4, 5]);

export interface AttemptOptions {
  mqttUrl: string;
  /** PEM CA the broker's certificate must chain to, for mqtts:// */
  ca?: string;
  deviceId: string;
  secret: string;
  /** Log in by client certificate (mutual TLS, mqtts:// only) instead of the secret. */
  clientCert?: { cert: string; key: string };
  connectTimeoutMs?: number;
  keepaliveS?: number;
  /** Retained last will: the device's offline presence. */
  will: { topic: string; payload: Buffer };
}

export interface Attempt {
  /** The client being connected (undefined if MQTT.js refused the URL outright). */
  client: MqttClient | undefined;
  /** The connected client, or why the attempt failed; never rejects. */
  result: Promise<SimError | MqttClient>;
  /** Settles the attempt as closed: MQTT.js may never emit 'close' for a connection that
   * was not established, so close() during an attempt ends it from here. */
  cancel(): void;
}

/** One connection attempt of a device: client id = username = device id, clean session,
 * no MQTT.js reconnect (the device's own loop backs off). */
export function connectAttempt(o: AttemptOptions): Attempt {
  const options: IClientOptions = {
    clientId: o.deviceId, username: o.deviceId, protocolVersion: 4, clean: true,
    // by certificate: no password at all (the broker then reads the certificate's CN)
    ...(o.clientCert ? { cert: o.clientCert.cert, key: o.clientCert.key } : { password: o.secret }),
    reconnectPeriod: 0, connectTimeout: o.connectTimeoutMs ?? 10_000, keepalive: o.keepaliveS ?? 60,
    queueQoSZero: false,
    will: { topic: o.will.topic, payload: o.will.payload, qos: 1, retain: true },
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
  };
  let client: MqttClient;
  try {
    client = mqtt.connect(o.mqttUrl, options);
  } catch (cause) {
    const err = new SimError(SimErrorCode.MqttConnect, `cannot connect to ${o.mqttUrl}: ${(cause as Error).message}`, { cause });
    return { client: undefined, result: Promise.resolve(err), cancel: () => {} };
  }
  let cancel = (): void => {};
  const result = new Promise<SimError | MqttClient>((resolve) => {
    const cleanup = (): void => {
      cancel = () => {};
      client.off('error', onError).off('close', onClose).off('connect', onConnect);
    };
    const fail = (cause: unknown): void => {
      cleanup();
      client.end(true);
      const rc = (cause as { code?: unknown }).code;
      const auth = typeof rc === 'number' && AUTH_CODES.has(rc);
      resolve(new SimError(auth ? SimErrorCode.MqttAuth : SimErrorCode.MqttConnect,
        auth ? `broker refused credentials of device ${o.deviceId}` : `mqtt connect of ${o.deviceId} failed: ${(cause as Error).message}`,
        { cause }));
    };
    const onError = (err: Error): void => fail(err);
    const onClose = (): void => fail(new Error('connection closed before CONNACK'));
    const onConnect = (): void => {
      cleanup();
      resolve(client);
    };
    cancel = () => {
      cleanup();
      client.end(true);
      resolve(new SimError(SimErrorCode.Closed, `device ${o.deviceId} closed while connecting`));
    };
    client.on('error', onError).on('close', onClose).on('connect', onConnect);
  });
  return { client, result, cancel: () => cancel() };
}
