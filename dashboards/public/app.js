// Yulan dashboard: a small ES module, no build step, no dependencies.
// Data flows one way: poll GET /api/v1/devices → render. The DOM is built with
// textContent only, so device names can never inject markup.

const TOKEN_KEY = 'yulan.adminToken';
const POLL_MS = 2500;
const PAGE = 500;
const MAX_DEVICES = 5000;

const KIND_LABEL = {
  'ev-charger': ['EV chargers', '充电桩'],
  'parcel-locker': ['Parcel lockers', '智能快递柜'],
  'fall-sensor': ['Fall sensors', '跌倒监测'],
  'env-monitor': ['Environment monitors', '环境监测'],
};
const STATUS_LABEL = { online: ['Online', '在线'], offline: ['Offline', '离线'], disabled: ['Disabled', '已停用'] };
const CONNECTOR = ['—', 'Available', 'Preparing', 'Charging', 'Suspended (EVSE)', 'Suspended (EV)', 'Finishing', 'Reserved', 'Unavailable', 'Faulted'];
const MOTION = ['—', 'None', 'Still', 'Moving'];

const fmt = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits).replace(/\.0+$/, '') : null);
const yesNo = (v) => (v === undefined ? null : v ? 'yes' : 'no');

/** Key values per kind: [label, value-or-null, alert?]. Null values are skipped. */
function keyValues(kind, f, text) {
  switch (kind) {
    case 'ev-charger':
      return [
        ['Connector 状态', CONNECTOR[f.status] ?? null, f.status === 9],
        ['Power 功率', f.power_w === undefined ? null : `${fmt(f.power_w / 1000, 1)} kW`],
        ['Session 本次', f.energy_kwh === undefined ? null : `${fmt(f.energy_kwh, 2)} kWh`],
        ['Fault 故障', text.fault_code ?? null, true],
      ];
    case 'parcel-locker':
      return [
        ['Occupied 占用', f.compartments === undefined ? null : `${f.occupied ?? 0} / ${f.compartments}`],
        ['Doors open 开门', fmt(f.doors_open, 0), (f.doors_open ?? 0) > 0],
        ['Tamper 撬动', f.tamper ? 'yes' : null, true],
        ['Mains 市电', f.mains_power === 0 ? 'lost' : null, true],
        ['Temp 温度', f.cabinet_temp_c === undefined ? null : `${fmt(f.cabinet_temp_c)} °C`],
      ];
    case 'fall-sensor':
      return [
        ['FALL 跌倒', f.fall ? 'yes' : null, true],
        ['SOS 求助', f.sos ? 'yes' : null, true],
        ['Long lie 久卧', f.long_lie ? 'yes' : null, true],
        ['Presence 有人', yesNo(f.presence)],
        ['Motion 活动', MOTION[f.motion] ?? null],
        ['Heart 心率', f.heart_rate_bpm === undefined ? null : `${fmt(f.heart_rate_bpm, 0)} bpm`],
        ['Breath 呼吸', f.breathing_rate_bpm === undefined ? null : `${fmt(f.breathing_rate_bpm, 0)} /min`],
        ['Battery 电量', f.battery_pct === undefined ? null : `${fmt(f.battery_pct, 0)} %`, (f.battery_pct ?? 100) < 15],
      ];
    case 'env-monitor':
      return [
        ['PM2.5', f.pm25_ugm3 === undefined ? null : `${fmt(f.pm25_ugm3)} µg/m³`, (f.pm25_ugm3 ?? 0) > 75],
        ['PM10', f.pm10_ugm3 === undefined ? null : `${fmt(f.pm10_ugm3)} µg/m³`, (f.pm10_ugm3 ?? 0) > 150],
        ['Temp 温度', f.temperature_c === undefined ? null : `${fmt(f.temperature_c)} °C`],
        ['Humidity 湿度', f.humidity_pct === undefined ? null : `${fmt(f.humidity_pct, 0)} %`],
        ['Noise 噪声', f.noise_dba === undefined ? null : `${fmt(f.noise_dba, 0)} dB(A)`],
      ];
    default:
      return Object.entries(f).slice(0, 4).map(([k, v]) => [k, fmt(v, 2)]);
  }
}

