// Public open-data page (issue 14): each site's current AQI (HJ 633-2012) with its colour
// and category, the primary pollutant, noise against the GB 3096 zone limit, a 24-hour
// and a 30-day chart, downloads and the one-tap complaint. No login; data from /open/v1.
import { POLLUTANTS, applyStatic, currentLang, setLang, t } from './open-i18n.js';
import { barChart, levelOf } from './charts.js';
import { initReports, reportBox, showReceipt } from './report.js';

const $ = (sel) => document.querySelector(sel);
let sites = [];
const histories = new Map();

function h(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') n.className = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) n.append(c);
  return n;
}

const siteName = (s) => (currentLang() === 'zh-CN' ? s.nameZh : s.nameEn);
const fmtTime = (iso, opts) => new Date(iso).toLocaleString(currentLang(), { timeZone: 'Asia/Shanghai', ...opts });
const hhmm = (iso) => fmtTime(iso, { hour: '2-digit', minute: '2-digit', hour12: false });
const mmdd = (iso) => fmtTime(iso, { month: 'numeric', day: 'numeric' });
const pollutant = (p) => POLLUTANTS[currentLang()][p] ?? p;

function yesterday() {
  const d = new Date(Date.now() + 8 * 3_600_000 - 86_400_000);
  return d.toISOString().slice(0, 10);
}

function aqiPart(s) {
  const a = s.aqi;
  if (!a || a.value === null) {
    return h('div', { class: 'aqi' }, h('p', { class: 'aqi-value aqi-l0' }, '—'), h('p', {}, t('aqiNone')), h('p', { class: 'muted' }, t('aqiNoneHint')));
  }
  const lvl = levelOf(a.value);
  return h('div', { class: 'aqi' },
    h('p', { class: `aqi-value aqi-l${lvl}` }, h('span', { class: 'visually-hidden' }, `${t('aqi')} `), String(a.value)),
    h('p', { class: 'category' }, h('span', { class: `swatch aqi-l${lvl}`, 'aria-hidden': 'true' }), t(`level_${lvl}`)),
    h('p', {}, a.primary.length ? t('primary', { list: a.primary.map(pollutant).join(currentLang() === 'zh-CN' ? '、' : ', ') }) : t('primaryNone')),
    h('p', { class: 'muted' }, t('hourOf', { from: hhmm(a.from), to: hhmm(a.to) })));
}

function noisePart(s) {
  const n = s.noise;
  if (!n || n.leq === null) return h('p', { class: 'noise' }, `${t('noise')}: ${t('noiseNone')}`);
  const over = n.limit !== null && n.leq > n.limit;
  return h('p', { class: `noise ${over ? 'over' : 'ok'}` },
    t('noiseLine', { period: t(`noisePeriod_${n.period}`), leq: n.leq.toFixed(1), limit: n.limit ?? '?', zone: n.zone }), ' — ',
    h('strong', {}, over ? t('noiseOver', { by: (n.leq - n.limit).toFixed(1) }) : t('noiseOk')));
}

