// Care page strings, English and Simplified Chinese. Keys are shared; `t(key, vars)`
// fills {name}-style placeholders. Static markup carries data-i18n="key" and is
// re-labelled on every language switch; dynamic parts are rendered through t().

const LANG_KEY = 'yulan.care.lang';

export const STRINGS = {
  en: {
    title: 'Yulan Care', brandSub: 'Care', skip: 'Skip to content', switchTo: '中文', switchLabel: '中文 (switch to Chinese)',
    signOut: 'Sign out', signInTitle: 'Sign in', signInHint: 'For family members and community workers.',
    login: 'Login (phone, e-mail or name)', password: 'Password', signIn: 'Sign in', signingIn: 'Signing in…',
    loginFailed: 'Login or password not accepted.', loginLimited: 'Too many attempts. Please wait a few minutes.',
    networkError: 'Cannot reach the server. Check your connection.',
    alertsTitle: 'Alerts', residentsTitle: 'People you care for', noAlerts: 'No open alerts. All is quiet.',
    noResidents: 'Nobody is linked to your account yet.', live: 'Live: new alerts appear here',
    reconnecting: 'Connection lost. Reconnecting…', signedInAs: 'Signed in as {name} · {role}',
    role_family: 'Family member', role_worker: 'Community worker', role_callcentre: 'Call centre', role_admin: 'Administrator',
    role_operator: 'Operator',
    alertsLoading: 'Loading alerts…', alertsFailed: 'Could not load your alerts: {message}', retry: 'Try again',
    historyTitle: 'Earlier alerts',
    eventsTitle: 'What the device reported', earlierEvents: '{n} earlier events', repeated: '{what} ×{n}',
    'ev_sos.pressed': 'SOS button pressed', 'ev_fall.detected': 'Fall detected', 'ev_fall.long_lie': 'Still on the floor',
    'ev_fall.cancelled': 'The resident said "I\'m fine"', 'ev_fall.cleared': 'Got up again', 'ev_battery.low': 'Battery low',
    contactsTitle: 'Address and phone numbers', address: 'Address:', noAddress: 'not on file', residentSelf: 'the resident',
    callName: 'Call {name}', noPhone: 'no phone number on file', loadingContacts: 'Loading phone numbers…',
    contactsFailed: 'Could not load the phone numbers.',
    urgent: 'URGENT', unconfirmed: 'Not confirmed', wellness: 'Wellness check', info: 'Info',
    type_sos: 'SOS button pressed', type_fall: 'Fall', type_device_silent: 'Device silent', type_inactivity: 'No activity',
    type_routine_missed: 'Routine missed', type_battery_low: 'Battery low',
    status_raised: 'New — nobody paged yet', status_notifying: 'Paging people — nobody has it yet',
    status_acknowledged: 'Being handled by {name}', status_resolved: 'Resolved: {outcome}', status_cancelled: 'Cancelled by the resident',
    you: 'you', since: '{what} {ago}', device: 'device {id}',
    handle: "I'm handling it", handling: 'Claiming…', claimedByYou: 'You are handling this alert.',
    alreadyClaimed: '{name} is already handling this alert.', actionFailed: 'That did not work: {message}',
    resolveTitle: 'Resolve', outcome: 'Outcome', note: 'Note (optional)', resolve: 'Mark as resolved',
    outcome_false_alarm: 'False alarm', outcome_helped_up: 'Helped up', outcome_hospital: 'Taken to hospital',
    outcome_emergency_services: 'Emergency services called', outcome_no_action_needed: 'No action needed', outcome_other: 'Other',
    outcome_cancelled_by_resident: 'Cancelled by the resident', outcome_condition_cleared: 'Condition cleared',
    showTimeline: 'Timeline', hideTimeline: 'Hide timeline', timelineTitle: 'What happened', loading: 'Loading…',
    tl_raised: 'Alert raised', tl_level_changed: 'Urgency changed to {to}', tl_paged: 'Paged {actor}',
    tl_delivered: 'Delivered to {actor} by {channel}', tl_read: '{actor} read it', tl_channel_failed: '{channel} to {actor} failed',
    tl_notice_failed: 'Could not reach {actor}', tl_claimed: '{actor} is handling it', tl_resolved: 'Resolved by {actor}: {outcome}',
    tl_cancelled: 'Cancelled by the resident', tl_resident_cancelled_late: 'The resident cancelled after people were paged',
    tl_condition_cleared: 'The condition cleared', tl_edge_notification: 'Local gateway sent {channel}',
    tl_unreachable: 'Nobody reached at {actor}', tl_reminder: 'Reminder to {actor}',
    tl_followed_by: 'A new event came after this was closed: a new alert was opened', tl_events: 'New events from the device',
    tl_update_sent: 'Those handling it were told of the new event', tl_update_confirmed: '{actor} confirmed the new event',
    tl_claim_lapsed: 'The new event was not confirmed in time: everyone is being paged again',
    tl_unreached: 'NOBODY COULD BE REACHED: the fallback (call centre) was paged', tl_unreached_retry: 'Trying everyone again',
    tl_no_fallback: 'Nobody reached and no fallback channel is configured', tl_fallback_failed: 'The fallback channel failed too',
    confirmNewEvent: "I've seen the new event", newEventWhileHandling: 'New event on the alert you are handling. Confirm you have seen it, or everyone will be paged again.',
    updateArrived: 'New event: {text}',
    ch_app: 'app', ch_email: 'e-mail', ch_webhook: 'webhook', system: 'the system', resident: 'the resident', edge: 'the local gateway',
    activity: 'Recent activity', hideActivity: 'Hide activity', noActivity: 'No recent readings.',
    lastMovement: 'Last movement: {ago}', noMovement: 'No movement in the readings shown.',
    motion_1: 'No motion', motion_2: 'Still', motion_3: 'Moving', motionUnknown: '—', movement: 'movement {level}',
    atHome: 'at home', notHome: 'nobody home', newAlert: 'New alert: {text}', pageArrived: 'You are being asked to help: {text}',
    justNow: 'just now',
  },
  'zh-CN': {
    title: '玉兰关爱', brandSub: '关爱', skip: '跳到正文', switchTo: 'English', switchLabel: 'English (切换为英文)',
    signOut: '退出', signInTitle: '登录', signInHint: '供家属和社区工作人员使用。',
    login: '账号（手机号、邮箱或姓名）', password: '密码', signIn: '登录', signingIn: '正在登录…',
    loginFailed: '账号或密码不正确。', loginLimited: '尝试次数过多，请几分钟后再试。',
    networkError: '无法连接服务器，请检查网络。',
    alertsTitle: '告警', residentsTitle: '我关照的老人', noAlerts: '暂无未处理的告警。',
    noResidents: '您的账号尚未关联任何老人。', live: '实时：新告警会显示在这里',
    reconnecting: '连接中断，正在重新连接…', signedInAs: '当前用户：{name}（{role}）',
    role_family: '家属', role_worker: '社区工作人员', role_callcentre: '呼叫中心', role_admin: '管理员', role_operator: '运维人员',
    alertsLoading: '正在加载告警…', alertsFailed: '无法加载告警：{message}', retry: '重试',
    historyTitle: '较早的告警',
    eventsTitle: '设备上报', earlierEvents: '更早的 {n} 条事件', repeated: '{what}×{n} 次',
    'ev_sos.pressed': '按下紧急呼叫（SOS）', 'ev_fall.detected': '检测到跌倒', 'ev_fall.long_lie': '仍躺在地上',
    'ev_fall.cancelled': '老人表示"我没事"', 'ev_fall.cleared': '已起身', 'ev_battery.low': '电量低',
    contactsTitle: '地址和电话', address: '地址：', noAddress: '未登记', residentSelf: '老人本人',
    callName: '拨打 {name}', noPhone: '未登记电话', loadingContacts: '正在加载电话…',
    contactsFailed: '无法加载电话号码。',
    urgent: '紧急', unconfirmed: '待确认', wellness: '健康关怀', info: '提示',
    type_sos: '紧急呼叫（SOS）', type_fall: '跌倒', type_device_silent: '设备失联', type_inactivity: '长时间无活动',
    type_routine_missed: '作息异常', type_battery_low: '电量低',
    status_raised: '新告警，尚未通知', status_notifying: '正在通知，尚无人处理',
    status_acknowledged: '{name} 正在处理', status_resolved: '已处理：{outcome}', status_cancelled: '老人已取消',
    you: '您', since: '{what}，{ago}', device: '设备 {id}',
    handle: '我来处理', handling: '正在认领…', claimedByYou: '您正在处理此告警。',
    alreadyClaimed: '{name} 已在处理此告警。', actionFailed: '操作未成功：{message}',
    resolveTitle: '结束处理', outcome: '处理结果', note: '备注（可选）', resolve: '标记为已处理',
    outcome_false_alarm: '误报', outcome_helped_up: '已扶起', outcome_hospital: '已送医',
    outcome_emergency_services: '已呼叫急救', outcome_no_action_needed: '无需处理', outcome_other: '其他',
    outcome_cancelled_by_resident: '老人已取消', outcome_condition_cleared: '情况已解除',
    showTimeline: '处理记录', hideTimeline: '收起记录', timelineTitle: '处理经过', loading: '加载中…',
    tl_raised: '产生告警', tl_level_changed: '紧急程度变为 {to}', tl_paged: '已通知 {actor}',
    tl_delivered: '已通过{channel}送达 {actor}', tl_read: '{actor} 已读', tl_channel_failed: '{channel}通知 {actor} 失败',
    tl_notice_failed: '无法联系 {actor}', tl_claimed: '{actor} 认领处理', tl_resolved: '{actor} 结束处理：{outcome}',
    tl_cancelled: '老人已取消', tl_resident_cancelled_late: '通知发出后老人取消了告警',
    tl_condition_cleared: '情况已解除', tl_edge_notification: '本地网关已发送{channel}通知',
    tl_unreachable: '{actor} 所有渠道均未联系上', tl_reminder: '再次提醒 {actor}',
    tl_followed_by: '结束后又有新情况：已新建告警', tl_events: '设备上报了新事件',
    tl_update_sent: '已通知处理人新情况', tl_update_confirmed: '{actor} 已确认新情况',
    tl_claim_lapsed: '新情况未及时确认：重新通知所有人',
    tl_unreached: '无人响应：已通知后备渠道（呼叫中心）', tl_unreached_retry: '再次联系所有人',
    tl_no_fallback: '无人响应，且未配置后备渠道', tl_fallback_failed: '后备渠道也未联系上',
    confirmNewEvent: '我已知晓新情况', newEventWhileHandling: '您处理的告警有新情况。请确认已知晓，否则将重新通知所有人。',
    updateArrived: '新情况：{text}',
    ch_app: '应用', ch_email: '邮件', ch_webhook: 'Webhook', system: '系统', resident: '老人', edge: '本地网关',
    activity: '近期活动', hideActivity: '收起活动', noActivity: '暂无近期数据。',
    lastMovement: '最近一次活动：{ago}', noMovement: '所示数据中没有活动。',
    motion_1: '无活动', motion_2: '静止', motion_3: '走动', motionUnknown: '—', movement: '活动量 {level}',
    atHome: '在家', notHome: '无人', newAlert: '新告警：{text}', pageArrived: '请求您协助：{text}',
    justNow: '刚刚',
  },
};