function ago(iso) {
  if (!iso) return 'never 从未';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

/** Tiny element helper: el('div', { class: 'x' }, child, 'text'). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
const bi = (pair) => [pair[0], ' ', el('span', { lang: 'zh' }, pair[1])];

function deviceCard(d) {
  const [en, zh] = STATUS_LABEL[d.status] ?? [d.status, ''];
  const badge = el('span', { class: `badge ${d.status}`, 'data-role': 'status', 'data-status': d.status }, `${en} ${zh}`);
  const seen = el('time', d.lastSeen ? { datetime: d.lastSeen, title: d.lastSeen } : {}, ago(d.lastSeen));
  const values = el('dl', { class: 'values' });
  if (d.lastValues) {
    for (const [label, value, alert] of keyValues(d.kind, d.lastValues.fields, d.lastValues.text ?? {})) {
      if (value === null || value === undefined) continue;
      values.append(el('div', { class: alert ? 'kv alert' : 'kv' }, el('dt', {}, label), el('dd', {}, value)));
    }
  } else {
    values.append(el('div', { class: 'kv muted' }, el('dt', {}, 'Values 数据'), el('dd', {}, 'no data yet')));
  }
  return el(
    'article',
    { class: `device ${d.status}`, 'data-device-id': d.id, 'aria-label': `${d.name ?? d.id}: ${en}` },
    el('header', {}, el('h4', {}, d.name ?? d.id), badge),
    el('p', { class: 'meta' }, d.name ? el('code', {}, d.id) : null, d.name ? ' · ' : null, 'seen ', seen,
      d.firmwareVersion ? ` · fw ${d.firmwareVersion}` : null),
    values,
  );
}

function render(devices, edgeAvailable) {
  const counts = { online: 0, offline: 0, disabled: 0 };
  for (const d of devices) counts[d.status] = (counts[d.status] ?? 0) + 1;
  $('count-total').textContent = String(devices.length);
  for (const s of Object.keys(counts)) $(`count-${s}`).textContent = String(counts[s]);
  $('edge-warning').hidden = edgeAvailable;
  $('empty').hidden = devices.length > 0;

  const bySite = new Map();
  for (const d of devices) {
    if (!bySite.has(d.site)) bySite.set(d.site, new Map());
    const kinds = bySite.get(d.site);
    if (!kinds.has(d.kind)) kinds.set(d.kind, []);
    kinds.get(d.kind).push(d);
  }
  const sites = [...bySite.keys()].sort();
  const frag = document.createDocumentFragment();
  for (const site of sites) {
    const siteId = `site-${site}`;
    const section = el('section', { class: 'site', 'aria-labelledby': siteId },
      el('h2', { id: siteId }, el('span', { class: 'muted' }, 'Site 站点 '), site));
    for (const [kind, list] of [...bySite.get(site).entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const online = list.filter((d) => d.status === 'online').length;
      section.append(
        el('h3', {}, ...bi(KIND_LABEL[kind] ?? [kind, '']), el('span', { class: 'muted' }, ` · ${online}/${list.length} online`)),
        el('div', { class: 'grid' }, ...list.map(deviceCard)),
      );
    }
    frag.append(section);
  }
  $('sites').replaceChildren(frag);
}

const $ = (id) => document.getElementById(id);
let timer = null;
let inFlight = null;

class AuthError extends Error {}

async function fetchAll(token) {
  const items = [];
  let edgeAvailable = true;
  for (let offset = 0; offset < MAX_DEVICES; offset += PAGE) {
    const res = await fetch(`/api/v1/devices?limit=${PAGE}&offset=${offset}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 401) throw new AuthError('invalid token');
    if (!res.ok) throw new Error(`API answered ${res.status}`);
    const page = await res.json();
    items.push(...page.items);
    edgeAvailable &&= page.edgeAvailable;
    if (items.length >= page.total || page.items.length === 0) break;
  }
  return { items, edgeAvailable };
}

/** Urgent alerts nobody could be reached for (docs/care.md §3): an incident, shown first. */
async function fetchUnreached(token) {
  const res = await fetch('/api/v1/metrics', { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) return null;
  const m = await res.json();
  return typeof m.alerts_unreached === 'number' ? m.alerts_unreached : null;
}

function renderUnreached(n) {
  const el = $('unreached');
  el.hidden = !(n > 0);
  el.textContent = n > 0
    ? `${n} urgent alert${n === 1 ? '' : 's'} reached nobody: the fallback channel was paged and everyone is being tried again. Open the care page to claim. `
      + `有 ${n} 条紧急告警无人响应：已通知后备渠道并在重试。请打开关爱页面处理。`
    : '';
}

async function refresh() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  try {
    const [{ items, edgeAvailable }, unreached] = await Promise.all([fetchAll(token), fetchUnreached(token).catch(() => null)]);
    renderUnreached(unreached);
    render(items, edgeAvailable);
    $('sync').textContent = `Live · updated ${new Date().toLocaleTimeString()} 已更新`;
    $('sync').classList.remove('bad');
  } catch (err) {
    if (err instanceof AuthError) return showLogin('That token was not accepted. 令牌无效。');
    $('sync').textContent = `Connection problem, retrying… 连接异常，重试中 (${err.message})`;
    $('sync').classList.add('bad');
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    inFlight = refresh();
    await inFlight;
    if (sessionStorage.getItem(TOKEN_KEY)) schedule();
  }, POLL_MS);
}

function showLogin(message = '') {
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  $('main').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('sync').textContent = '';
  $('token').focus();
}

async function showDashboard() {
  $('login').hidden = true;
  $('main').hidden = false;
  $('signout').hidden = false;
  await refresh();
  if (sessionStorage.getItem(TOKEN_KEY)) schedule();
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  void showDashboard();
});
$('signout').addEventListener('click', () => showLogin());
// Refresh at once when the tab becomes visible again instead of waiting a full period.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && sessionStorage.getItem(TOKEN_KEY)) void refresh();
});

if (sessionStorage.getItem(TOKEN_KEY)) void showDashboard();
else showLogin();
