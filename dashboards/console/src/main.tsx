import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { api, ApiError, type Me } from './api.js';
import { I18nContext, makeI18n, type Lang } from './i18n.js';
import { SignIn } from './sign-in.js';
import { Fleet } from './fleet.js';
import { DevicePage } from './device-page.js';
import { Alerts } from './alerts.js';
import { Firmware } from './firmware.js';
import { Broker } from './broker.js';
import { Complaints } from './complaints.js';
import { Security } from './security.js';

type Route = { screen: 'fleet' } | { screen: 'device'; id: string } | { screen: 'alerts' } | { screen: 'firmware' } | { screen: 'broker' } | { screen: 'complaints' } | { screen: 'security' };

function parseRoute(hash: string): Route {
  const m = /^#\/device\/([^/?]+)/.exec(hash);
  if (m) return { screen: 'device', id: decodeURIComponent(m[1]!) };
  if (hash.startsWith('#/alerts')) return { screen: 'alerts' };
  if (hash.startsWith('#/firmware')) return { screen: 'firmware' };
  if (hash.startsWith('#/broker')) return { screen: 'broker' };
  if (hash.startsWith('#/complaints')) return { screen: 'complaints' };
  if (hash.startsWith('#/security')) return { screen: 'security' };
  return { screen: 'fleet' };
}

const STAFF = new Set(['admin', 'operator']);

function App() {
  const [lang, setLang] = useState<Lang>(() => (localStorage.getItem('yulan.lang') === 'zh-CN' ? 'zh-CN' : 'en'));
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const i18n = useMemo(() => makeI18n(lang), [lang]);

  useEffect(() => {
    document.documentElement.lang = lang;
    document.title = `Yulan 玉兰 · ${i18n.t('title')}`;
    localStorage.setItem('yulan.lang', lang);
  }, [lang]);
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    const onOut = () => setMe(null);
    window.addEventListener('hashchange', onHash);
    window.addEventListener('yulan:signed-out', onOut);
    api<Me>('GET', '/api/v1/me').then(setMe, (e: unknown) => { if (e instanceof ApiError) setMe(null); });
    return () => { window.removeEventListener('hashchange', onHash); window.removeEventListener('yulan:signed-out', onOut); };
  }, []);

  const signOut = async () => {
    await api('POST', '/api/v1/auth/logout').catch(() => undefined);
    setMe(null);
  };
  const role = me?.user?.role;
  const nav = (screen: Route['screen'], label: string, href: string) => (
    <a href={href} aria-current={route.screen === screen ? 'page' : undefined}>{label}</a>
  );

  return (
    <I18nContext.Provider value={i18n}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>{i18n.t('skip')}</a>
      <header class="top">
        <span class="brand">Yulan <span lang="zh-CN">玉兰</span> · {i18n.t('title')}</span>
        {me?.user && role && STAFF.has(role) ? (
          <nav aria-label={i18n.t('title')}>
            {nav('fleet', i18n.t('fleet'), '#/fleet')}
            {nav('alerts', i18n.t('alerts'), '#/alerts')}
            {nav('firmware', i18n.t('firmware'), '#/firmware')}
            {nav('broker', i18n.t('broker'), '#/broker')}
            {nav('complaints', i18n.t('complaints'), '#/complaints')}
            {nav('security', i18n.t('security'), '#/security')}
          </nav>
        ) : null}
        <span class="spacer" />
        <button type="button" class="ghost" title={i18n.t('languageLabel')} lang={lang === 'en' ? 'zh-CN' : 'en'}
          onClick={() => setLang(lang === 'en' ? 'zh-CN' : 'en')}>{i18n.t('language')}</button>
        {me?.user ? <span class="who">{me.user.name} ({role})</span> : null}
        {me?.user ? <button type="button" class="ghost" onClick={signOut}>{i18n.t('signOut')}</button> : null}
      </header>
      <main id="main" tabIndex={-1}>
        {me === undefined ? <p role="status">{i18n.t('loading')}</p>
          : me === null || !me.user ? <SignIn onSignedIn={setMe} />
          : !STAFF.has(me.user.role) ? <p role="alert" class="error">{i18n.t('notStaff')}</p>
          : route.screen === 'device' ? <DevicePage id={route.id} role={me.user.role} />
          : route.screen === 'alerts' ? <Alerts />
          : route.screen === 'firmware' ? <Firmware />
          : route.screen === 'broker' ? <Broker role={me.user.role} />
          : route.screen === 'complaints' ? <Complaints />
          : route.screen === 'security' ? <Security />
          : <Fleet />}
      </main>
    </I18nContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
