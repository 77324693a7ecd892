import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import '@xterm/xterm/css/xterm.css';
import 'asciinema-player/dist/bundle/asciinema-player.css';
import 'uplot/dist/uPlot.min.css';
import './styles.css';

import { api, onSignedOut, setCsrfToken } from './lib/api.js';
import { match, navigate, useRoute } from './lib/router.js';
import { Loading } from './components/ui.jsx';
import { Sidebar } from './components/Sidebar.jsx';
import { Login, SSOReturn } from './pages/Login.jsx';
import { Dashboard } from './pages/Dashboard.jsx';
import { Nodes } from './pages/Nodes.jsx';
import { Shell } from './pages/Shell.jsx';
import { Desktop } from './pages/Desktop.jsx';
import { Sessions } from './pages/Sessions.jsx';
import { SessionDetail } from './pages/SessionDetail.jsx';
import { Live } from './pages/Live.jsx';
import { Logs } from './pages/Logs.jsx';
import { Preferences } from './pages/Preferences.jsx';
import { Organization } from './pages/Organization.jsx';
import { Integrations } from './pages/Integrations.jsx';
import { NotFound } from './pages/NotFound.jsx';

const routes = [
  ['/', Dashboard, 'Dashboard'],
  ['/dashboard', Dashboard, 'Dashboard'],
  ['/nodes', Nodes, 'Nodes'],
  ['/shell/:id', Shell, 'Shell'],
  ['/desktop/:id', Desktop, 'Desktop'],
  ['/sessions', Sessions, 'Sessions'],
  ['/sessions/:id', SessionDetail, 'Session'],
  ['/sessions/:id/live', Live, 'Live view'],
  ['/logs', Logs, 'Logs'],
  ['/integrations', Integrations, 'Integrations'],
  ['/preferences', Preferences, 'Preferences'],
  ['/organization', Organization, 'Organization'],
];

// What the signed-in user may do, as far as the console can tell from
// their groups; the server decides every request anyway, and its refusals
// are shown as they come.
function abilities(me) {
  const g = new Set(me.groups || []);
  const admin = me.admin || g.has('administrators');
  const onlyAuditor = !admin && g.has('auditors') && !g.has('operators');
  return {
    admin,
    startSessions: !onlyAuditor,
    editPreferences: admin || !(g.has('operators') || g.has('auditors')),
    observe: admin || g.has('auditors') || !g.has('operators'),
    terminateAny: admin,
  };
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState(undefined); // undefined: checking; null: signed out
  const [config, setConfig] = useState({ sso: false });
  const [notice, setNotice] = useState('');

  const loadMe = useCallback(async () => {
    try {
      setMe(await api('/v1/whoami'));
    } catch (e) {
      setMe(null);
      if (e.status !== 401) setNotice(e.message);
    }
  }, []);

  useEffect(() => {
    onSignedOut(() => {
      setMe((m) => {
        if (m) setNotice('Your session has ended. Sign in again to continue.');
        return null;
      });
    });
    api('/v1/console/config')
      .then(setConfig)
      .catch(() => {});
  }, []);

  useEffect(() => {
    if (route.path !== '/sso' && me === undefined) loadMe();
  }, [route.path]);

  useEffect(() => {
    const r = routes.find(([p]) => match(p, route.path));
    document.title = `${r ? r[2] : 'Postern'} · Postern`;
  }, [route.path]);

  const signedIn = useCallback(
    async (res, next) => {
      setCsrfToken(res.csrfToken);
      setNotice('');
      await loadMe();
      if (next !== undefined) navigate(next || '/', undefined, { replace: true });
    },
    [loadMe],
  );

  const signOut = useCallback(async () => {
    try {
      await api('/v1/console/logout', { method: 'POST' });
    } catch {
      /* signed out either way */
    }
    setCsrfToken('');
    setMe(null);
    navigate('/', undefined, { replace: true });
  }, []);

  if (route.path === '/sso') return <SSOReturn params={route.params} onSignedIn={signedIn} />;
  if (me === undefined) return <Loading label="Loading Postern…" />;
  if (me === null) return <Login sso={config.sso} notice={notice} onSignedIn={(res) => signedIn(res)} />;

  let page = null;
  for (const [pattern, Page] of routes) {
    const m = match(pattern, route.path);
    if (m) {
      page = <Page {...m} params={route.params} me={me} can={abilities(me)} />;
      break;
    }
  }
  const full = route.path.startsWith('/shell/') || route.path.startsWith('/desktop/') || route.path.endsWith('/live');
  return (
    <div class="app">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Sidebar path={route.path} me={me} onSignOut={signOut} />
      <main id="main" class={full ? 'main main-full' : 'main'} tabIndex={-1}>
        {page || <NotFound />}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app'));
