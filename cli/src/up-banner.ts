import type { CareDemo } from './care-demo.js';
import type { DevFirmwareKey } from './firmware-dev-key.js';
import type { TlsWiring } from './up-tls.js';

/** What `yulan up` started, for the banner it prints once everything runs. */
export interface UpBanner {
  httpPort: number;
  mqttPort: number;
  wsPort: number;
  tls: TlsWiring | undefined;
  ocppUrl: string;
  dataDir: string;
  /** the data directory's secrets were made at this start */
  created: boolean;
  pagerUrl: string | undefined;
  serialLines: readonly string[];
  devKey: DevFirmwareKey | undefined;
  adminToken: string | undefined;
  demo: CareDemo | undefined;
}

/** The addresses to open, and what is shown only once (the admin token, the demo logins). */
export function printUpBanner(print: (line: string) => void, b: UpBanner): void {
  const { httpPort, mqttPort, wsPort, tls, devKey, demo } = b;
  print('');
  print('  Yulan is running');
  print(`  Dashboard      http://localhost:${httpPort}/`);
  print(`  Care page      http://localhost:${httpPort}/care/`);
  print(`  Open data      http://localhost:${httpPort}/open/  (SensorThings API: /sta/v1.1)`);
  print(`  REST API       http://localhost:${httpPort}/api/v1  (OpenAPI UI: /docs)`);
  print(`  MQTT           mqtt://localhost:${mqttPort}   WebSocket ws://localhost:${wsPort}/mqtt`);
  if (tls) {
    print(`  HTTPS          https://localhost:${tls.httpsPort}/   edge API https://localhost:${tls.edgeHttpsPort}/v1`);
    print(`  MQTT/TLS       mqtts://localhost:${tls.mqttsPort}   WebSocket/TLS wss://localhost:${tls.wssPort}/mqtt`);
    if (tls.devCa) {
      print(`  Development CA ${tls.devCa.caFile}${tls.devCa.created === 'all' ? ' (new)' : ''} — trust it to use the TLS ports:`);
      for (const line of tls.trust) print(`    ${line}`);
    }
  }
  print(`  OCPP 1.6J      ${b.ocppUrl.replace('127.0.0.1', 'localhost')}/{chargePointId}  (docs/ocpp.md)`);
  print(`  Data dir       ${b.dataDir}${b.created ? ' (new)' : ''}`);
  if (b.pagerUrl !== undefined) print(`  Demo pager     ${b.pagerUrl} (pages to the demo people and the fallback are printed below)`);
  for (const l of b.serialLines) print(l);
  if (devKey) print(`  Firmware key   ${devKey.signingKeyFile} (development key "${devKey.keyId}": yulan fw upload … --sign-key it --key-id ${devKey.keyId})`);
  if (b.adminToken) {
    print('');
    print(`  Admin token    ${b.adminToken}`);
    print('  (shown once: it is stored only as a hash. For the CLI and API automation; people sign in to the console with their logins.)');
  }
  if (demo) {
    print('');
    print(`  Care demo      ${demo.residents.length} residents (one per simulated fall sensor) in "${demo.communityId}"; new logins:`);
    for (const a of demo.accounts) print(`    ${a.role.padEnd(10)} login ${a.login.padEnd(10)} password ${a.password}`);
    print('  (shown once. To see an alert: YULAN_SIM_SCENARIO=sos npm start — it fires 30 s after start.)');
  }
  print('');
  print('  Ctrl-C stops everything; data is kept for the next start.');
  print('');
}
