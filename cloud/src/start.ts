import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { checkDataPermissions, dataEvents, ensurePrivateDir, fetchTrustingCa, markInUse, type HttpsListener } from '@yulan/protos';
import { buildApp } from './app.js';
import { ensureAdminToken } from './auth-tokens.js';
import type { CloudConfig } from './config.js';
import { defaultDashboardDir } from './dashboard-dir.js';
import { createHttpEdgeClient } from './edge-client.js';
import { createMqttLink, type MqttLink } from './mqtt-link.js';
import { PresenceListener } from './presence-listener.js';
import { openDeviceRepository } from './repositories/open-device-repository.js';
import type { DeviceRepository } from './repositories/device-repository.js';
import { syncAdminToken } from './admin-token-sync.js';
import { cloudDatabase } from './db/cloud-database.js';
import { databaseLabel, sqliteFilesIn } from './db/backend-report.js';
import { openLease, type Lease } from './db/lease.js';
import { openPeople, type PeopleModule } from './care/people/index.js';
import { openAlerts, type AlertsModule } from './care/alerts/index.js';
import { openControl, type ControlModule } from './control/index.js';
import { fromTransport, openFirmware, type FirmwareModule } from './firmware/index.js';
import { CareRetention } from './care/retention.js';
import { openComplaints, type ComplaintsService } from './open/complaints-service.js';
import { openIntegrations, type IntegrationsModule } from './integrations/index.js';
import { openOcpp, type OcppModule } from './ocpp/index.js';
import { openDeviceCerts, type DeviceCertsModule } from './device-certs/index.js';
import { openClaims, type ClaimsModule } from './claims/index.js';
import { openSecurity, type SecurityModule } from './security/index.js';
import { UpdatePolicy } from './firmware/update-policy.js';
import { boundedCloseStep } from './bounded-close.js';
import { listenCloud } from './listeners.js';

export { databaseLabel } from './db/backend-report.js';

