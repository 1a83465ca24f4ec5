import { useState } from 'preact/hooks';
import { api, ApiError, type Me } from './api.js';
import { useI18n } from './i18n.js';

export function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const { t } = useI18n();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      await api('POST', '/api/v1/auth/login', { login: String(form.get('login')), password: String(form.get('password')) });
      onSignedIn(await api<Me>('GET', '/api/v1/me'));
    } catch (err) {
      setError(`${t('signInFailed')}: ${err instanceof ApiError ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card signin" aria-labelledby="signin-title">
      <h1 id="signin-title">{t('signIn')}</h1>
      <p class="hint">{t('signInHint')}</p>
      <form onSubmit={submit}>
        <label for="login">{t('login')}</label>
        <input id="login" name="login" autocomplete="username" required />
        <label for="password">{t('password')}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <p class="error" role="alert">{error}</p>
        <button type="submit" disabled={busy}>{t('signIn')}</button>
      </form>
    </section>
  );
}
