import { useEffect, useRef, useState } from 'preact/hooks';
import { api, sessionPath } from '../lib/api.js';
import { navigate } from '../lib/router.js';
import { fmtTime } from '../lib/format.js';
import { Guacamole, desktopURL } from '../lib/guac.js';
import { DesktopConnection } from '../lib/desktop.js';
import { Loading, useAsync } from '../components/ui.jsx';
import { StatePill } from './Shell.jsx';

// The session document that connects a desktop (DESKTOP.md section 2).
export const DESKTOP_DOCUMENT = 'Postern-StartDesktopSession';

export const isDesktop = (s) => s?.sessionType === 'Desktop';

// The document's default RDP port.
export const RDP_PORT = '3389';

// startDesktop starts a desktop session to a node's RDP port (the
// document's default when not given) and opens its page, where the user
// logs in to the desktop.
export async function startDesktop(node, port = '') {
  const body = { target: node.id, documentName: DESKTOP_DOCUMENT };
  if (port && port !== RDP_PORT) body.parameters = { portNumber: port };
  const s = await api('/v1/sessions', { method: 'POST', body });
  navigate(`/desktop/${encodeURIComponent(s.sessionId)}`, { node: node.name || node.id });
}

// The desktop's size for a page area, in CSS pixels (what the login and
// resizes ask for; the server may give another, and the page scales).
const areaSize = (el) => ({ width: Math.max(1, Math.floor(el.clientWidth)), height: Math.max(1, Math.floor(el.clientHeight)) });

// useDesktopScreen attaches a DesktopConnection's display to screenRef,
// scaled to fit areaRef (never enlarged), with the keyboard on the screen
// element and the mouse on the display unless watching.
function useDesktopScreen({ areaRef, screenRef, watch, onState, onClipboard }) {
  const conn = useRef(null);
  const [size, setSize] = useState(null); // the display's own size

  const fit = () => {
    const c = conn.current?.client;
    const area = areaRef.current;
    if (!c || !area) return;
    const d = c.getDisplay();
    const w = d.getWidth();
    const h = d.getHeight();
    if (!w || !h) return;
    const scale = Math.min(area.clientWidth / w, area.clientHeight / h, 1);
    d.scale(scale);
    screenRef.current.dataset.scale = String(scale);
  };

  const make = (url) => {
    conn.current?.close();
    const c = new DesktopConnection({
      url,
      watch,
      onState,
      onClipboard,
      onClient: (client) => {
        const screen = screenRef.current;
        screen.replaceChildren();
        const display = client.getDisplay();
        const el = display.getElement();
        screen.appendChild(el);
        display.onresize = (w, h) => {
          setSize({ width: w, height: h });
          Object.assign(screen.dataset, { width: String(w), height: String(h) });
          fit();
        };
        if (!watch) {
          const mouse = new Guacamole.Mouse(el);
          mouse.onEach(['mousedown', 'mousemove', 'mouseup'], (e) => {
            if (c.connected()) client.sendMouseState(e.state, true);
          });
        }
      },
    });
    conn.current = c;
    // For tests and the curious: window.postern.desktop.client is the
    // Guacamole.Client (getDisplay().flatten() is the screen as a canvas);
    // window.postern.desktop.drop() simulates a network drop.
    window.postern = { ...(window.postern || {}), desktop: c };
    return c;
  };

  // The keyboard, on the screen element while it has the focus.
  useEffect(() => {
    if (watch) return undefined;
    const screen = screenRef.current;
    const kb = new Guacamole.Keyboard(screen);
    kb.onkeydown = (keysym) => {
      if (conn.current?.connected()) conn.current.client.sendKeyEvent(1, keysym);
    };
    kb.onkeyup = (keysym) => {
      if (conn.current?.connected()) conn.current.client.sendKeyEvent(0, keysym);
    };
    // Keys held when the focus leaves would stay down on the desktop.
    const blur = () => kb.reset();
    screen.addEventListener('blur', blur);
    // A click on the desktop gives it the keyboard. Capture: Guacamole's
    // mouse handling stops the event at the display.
    const focus = () => screen.focus({ preventScroll: true });
    screen.addEventListener('mousedown', focus, true);
    return () => {
      screen.removeEventListener('blur', blur);
      screen.removeEventListener('mousedown', focus, true);
      kb.onkeydown = kb.onkeyup = null;
      kb.reset();
    };
  }, [watch]);

  // Scale on any change of the page area; ask the desktop for the new
  // size once the resizing settles.
  useEffect(() => {
    let t = 0;
    const ro = new ResizeObserver(() => {
      fit();
      if (watch) return;
      clearTimeout(t);
      t = setTimeout(() => {
        const s = areaSize(areaRef.current);
        const want = `${s.width}x${s.height}`;
        // The login asked for the size the page had then.
        if (conn.current?.connected() && screenRef.current.dataset.requestedSize !== want) {
          conn.current.sendSize(s.width, s.height);
          screenRef.current.dataset.requestedSize = want;
        }
      }, 300);
    });
    ro.observe(areaRef.current);
    return () => {
      ro.disconnect();
      clearTimeout(t);
    };
  }, [watch]);

  useEffect(
    () => () => {
      const c = conn.current;
      c?.close();
      if (window.postern?.desktop === c) delete window.postern.desktop;
    },
    [],
  );

  return { conn, make, size, fit };
}

