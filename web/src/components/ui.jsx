import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

// useAsync runs fn (given an AbortSignal) when deps change and on reload.
export function useAsync(fn, deps = [], { interval = 0 } = {}) {
  const [state, setState] = useState({ loading: true, data: undefined, error: null });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const ac = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    Promise.resolve()
      .then(() => fn(ac.signal))
      .then(
        (data) => !ac.signal.aborted && setState({ loading: false, data, error: null }),
        (error) => !ac.signal.aborted && error.name !== 'AbortError' && setState((s) => ({ loading: false, data: s.data, error })),
      );
    return () => ac.abort();
  }, [...deps, tick]);
  useEffect(() => {
    if (!interval) return undefined;
    const id = setInterval(() => document.visibilityState === 'visible' && reload(), interval);
    return () => clearInterval(id);
  }, [interval, reload]);
  return { ...state, reload };
}

export function PageHeader({ title, subtitle, children }) {
  return (
    <header class="page-header">
      <div>
        <h1 id="page-title">{title}</h1>
        {subtitle && <p class="subtitle">{subtitle}</p>}
      </div>
      {children && <div class="page-actions">{children}</div>}
    </header>
  );
}

// Banner shows an error (with the server's message) or a notice.
export function Banner({ kind = 'error', title, children, onDismiss }) {
  if (!children && !title) return null;
  return (
    <div class={`banner banner-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      <span class="banner-icon" aria-hidden="true">
        {kind === 'error' ? '!' : kind === 'success' ? '✓' : 'i'}
      </span>
      <div class="banner-body">
        {title && <strong>{title}</strong>}
        {children && <div>{children}</div>}
      </div>
      {onDismiss && (
        <button type="button" class="icon-btn" aria-label="Dismiss" onClick={onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}

export function ErrorBanner({ error, title, onRetry }) {
  if (!error) return null;
  return (
    <Banner title={title || (error.code ? errorTitle(error) : 'Something went wrong')}>
      {error.message}
      {onRetry && (
        <>
          {' '}
          <button type="button" class="link-btn" onClick={onRetry}>
            Try again
          </button>
        </>
      )}
    </Banner>
  );
}

function errorTitle(e) {
  if (e.status === 403) return 'Not permitted';
  if (e.status === 404) return 'Not found';
  if (e.status === 0) return 'Server unreachable';
  return e.code.replace(/([a-z])([A-Z])/g, '$1 $2');
}

export function Empty({ icon = '○', title, children }) {
  return (
    <div class="empty">
      <div class="empty-icon" aria-hidden="true">
        {icon}
      </div>
      <h2>{title}</h2>
      {children && <div class="empty-body">{children}</div>}
    </div>
  );
}

export function Loading({ label = 'Loading…' }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

const statusKinds = {
  Online: 'ok',
  Connected: 'live',
  Connecting: 'info',
  Terminating: 'warn',
  Terminated: 'neutral',
  Success: 'ok',
  Failed: 'bad',
  ConnectionLost: 'bad',
  Offline: 'bad',
  Complete: 'ok',
  Delivered: 'ok',
  Recording: 'live',
  Waiting: 'info',
  Pending: 'warn',
  Failing: 'bad',
};

export function Badge({ status, label, kind }) {
  const k = kind || statusKinds[status] || 'neutral';
  return (
    <span class={`badge badge-${k}`}>
      <span class="dot" aria-hidden="true" />
      {label || status}
    </span>
  );
}

export function Tabs({ tabs, value, onChange, label }) {
  const refs = useRef([]);
  const onKey = (e, i) => {
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    if (j >= 0) {
      e.preventDefault();
      onChange(tabs[j].id);
      refs.current[j]?.focus();
    }
  };
  return (
    <div class="tabs" role="tablist" aria-label={label}>
      {tabs.map((t, i) => (
        <button
          type="button"
          role="tab"
          ref={(el) => (refs.current[i] = el)}
          id={`tab-${t.id}`}
          aria-selected={value === t.id}
          tabIndex={value === t.id ? 0 : -1}
          class={value === t.id ? 'tab active' : 'tab'}
          onClick={() => onChange(t.id)}
          onKeyDown={(e) => onKey(e, i)}
        >
          {t.label}
          {t.count !== undefined && <span class="tab-count">{t.count}</span>}
        </button>
      ))}
    </div>
  );
}

// Confirm is a modal dialog (the browser's <dialog>: focus stays inside,
// Escape cancels).
export function Confirm({ open, title, children, confirmLabel = 'Confirm', danger = false, busy = false, disabled = false, onConfirm, onCancel }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="dialog-title" onCancel={(e) => (e.preventDefault(), onCancel())}>
      <h2 id="dialog-title">{title}</h2>
      <div class="dialog-body">{children}</div>
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class={danger ? 'btn btn-danger' : 'btn btn-primary'} disabled={busy || disabled} onClick={onConfirm}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export function Copyable({ text, children, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  return (
    <span class="copyable">
      {children || <code>{text}</code>}
      <button
        type="button"
        class="icon-btn small"
        aria-label={`${label} ${text}`}
        title={label}
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setDone(true);
            setTimeout(() => setDone(false), 1200);
          } catch {
            /* clipboard refused */
          }
        }}
      >
        {done ? (
          '✓'
        ) : (
          <svg viewBox="0 0 24 24" width="15" height="15" aria-hidden="true">
            <rect x="8" y="8" width="12" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="2" />
            <path d="M16 8V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2" fill="none" stroke="currentColor" stroke-width="2" />
          </svg>
        )}
      </button>
    </span>
  );
}
