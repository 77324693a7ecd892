import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { Banner, Loading } from '../components/ui.jsx';
import { Logo } from '../components/Sidebar.jsx';

function startSSO() {
  location.href = `/v1/sso/start?redirect=${encodeURIComponent('/sso')}`;
}

export function Login({ sso, notice, onSignedIn }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [account, setAccount] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const userRef = useRef(null);
  useEffect(() => userRef.current?.focus(), []);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await api('/v1/console/login', { method: 'POST', body: { user: user.trim(), password, account: account.trim() || undefined } });
      await onSignedIn(res);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <main class="login-page">
      <div class="login-card">
        <div class="login-brand">
          <Logo />
          <div>
            <h1>Sign in to Postern</h1>
            <p class="subtitle">Shells, session recordings and audit logs for your fleet.</p>
          </div>
        </div>
        {notice && !error && <Banner kind="info">{notice}</Banner>}
        {error && <Banner title={error.status === 401 ? 'Sign-in failed' : error.status === 429 ? 'Too many attempts' : 'Cannot sign in'}>{error.message}</Banner>}
        <form onSubmit={submit} class="form" aria-label="Sign in with a password">
          <label class="field">
            <span>User name</span>
            <input ref={userRef} name="user" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
          </label>
          <label class="field">
            <span>Password</span>
            <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <details class="advanced">
            <summary>Another account</summary>
            <label class="field">
              <span>Account ID</span>
              <input name="account" inputMode="numeric" placeholder="Default account" pattern="[0-9]{12}" title="12 digits" value={account} onInput={(e) => setAccount(e.currentTarget.value)} />
            </label>
          </details>
          <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        {sso && (
          <>
            <div class="divider">
              <span>or</span>
            </div>
            <button type="button" class="btn btn-block" onClick={startSSO}>
              Sign in with single sign-on (SSO)
            </button>
          </>
        )}
      </div>
      <p class="login-foot">Postern · self-hosted session manager</p>
    </main>
  );
}

// SSOReturn finishes a single sign-on: the server sent the browser back to
// /sso?code=... (or ?error=...), and the code buys the console's cookie.
export function SSOReturn({ params, onSignedIn }) {
  const [error, setError] = useState(null);
  const code = params.get('code');
  useEffect(() => {
    if (!code) return;
    let cancelled = false;
    api('/v1/console/login', { method: 'POST', body: { ssoCode: code } })
      .then((res) => !cancelled && onSignedIn(res, '/'))
      .catch((e) => !cancelled && setError(e));
    return () => {
      cancelled = true;
    };
  }, [code]);
  const providerError = params.get('error');
  if (code && !error) return <Loading label="Finishing single sign-on…" />;
  return (
    <main class="login-page">
      <div class="login-card">
        <div class="login-brand">
          <Logo />
          <h1>Single sign-on failed</h1>
        </div>
        <Banner title={providerError || 'Sign-in failed'}>
          {error ? error.message : params.get('error_description') || 'The identity provider did not sign you in.'}
        </Banner>
        <a class="btn btn-primary btn-block" href="#/">
          Back to sign-in
        </a>
      </div>
    </main>
  );
}
