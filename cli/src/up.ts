import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadBrokerConfig, startBroker } from '@yulan/broker';
import { loadEdgeConfig, startEdge } from '@yulan/edge';
import { loadCloudConfig, startCloud } from '@yulan/cloud';
import { FALL_SCENARIOS, isFallScenario, runFleet, startOcppSimChargers, type FleetScenario } from '@yulan/device-sims';
import { KIND_SLUGS } from '@yulan/protos';
import { loadOrCreateSecrets, UP_GATEWAY_ACCOUNT, writeBrokerAccounts } from './secrets.js';
import { PortPlan } from './ports.js';
import { seedCareDemo, upgradeCareDemo, type CareDemo } from './care-demo.js';
import { startDemoPager, type DemoPager } from './demo-pager.js';
import { ensureDevFirmwareKey, type DevFirmwareKey } from './firmware-dev-key.js';
import { seedDemoSites } from './demo-sites.js';
import { resolveTlsWiring, type TlsWiring } from './up-tls.js';
import { printUpBanner } from './up-banner.js';
import { loadOcppGatewayConfig, startOcppGateway } from '@yulan/gateways';
import { loadOrCreateGatewayToken } from './gateway-secret.js';

export interface UpHandle {
  /** MQTT/TLS, WSS, cloud HTTPS and edge HTTPS ports (unless YULAN_DEV_TLS=0 without own certificates) */
  tls?: TlsWiring;
  mqttPort: number;
  wsPort: number;
  httpPort: number;
  edgePort: number;
  /** the OCPP 1.6J gateway (YULAN_OCPP_PORT, default 8085) */
  ocppPort: number;
  /** Only on the first start of a data directory (or never, when YULAN_ADMIN_TOKEN is set). */
  adminToken?: string;
  /** Only on the first start with simulated fall sensors (YULAN_CARE_DEMO=0 turns it off). */
  careDemo?: CareDemo;
  /** the demo pager (unless YULAN_CARE_DEMO=0) */
  pager?: DemoPager;
  close(): Promise<void>;
}

interface Closable { close(): Promise<void> }

function numberFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return n;
}

/**
 * `yulan up`: the whole platform in one process for a single machine — broker, cloud, edge
 * and a simulated fleet — wired with service secrets generated on first start. Each
 * service still talks to the others only over MQTT and HTTP, exactly as when run apart.
 */
export async function runUp(
  env: NodeJS.ProcessEnv, logger: Logger, print: (line: string) => void,
  /** tests: a plan that lets a port be taken mid-start */
  opts: { portPlan?: () => PortPlan } = {},
): Promise<UpHandle> {
  // What the first start of a data directory made and shows once (the admin token), kept
  // across a retry: the cloud stored only its hash before another listener failed.
  const carry: Carry = {};
  for (let attempt = 1; ; attempt++) {
    const plan = opts.portPlan?.() ?? new PortPlan();
    try {
      return await upOnce(env, logger, print, plan, carry);
    } catch (err) {
      // Another process took a free port between our pick and the service's listen: go
      // again on fresh ones (ports.ts). A configured port that is taken fails at once.
      if (attempt >= 3 || !plan.isPickedPortTaken(err)) throw err;
      logger.warn({ err, attempt }, 'a free port was taken before its service listened; starting again on other free ports');
    } finally {
      await plan.close();
    }
  }
}

interface Carry { adminToken?: string }

function simByCertificate(env: NodeJS.ProcessEnv, wired: NodeJS.ProcessEnv, tls: TlsWiring | undefined, canIssue: boolean): { byCertificate?: number | 'all' } {
  const raw = env.YULAN_SIM_BY_CERTIFICATE ?? '1';
  const n = raw === 'all' ? 'all' : numberFrom(env, 'YULAN_SIM_BY_CERTIFICATE', 1);
  // Only with MQTT/TLS, a device CA the cloud signs with, and a way to get the certificate.
  if (n === 0 || tls?.caPem === undefined || !wired.YULAN_DEVICE_CA_FILE || !wired.YULAN_DEVICE_CA_KEY_FILE || !canIssue) return {};
  return { byCertificate: n };
}

