import { registerAlertNode } from './alert-node';
import { registerApiNodes } from './api-nodes';
import { registerConfig } from './config-node';
import type { NodeAPI } from './red';
import { registerStreamNodes } from './stream-nodes';

/** Node-RED entry (nodes/yulan.js): every Yulan node type. */
export = function yulanNodes(RED: NodeAPI): void {
  registerConfig(RED);
  registerStreamNodes(RED);
  registerApiNodes(RED);
  registerAlertNode(RED);
};
