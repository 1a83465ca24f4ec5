import { useEffect, useState } from 'preact/hooks';
import { api, type Get } from './api.js';
import { useI18n } from './i18n.js';

type Files = Get<'/api/v1/devices/{id}/diagnostics'>['items'];

const size = (n: number): string => (n < 1024 ? `${n} B` : n < 1_048_576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1_048_576).toFixed(1)} MiB`);

/**
 * A charger's GetDiagnostics files as the cloud holds them (docs/ocpp.md §4.2), newest
 * first, each a plain download link: the session cookie authenticates it and the cloud
 * serves it as an attachment. Re-read when the gateway's `diagnostics.stored` event (the
 * cloud has the file) arrives on the page (`tick`).
 */
export function DiagnosticsCard({ deviceId, tick }: { deviceId: string; tick: number }) {
  const { t, time } = useI18n();
  const [files, setFiles] = useState<Files | null>(null);
  const enc = encodeURIComponent(deviceId);
  useEffect(() => {
    void api<{ items: Files }>('GET', `/api/v1/devices/${enc}/diagnostics?limit=20`).then((r) => setFiles(r.items), () => setFiles([]));
  }, [deviceId, tick]);
  return (
    <section class="card" aria-labelledby="diagnostics-title">
      <h2 id="diagnostics-title">{t('diagnostics')}</h2>
      {files === null ? <p role="status">{t('loading')}</p> : files.length === 0 ? <p>{t('noDiagnostics')}</p> : (
        <ul class="diagnostics">{files.map((f) => (
          <li key={f.id} data-file-id={f.id}>
            <a href={`/api/v1/devices/${enc}/diagnostics/${encodeURIComponent(f.id)}`} download={f.fileName}>{f.fileName}</a>
            {' '}<span class="sub">{size(f.bytes)} · {time(f.uploadedAt)}</span>
          </li>
        ))}</ul>
      )}
    </section>
  );
}
