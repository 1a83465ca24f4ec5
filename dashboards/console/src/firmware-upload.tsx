import { useEffect, useState } from 'preact/hooks';
import { KIND_LABELS } from '@yulan/protos/labels';
import { api, ApiError, qs, type Get } from './api.js';
import { pick, useI18n } from './i18n.js';

type Images = Get<'/api/v1/firmware'>;
type Image = Images['items'][number];
const KINDS = Object.keys(KIND_LABELS) as (keyof typeof KIND_LABELS)[];

/** The raw image goes as the request body (application/octet-stream); version, kind, key
 * id and signature as the query, as `yulan firmware upload` sends them. The cloud checks the
 * signature against its trusted keys and answers 400 with the reason when it does not hold. */
async function upload(file: File, meta: { version: string; kind: string; key_id: string; signature: string }): Promise<Image> {
  const r = await fetch(`/api/v1/firmware?${qs(meta)}`, {
    method: 'POST', credentials: 'same-origin', body: await file.arrayBuffer(),
    headers: { 'content-type': 'application/octet-stream', 'x-yulan-purpose': 'operator console' },
  });
  const body = (await r.json().catch(() => ({}))) as { message?: string; code?: string };
  if (r.status === 401) window.dispatchEvent(new CustomEvent('yulan:signed-out'));
  if (!r.ok) throw new ApiError(r.status, body.message ?? r.statusText, body.code);
  return body as unknown as Image;
}

/** Upload a signed image, list the images, start a campaign from one. */
export function FirmwareImages({ onCampaign }: { onCampaign: () => void }) {
  const { t, lang, time } = useI18n();
  const [images, setImages] = useState<Image[] | null>(null);
  const [message, setMessage] = useState('');
  const [failed, setFailed] = useState(false);
  const [busy, setBusy] = useState(false);
  const load = () => api<Images>('GET', '/api/v1/firmware').then((r) => setImages(r.items), () => setImages([]));
  useEffect(() => { void load(); }, []);
  const say = (text: string, bad: boolean) => { setMessage(text); setFailed(bad); };
  const err = (e: unknown) => say(`${t('error')}: ${e instanceof ApiError ? `${e.message}${e.code ? ` (${e.code})` : ''}` : String(e)}`, true);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const file = data.get('image');
    if (!(file instanceof File) || file.size === 0) return say(t('noFile'), true);
    setBusy(true);
    try {
      const img = await upload(file, {
        version: String(data.get('version') ?? '').trim(), kind: String(data.get('kind') ?? ''),
        key_id: String(data.get('key_id') ?? '').trim(), signature: String(data.get('signature') ?? '').replace(/\s+/g, ''),
      });
      say(`${t('uploaded')}: ${img.id} (${img.kind} ${img.version}, SHA-256 ${img.sha256.slice(0, 16)}…)`, false);
      form.reset();
      await load();
    } catch (x) {
      err(x);
    } finally {
      setBusy(false);
    }
  };

  const start = (img: Image) => async (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const sites = String(data.get('sites') ?? '').split(/[\s,]+/).filter(Boolean);
    const spread = Number(data.get('spread') ?? 0);
    try {
      const c = await api<{ id: string }>('POST', '/api/v1/campaigns', {
        firmwareId: img.id, target: { kind: img.kind, ...(sites.length ? { sites } : {}) }, ...(spread > 0 ? { spreadSec: spread * 60 } : {}),
      });
      say(`${c.id}: ${img.kind} ${img.version}`, false);
      onCampaign();
    } catch (x) {
      err(x);
    }
  };

  return (
    <section aria-labelledby="fw-images">
      <h2 id="fw-images">{t('firmware')}</h2>
      <p role="status" class={failed ? 'error' : 'hint'} data-upload-status={failed ? 'failed' : 'ok'}>{message}</p>
      <form class="card upload" onSubmit={submit} aria-labelledby="fw-upload">
        <h3 id="fw-upload">{t('upload')}</h3>
        <div class="row-form">
          <label>{t('imageFile')}<input name="image" type="file" required /></label>
          <label>{t('version')}<input name="version" required pattern="[0-9A-Za-z.+\-]{1,64}" /></label>
          <label>{t('kind')}<select name="kind">{KINDS.map((k) => <option key={k} value={k}>{pick(KIND_LABELS[k], lang, k)}</option>)}</select></label>
          <label>{t('keyId')}<input name="key_id" required /></label>
        </div>
        <label>{t('signature')}<textarea name="signature" required rows={2} /></label>
        <button type="submit" disabled={busy}>{t('upload')}</button>
      </form>
      {images && images.length > 0 ? (
        <div class="table-scroll"><table class="list">
          <thead><tr><th scope="col">ID</th><th scope="col">{t('kind')}</th><th scope="col">{t('version')}</th><th scope="col">{t('keyId')}</th><th scope="col">{t('created')}</th><th scope="col">{t('campaign')}</th></tr></thead>
          <tbody>{images.map((img) => (
            <tr key={img.id} data-firmware={img.id}>
              <td>{img.id}</td><td>{pick(KIND_LABELS[img.kind as keyof typeof KIND_LABELS], lang, img.kind)}</td><td>{img.version}</td><td>{img.keyId}</td><td>{time(img.createdAt)}</td>
              <td>
                <form class="actions" onSubmit={start(img)}>
                  <label>{t('site')}<input name="sites" size={10} placeholder="site-01, site-02" /></label>
                  <label>{t('spreadMin')}<input name="spread" type="number" min={0} max={1440} value={0} size={4} /></label>
                  <button type="submit" aria-label={`${t('startCampaign')} ${img.kind} ${img.version}`}>{t('startCampaign')}</button>
                </form>
              </td>
            </tr>
          ))}</tbody>
        </table></div>
      ) : null}
    </section>
  );
}
