/**
 * The slice of Node-RED's runtime API these nodes use (Node-RED ships no typings of its
 * own, and @types/node-red is not a dependency here).
 */
export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export interface Node {
  id: string;
  name?: string;
  credentials?: Record<string, string | undefined>;
  on(event: 'input', fn: (msg: NodeMessage, send: (msg: NodeMessage | (NodeMessage | null)[]) => void, done: (err?: Error) => void) => void): void;
  on(event: 'close', fn: (removed: boolean, done: () => void) => void): void;
  send(msg: NodeMessage | (NodeMessage | null)[]): void;
  status(s: NodeStatus): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(message: unknown): void;
  log(message: unknown): void;
}

export interface NodeAPI {
  nodes: {
    createNode(node: Node, config: object): void;
    registerType(type: string, ctor: (this: Node, config: never) => void, opts?: { credentials?: Record<string, { type: 'text' | 'password' }> }): void;
    getNode(id: string): Node | null;
  };
  _(key: string, subs?: Record<string, string | number>): string;
}
