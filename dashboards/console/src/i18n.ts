import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export type Lang = 'en' | 'zh-CN';

const EN = {
  title: 'Operator console', skip: 'Skip to content', signIn: 'Sign in', signOut: 'Sign out', login: 'Login', password: 'Password',
  signInHint: 'Sign in with your Yulan account (operators and administrators).', signInFailed: 'Sign-in failed',
  notStaff: 'This account has no access to the device console.', language: '中文', languageLabel: 'Switch to Chinese',
  fleet: 'Fleet', alerts: 'Alerts', firmware: 'Firmware', devices: 'Devices', search: 'Search id or name', site: 'Site', kind: 'Kind',
  status: 'Status', any: 'Any', lastSeen: 'Last seen', firmwareVersion: 'Firmware', name: 'Name', id: 'Device', total: 'Total',
  online: 'Online', offline: 'Offline', disabled: 'Disabled', lastHour: 'Last hour', wentOnline: 'came online', wentOffline: 'went offline',
  registered: 'registered', rows: 'devices', loading: 'Loading…', none: 'Nothing here.', back: 'Back to fleet', live: 'Live values',
  chart: 'History', range: 'Range', field: 'Field', events: 'Events', twin: 'Settings (twin)', desired: 'Desired', reported: 'Reported',
  save: 'Save', saved: 'Saved version', commands: 'Commands', send: 'Send', disable: 'Disable', enable: 'Enable', edgeDown: 'Live values unavailable: the edge is not reachable.',
  redacted: 'Health data hidden: you have no health grant for this resident.', noData: 'No data in this range.', inSync: 'in sync', pending: 'pending',
  openAlerts: 'Open alerts', urgency: 'Urgency', resident: 'Resident', step: 'Ladder step', unreached: 'UNREACHED', opened: 'Opened', due: 'Next step', type: 'Type',
  campaigns: 'Campaigns', stage: 'Stage', pause: 'Pause', resume: 'Resume', abort: 'Abort', succeeded: 'Succeeded', failed: 'Failed', version: 'Version',
  created: 'Created', state: 'State', result: 'Result', sentBy: 'Sent by', args: 'Arguments', countsBy: 'Devices by site and kind', error: 'Error',
  rotate: 'Rotate secret', rotateConfirm: 'Issue a new secret? The device is disconnected until it uses the new one.',
  newSecret: 'New device secret (shown once; configure the device with it):', raw: 'Raw', perMinute: '1-minute means', resolution: 'Resolution',
  page: 'Page', of: 'of', newest: 'newest first', sortBy: 'Sort by', order: 'Order', asc: 'ascending', desc: 'descending', apply: 'Apply',
  broker: 'Broker', counters: 'Counters', connections: 'Connections (now / since start)', clients: 'Connected clients', clientSearch: 'Search client id, user or address',
  clientId: 'Client id', username: 'User', address: 'Address', connectedSince: 'Connected since', lastActivity: 'Last activity', subscriptions: 'Subscriptions',
  disconnect: 'Disconnect', disconnectConfirm: 'Disconnect this client? It may reconnect by itself; disable a device to keep it out.', disconnected: 'disconnected',
  topic: 'Topic', retained: 'Retained messages', topicFilter: 'Topic filter', size: 'Size', payloadHex: 'Payload (hex, first 64 bytes)',
  payloadHidden: 'hidden (fall sensor)', messagesIn: 'Messages in', messagesOut: 'Messages out', authFailures: 'Failed sign-ins',
  aclDeniedPublish: 'Publishes denied', droppedQos0: 'QoS 0 dropped', slowConsumerDisconnects: 'Slow consumers cut', quotaRefused: 'Over quota',
  bytesIn: 'Bytes in', bytesOut: 'Bytes out',
  presence: 'Connectivity', presenceRange: 'Period', h1: '1 hour', h24: '24 hours', d7: '7 days', d30: '30 days', unknown: 'Unknown',
  changes: 'changes', onlineShare: 'online', intervals: 'Intervals', from: 'From', to: 'To', reason: 'Reason', truncated: 'Too many records: the timeline stops at the newest one read.',
  fwHistory: 'Firmware history', installedVersions: 'Versions reported by the device', since: 'Since', campaign: 'Campaign', installedAt: 'Installed', current: 'Current',
  upload: 'Upload firmware', imageFile: 'Image file', keyId: 'Signing key id', signature: 'Signature (base64, Ed25519 over the SHA-256 of the image)',
  uploaded: 'Uploaded', successRate: 'Success rate', failureRate: 'Failure rate', noFile: 'Choose an image file first.',
  complaints: 'Complaints', open: 'Open', closed: 'Closed', reportedAt: 'Reported', contact: 'Contact', onFile: 'on file', noContact: 'none given',
  reveal: 'Reveal contact', revealReason: 'Reason for revealing (audited)', close: 'Close complaint', closeNote: 'Resolution (the reporter sees it)',
  evidence: 'Evidence: the site\'s monitors at that moment', audit: 'Audit', actor: 'Who', action: 'Action', at: 'When', details: 'Details',
  noReading: 'no reading', hide: 'Hide', complaintKind: 'What', startCampaign: 'Start campaign', spreadMin: 'Spread (min)', rates: 'Success / failure rate', faulted: 'Faulted', faultedOnly: 'Faulted only',
  connectors: 'Connectors',
  diagnostics: 'Diagnostics files', noDiagnostics: 'None yet (send the command charger.get_diagnostics).',
  powerCap: 'Site power cap', noPowerCap: 'No power cap for this site.', share: 'Share', confirmation: 'Confirmation',
  capW: 'Cap (W, whole watts)', setCap: 'Set cap', removeCap: 'Remove cap', confirmRemoveCap: 'Remove the power cap of this site? Its chargers may then draw their full power.',
  capRemoved: 'Cap removed: the chargers\' share profiles are being cleared.',
  security: 'Security', securityAlerts: 'Security alerts', rule: 'Rule', seen: 'Events', peak: 'Peak in a window', threshold: 'Threshold',
  monitorState: 'Monitor', brokerUnread: 'The broker\'s counters cannot be read: its rules are paused.', rulesInForce: 'Rules in force', watches: 'Watches', updateRequired: 'Update required', minimum: 'Minimum supported', securityFix: 'security fix',
} as const;