export interface CloudHandle {
  httpPort: number;
  url: string;
  /** set when YULAN_TLS_CERT_FILE/KEY_FILE are: the HTTPS listener beside the plain one */
  httpsPort?: number;
  httpsUrl?: string;
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
  const { pgDb, dbFor } = cloudDatabase(config, log);
  let devices: DeviceRepository;
  try {
    devices = await openDeviceRepository(dbFor('registry.sqlite'));
  } catch (err) {
    dataEvents.off('migrating', onMigrating);
    await pgDb?.close().catch(() => undefined);
    throw err;
  }
  const unmark = markInUse(config.dataDir, 'cloud');
  let people: PeopleModule | undefined;
  let alerts: AlertsModule | undefined;
  let deviceControl: ControlModule | undefined;
  let firmware: FirmwareModule | undefined;
  let complaints: ComplaintsService | undefined;
  let integrations: IntegrationsModule | undefined;
  let deviceCerts: DeviceCertsModule | undefined;
  let ocpp: OcppModule | undefined;
  let claims: ClaimsModule | undefined;
  let security: SecurityModule | undefined;
  let updatePolicy: UpdatePolicy | undefined;
  let link: MqttLink | undefined;
  let presence: PresenceListener | undefined;
  let app: FastifyInstance | undefined;
  let careRetention: CareRetention | undefined;
  let retentionLease: Lease | undefined;
  let https: HttpsListener | undefined;
  let tokenSync: { stop(): void } | undefined;
  const step = boundedCloseStep(log);
  const close = async (): Promise<void> => {
    tokenSync?.stop();
    await step('retention lease', retentionLease && (() => retentionLease!.close()));
    await step('retention', careRetention && (() => careRetention!.close()));
    await step('https', https && (() => https!.close()));
    await step('http', app && (() => app!.close()));
    await step('security', security && (() => security!.close()));
    await step('mqtt', link && (() => link!.close()));
    await step('presence', presence && (() => presence!.close()));
    await deviceControl?.close();
    // after http: no intake or claim can arrive while the ladder timers stop
    await step('alerts', alerts && (() => alerts!.close()));
    await step('firmware', firmware && (() => firmware!.close()));
    await complaints?.shutdown();
    await devices.close();
    await integrations?.close();
    await deviceCerts?.close();
    await ocpp?.close();
    await claims?.close();
    await updatePolicy?.close();
    await people?.close();
    await step('postgres', pgDb && (() => pgDb.close()));
    dataEvents.off('migrating', onMigrating);
    unmark();
  };
  try {
    const admin = await ensureAdminToken(devices, config.adminToken);
    // People and access (docs/care.md §5): its own file, next to the registry.
    people = await openPeople({ db: dbFor('people.sqlite'), logger: log.child({ part: 'people' }) });
    // Alert lifecycle and escalation ladder (docs/care.md §2–§4): its own file; asks the
    // people side who to page and who may see what. The care-page link base is known only
    // after listen when no YULAN_PUBLIC_URL is set (port 0), hence the function.
    let ownUrl = `http://127.0.0.1:${config.httpPort}`;
    alerts = await openAlerts({
      db: dbFor('alerts.sqlite'),
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
      ...(config.tlsCaFile !== undefined ? { caFile: config.tlsCaFile } : {}),
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
    // One-tap complaints (issue 14): own file; contacts encrypted with a key beside it.
    // The edge and the broker's admin API over https:// with a private CA (YULAN_TLS_CA_FILE).
    const serviceFetch = fetchTrustingCa(config.tlsCaFile !== undefined ? readFileSync(config.tlsCaFile) : undefined);
    complaints = await openComplaints({
      target: dbFor('complaints.sqlite'), keyFile: join(config.dataDir, 'complaints.key'),
      devices, edge: createHttpEdgeClient({ baseUrl: config.edgeUrl, token: config.edgeToken, fetch: serviceFetch }), logger: log.child({ part: 'complaints' }),
    });
    firmware = await openFirmware({
      dataDir: config.dataDir, db: dbFor('firmware/firmware.sqlite'),
      ...(config.firmwareKeysFile !== undefined ? { keysFile: config.firmwareKeysFile } : {}),
      devices,
      mqtt: fromTransport(link),
      baseUrl: () => config.publicUrl ?? ownUrl,
      logger: log,
    });
    // Twins and commands (docs/control.md §1): own file, fed every message of the link.
    deviceControl = await openControl({ db: dbFor('control.sqlite'), devices, mqtt: link, logger: log });
    const ctl = deviceControl;
    link.onMessage((topic, payload) => ctl.handle(topic, payload));
    // Integration accounts (docs/integrations.md): own file; every account's state is
    // re-sent to the broker on each (re)connect of the link.
    integrations = await openIntegrations({ target: dbFor('integrations.sqlite'), mqtt: link, logger: log, healthAudit: people.audit });
    const integ = integrations;
    link.onConnect(() => {
      integ.service.resendAll().catch((err: unknown) => log.error({ err }, 'cannot re-send integration notices'));
    });
    // Device certificates (docs/security.md): only with a device CA configured.
    if (config.deviceCa) {
      deviceCerts = await openDeviceCerts({ db: dbFor('device-certs.sqlite'), caCertFile: config.deviceCa.certFile, caKeyFile: config.deviceCa.keyFile, mqtt: link, logger: log });
    }
    // OCPP id tags (docs/ocpp.md §1.4): own file; the gateways pull it.
    ocpp = await openOcpp({ target: dbFor('ocpp-id-tags.sqlite'), capTarget: dbFor('ocpp-site-power-caps.sqlite'), devices, logger: log, commands: deviceControl.commands,
      diagnostics: { target: dbFor('ocpp-diagnostics.sqlite'), ...config.diagnostics, audit: people.audit } });
    // Site power caps (docs/ocpp.md §4.1) re-divide on chargers' presence.
    const caps = ocpp.sitePowerCaps;
    if (caps) link.onMessage((topic, payload) => caps.handle(topic, payload));
    // Provisioning by claim (docs/security.md): own file; certificates only with a device CA.
    claims = await openClaims({ db: dbFor('claims.sqlite'), devices, ...(deviceCerts ? { certs: deviceCerts } : {}), mqtt: link, logger: log });
    // Minimum supported firmware per kind (docs/security.md, "Update required"): own file.
    updatePolicy = await UpdatePolicy.open({ target: dbFor('update-policy.sqlite'), devices });
    const policy = updatePolicy;
    // Security monitor (docs/security.md, "Security alerts"): samples the broker's counters
    // over its admin API and the cloud's own; starts sampling once the cloud listens.
    if (config.security) {
      const claimsSvc = claims.service;
      security = await openSecurity({
        target: dbFor('security-alerts.sqlite'), rules: config.security.rules, sampleMs: config.security.sampleMs,
        gauges: [{ id: 'update-required', description: 'devices below their kind\'s minimum supported firmware (yulan security updates)', read: async () => (await policy.required()).length }],
        ...(config.brokerAdminUrl !== undefined ? { broker: { baseUrl: config.brokerAdminUrl, token: config.brokerToken, fetch: serviceFetch } } : {}),
        claimsRefused: () => Object.values(claimsSvc.refused).reduce((a, n) => a + n, 0),
        people, ...(config.smtp ? { smtp: config.smtp } : {}),
        consoleUrl: () => `${config.publicUrl ?? ownUrl}/#/security`, logger: log,
      });
    }
    app = await buildApp({
      logger: log,
      devices,
      edge: createHttpEdgeClient({ baseUrl: config.edgeUrl, token: config.edgeToken, fetch: serviceFetch }),
      serviceFetch,
      control: link,
      adminTokenDigest: admin.digest,
      brokerToken: config.brokerToken,
      ...(config.brokerAdminUrl !== undefined ? { brokerAdminUrl: config.brokerAdminUrl } : {}),
      ...(config.gatewayToken !== undefined ? { gatewayToken: config.gatewayToken } : {}),
      edgeToken: config.edgeToken,
      rateLimit: { max: config.apiRateLimit },
      sta: { rateLimitMax: config.staRateLimit, licence: config.openDataLicence },
      complaints,
      ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
      dashboardDir: opts.dashboardDir === undefined ? defaultDashboardDir : opts.dashboardDir,
      presenceStats: () => listener.stats,
      people,
      alerts,
      firmware,
      deviceControl,
      mqtt: link,
      integrations,
      ...(deviceCerts ? { deviceCerts } : {}),
      ocpp,
      claims,
      ...(security ? { security } : {}),
      updatePolicy,
    });
    const { httpPort, url, https: httpsListener, httpsUrl } = await listenCloud(app, config, log);
    https = httpsListener;
    // Links in notifications and firmware download URLs keep the plain loopback URL unless
    // YULAN_PUBLIC_URL (the HTTPS address people and devices reach) is set: a device's
    // downloader may not trust a development CA.
    ownUrl = url;
    // Timers and unsent notifications resume only now, so pages carry a reachable link.
    alerts.start();
    // Pruning runs on one cloud at a time (a lease; always held on SQLite): two would
    // delete the same rows and each write its own retention.prune audit row.
    const careAlerts = alerts;
    const carePeople = people;
    retentionLease = openLease(dbFor('care-retention'), 'care-retention', { logger: log.child({ part: 'retention' }) });
    await retentionLease.start((held) => {
      if (held && !careRetention) {
        careRetention = new CareRetention(careAlerts.repo, carePeople.audit, config.careRetention, log.child({ part: 'retention' }));
        careRetention.start();
      } else if (!held && careRetention) {
        const stopping = careRetention;
        careRetention = undefined;
        void stopping.close();
      }
    });
    await deviceControl.start();
    await ocpp.sitePowerCaps?.start();
    // Campaigns resume only now, so the download URLs they send are reachable.
    await firmware.start();
    await security?.start();
    dataEvents.off('migrating', onMigrating);
    await admin.commit();
    // Several clouds on one database: a rotation on another cloud reaches this one's digest.
    if (pgDb) tokenSync = syncAdminToken(devices, admin.digest, { logger: log.child({ part: 'admin-token' }) });
    const database = pgDb ? databaseLabel(config.database!.url) : 'sqlite';
    const stillSqlite = pgDb ? sqliteFilesIn(config.dataDir) : [];
    if (stillSqlite.length > 0) {
      log.warn({ files: stillSqlite, dataDir: config.dataDir },
        'YULAN_DATABASE_URL is set, but these stores are SQLite files in this cloud\'s data directory: they are not shared with other clouds (docs/deploy.md, "PostgreSQL")');
    }
    log.info({ url, httpsUrl, dataDir: config.dataDir, database, ...(pgDb ? { sqliteStores: stillSqlite } : {}) }, `cloud listening (database: ${database})`);
    let closing: Promise<void> | undefined;
    return {
      httpPort,
      url,
      ...(https && httpsUrl ? { httpsPort: https.port, httpsUrl } : {}),
      ...(admin.generated !== undefined ? { adminToken: admin.generated } : {}),
      close: () => (closing ??= close()),
    };
  } catch (err) {
    await close();
    throw err;
  }
}