async function upOnce(env: NodeJS.ProcessEnv, logger: Logger, print: (line: string) => void, plan: PortPlan, carry: Carry): Promise<UpHandle> {
  const dataDir = resolve(env.YULAN_DATA_DIR ?? '.yulan');
  const { secrets, created } = loadOrCreateSecrets(dataDir);
  // Binding chargers by certificate is granted only where it can be used: an operator who
  // gave the OCPP listener client certificates (YULAN_OCPP_TLS_CLIENT_CA; up's own listener
  // is plain ws otherwise) and runs it on up's gateway account (docs/ocpp.md §1.2).
  const gatewayCertBind = Boolean(env.YULAN_OCPP_TLS_CLIENT_CA) && env.YULAN_OCPP_MQTT_USERNAME === undefined && env.YULAN_OCPP_CERT_BIND !== '0';
  const accountsFile = await writeBrokerAccounts(dataDir, secrets, { gatewayCertBind });
  const mqttPort = await plan.take(numberFrom(env, 'YULAN_MQTT_PORT', 1883));
  const wsPort = await plan.take(numberFrom(env, 'YULAN_WS_PORT', 8083));
  const httpPort = await plan.take(numberFrom(env, 'YULAN_HTTP_PORT', 8080));
  const edgePort = await plan.take(numberFrom(env, 'YULAN_EDGE_HTTP_PORT', 8081));
  // A run on free ports (YULAN_MQTT_PORT=0: tests, several stacks on one machine) takes free
  // ports for the gateway and the demo pager too, as up-tls.ts does for the TLS listeners,
  // instead of two stacks fighting over 8085/8084.
  const standard = (port: number): number => (env.YULAN_MQTT_PORT === '0' ? 0 : port);
  const ocppPort = await plan.take(numberFrom(env, 'YULAN_OCPP_PORT', standard(8085)));
  const gatewayToken = env.YULAN_GATEWAY_TOKEN ?? loadOrCreateGatewayToken(dataDir);
  const local = (port: number, scheme = 'http'): string => `${scheme}://127.0.0.1:${port}`;
  const devKey: DevFirmwareKey | undefined = env.YULAN_FIRMWARE_KEYS ? undefined : ensureDevFirmwareKey(dataDir);
  const firmwareKeys = env.YULAN_FIRMWARE_KEYS ?? devKey!.keysFile;
  // TLS on every listener: the operator's PEM files, else a development CA made on first start.
  const tls = await resolveTlsWiring(env, dataDir, plan);
  // The care demo's pager: a webhook receiver that reaches every demo person without an
  // open care page, and the fallback channel of the cloud and the edge unless the
  // operator configured real ones (docs/care.md §3: an alert must never reach nobody).
  const demoOn = env.YULAN_CARE_DEMO !== '0';
  const pagerPort = demoOn ? await plan.take(numberFrom(env, 'YULAN_DEMO_PAGER_PORT', standard(8084))) : 0;
  await plan.release(pagerPort);
  const pager: DemoPager | undefined = demoOn
    ? await startDemoPager({
      port: pagerPort, stateFile: join(dataDir, 'demo-pager.json'),
      print, logger: logger.child({ svc: 'demo-pager' }),
    })
    : undefined;
  const fallbackEnv: NodeJS.ProcessEnv = {};
  if (pager && !env.YULAN_CARE_FALLBACK_WEBHOOK_URL && !env.YULAN_CARE_FALLBACK_EMAIL_TO) {
    fallbackEnv.YULAN_CARE_FALLBACK_WEBHOOK_URL = pager.fallback.url;
    fallbackEnv.YULAN_CARE_FALLBACK_WEBHOOK_SECRET = pager.fallback.secret;
  }
  if (pager && !env.YULAN_EDGE_FALLBACK_WEBHOOK_URL && !env.YULAN_EDGE_FALLBACK_SMTP_URL) {
    fallbackEnv.YULAN_EDGE_FALLBACK_WEBHOOK_URL = pager.fallback.url;
    fallbackEnv.YULAN_EDGE_FALLBACK_WEBHOOK_SECRET = pager.fallback.secret;
  }
  const wired: NodeJS.ProcessEnv = {
    ...env,
    ...fallbackEnv,
    YULAN_DATA_DIR: dataDir,
    YULAN_MQTT_PORT: String(mqttPort),
    YULAN_WS_PORT: String(wsPort),
    YULAN_HTTP_PORT: String(httpPort),
    YULAN_EDGE_HTTP_PORT: String(edgePort),
    YULAN_MQTT_URL: local(mqttPort, 'mqtt'),
    YULAN_CLOUD_URL: local(httpPort),
    YULAN_EDGE_URL: local(edgePort),
    YULAN_BROKER_ADMIN_URL: local(wsPort),
    YULAN_BROKER_ACCOUNTS_FILE: accountsFile,
    YULAN_BROKER_TOKEN: secrets.brokerToken,
    YULAN_EDGE_TOKEN: secrets.edgeToken,
    YULAN_EDGE_MQTT_PASSWORD: secrets.edgeMqttPassword,
    YULAN_CLOUD_MQTT_PASSWORD: secrets.cloudMqttPassword,
    YULAN_FIRMWARE_KEYS: firmwareKeys,
    // one device must not cost everyone else (docs/security.md): 50 msg/s each unless set
    YULAN_QUOTA_MSGS_PER_SEC: env.YULAN_QUOTA_MSGS_PER_SEC ?? '50',
    ...(tls?.env ?? {}),
    YULAN_OCPP_PORT: String(ocppPort),
    YULAN_GATEWAY_TOKEN: gatewayToken,
    // The gateway speaks for its chargers over one session of its own broker account
    // (docs/ocpp.md §3.1) unless the operator named another account for it.
    ...(env.YULAN_OCPP_MQTT_USERNAME === undefined && env.YULAN_OCPP_MQTT_PASSWORD === undefined
      ? { YULAN_OCPP_MQTT_USERNAME: UP_GATEWAY_ACCOUNT, YULAN_OCPP_MQTT_PASSWORD: secrets.gatewayMqttPassword }
      : {}),
    ...(gatewayCertBind ? { YULAN_OCPP_CERT_BIND: '1' } : {}),
  };
  const started: { name: string; svc: Closable }[] = pager ? [{ name: 'demo-pager', svc: pager }] : [];
  // Validate every service's configuration before starting any of them.
  let brokerConfig, cloudConfig, edgeConfig, ocppConfig;
  try {
    brokerConfig = loadBrokerConfig(wired);
    cloudConfig = loadCloudConfig(wired);
    edgeConfig = loadEdgeConfig(wired);
    ocppConfig = loadOcppGatewayConfig(wired);
  } catch (err) {
    await pager?.close();
    throw err;
  }

  const closeAll = async (): Promise<void> => {
    for (const { name, svc } of started.reverse()) {
      logger.debug({ svc: name }, 'stopping');
      try { await svc.close(); } catch (err) { logger.error({ err, svc: name }, 'error while stopping a service'); }
    }
    started.length = 0;
  };
  try {
    await plan.release(mqttPort, wsPort, ...(tls ? [tls.mqttsPort, tls.wssPort] : []));
    const broker = await startBroker(brokerConfig, logger.child({ svc: 'broker' }));
    started.push({ name: 'broker', svc: broker });
    await plan.release(httpPort, ...(tls ? [tls.httpsPort] : []));
    const cloud = await startCloud(cloudConfig, logger.child({ svc: 'cloud' }));
    started.push({ name: 'cloud', svc: cloud });
    if (cloud.adminToken !== undefined) carry.adminToken = cloud.adminToken;
    await plan.release(edgePort, ...(tls ? [tls.edgeHttpsPort] : []));
    const edge = await startEdge(edgeConfig, logger.child({ svc: 'edge' }));
    started.push({ name: 'edge', svc: edge });
    await plan.release(ocppPort);
    const ocpp = await startOcppGateway(ocppConfig, logger.child({ svc: 'gateway-ocpp' }));
    started.push({ name: 'gateway-ocpp', svc: ocpp });

    const perKind = numberFrom(env, 'YULAN_SIM_DEVICES', 5);
    const adminToken = carry.adminToken ?? env.YULAN_ADMIN_TOKEN;
    let demo: CareDemo | undefined;
    // YULAN_SIM_SCENARIO=confirmed-fall (+ _DEVICE, _AFTER seconds) forces a fall-sensor
    // scenario in the embedded fleet, e.g. to watch an alert reach the care page.
    const scenarios: FleetScenario[] = [];
    const sc = env.YULAN_SIM_SCENARIO;
    if (sc !== undefined && sc !== '') {
      if (!isFallScenario(sc)) throw new Error(`YULAN_SIM_SCENARIO must be one of ${FALL_SCENARIOS.join(', ')}; got "${sc}"`);
      scenarios.push({
        scenario: sc,
        afterMs: numberFrom(env, 'YULAN_SIM_SCENARIO_AFTER', 30) * 1000,
        ...(env.YULAN_SIM_SCENARIO_DEVICE ? { deviceId: env.YULAN_SIM_SCENARIO_DEVICE } : {}),
      });
    }
    const demoFile = join(dataDir, 'care-demo.json');
    if (adminToken && demoOn) {
      // Before any device runs: an alert must find the demo people's channels current.
      demo = await upgradeCareDemo({ url: local(httpPort), adminToken }, demoFile, logger.child({ svc: 'care-demo' }), pager);
    } else if (pager && existsSync(demoFile)) {
      logger.warn('care demo: no admin token at this start (set YULAN_ADMIN_TOKEN), so the demo people keep their pager address; keep YULAN_DEMO_PAGER_PORT unchanged');
    }
    const simSites = (env.YULAN_SIM_SITES ?? 'xuhui,pudong,jingan').split(',').map((s) => s.trim()).filter(Boolean);
    // names and coordinates of the simulated sites, for the public page and SensorThings
    if (adminToken && perKind > 0) await seedDemoSites({ url: local(httpPort), adminToken }, simSites, logger.child({ svc: 'demo-sites' }));
    if (perKind > 0) {
      const fleet = await runFleet({
        kinds: [...KIND_SLUGS],
        countPerKind: perKind,
        sites: simSites,
        ratePerDevice: numberFrom(env, 'YULAN_SIM_RATE', 0.5),
        qos: 1,
        // over MQTT/TLS when the CA is known, as devices in the field
        ...(tls?.caPem !== undefined ? { mqttUrl: `mqtts://127.0.0.1:${tls.mqttsPort}`, ca: tls.caPem } : { mqttUrl: local(mqttPort, 'mqtt') }),
        seed: numberFrom(env, 'YULAN_SIM_SEED', 1),
        ...(adminToken ? { cloud: { url: local(httpPort), adminToken } } : {}),
        credentialsFile: join(dataDir, 'sims', 'credentials.json'),
        // installed firmware survives a restart of `yulan up`
        dataDir: join(dataDir, 'sims'),
        ...(scenarios.length ? { scenarios } : {}),
        firmwareKeysFile: firmwareKeys,
        // the certificate path exercised by default: the first device logs in by client
        // certificate over MQTT/TLS (YULAN_SIM_BY_CERTIFICATE=N|all|0, default 1)
        ...simByCertificate(env, wired, tls, adminToken !== undefined || existsSync(join(dataDir, 'sims', 'certs'))),
      }, logger.child({ svc: 'sim' }));
      started.push({ name: 'sim', svc: fleet });
      // One charger speaking OCPP 1.6J through the gateway, beside the MQTT-native ones.
      if (adminToken && env.YULAN_SIM_OCPP !== '0') {
        const ocppSim = await startOcppSimChargers({
          gatewayUrl: ocpp.url, cloud: { url: local(httpPort), adminToken }, site: (env.YULAN_SIM_SITES ?? 'xuhui').split(',')[0]!.trim() || 'xuhui',
          // an operator-given OCPP TLS certificate (YULAN_OCPP_TLS_CERT): trusted through the stack's CA, as the MQTT sims
          ...(ocpp.url.startsWith('wss:') && tls?.caPem !== undefined ? { ca: tls.caPem } : {}),
          credentialsFile: join(dataDir, 'sims', 'ocpp-credentials.json'), rate: numberFrom(env, 'YULAN_SIM_RATE', 0.5),
          // its own flash file: the MQTT fleet writes sims/firmware.json
          dataDir: join(dataDir, 'sims', 'ocpp'),
        }, logger.child({ svc: 'sim-ocpp' }));
        started.push({ name: 'sim-ocpp', svc: ocppSim });
      }
      if (adminToken && demoOn) {
        const falls = fleet.devices.filter((d) => d.kind === 'fall-sensor').map((d) => d.id);
        demo ??= await seedCareDemo({ url: local(httpPort), adminToken }, falls, demoFile, logger.child({ svc: 'care-demo' }), pager);
      }
    }

    // The serial path beside the MQTT simulators (YULAN_SERIAL_DEMO=0: off).
    let serial: { lines: string[] } | undefined;
    if (perKind > 0 && env.YULAN_SERIAL_DEMO !== '0') {
      const { startSerialDemo } = await import('./up-serial.js');
      const sd = await startSerialDemo({
        dataDir, site: (env.YULAN_SIM_SITES ?? 'xuhui').split(',')[0]!.trim() || 'xuhui', mqttUrl: local(mqttPort, 'mqtt'),
        ...(adminToken ? { cloud: { url: local(httpPort), adminToken } } : {}), logger: logger.child({ svc: 'serial' }),
      });
      started.push({ name: 'serial', svc: sd });
      serial = sd;
    }

    printUpBanner(print, {
      httpPort, mqttPort, wsPort, tls, ocppUrl: ocpp.url, dataDir, created, pagerUrl: pager?.url,
      serialLines: serial?.lines ?? [], devKey, adminToken: carry.adminToken, demo,
    });
    return {
      ...(tls ? { tls } : {}),
      mqttPort, wsPort, httpPort, edgePort, ocppPort: ocpp.port,
      ...(pager ? { pager } : {}),
      ...(carry.adminToken ? { adminToken: carry.adminToken } : {}),
      ...(demo ? { careDemo: demo } : {}),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