type Key = keyof typeof EN;

const ZH: Record<Key, string> = {
  title: '运维控制台', skip: '跳到正文', signIn: '登录', signOut: '退出', login: '账号', password: '密码',
  signInHint: '使用玉兰账号登录（运维人员和管理员）。', signInFailed: '登录失败',
  notStaff: '此账号无权使用设备控制台。', language: 'English', languageLabel: '切换到英文',
  fleet: '设备总览', alerts: '告警', firmware: '固件', devices: '设备', search: '搜索编号或名称', site: '站点', kind: '类型',
  status: '状态', any: '全部', lastSeen: '最近上线', firmwareVersion: '固件版本', name: '名称', id: '设备', total: '总数',
  online: '在线', offline: '离线', disabled: '已停用', lastHour: '最近一小时', wentOnline: '上线', wentOffline: '下线',
  registered: '新注册', rows: '台设备', loading: '加载中…', none: '暂无内容。', back: '返回设备总览', live: '实时数据',
  chart: '历史曲线', range: '时间范围', field: '指标', events: '事件', twin: '配置（设备孪生）', desired: '期望值', reported: '上报值',
  save: '保存', saved: '已保存版本', commands: '命令', send: '发送', disable: '停用', enable: '启用', edgeDown: '边缘节点不可达，暂无实时数据。',
  redacted: '健康数据已隐藏：您没有该住户的健康数据授权。', noData: '该时间范围内无数据。', inSync: '已同步', pending: '待同步',
  openAlerts: '未结告警', urgency: '紧急程度', resident: '住户', step: '通知阶梯', unreached: '未联系上', opened: '发生时间', due: '下一步', type: '类型',
  campaigns: '升级任务', stage: '阶段', pause: '暂停', resume: '继续', abort: '终止', succeeded: '成功', failed: '失败', version: '版本',
  created: '创建时间', state: '状态', result: '结果', sentBy: '发送人', args: '参数', countsBy: '按站点和类型统计', error: '错误',
  rotate: '更换密钥', rotateConfirm: '生成新密钥？设备将断开，直到使用新密钥连接。',
  newSecret: '新的设备密钥（只显示一次，请配置到设备）：', raw: '原始数据', perMinute: '每分钟均值', resolution: '粒度',
  page: '第', of: '共', newest: '最新在前', sortBy: '排序', order: '顺序', asc: '升序', desc: '降序', apply: '应用',
  broker: '消息代理', counters: '计数器', connections: '连接数（当前 / 启动以来）', clients: '已连接客户端', clientSearch: '搜索客户端编号、用户或地址',
  clientId: '客户端编号', username: '用户', address: '地址', connectedSince: '连接时间', lastActivity: '最近活动', subscriptions: '订阅',
  disconnect: '断开', disconnectConfirm: '断开此客户端？它可能会自动重连；如需阻止设备接入，请停用设备。', disconnected: '已断开',
  topic: '主题', retained: '保留消息', topicFilter: '主题过滤器', size: '大小', payloadHex: '载荷（十六进制，前 64 字节）',
  payloadHidden: '已隐藏（跌倒传感器）', messagesIn: '接收消息', messagesOut: '发送消息', authFailures: '认证失败',
  aclDeniedPublish: '被拒绝的发布', droppedQos0: '丢弃的 QoS 0', slowConsumerDisconnects: '慢消费者断开', quotaRefused: '超出配额',
  bytesIn: '接收字节', bytesOut: '发送字节',
  presence: '在线情况', presenceRange: '时段', h1: '1 小时', h24: '24 小时', d7: '7 天', d30: '30 天', unknown: '未知',
  changes: '次变化', onlineShare: '在线', intervals: '区间', from: '开始', to: '结束', reason: '原因', truncated: '记录过多：时间线止于读取到的最新一条。',
  fwHistory: '固件历史', installedVersions: '设备上报的版本', since: '起始时间', campaign: '升级任务', installedAt: '安装时间', current: '当前',
  upload: '上传固件', imageFile: '固件文件', keyId: '签名密钥编号', signature: '签名（base64，对固件 SHA-256 的 Ed25519 签名）',
  uploaded: '已上传', successRate: '成功率', failureRate: '失败率', noFile: '请先选择固件文件。',
  complaints: '投诉', open: '处理中', closed: '已关闭', reportedAt: '投诉时间', contact: '联系方式', onFile: '已留', noContact: '未留',
  reveal: '查看联系方式', revealReason: '查看原因（将记入审计）', close: '关闭投诉', closeNote: '处理结果（投诉人可见）',
  evidence: '证据：当时该站点监测仪的读数', audit: '审计记录', actor: '操作人', action: '操作', at: '时间', details: '详情',
  noReading: '无读数', hide: '收起', complaintKind: '类别', startCampaign: '开始升级', spreadMin: '分散时间（分钟）', rates: '成功率 / 失败率', faulted: '故障', faultedOnly: '仅看故障',
  connectors: '充电枪',
  diagnostics: '诊断文件', noDiagnostics: '暂无（发送命令 charger.get_diagnostics）。',
  powerCap: '站点功率上限', noPowerCap: '该站点未设功率上限。', share: '分配功率', confirmation: '确认状态',
  capW: '上限（瓦，整数）', setCap: '设置上限', removeCap: '取消上限', confirmRemoveCap: '取消该站点的功率上限？其充电桩随后可按满功率充电。',
  capRemoved: '已取消上限：正在清除各充电桩的分配功率配置。',
  security: '安全', securityAlerts: '安全告警', rule: '规则', seen: '事件数', peak: '窗口内峰值', threshold: '阈值',
  monitorState: '监测', brokerUnread: '无法读取消息代理的计数器：其规则暂停。', rulesInForce: '生效规则', watches: '监测内容', updateRequired: '需要升级', minimum: '最低支持版本', securityFix: '安全修复',
};

export interface I18n { lang: Lang; t: (k: Key) => string; time: (iso: string | number | null) => string }

export function makeI18n(lang: Lang): I18n {
  const dict: Record<Key, string> = lang === 'zh-CN' ? ZH : EN;
  const fmt = new Intl.DateTimeFormat(lang, { dateStyle: 'short', timeStyle: 'medium', timeZone: 'Asia/Shanghai' });
  return {
    lang,
    t: (k) => dict[k],
    time: (v) => (v === null || v === '' ? '—' : fmt.format(new Date(v))),
  };
}

export const I18nContext = createContext<I18n>(makeI18n('en'));
export const useI18n = (): I18n => useContext(I18nContext);

/** A label from @yulan/protos/labels in the current language. */
export const pick = (l: { en: string; zh: string } | undefined, lang: Lang, fallback: string): string => (l ? (lang === 'zh-CN' ? l.zh : l.en) : fallback);
