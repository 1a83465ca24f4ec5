// One-tap pollution complaint (一键投诉): a tap on a kind sends it for that site at once.
// No account. Spam resistance is invisible to the resident: a proof of work is solved in
// the background while the page is read (a challenge from the server, a nonce whose
// SHA-256 starts with `bits` zero bits), plus a honeypot field people never see.
import { currentLang, t } from './open-i18n.js';
import { sha256Head } from './sha256.js';

const KINDS = ['smoke', 'smell', 'dust', 'noise'];
let ready; // Promise<{ challenge, nonce }>

function solve(challenge, bits) {
  return new Promise((resolve) => {
    let nonce = 0;
    const limit = bits >= 32 ? 0 : 2 ** (32 - bits);
    const step = () => {
      for (let i = 0; i < 4000; i++, nonce++) {
        if (sha256Head(`${challenge}:${nonce}`) < limit) return resolve({ challenge, nonce: String(nonce) });
      }
      setTimeout(step, 0); // keep the page responsive
    };
    step();
  });
}

async function nextProof() {
  const r = await fetch('/open/v1/complaints/challenge');
  if (!r.ok) throw new Error(`${r.status}`);
  const c = await r.json();
  return solve(c.challenge, c.bits);
}

export function initReports() {
  ready = nextProof();
  ready.catch(() => undefined);
}

function h(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) n.setAttribute(k, String(v));
  n.append(...children);
  return n;
}

async function send(site, siteLabel, kind, box) {
  const out = document.querySelector('#report-result');
  out.hidden = false;
  out.replaceChildren(h('p', { role: 'status' }, t('sending')));
  for (const b of box.querySelectorAll('button')) b.disabled = true;
  try {
    const proof = await ready;
    ready = nextProof(); // one challenge per complaint
    ready.catch(() => undefined);
    const body = {
      site, kind, ...proof, lang: currentLang(),
      contact: box.querySelector('input[name="contact"]').value.trim() || undefined,
      website: box.querySelector('input[name="website"]').value,
    };
    const r = await fetch('/open/v1/complaints', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(res.message ?? `${r.status}`);
    const link = `${location.origin}/open/#receipt=${res.receipt}`;
    box.querySelector('input[name="contact"]').value = '';
    out.replaceChildren(
      h('p', { role: 'status' }, t('sent', { kind: t(`kind_${kind}`), site: siteLabel })),
      h('p', {}, `${t('receipt')} `, h('a', { href: link, id: 'receipt-link' }, link)));
  } catch (err) {
    out.replaceChildren(h('p', { role: 'alert', class: 'error' }, t('reportFailed', { message: err.message })));
  } finally {
    for (const b of box.querySelectorAll('button')) b.disabled = false;
  }
}

/** The report part of a site's card. */
export function reportBox(site, siteLabel) {
  const id = `report-${site.id}`;
  const box = h('section', { class: 'report', 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, t('reportTitle')),
    h('p', { class: 'muted' }, t('reportHint')));
  const row = h('div', { class: 'kinds' });
  for (const k of KINDS) {
    const b = h('button', { type: 'button', class: `btn kind kind-${k}`, 'data-kind': k }, t(`kind_${k}`));
    b.addEventListener('click', () => void send(site.id, siteLabel, k, box));
    row.append(b);
  }
  const contact = h('p', { class: 'contact' }, h('label', { for: `${id}-contact` }, t('contact')),
    h('input', { id: `${id}-contact`, name: 'contact', type: 'text', maxlength: '120', autocomplete: 'off' }));
  // Honeypot: off-screen and out of the tab order; people leave it empty, form-filling bots do not.
  const trap = h('p', { class: 'trap' }, h('label', { for: `${id}-website` }, t('website')),
    h('input', { id: `${id}-website`, name: 'website', type: 'text', tabindex: '-1', autocomplete: 'off' }));
  if (site.complaints24h) box.append(h('p', { class: 'muted' }, t('reportsToday', { n: site.complaints24h })));
  box.append(contact, row, trap);
  return box;
}

/** `/open/#receipt=…`: the reporter's view of the complaint's status. */
export async function showReceipt() {
  const m = /^#receipt=([A-Za-z0-9_-]{16,64})$/.exec(location.hash);
  if (!m) return;
  const out = document.querySelector('#report-result');
  try {
    const r = await fetch(`/open/v1/complaints/receipt/${m[1]}`);
    const c = await r.json();
    if (!r.ok) throw new Error(c.message ?? `${r.status}`);
    out.hidden = false;
    out.replaceChildren(
      h('p', { role: 'status', id: 'receipt-status' }, t('statusOf', { status: t(`status_${c.status}`) })),
      h('p', {}, `${t(`kind_${c.kind}`)} · ${c.site} · ${new Date(c.createdAt).toLocaleString(currentLang())}`),
      ...(c.resolution ? [h('p', {}, t('resolution', { note: c.resolution }))] : []));
  } catch (err) {
    out.hidden = false;
    out.replaceChildren(h('p', { role: 'alert', class: 'error' }, t('reportFailed', { message: err.message })));
  }
}
