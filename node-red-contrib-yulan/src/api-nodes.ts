import { YulanApiError } from './api';
import type { YulanConfigNode } from './config-node';
import type { Node, NodeAPI, NodeMessage } from './red';

const enc = encodeURIComponent;
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'expired']);

interface CommandView { id: string; deviceId: string; name: string; status: string; message: string | null; output: Record<string, string> }

function configOf(RED: NodeAPI, node: Node, id: string): YulanConfigNode | undefined {
  const cfg = RED.nodes.getNode(id) as YulanConfigNode | null;
  if (!cfg) node.status({ fill: 'red', shape: 'ring', text: RED._('yulan-config.errors.no-config') });
  return cfg ?? undefined;
}

function failure(err: unknown): { code: string; message: string; status?: number } {
  if (err instanceof YulanApiError) return { code: err.code, message: err.message, status: err.status };
  return { code: 'E_NODE', message: (err as Error).message };
}

interface CommandProps { yulan: string; device?: string; command?: string; timeout?: string }

/** `yulan command`: sends a typed command through the cloud API and waits for its final
 * state. Output 1: succeeded (the device confirmed it); output 2: anything else — refused
 * by the API, failed, timed out or expired — with msg.error { code, message }. */
function commandNode(RED: NodeAPI): void {
  RED.nodes.registerType('yulan-command', function (this: Node, config: CommandProps) {
    RED.nodes.createNode(this, config);
    const cfg = configOf(RED, this, config.yulan);
    if (!cfg) return;
    this.on('input', (msg, send, done) => {
      const device = String(config.device || msg.device || '');
      const name = String(config.command || msg.command || '');
      const args = (typeof msg.payload === 'object' && msg.payload !== null ? msg.payload : {}) as Record<string, unknown>;
      const timeoutSec = Number(config.timeout || 60);
      const fail = (error: ReturnType<typeof failure>, command?: CommandView): void => {
        this.status({ fill: 'red', shape: 'ring', text: `${name}: ${command?.status ?? error.code}` });
        send([null, { ...msg, payload: command ?? null, error }]);
        done();
      };
      if (!device || !name) return fail({ code: 'E_NODE', message: RED._('yulan-command.errors.missing') });
      this.status({ fill: 'blue', shape: 'dot', text: RED._('yulan-command.status.sent', { name }) });
      void (async () => {
        let api;
        try { api = cfg.client(); } catch (err) { return fail(failure(err)); }
        let cmd: CommandView;
        try {
          cmd = await api.request<CommandView>('POST', `/api/v1/devices/${enc(device)}/commands`, { name, args, timeoutSec });
          const deadline = Date.now() + (timeoutSec + 30) * 1000;
          while (!FINAL.has(cmd.status) && Date.now() < deadline) {
            cmd = await api.request<CommandView>('GET', `/api/v1/commands/${enc(cmd.id)}?wait=30`);
          }
        } catch (err) {
          return fail(failure(err));
        }
        if (cmd.status !== 'succeeded') return fail({ code: `E_COMMAND_${cmd.status.toUpperCase()}`, message: cmd.message ?? cmd.status }, cmd);
        this.status({ fill: 'green', shape: 'dot', text: `${name}: succeeded` });
        send([{ ...msg, payload: cmd }, null]);
        done();
      })();
    });
  } as never);
}

interface TwinProps { yulan: string; device?: string; action?: 'get' | 'set' }

/** `yulan twin`: get a device's twin, or merge msg.payload (settings) into its desired state. */
function twinNode(RED: NodeAPI): void {
  RED.nodes.registerType('yulan-twin', function (this: Node, config: TwinProps) {
    RED.nodes.createNode(this, config);
    const cfg = configOf(RED, this, config.yulan);
    if (!cfg) return;
    this.on('input', (msg, send, done) => {
      const device = String(config.device || msg.device || '');
      const action = (msg.action === 'get' || msg.action === 'set' ? msg.action : config.action) ?? 'get';
      if (!device) return done(new Error(RED._('yulan-twin.errors.device')));
      void (async () => {
        try {
          const api = cfg.client();
          const twin = action === 'set'
            ? await api.request('PUT', `/api/v1/devices/${enc(device)}/twin/desired`, { settings: msg.payload })
            : await api.request('GET', `/api/v1/devices/${enc(device)}/twin`);
          this.status({ fill: 'green', shape: 'dot', text: `${device}: ${action === 'set' ? 'desired set' : 'read'}` });
          send({ ...msg, payload: twin });
          done();
        } catch (err) {
          const f = failure(err);
          this.status({ fill: 'red', shape: 'ring', text: f.code });
          msg.error = f;
          done(new Error(`${f.code}: ${f.message}`));
        }
      })();
    });
  } as never);
}

interface AlertProps { yulan: string; interval?: string }
interface AlertView { id: string | number; status: string; [k: string]: unknown }

/** `yulan alert`: open alerts and their changes, polled from the cloud API every interval;
 * one message per alert that is new or whose status changed (msg.topic = its status). */
function alertNode(RED: NodeAPI): void {
  RED.nodes.registerType('yulan-alert', function (this: Node, config: AlertProps) {
    RED.nodes.createNode(this, config);
    const cfg = configOf(RED, this, config.yulan);
    if (!cfg) return;
    const seen = new Map<string, string>();
    const everyMs = Math.max(1, Number(config.interval || 10)) * 1000;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const poll = async (): Promise<void> => {
      try {
        const r = await cfg.client().request<{ items: AlertView[] }>('GET', '/api/v1/alerts?limit=200');
        for (const a of r.items) {
          const key = String(a.id);
          if (seen.get(key) === a.status) continue;
          seen.set(key, a.status);
          this.send({ topic: a.status, payload: a });
        }
        const open = r.items.filter((a) => a.status !== 'resolved').length;
        this.status({ fill: open > 0 ? 'red' : 'green', shape: 'dot', text: RED._('yulan-alert.status.open', { count: open }) });
      } catch (err) {
        this.status({ fill: 'red', shape: 'ring', text: failure(err).code });
      }
      if (!stopped) timer = setTimeout(() => void poll(), everyMs);
    };
    void poll();
    this.on('close', (_removed, done) => {
      stopped = true;
      clearTimeout(timer);
      done();
    });
  } as never);
}

export function registerApiNodes(RED: NodeAPI): void {
  commandNode(RED);
  twinNode(RED);
  alertNode(RED);
}
