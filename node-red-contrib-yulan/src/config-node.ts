import { YulanApi } from './api';
import { YulanConnection, type ConnState } from './connection';
import type { Node, NodeAPI } from './red';

export interface YulanConfigNode extends Node {
  broker: string;
  api: string;
  /** The shared MQTT session (created on first use). */
  connection(): YulanConnection;
  /** The cloud API client; throws when no API URL or token is set. */
  client(): YulanApi;
  /** API URL and token (for the alert node's event stream); throws like client() */
  apiAuth(): { base: string; token: string };
  account: string;
}

interface ConfigProps { name?: string; broker: string; api: string }

/** `yulan-config`: broker URL, integration account (name + secret) and API URL + token. */
export function registerConfig(RED: NodeAPI): void {
  RED.nodes.registerType('yulan-config', function (this: YulanConfigNode, config: ConfigProps) {
    RED.nodes.createNode(this, config);
    this.broker = config.broker;
    this.api = config.api;
    const creds = this.credentials ?? {};
    this.account = creds.account ?? '';
    let conn: YulanConnection | undefined;
    this.connection = () => {
      if (!conn) {
        if (!this.account || !creds.secret) throw new Error(RED._('yulan-config.errors.no-account'));
        conn = new YulanConnection(this.broker, this.account, creds.secret);
      }
      return conn;
    };
    this.client = () => {
      if (!this.api || !creds.token) throw new Error(RED._('yulan-config.errors.no-api'));
      return new YulanApi(this.api, creds.token);
    };
    this.apiAuth = () => {
      if (!this.api || !creds.token) throw new Error(RED._('yulan-config.errors.no-api'));
      return { base: this.api.replace(/\/+$/, ''), token: creds.token };
    };
    this.on('close', (_removed, done) => {
      const c = conn;
      conn = undefined;
      if (c) c.close().then(done, done);
      else done();
    });
  } as never, {
    credentials: { account: { type: 'text' }, secret: { type: 'password' }, token: { type: 'password' } },
  });
}

/** Status indicator for a connection state (shared by every node using the config). */
export function statusOf(RED: NodeAPI, s: ConnState, detail?: string): { fill: 'green' | 'yellow' | 'red'; shape: 'dot' | 'ring'; text: string } {
  switch (s) {
    case 'connected': return { fill: 'green', shape: 'dot', text: RED._('yulan-config.status.connected') };
    case 'connecting': return { fill: 'yellow', shape: 'ring', text: RED._('yulan-config.status.connecting') };
    case 'refused': return { fill: 'red', shape: 'ring', text: `${RED._('yulan-config.status.refused')}${detail ? `: ${detail}` : ''}` };
    default: return { fill: 'red', shape: 'ring', text: RED._('yulan-config.status.disconnected') };
  }
}
