import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ensurePrivateDir, makePrivate } from '@yulan/protos';

const require = createRequire(import.meta.url);

/** The part of Node-RED's embedding API used here (node-red ships no typings). */
interface NodeRedRuntime {
  init(server: Server, settings: object): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: (req: unknown, res: unknown) => void;
  httpNode: (req: unknown, res: unknown) => void;
}

export interface EmbeddedNodeRedOptions {
  /** The edge's data directory; Node-RED's user directory is `<dataDir>/node-red`. */
  dataDir: string;
  host: string;
  port: number;
  /** A flow file to start from when the data directory has none yet (`yulan edge --flows`). */
  seedFlows?: string;
  logger: Logger;
}

export interface EmbeddedNodeRed {
  url: string;
  port: number;
  username: string;
  /** Only on the first start of a data directory: print it once, it is stored hashed. */
  generatedPassword?: string;
  close(): Promise<void>;
}

interface Secrets {
  username: string;
  /** bcrypt, as Node-RED's adminAuth expects. */
  passwordHash: string;
  /** Encrypts flows_cred.json (integration secrets, API tokens). */
  credentialSecret: string;
}

let running = false;

/**
 * Node-RED inside the edge agent (docs/integrations.md, "Node-RED at the edge"), off
 * unless YULAN_NODE_RED=1 or `yulan edge --flows FILE`. The editor and its admin API are
 * behind Node-RED's own login with one generated account (no default password); flows and
 * their encrypted credentials live in `<dataDir>/node-red`; the Yulan nodes are loaded from
 * node-red-contrib-yulan. Node-RED's runtime is a process-wide singleton, so one per process.
 */
export async function startEmbeddedNodeRed(o: EmbeddedNodeRedOptions): Promise<EmbeddedNodeRed> {
  if (running) throw new Error('an embedded Node-RED is already running in this process');
  const userDir = join(o.dataDir, 'node-red');
  ensurePrivateDir(userDir);
  const { secrets, generatedPassword } = loadOrCreateSecrets(join(userDir, 'yulan-admin.json'));
  const flowFile = join(userDir, 'flows.json');
  if (o.seedFlows !== undefined) {
    if (!existsSync(flowFile)) {
      copyFileSync(o.seedFlows, flowFile);
      makePrivate(flowFile);
    } else {
      // Edits made in the editor win over the file the agent was started with.
      o.logger.warn({ flows: o.seedFlows, kept: flowFile }, 'Node-RED flows already in the data directory; --flows file not copied');
    }
  }
  const RED = require('node-red') as NodeRedRuntime;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/api/') === true) RED.httpNode(req, res);
    else RED.httpAdmin(req, res);
  });
  const log = o.logger.child({ component: 'node-red' });
  RED.init(server, {
    userDir,
    flowFile: 'flows.json',
    credentialSecret: secrets.credentialSecret,
    adminAuth: { type: 'credentials', users: [{ username: secrets.username, password: secrets.passwordHash, permissions: '*' }] },
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    nodesDir: yulanNodesDirs(),
    // No palette installs from the editor: what runs at a site is what was shipped.
    externalModules: { palette: { allowInstall: false }, modules: { allowInstall: false } },
    editorTheme: { projects: { enabled: false }, tours: false },
    logging: {
      yulan: {
        level: 'warn', metrics: false, audit: false,
        handler: () => (m: { level: number; msg: unknown }) => log[m.level <= 20 ? 'error' : 'warn']({ msg: String(m.msg) }, 'node-red'),
      },
    },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  running = true;
  try {
    await RED.start();
  } catch (err) {
    running = false;
    server.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  log.info({ url, userDir }, 'embedded Node-RED running');
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    username: secrets.username,
    ...(generatedPassword !== undefined ? { generatedPassword } : {}),
    close: () => (closing ??= (async () => {
      await RED.stop().catch((err: unknown) => log.warn({ err }, 'Node-RED stop failed'));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      running = false;
    })()),
  };
}

function loadOrCreateSecrets(file: string): { secrets: Secrets; generatedPassword?: string } {
  if (existsSync(file)) return { secrets: JSON.parse(readFileSync(file, 'utf8')) as Secrets };
  const bcrypt = require('bcryptjs') as { hashSync(s: string, rounds: number): string };
  const password = randomBytes(18).toString('base64url');
  const secrets: Secrets = { username: 'admin', passwordHash: bcrypt.hashSync(password, 10), credentialSecret: randomBytes(32).toString('hex') };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return { secrets, generatedPassword: password };
}

/** The Yulan nodes (node-red-contrib-yulan, a dependency of the edge): pre-installed, not
 * fetched. Node-RED loads the modules installed next to it by itself; only when the package
 * sits elsewhere is its folder named, else its nodes would register twice. */
function yulanNodesDirs(): string[] {
  const besideRed = join(dirname(dirname(require.resolve('node-red/package.json'))), 'node-red-contrib-yulan', 'package.json');
  if (existsSync(besideRed)) return [];
  return [join(dirname(require.resolve('node-red-contrib-yulan/package.json')), 'nodes')];
}
