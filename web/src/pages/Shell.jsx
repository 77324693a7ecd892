import { useEffect, useRef, useState } from 'preact/hooks';
import { api, sessionPath } from '../lib/api.js';
import { TermStream } from '../lib/termstream.js';
import { createTerminal, copySelection, pasteInto } from '../lib/xterm.js';
import { Confirm, useAsync } from '../components/ui.jsx';
import { startSession } from './Nodes.jsx';

const dim = (s) => `\r\n\x1b[2m[postern: ${s}]\x1b[0m\r\n`;

export function StatePill({ state, detail }) {
  const map = {
    idle: ['info', 'Starting'],
    connecting: ['info', 'Connecting…'],
    connected: ['live', 'Connected'],
    reconnecting: ['warn', `Reconnecting…${detail?.attempt > 1 ? ` (try ${detail.attempt})` : ''}`],
    lost: ['bad', 'Disconnected'],
    failed: ['bad', 'Failed'],
    ended: ['neutral', `Ended${detail && detail.code !== undefined ? ` · exit ${detail.code}` : ''}`],
  };
  const [kind, label] = map[state] || ['neutral', state];
  return (
    <span class={`badge badge-${kind}`} role="status" aria-live="polite" data-state={state}>
      <span class="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

// TerminalSession attaches a terminal to a session's stream; Shell and
// the read-only Live view both use it.
export function useTerminalSession(id, { observe = false, initialSize = null } = {}) {
  const el = useRef(null);
  const [state, setState] = useState({ state: 'idle', detail: {} });
  const [exit, setExit] = useState(null);
  const ref = useRef({});
  useEffect(() => {
    const t = createTerminal(el.current, {
      readOnly: observe,
      fit: !initialSize,
      cols: initialSize?.cols,
      rows: initialSize?.rows,
      label: observe ? 'Live view of the session (read-only)' : 'Terminal',
      leave: () => document.querySelector('.shell-bar a, .shell-bar button')?.focus(),
    });
    const { term } = t;
    const stream = new TermStream({
      path: `${sessionPath(id)}/stream`,
      observe,
      onOutput: (b) => term.write(b),
      onNotice: (s) => term.write(dim(s)),
      onExit: (e) => {
        setExit(e);
        term.write(dim(e.reason ? `session ended (${e.status}): ${e.reason}` : `session ended with exit code ${e.code}`));
      },
      onState: (s, detail) => {
        setState({ state: s, detail });
        if (s === 'reconnecting' && detail.attempt === 1) term.write(dim('connection lost; reconnecting'));
        if (s === 'connected' && detail.resumed) term.write(dim('reconnected'));
        if (s === 'lost') term.write(dim('could not reconnect; the session may still be running'));
      },
    });
    if (!observe) {
      term.onData((d) => stream.sendInput(d));
      term.onBinary((d) => stream.sendInput(Uint8Array.from(d, (c) => c.charCodeAt(0))));
    }
    term.onResize(({ cols, rows }) => stream.resize(cols, rows));
    stream.resize(term.cols, term.rows);
    stream.start();
    if (!observe) term.focus();
    ref.current = { term, stream, t };
    // For tests and the curious: window.postern.stream.drop() simulates a
    // network drop.
    window.postern = { stream, term };
    return () => {
      stream.close();
      t.dispose();
      if (window.postern?.stream === stream) delete window.postern;
    };
  }, [id, observe, initialSize?.cols, initialSize?.rows]);
  return { el, state, exit, ref };
}

export function Shell({ id, params, can }) {
  const { el, state, exit, ref } = useTerminalSession(id);
  const info = useAsync((signal) => api(sessionPath(id), { signal }), [id]);
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [copied, setCopied] = useState(false);
  const node = params.get('node') || info.data?.target || '';

  const terminate = async () => {
    setBusy(true);
    try {
      await api(`${sessionPath(id)}/terminate`, { method: 'POST' });
      setConfirm(false);
    } catch (e) {
      setError(e);
      setConfirm(false);
    }
    setBusy(false);
  };

  const again = async () => {
    setError(null);
    try {
      await startSession({ id: info.data?.target, name: node });
    } catch (e) {
      setError(e);
    }
  };

  const ended = state.state === 'ended' || state.state === 'failed';
  return (
    <div class="shell-page">
      <div class="shell-bar">
        <div class="shell-title">
          <h1 id="page-title">
            Shell on <span class="node-name">{node || '…'}</span>
          </h1>
          <a class="mono muted small" href={`#/sessions/${encodeURIComponent(id)}`}>
            {id}
          </a>
        </div>
        <StatePill state={state.state} detail={state.state === 'ended' ? exit : state.detail} />
        <div class="shell-actions">
          <button
            type="button"
            class="btn btn-dark btn-sm"
            title="Copy the selection (Ctrl+Shift+C)"
            onClick={async () => {
              if (await copySelection(ref.current.term)) {
                setCopied(true);
                setTimeout(() => setCopied(false), 1200);
              }
              ref.current.term?.focus();
            }}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>
          <button type="button" class="btn btn-dark btn-sm" title="Paste from the clipboard (Ctrl+Shift+V)" disabled={ended} onClick={() => pasteInto(ref.current.term)}>
            Paste
          </button>
          {state.state === 'lost' && (
            <button type="button" class="btn btn-dark btn-sm" onClick={() => ref.current.stream.retry()}>
              Reconnect
            </button>
          )}
          {!ended && (
            <button type="button" class="btn btn-danger btn-sm" onClick={() => setConfirm(true)}>
              End session
            </button>
          )}
        </div>
      </div>
      {state.state === 'failed' && (
        <div class="shell-banner bad" role="alert">
          {state.detail.message}
        </div>
      )}
      {error && (
        <div class="shell-banner bad" role="alert">
          {error.message}
        </div>
      )}
      {state.state === 'reconnecting' && (
        <div class="shell-banner warn" role="status">
          Connection lost. Reconnecting and resuming where the output left off — keystrokes you type now are sent once the connection is back.
        </div>
      )}
      <div class="term-wrap">
        <div class="term" ref={el} />
        {ended && (
          <div class="term-ended" role="region" aria-label="Session ended">
            <div>
              <strong>{state.state === 'failed' ? 'The session could not be attached' : 'Session ended'}</strong>
              {exit && <span class="muted"> {exit.reason ? `${exit.status}: ${exit.reason}` : `exit code ${exit.code}`}</span>}
            </div>
            <div class="term-ended-actions">
              <a class="btn btn-primary btn-sm" href={`#/sessions/${encodeURIComponent(id)}`}>
                View recording
              </a>
              {can.startSessions && info.data?.target && (
                <button type="button" class="btn btn-dark btn-sm" onClick={again}>
                  New session on {node}
                </button>
              )}
              <a class="btn btn-dark btn-sm" href="#/nodes">
                Back to nodes
              </a>
            </div>
          </div>
        )}
      </div>
      <p class="shell-hint">
        Ctrl+Shift+C copies, Ctrl+Shift+V pastes, Ctrl+Shift+L leaves the terminal for the page. If the network drops, the shell reconnects and resumes by itself for up to two minutes. The session is recorded.
      </p>
      <Confirm open={confirm} title="End this session?" confirmLabel="End session" danger busy={busy} onConfirm={terminate} onCancel={() => setConfirm(false)}>
        <p>
          The shell on <strong>{node}</strong> and everything running in it will be stopped. The recording is kept.
        </p>
      </Confirm>
    </div>
  );
}
