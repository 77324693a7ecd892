import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { Banner, ErrorBanner, Loading, PageHeader, useAsync } from '../components/ui.jsx';

const LINE = 20; // px: the editor's line height, shared with the gutter

const REFERENCE = [
  ['idleSessionTimeout', 'minutes, 1–60 (default 20)'],
  ['maxSessionDuration', 'minutes, 1–1440 (default: none)'],
  ['s3BucketName, s3KeyPrefix', 'upload the transcript when the session ends'],
  ['s3EncryptionEnabled', 'refuse sessions if the bucket is not encrypted'],
  ['cloudWatchLogGroupName', 'send the session log to this log group'],
  ['cloudWatchEncryptionEnabled', 'refuse sessions if the group has no key'],
  ['cloudWatchStreamingEnabled', 'stream JSON events during the session'],
  ['kmsKeyId', 'key that encrypts session data at rest'],
  ['runAsEnabled, runAsDefaultUser', 'the OS user sessions run as'],
  ['shellProfile.linux / .windows', 'commands run at shell start'],
];

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// errorLine finds the line an error is about: "line N" in a syntax error,
// or the key a path such as inputs.idleSessionTimeout names. 0: unknown.
export function errorLine(content, err) {
  let m = /\bline (\d+)/i.exec(err);
  if (m) return Number(m[1]);
  m = /^([A-Za-z_][\w.[\]]*):\s/.exec(err);
  if (!m) return 0;
  const segs = m[1]
    .split('.')
    .map((s) => s.replace(/\[\d+\]$/, ''))
    .filter(Boolean);
  const lines = content.split('\n');
  let from = 0;
  let found = 0;
  for (const seg of segs) {
    const re = new RegExp(`(^|[\\s{,])["']?${esc(seg)}["']?\\s*:`);
    let hit = -1;
    for (let i = from; i < lines.length; i++) {
      if (re.test(lines[i])) {
        hit = i;
        break;
      }
    }
    if (hit < 0) break;
    found = hit + 1;
    from = hit;
  }
  return found;
}

function Editor({ value, onInput, errors, readOnly, textareaRef }) {
  const [scroll, setScroll] = useState(0);
  const lines = value.split('\n').length;
  const bad = new Map();
  for (const e of errors) if (e.line) bad.set(e.line, e.text);
  return (
    <div class={errors.length ? 'editor invalid' : 'editor'}>
      <div class="gutter" aria-hidden="true">
        <div style={{ transform: `translateY(${-scroll}px)` }}>
          {Array.from({ length: lines }, (_, i) => (
            <div key={i} class={bad.has(i + 1) ? 'ln bad' : 'ln'} title={bad.get(i + 1)}>
              {i + 1}
            </div>
          ))}
        </div>
      </div>
      <div class="editor-main">
        <div class="bands" aria-hidden="true" style={{ transform: `translateY(${-scroll}px)` }}>
          {[...bad.keys()].map((l) => (
            <div key={l} class="band" style={{ top: `${(l - 1) * LINE + 10}px` }} />
          ))}
        </div>
        <textarea
          ref={textareaRef}
          class="code-input editor-text"
          spellcheck={false}
          wrap="off"
          value={value}
          readOnly={readOnly}
          aria-label="Preferences document (JSON or YAML)"
          aria-invalid={errors.length > 0}
          aria-describedby="doc-errors"
          onInput={(e) => onInput(e.currentTarget.value)}
          onScroll={(e) => setScroll(e.currentTarget.scrollTop)}
          onKeyDown={(e) => {
            if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !readOnly) {
              // Indent, rather than leave the editor; Escape then Tab leaves.
              if (e.currentTarget.dataset.escaped) {
                delete e.currentTarget.dataset.escaped;
                return;
              }
              e.preventDefault();
              const t = e.currentTarget;
              const { selectionStart: s, selectionEnd: end } = t;
              t.setRangeText('  ', s, end, 'end');
              onInput(t.value);
            } else if (e.key === 'Escape') {
              e.currentTarget.dataset.escaped = '1';
            }
          }}
        />
      </div>
    </div>
  );
}

