import type { Locale } from '../contracts.js';
import type { NotificationKind } from './model.js';

/** What a notification says about its alert (webhook body, SSE `page`, email text). */
export interface AlertSummary {
  id: string;
  type: string;
  level: string;
  status: string;
  residentId: string | null;
  residentName: string | null;
  deviceId: string;
  site: string;
  message: string | null;
  firstEventAtMs: number;
  openedAt: number;
  claimedBy: { userId: string; name: string } | null;
  outcome: string | null;
  /** the claimer was told of a new event and has not confirmed it yet (docs/care.md §3) */
  awaitingConfirmation: string | null;
  /** the closed alert this one follows (a new event after it was resolved) */
  previousAlertId: string | null;
}

export interface PagePayload {
  deliveryId: string;
  kind: NotificationKind;
  alert: AlertSummary;
  recipient: { userId: string; name: string; role: string };
  careUrl: string;
}

const TYPE: Record<Locale, Record<string, string>> = {
  en: { sos: 'SOS button pressed', fall: 'Fall', device_silent: 'Device silent', inactivity: 'No activity', routine_missed: 'Routine missed', battery_low: 'Battery low' },
  'zh-CN': { sos: '紧急呼叫（SOS）', fall: '跌倒', device_silent: '设备失联', inactivity: '长时间无活动', routine_missed: '作息异常', battery_low: '电量低' },
};

/** Subject and plain-text body in the recipient's language. */
export function renderEmail(p: PagePayload, locale: Locale): { subject: string; text: string } {
  const a = p.alert;
  const who = a.residentName ?? (locale === 'en' ? `device ${a.deviceId}` : `设备 ${a.deviceId}`);
  const what = TYPE[locale][a.type] ?? a.type;
  const by = a.claimedBy?.name ?? '';
  const when = new Date(a.firstEventAtMs).toISOString();
  if (locale === 'en') {
    const head: Record<NotificationKind, string> = {
      page: `ALERT: ${what} — ${who}`,
      reminder: `REMINDER, nobody has claimed it yet: ${what} — ${who}`,
      update: `NEW EVENT on an alert you were told of: ${what} — ${who}`,
      claimed: `${by || 'Someone'} is handling: ${what} — ${who}`,
      cancelled: `Cancelled by the resident: ${what} — ${who}`,
      resolved: `Resolved (${a.outcome ?? ''}): ${what} — ${who}`,
    };
    const act = p.kind === 'page' || p.kind === 'reminder' || p.kind === 'update' ? 'Open the care page and tap "I\'m handling it" if you can help:' : 'Details:';
    return { subject: `[Yulan] ${head[p.kind]}`, text: `${head[p.kind]}\nFirst event: ${when}\n${a.message ?? ''}\n\n${act}\n${p.careUrl}\n` };
  }
  const head: Record<NotificationKind, string> = {
    page: `告警：${who} ${what}`,
    reminder: `提醒（尚无人处理）：${who} ${what}`,
    update: `新情况（您已知晓的告警）：${who} ${what}`,
    claimed: `${by || '有人'} 已在处理：${who} ${what}`,
    cancelled: `老人已取消：${who} ${what}`,
    resolved: `已处理完毕（${a.outcome ?? ''}）：${who} ${what}`,
  };
  const act = p.kind === 'page' || p.kind === 'reminder' || p.kind === 'update' ? '如能协助，请打开关爱页面点击“我来处理”：' : '详情：';
  return { subject: `【玉兰】${head[p.kind]}`, text: `${head[p.kind]}\n首次事件时间：${when}\n${a.message ?? ''}\n\n${act}\n${p.careUrl}\n` };
}
