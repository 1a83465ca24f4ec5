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

export function registerApiNodes(RED: NodeAPI): void {
  commandNode(RED);
  twinNode(RED);
}