function exceedPart(hist) {
  const ex = hist.exceedances;
  if (!ex || !Array.isArray(ex.episodes)) return null;
  const aqi = ex.episodes.filter((e) => e.measure === 'aqi');
  const last = aqi[aqi.length - 1];
  const when = (iso) => fmtTime(iso, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
  const line = !last ? t('exceedNone', { level: ex.aqiAlertLevel })
    : last.until === null ? t('exceedNow', { level: ex.aqiAlertLevel, since: when(last.since), peak: last.peak })
      : t('exceedLast', { level: ex.aqiAlertLevel, since: when(last.since), until: when(last.until), peak: last.peak });
  const noise = ex.episodes.filter((e) => e.measure === 'noise').length;
  return h('div', { class: 'exceed' }, h('p', { class: last && last.until === null ? 'over' : '' }, line),
    noise ? h('p', {}, t('noiseExceeded', { n: noise })) : null);
}

function chartsPart(s) {
  const hist = histories.get(s.id);
  if (!hist) return h('div', { class: 'charts' });
  const chart = (title, pts, fmt) => {
    const valid = pts.filter((p) => p.value !== null).map((p) => p.value);
    const label = valid.length ? t('chartLabel', { title, n: pts.length, max: Math.max(...valid), min: Math.min(...valid) }) : `${title}: ${t('chartEmpty')}`;
    return h('figure', {}, h('figcaption', {}, title),
      barChart(pts.map((p) => ({ label: fmt(p.from), value: p.value })), { label, emptyText: t('chartEmpty'), invalidText: t('invalid') }));
  };
  return h('div', { class: 'charts' }, exceedPart(hist), chart(t('chart24'), hist.hours, hhmm), chart(t('chart30'), hist.days, mmdd));
}

function card(s) {
  const titleId = `site-${s.id}`;
  const day = yesterday();
  return h('article', { class: 'card site', 'aria-labelledby': titleId, 'data-site': s.id },
    h('h2', { id: titleId }, siteName(s), h('span', { class: 'muted small' }, ` · ${t('monitors', { n: s.monitors })}`)),
    aqiPart(s), noisePart(s), chartsPart(s),
    h('p', { class: 'downloads' }, `${t('download')} `,
      h('a', { href: `/open/v1/sites/${encodeURIComponent(s.id)}/days/${day}.csv`, download: '' }, t('csv')), ' · ',
      h('a', { href: `/open/v1/sites/${encodeURIComponent(s.id)}/days/${day}.json`, download: '' }, t('json'))),
    reportBox(s, siteName(s)));
}

// Charts load as cards come into view: a city of hundreds of sites must not spend a
// visitor's request budget (and the edge) on sites nobody scrolls to.
const seen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    seen.unobserve(e.target);
    void loadHistory(e.target.dataset.site);
  }
}, { rootMargin: '200px' });

async function loadHistory(id) {
  if (histories.has(id)) return;
  try {
    histories.set(id, await getJson(`/open/v1/sites/${encodeURIComponent(id)}/history`));
  } catch {
    return; // the card keeps its figures without charts; the next refresh tries again
  }
  // Only the charts: a contact being typed into the same card must survive.
  const s = sites.find((x) => x.id === id);
  const old = document.querySelector(`[data-site="${CSS.escape(id)}"] .charts`);
  if (s && old) old.replaceWith(chartsPart(s));
}

function render() {
  applyStatic();
  const box = $('#sites');
  box.replaceChildren(...sites.map(card));
  for (const n of box.querySelectorAll('[data-site]')) if (!histories.has(n.dataset.site)) seen.observe(n);
}

async function getJson(url) {
  // Revalidate every time: an unchanged answer is a bodyless 304 (ETag), a changed one is seen at once.
  const r = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-cache' });
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
  return r.json();
}

async function load() {
  const status = $('#status');
  try {
    const body = await getJson('/open/v1/sites');
    sites = body.sites;
    const lic = $('#licence');
    lic.href = body.licence.url;
    lic.textContent = body.licence.id;
    histories.clear();
    render();
    status.textContent = sites.length ? t('updated', { time: new Date().toLocaleTimeString(currentLang()) }) : t('noSites');
    status.dataset.state = 'ready';
  } catch (err) {
    status.textContent = t('loadFailed', { message: err.message });
    status.dataset.state = 'error';
  }
}

$('#lang').addEventListener('click', () => {
  setLang(currentLang() === 'en' ? 'zh-CN' : 'en');
  render();
  if ($('#status').dataset.state === 'ready') $('#status').textContent = t('updated', { time: new Date().toLocaleTimeString(currentLang()) });
});

applyStatic();
initReports();
void load();
void showReceipt();
setInterval(load, 5 * 60_000);
