import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { checkDataPermissions, dataEvents, ensurePrivateDir, markInUse } from '@yulan/protos';
import { buildApp } from './app.js';
import { ensureAdminToken } from './auth-tokens.js';
import type { CloudConfig } from './config.js';
import { defaultDashboardDir } from './dashboard-dir.js';
import { createHttpEdgeClient } from './edge-client.js';
import { createMqttLink, type MqttLink } from './mqtt-link.js';
import { PresenceListener } from './presence-listener.js';
import { SqliteDeviceRepository } from './repositories/sqlite-device-repository.js';
import { openPeople, type PeopleModule } from './care/people/index.js';
import { openAlerts, type AlertsModule } from './care/alerts/index.js';
import { openControl, type ControlModule } from './control/index.js';
import { fromTransport, openFirmware, type FirmwareModule } from './firmware/index.js';

export interface CloudHandle {
  httpPort: number;
  url: string;
  /** set only when the admin token was generated at this start, for printing once */
  adminToken?: string;
  close(): Promise<void>;
}

export interface StartCloudOptions {
  /** override the page folder (null: do not serve a page) */
  dashboardDir?: string | null;
}

/**
 * Owns the process concerns: the SQLite file, the MQTT session, the presence listener and
 * the HTTP listener. Resources opened before a failure are closed again before rethrowing.
 */
export async function startCloud(config: CloudConfig, logger: Logger, opts: StartCloudOptions = {}): Promise<CloudHandle> {
  const log = logger.child({ service: 'cloud' });
  // File safety (docs/deploy.md): warn about every path others can read, keep running.
  ensurePrivateDir(config.dataDir);
  for (const p of checkDataPermissions(config.dataDir)) log.warn({ path: p.path, mode: p.mode, fix: p.fix }, p.message);
  const onMigrating = (e: object): void => log.warn(e, 'database schema upgrade (a copy was taken first)');
  dataEvents.on('migrating', onMigrating);
  let devices: SqliteDeviceRepository;
  try {
    devices = new SqliteDeviceRepository({ file: config.dbFile });
  } catch (err) {
    dataEvents.off('migrating', onMigrating);
    throw err;
  }
  const unmark = markInUse(config.dataDir, 'cloud');
  let people: PeopleModule | undefined;
  let alerts: AlertsModule | undefined;
  let deviceControl: ControlModule | undefined;
  let firmware: FirmwareModule | undefined;
  let link: MqttLink | undefined;
  let presence: PresenceListener | undefined;
  let app: FastifyInstance | undefined;
  // Each step is bounded so one stuck resource (a client holding a connection open, a
  // broker that stopped answering) cannot keep the process from exiting.
  const step = async (what: string, fn: (() => Promise<unknown>) | undefined): Promise<void> => {
    if (!fn) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 5000); });
    const r = await Promise.race([fn().catch((err: unknown) => log.warn({ err }, `${what} close failed`)), timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') log.warn(`${what} did not close within 5 s; going on`);
  };
  const close = async (): Promise<void> => {
    await step('http', app && (() => app!.close()));
    await step('mqtt', link && (() => link!.close()));
    await step('presence', presence && (() => presence!.close()));
    deviceControl?.close();
    // after http: no intake or claim can arrive while the ladder timers stop
    await step('alerts', alerts && (() => alerts!.close()));
    await step('firmware', firmware && (() => firmware!.close()));
    await devices.close();
    await people?.close();
    dataEvents.off('migrating', onMigrating);
    unmark();
  };
  try {
    const admin = await ensureAdminToken(devices, config.adminToken);
    // People and access (docs/care.md §5): its own file, next to the registry.
    people = openPeople({ file: join(config.dataDir, 'people.sqlite'), logger: log.child({ part: 'people' }) });
    // Alert lifecycle and escalation ladder (docs/care.md §2–§4): its own file; asks the
    // people side who to page and who may see what. The care-page link base is known only
    // after listen when no YULAN_PUBLIC_URL is set (port 0), hence the function.
    let ownUrl = `http://127.0.0.1:${config.httpPort}`;
    alerts = openAlerts({
      file: join(config.dataDir, 'alerts.sqlite'),
      directory: people.directory,
      audit: people.audit,
      logger: log,
      publicUrl: () => config.publicUrl ?? ownUrl,
      ...(config.smtp ? { smtp: config.smtp } : {}),
      safety: { claimDeadlineSec: config.care.claimDeadlineSec, unreachedRetrySec: config.care.unreachedRetrySec },
      fallback: config.care.fallback,
    });
    people.setAlertData(alerts.residentData);
    presence = new PresenceListener({ devices, logger: log.child({ part: 'presence' }) });
    const listener = presence;
    link = createMqttLink({
      url: config.mqttUrl,
      username: config.mqttUsername,
      password: config.mqttPassword,
      logger: log.child({ part: 'mqtt' }),
      onPresence: (topic, payload) => listener.handle(topic, payload),
      disabledDevices: async () => {
        const ids: string[] = [];
        for (let offset = 0; ; offset += 1000) {
          const page = await devices.list({ status: 'disabled', limit: 1000, offset });
          ids.push(...page.items.map((d) => d.id));
          if (page.items.length < 1000) return ids;
        }
      },
    });
    // Signed firmware and staged campaigns (docs/control.md §2): its own file under
    // <dataDir>/firmware; a bad YULAN_FIRMWARE_KEYS file fails the start here.
    firmware = openFirmware({
      dataDir: config.dataDir,
      ...(config.firmwareKeysFile !== undefined ? { keysFile: config.firmwareKeysFile } : {}),
      devices,
      mqtt: fromTransport(link),
      baseUrl: () => config.publicUrl ?? ownUrl,
      logger: log,
    });
    // Twins and commands (docs/control.md §1): own file, fed every message of the link.
    deviceControl = openControl({ file: join(config.dataDir, 'control.sqlite'), devices, mqtt: link, logger: log });
    const ctl = deviceControl;
    link.onMessage((topic, payload) => ctl.handle(topic, payload));
    app = await buildApp({
      logger: log,
      devices,
      edge: createHttpEdgeClient({ baseUrl: config.edgeUrl, token: config.edgeToken }),
      control: link,
      adminTokenDigest: admin.digest,
      brokerToken: config.brokerToken,
      ...(config.gatewayToken !== undefined ? { gatewayToken: config.gatewayToken } : {}),
      edgeToken: config.edgeToken,
      rateLimit: { max: config.apiRateLimit },
      sta: { rateLimitMax: config.staRateLimit },
      ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
      dashboardDir: opts.dashboardDir === undefined ? defaultDashboardDir : opts.dashboardDir,
      presenceStats: () => listener.stats,
      people,
      alerts,
      firmware,
      deviceControl,
    });
    await app.listen({ host: config.httpHost, port: config.httpPort });
    const address = app.server.address();
    const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort;
    const host = config.httpHost === '0.0.0.0' || config.httpHost === '::' ? '127.0.0.1' : config.httpHost;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${httpPort}`;
    ownUrl = url;
    // Timers and unsent notifications resume only now, so pages carry a reachable link.
    alerts.start();
    deviceControl.start();
    // Campaigns resume only now, so the download URLs they send are reachable.
    await firmware.start();
    dataEvents.off('migrating', onMigrating);
    log.info({ url, dataDir: config.dataDir }, 'cloud listening');
    let closing: Promise<void> | undefined;
    return {
      httpPort,
      url,
      ...(admin.generated !== undefined ? { adminToken: admin.generated } : {}),
      close: () => (closing ??= close()),
    };
  } catch (err) {
    await close();
    throw err;
  }
}