export function Preferences({ can }) {
  const doc = useAsync((signal) => api('/v1/preferences', { signal }), []);
  const [text, setText] = useState(null);
  const [check, setCheck] = useState({ busy: false, valid: null, errors: [], error: null });
  const [save, setSave] = useState({ busy: false, error: null, done: '' });
  const ta = useRef(null);
  const timer = useRef(0);
  const seq = useRef(0);

  const original = doc.data?.content ?? '';
  const value = text ?? original;
  const dirty = text !== null && text !== original;

  const validate = async (content) => {
    const n = ++seq.current;
    setCheck((c) => ({ ...c, busy: true }));
    try {
      const r = await api('/v1/documents/validate', { method: 'POST', body: { content } });
      if (n === seq.current) setCheck({ busy: false, valid: r.valid, errors: r.errors || [], error: null });
    } catch (e) {
      if (n === seq.current) setCheck({ busy: false, valid: null, errors: [], error: e });
    }
  };

  const onInput = (v) => {
    setText(v);
    setSave((s) => ({ ...s, done: '' }));
    clearTimeout(timer.current);
    timer.current = setTimeout(() => validate(v), 450);
  };
  useEffect(() => () => clearTimeout(timer.current), []);

  const errors = useMemo(() => check.errors.map((t) => ({ text: t, line: errorLine(value, t) })), [check.errors, value]);

  const goTo = (line) => {
    const t = ta.current;
    if (!t || !line) return;
    const lines = value.split('\n');
    const start = lines.slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
    t.focus();
    t.setSelectionRange(start, start + lines[line - 1].length);
    t.scrollTop = Math.max(0, (line - 4) * LINE);
  };

  const onSave = async () => {
    setSave({ busy: true, error: null, done: '' });
    try {
      const d = await api('/v1/preferences', { method: 'PUT', body: { content: value } });
      setSave({ busy: false, error: null, done: `Saved as version ${d.documentVersion}. New sessions use these preferences.` });
      setText(null);
      setCheck({ busy: false, valid: true, errors: [], error: null });
      doc.reload();
    } catch (e) {
      setSave({ busy: false, error: e, done: '' });
      if (e.code === 'InvalidDocumentContent') {
        setCheck({ busy: false, valid: false, errors: e.message.split('\n').filter(Boolean), error: null });
      }
    }
  };

  if (doc.loading && !doc.data) return <Loading />;
  return (
    <div class="page">
      <PageHeader title="Preferences" subtitle={`The default session document, ${doc.data?.name || 'Postern-SessionManagerRunShell'}: applied to every session that names no other.`}>
        {dirty && (
          <button type="button" class="btn" onClick={() => (setText(null), setCheck({ busy: false, valid: null, errors: [], error: null }))}>
            Discard changes
          </button>
        )}
        <button type="button" class="btn" onClick={() => validate(value)} disabled={check.busy}>
          Validate
        </button>
        <button type="button" class="btn btn-primary" onClick={onSave} disabled={!dirty || save.busy || !can.editPreferences || errors.length > 0} title={can.editPreferences ? '' : 'Only administrators change preferences'}>
          {save.busy ? 'Saving…' : 'Save'}
        </button>
      </PageHeader>
      <ErrorBanner error={doc.error} title="The preferences could not be loaded" onRetry={doc.reload} />
      {save.error && save.error.code !== 'InvalidDocumentContent' && (
        <Banner title="Not saved" onDismiss={() => setSave({ ...save, error: null })}>
          {save.error.message}
        </Banner>
      )}
      {save.done && <Banner kind="success">{save.done}</Banner>}
      {!can.editPreferences && <Banner kind="info">You can read and validate the preferences; only administrators change them.</Banner>}
      <div class="prefs">
        <section class="card prefs-editor" aria-labelledby="doc-title">
          <div class="card-head">
            <h2 class="card-title" id="doc-title">
              Document {doc.data?.documentVersion ? <span class="muted">· version {doc.data.documentVersion}</span> : null}
            </h2>
            <span class="validity" role="status" aria-live="polite">
              {check.busy ? (
                <span class="muted">Checking…</span>
              ) : errors.length ? (
                <span class="tone-bad">
                  {errors.length} {errors.length === 1 ? 'problem' : 'problems'}
                </span>
              ) : check.valid ? (
                <span class="tone-ok">✓ Valid</span>
              ) : dirty ? (
                <span class="muted">Unsaved changes</span>
              ) : null}
            </span>
          </div>
          <Editor value={value} onInput={onInput} errors={errors} readOnly={false} textareaRef={ta} />
          <div id="doc-errors" class="doc-errors" aria-live="polite">
            {check.error && <p class="tone-bad">Validation failed: {check.error.message}</p>}
            {errors.length > 0 && (
              <ul class="error-list">
                {errors.map((e, i) => (
                  <li key={i}>
                    <button type="button" class="error-item" onClick={() => goTo(e.line)} disabled={!e.line}>
                      {e.line ? <span class="error-line">Line {e.line}</span> : null}
                      <span>{e.text}</span>
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </section>
        <aside class="card prefs-ref" aria-labelledby="ref-title">
          <h2 class="card-title" id="ref-title">
            Inputs
          </h2>
          <p class="muted small">JSON or YAML in Session Manager's schema (schemaVersion "1.0", sessionType Standard_Stream).</p>
          <dl class="ref">
            {REFERENCE.map(([k, v]) => (
              <div key={k}>
                <dt class="mono">{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        </aside>
      </div>
    </div>
  );
}