function LoginForm({ node, onConnect, disabled }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [domain, setDomain] = useState('');
  const [noNLA, setNoNLA] = useState(false);
  const submit = (e) => {
    e.preventDefault();
    const p = password;
    // The password goes into the login instruction and nowhere else.
    setPassword('');
    onConnect(noNLA ? { username: '', password: '', domain: '', security: 'tls' } : { username, password: p, domain, security: 'any' });
  };
  return (
    <form class="desktop-login" onSubmit={submit} aria-labelledby="desktop-login-title">
      <h2 id="desktop-login-title">Log in to {node || 'the desktop'}</h2>
      <p class="muted small">The desktop's own account. Postern passes it to the desktop once and keeps no copy; it is not recorded.</p>
      <label class="field">
        <span>User name</span>
        <input name="desktop-user" autocomplete="off" autocapitalize="off" spellcheck={false} value={username} disabled={noNLA} required={!noNLA} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Password</span>
        <input name="desktop-password" type="password" autocomplete="new-password" value={password} disabled={noNLA} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Domain (optional)</span>
        <input name="desktop-domain" autocomplete="off" autocapitalize="off" spellcheck={false} value={domain} disabled={noNLA} onInput={(e) => setDomain(e.currentTarget.value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked={noNLA} onChange={(e) => setNoNLA(e.currentTarget.checked)} />
        <span>No NLA (log in on the desktop's screen)</span>
      </label>
      <div class="desktop-login-actions">
        <button type="submit" class="btn btn-primary" disabled={disabled}>
          Connect
        </button>
        <a class="btn btn-dark" href="#/nodes">
          Cancel
        </a>
      </div>
    </form>
  );
}

function ClipboardPanel({ text, onSend, disabled }) {
  const [value, setValue] = useState(text);
  const [sent, setSent] = useState(false);
  useEffect(() => setValue(text), [text]);
  return (
    <div class="desktop-clipboard" role="region" aria-label="Clipboard">
      <label class="field grow">
        <span>Clipboard — text copied on the desktop appears here; text sent goes to the desktop's clipboard</span>
        <textarea rows={3} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      </label>
      <button
        type="button"
        class="btn btn-dark btn-sm"
        disabled={disabled}
        onClick={() => {
          if (onSend(value)) {
            setSent(true);
            setTimeout(() => setSent(false), 1200);
          }
        }}
      >
        {sent ? 'Sent' : 'Send to desktop'}
      </button>
    </div>
  );
}

// DesktopView is a desktop session's screen: the owner's (with the login
// form on a first attach, input, clipboard and Disconnect) or, with
// watch, an auditor's read-only live view.
export function DesktopView({ id, session, watch = false, resume = false, can = {} }) {
  const areaRef = useRef(null);
  const screenRef = useRef(null);
  const [state, setState] = useState({ state: 'idle', detail: {} });
  const [clip, setClip] = useState('');
  const [clipOpen, setClipOpen] = useState(false);
  const [error, setError] = useState(null);
  const { conn, make } = useDesktopScreen({
    areaRef,
    screenRef,
    watch,
    onState: (s, detail) => {
      setState({ state: s, detail });
      if (s === 'connected' && !watch) screenRef.current?.focus();
    },
    onClipboard: (text) => {
      setClip(text);
      // Into the browser's clipboard too, where the browser allows it.
      navigator.clipboard?.writeText(text).catch(() => {});
    },
  });
  const node = session?.targetName || session?.target || '';
  const url = desktopURL(id);
  const over = !!session?.endDate;

  // A watcher or a reattach connects straight away; the owner's first
  // attach waits for the login form.
  useEffect(() => {
    if (!session || over || !(watch || resume)) return;
    make(url).start(null);
  }, [session?.sessionId, watch, resume]);

  const connect = (creds) => {
    const size = areaSize(areaRef.current);
    screenRef.current.dataset.requestedSize = `${size.width}x${size.height}`;
    make(url).start({ ...creds, width: size.width, height: size.height, dpi: 96 });
  };

  const again = async () => {
    setError(null);
    try {
      await startDesktop({ id: session.target, name: node });
    } catch (e) {
      setError(e);
    }
  };

  const s = state.state;
  const ended = s === 'ended' || s === 'failed';
  const showForm = !watch && !resume && s === 'idle' && session && !over;
  return (
    <>
      <div class="shell-bar shell-bar-sub">
        <StatePill state={s} detail={state.detail} />
        <div class="shell-actions">
          {!watch && !ended && (
            <button type="button" class="btn btn-dark btn-sm" aria-expanded={clipOpen} onClick={() => setClipOpen(!clipOpen)}>
              Clipboard
            </button>
          )}
          {s === 'lost' && (
            <button type="button" class="btn btn-dark btn-sm" onClick={() => conn.current?.retry()}>
              Reconnect
            </button>
          )}
          {!watch && (s === 'connected' || s === 'connecting' || s === 'reconnecting' || s === 'lost') && (
            <button type="button" class="btn btn-danger btn-sm" onClick={() => conn.current?.disconnect()}>
              Disconnect
            </button>
          )}
        </div>
      </div>
      {s === 'failed' && (
        <div class="shell-banner bad" role="alert" data-error-code={state.detail.code ?? ''}>
          {state.detail.wasConnected ? 'The desktop connection failed' : 'Could not connect'}: {state.detail.message}
        </div>
      )}
      {error && (
        <div class="shell-banner bad" role="alert">
          {error.message}
        </div>
      )}
      {s === 'reconnecting' && (
        <div class="shell-banner warn" role="status">
          Connection lost. Reconnecting to the same desktop — it stays connected at the server for a while.
        </div>
      )}
      {s === 'lost' && (
        <div class="shell-banner warn" role="status">
          Could not reconnect. The desktop may still be connected at the server: try Reconnect.
        </div>
      )}
      {clipOpen && !watch && !ended && <ClipboardPanel text={clip} disabled={s !== 'connected'} onSend={(t) => conn.current?.sendClipboard(t)} />}
      <div class="desktop-area" ref={areaRef}>
        <div
          class="desktop-screen"
          ref={screenRef}
          tabIndex={watch ? -1 : 0}
          role="application"
          aria-label={watch ? 'Live view of the desktop (read-only)' : 'Remote desktop: keys typed here go to the desktop'}
        />
        {showForm && <LoginForm node={node} onConnect={connect} />}
        {!session && <Loading label="Loading the session…" />}
        {over && s === 'idle' && (
          <div class="term-ended" role="region" aria-label="Session ended">
            <strong>This desktop session has ended</strong>
            <div class="term-ended-actions">
              <a class="btn btn-primary btn-sm" href={`#/sessions/${encodeURIComponent(id)}`}>
                View recording
              </a>
            </div>
          </div>
        )}
        {ended && (
          <div class="term-ended" role="region" aria-label="Desktop connection ended">
            <div>
              <strong>{s === 'failed' ? (state.detail.wasConnected ? 'The desktop connection failed' : 'The desktop could not be connected') : 'Disconnected'}</strong>
              {s === 'failed' && <span class="muted"> {state.detail.message}</span>}
              {s === 'ended' && state.detail.reason && <span class="muted"> {state.detail.reason}</span>}
            </div>
            <div class="term-ended-actions">
              <a class="btn btn-primary btn-sm" href={`#/sessions/${encodeURIComponent(id)}`}>
                {s === 'failed' ? 'Session details' : 'View recording'}
              </a>
              {!watch && can.startSessions && session?.target && (
                <button type="button" class="btn btn-dark btn-sm" onClick={again}>
                  {s === 'failed' ? 'Try again' : 'New connection'} to {node}
                </button>
              )}
              <a class="btn btn-dark btn-sm" href="#/nodes">
                Back to nodes
              </a>
            </div>
          </div>
        )}
      </div>
    </>
  );
}

export function Desktop({ id, params, can }) {
  const info = useAsync((signal) => api(sessionPath(id), { signal }), [id]);
  const watch = params.get('watch') === '1';
  const resume = params.get('resume') === '1';
  const s = info.data;
  const node = params.get('node') || s?.targetName || s?.target || '';
  return (
    <div class="shell-page desktop-page">
      <div class="shell-bar">
        <div class="shell-title">
          <h1 id="page-title">
            {watch ? (
              <>
                Live view <span class="badge badge-info">read-only</span>
              </>
            ) : (
              <>
                Desktop on <span class="node-name">{node || '…'}</span>
              </>
            )}
          </h1>
          <span class="muted small">
            {watch && s && (
              <>
                <strong>{s.owner}</strong> on <span class="mono">{s.target}</span> · started {fmtTime(s.startDate)} ·{' '}
              </>
            )}
            <a class="mono" href={`#/sessions/${encodeURIComponent(id)}`}>
              {id}
            </a>
          </span>
        </div>
      </div>
      {info.error && (
        <div class="shell-banner bad" role="alert">
          {info.error.message}
        </div>
      )}
      {s && !isDesktop(s) ? (
        <div class="shell-banner bad" role="alert">
          This session is not a desktop session ({s.sessionType || 'a shell'}). <a href={`#/sessions/${encodeURIComponent(id)}`}>Open it</a>
        </div>
      ) : (
        <DesktopView id={id} session={s} watch={watch} resume={resume} can={can} />
      )}
      <p class="shell-hint">
        {watch
          ? 'You are watching as it happens; nothing you do is sent to the desktop, and its user is not interrupted.'
          : 'Click the desktop to type into it; Clipboard exchanges text with the desktop\'s clipboard. The window scales to fit the page; resizing the page resizes the desktop where it allows. If the network drops, the page reconnects to the same desktop by itself. The connection is recorded.'}
      </p>
    </div>
  );
}
