import { useEffect, useState } from 'preact/hooks';
import { api, sessionPath } from '../lib/api.js';
import { fmtTime } from '../lib/format.js';
import { Loading, useAsync } from '../components/ui.jsx';
import { StatePill, useTerminalSession } from './Shell.jsx';
import { Desktop, isDesktop } from './Desktop.jsx';

// castSize reads the session's recording so far for the size of its
// terminal, so the live view wraps lines where the owner's screen does.
async function castSize(id, signal) {
  const res = await api(`${sessionPath(id)}/logs`, { params: { format: 'cast' }, raw: true, signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let size = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!size) {
        const h = JSON.parse(line);
        size = { cols: h.width, rows: h.height };
      } else if (line.includes('"r"')) {
        try {
          const [, kind, data] = JSON.parse(line);
          const m = kind === 'r' && /^(\d+)x(\d+)$/.exec(data);
          if (m) size = { cols: Number(m[1]), rows: Number(m[2]) };
        } catch {
          /* a partial or odd line */
        }
      }
    }
    if (done) break;
  }
  return size;
}

function LiveTerminal({ id, size }) {
  const { el, state, exit } = useTerminalSession(id, { observe: true, initialSize: size });
  return (
    <>
      <div class="shell-bar shell-bar-sub">
        <StatePill state={state.state} detail={state.state === 'ended' ? exit : state.detail} />
        {state.state === 'failed' && (
          <span class="tone-bad" role="alert">
            {state.detail.message}
          </span>
        )}
        {state.state === 'ended' && (
          <a class="btn btn-primary btn-sm" href={`#/sessions/${encodeURIComponent(id)}`}>
            View recording
          </a>
        )}
      </div>
      <div class="term-wrap term-scroll">
        <div class="term" ref={el} />
      </div>
    </>
  );
}

export function Live({ id, can }) {
  const sess = useAsync((signal) => api(sessionPath(id), { signal }), [id]);
  if (isDesktop(sess.data)) return <Desktop id={id} params={new URLSearchParams('watch=1')} can={can} />;
  return <LiveShell id={id} sess={sess} />;
}

function LiveShell({ id, sess }) {
  const [size, setSize] = useState(undefined);
  useEffect(() => {
    // A desktop's live view is the Desktop page's; wait to know which.
    if (!sess.data && !sess.error) return undefined;
    const ac = new AbortController();
    castSize(id, ac.signal).then(
      (s) => setSize(s && s.cols > 0 && s.rows > 0 ? s : null),
      () => !ac.signal.aborted && setSize(null),
    );
    return () => ac.abort();
  }, [id, !!(sess.data || sess.error)]);
  const s = sess.data;
  return (
    <div class="shell-page">
      <div class="shell-bar">
        <div class="shell-title">
          <h1 id="page-title">
            Live view <span class="badge badge-info">read-only</span>
          </h1>
          <span class="muted small">
            {s ? (
              <>
                <strong>{s.owner}</strong> on <span class="mono">{s.target}</span> · started {fmtTime(s.startDate)} ·{' '}
              </>
            ) : null}
            <a class="mono" href={`#/sessions/${encodeURIComponent(id)}`}>
              {id}
            </a>
          </span>
        </div>
      </div>
      {sess.error && (
        <div class="shell-banner bad" role="alert">
          {sess.error.message}
        </div>
      )}
      {size === undefined ? <Loading label="Joining the session…" /> : <LiveTerminal id={id} size={size} />}
      <p class="shell-hint">You are watching as it happens; nothing you type is sent, and the owner is not interrupted. Ctrl+Shift+L leaves the terminal for the page.</p>
    </div>
  );
}
