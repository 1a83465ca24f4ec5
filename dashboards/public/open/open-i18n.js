// Public page strings, English and Simplified Chinese. Static markup carries
// data-i18n="key"; dynamic parts go through t(key, vars) with {name} placeholders.

const LANG_KEY = 'yulan.open.lang';

export const STRINGS = {
  en: {
    docTitle: 'Yulan · Air quality and noise', brandSub: 'Open environmental data', skip: 'Skip to content',
    switchTo: '中文', switchLabel: '中文 (switch to Chinese)', title: 'Air quality and noise',
    intro: "Air Quality Index per HJ 633-2012 and noise against the GB 3096-2008 zone limits, from the city's environment monitors. No login needed.",
    loading: 'Loading…', loadFailed: 'Could not load the data: {message}', updated: 'Updated {time}', noSites: 'No environment monitors yet.',
    aqi: 'AQI', aqiNone: 'No valid hour yet', aqiNoneHint: 'An hour needs 45 minutes of readings; it is never guessed.',
    hourOf: 'hour {from}–{to}', primary: 'Primary pollutant: {list}', primaryNone: 'No primary pollutant (AQI ≤ 50)',
    monitors: '{n} monitor(s)',
    noise: 'Noise', noiseNone: 'No complete day or night period yet', noisePeriod_day: 'Daytime level Ld', noisePeriod_night: 'Night level Ln',
    noiseLine: '{period} {leq} dB(A), limit {limit} dB(A) (zone {zone})', noiseOver: 'above the limit by {by} dB(A)', noiseOk: 'within the limit',
    exceedNow: 'AQI above {level} since {since} (peak {peak})', exceedLast: 'Last above AQI {level}: {since}–{until} (peak {peak})',
    exceedNone: 'Not above AQI {level} in the last 7 days', noiseExceeded: '{n} day/night period(s) over the noise limit in the last 7 days',
    chart24: 'Hourly AQI, last 24 hours', chart30: 'Daily AQI, last 30 days', chartEmpty: 'no data yet',
    chartLabel: '{title}: {n} values, highest {max}, lowest {min}', invalid: 'invalid',
    download: 'Download yesterday:', csv: 'CSV', json: 'JSON',
    aboutTitle: 'Open data', aboutApi: 'Machine-readable: OGC SensorThings API at', aboutLicence: 'Licence:',
    reportTitle: 'Report pollution here', reportHint: 'One tap, no account. Your report is stored with the readings of this site at that moment.',
    kind_smoke: 'Smoke', kind_smell: 'Smell', kind_dust: 'Dust', kind_noise: 'Noise',
    contact: 'Contact (optional, only for a reply; seen only by the operators)', website: 'Leave this empty',
    sending: 'Sending your report…', sent: 'Thank you. Your report ({kind} at {site}) was received.',
    receipt: 'Keep this link to see its status:', reportFailed: 'Your report could not be sent: {message}',
    reportsToday: '{n} report(s) in the last 24 hours',
    level_1: 'Excellent', level_2: 'Good', level_3: 'Lightly polluted', level_4: 'Moderately polluted', level_5: 'Heavily polluted', level_6: 'Severely polluted',
    status_open: 'Received, not yet handled', status_closed: 'Closed', statusOf: 'Status of your report: {status}', resolution: 'Operator note: {note}',
  },
  'zh-CN': {
    docTitle: '玉兰 · 空气质量与噪声', brandSub: '环境数据开放', skip: '跳到正文',
    switchTo: 'English', switchLabel: 'English（切换到英文）', title: '空气质量与噪声',
    intro: '依据 HJ 633-2012 计算的空气质量指数，以及对照 GB 3096-2008 声环境功能区限值的噪声。数据来自本市环境监测点，无需登录。',
    loading: '加载中…', loadFailed: '数据加载失败：{message}', updated: '更新于 {time}', noSites: '暂无环境监测点。',
    aqi: 'AQI', aqiNone: '暂无有效小时数据', aqiNoneHint: '每小时至少需要 45 分钟的数据，不做推测补全。',
    hourOf: '{from}–{to} 时段', primary: '首要污染物：{list}', primaryNone: '无首要污染物（AQI ≤ 50）',
    monitors: '{n} 个监测点',
    noise: '噪声', noiseNone: '暂无完整的昼间或夜间时段', noisePeriod_day: '昼间等效声级 Ld', noisePeriod_night: '夜间等效声级 Ln',
    noiseLine: '{period} {leq} dB(A)，限值 {limit} dB(A)（{zone} 类区）', noiseOver: '超标 {by} dB(A)', noiseOk: '未超标',
    exceedNow: '自 {since} 起 AQI 高于 {level}（峰值 {peak}）', exceedLast: '最近一次 AQI 高于 {level}：{since}–{until}（峰值 {peak}）',
    exceedNone: '近 7 天 AQI 未高于 {level}', noiseExceeded: '近 7 天有 {n} 个昼间/夜间时段噪声超标',
    chart24: '近 24 小时逐时 AQI', chart30: '近 30 天日 AQI', chartEmpty: '暂无数据',
    chartLabel: '{title}：共 {n} 个值，最高 {max}，最低 {min}', invalid: '无效',
    download: '下载昨日数据：', csv: 'CSV', json: 'JSON',
    aboutTitle: '开放数据', aboutApi: '机器可读接口：OGC SensorThings API，地址', aboutLicence: '许可协议：',
    reportTitle: '一键投诉', reportHint: '一键提交，无需账号。投诉会连同该点位此刻的监测读数一并保存。',
    kind_smoke: '烟雾', kind_smell: '异味', kind_dust: '扬尘', kind_noise: '噪声',
    contact: '联系方式（选填，仅用于回复，只有管理人员可见）', website: '此项请留空',
    sending: '正在提交…', sent: '感谢您的投诉（{site}，{kind}），我们已收到。',
    receipt: '请保存此链接以查看处理进度：', reportFailed: '投诉提交失败：{message}',
    reportsToday: '近 24 小时 {n} 条投诉',
    level_1: '优', level_2: '良', level_3: '轻度污染', level_4: '中度污染', level_5: '重度污染', level_6: '严重污染',
    status_open: '已受理，待处理', status_closed: '已办结', statusOf: '投诉状态：{status}', resolution: '处理说明：{note}',
  },
};

export const POLLUTANTS = {
  en: { pm25: 'PM2.5', pm10: 'PM10', no2: 'NO₂', so2: 'SO₂', co: 'CO', o3_1h: 'O₃ (1 h)', o3_8h: 'O₃ (8 h)' },
  'zh-CN': { pm25: '细颗粒物（PM2.5）', pm10: '可吸入颗粒物（PM10）', no2: '二氧化氮', so2: '二氧化硫', co: '一氧化碳', o3_1h: '臭氧（1 小时）', o3_8h: '臭氧（8 小时）' },
};

let lang = initialLang();

function initialLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch { /* storage may be off */ }
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export const currentLang = () => lang;

export function setLang(l) {
  lang = l;
  try { localStorage.setItem(LANG_KEY, l); } catch { /* storage may be off */ }
}

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

/** Static markup: text and aria-labels from data-i18n / data-i18n-label. */
export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  document.title = t('docTitle');
  for (const n of root.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
  for (const n of root.querySelectorAll('[data-i18n-label]')) n.setAttribute('aria-label', t(n.dataset.i18nLabel));
}