export const LANGS = Object.keys(STRINGS);
let lang = 'en';

export function currentLang() {
  return lang;
}

/** Stored choice first, then the browser's language; zh* → zh-CN, anything else → en. */
export function initialLang() {
  let stored = null;
  try {
    stored = localStorage.getItem(LANG_KEY);
  } catch {
    // storage disabled: fall through to the browser default
  }
  if (stored && LANGS.includes(stored)) return stored;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

/** Switches the page language; `remember` (an explicit choice) keeps it for next time. */
export function setLang(next, remember = false) {
  lang = LANGS.includes(next) ? next : 'en';
  if (remember) {
    try {
      localStorage.setItem(LANG_KEY, lang);
    } catch {
      // not remembered; still switched for this page
    }
  }
  document.documentElement.lang = lang;
  document.title = t('title');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
}

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined || vars[k] === null ? '' : String(vars[k])));
}

/** "3 min ago" / "3 分钟前", seconds under a minute (a fall's first minutes matter). */
export function ago(ms, now = Date.now()) {
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return t('justNow');
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'always', style: 'short' });
  if (s < 60) return rtf.format(-s, 'second');
  if (s < 3600) return rtf.format(-Math.floor(s / 60), 'minute');
  if (s < 86400) return rtf.format(-Math.floor(s / 3600), 'hour');
  return rtf.format(-Math.floor(s / 86400), 'day');
}

/** Time of day with seconds (events of one alert are minutes apart). */
export function hms(ms) {
  return new Date(ms).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function clock(ms) {
  return new Date(ms).toLocaleString(lang, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
