import { useMemo, useState } from 'preact/hooks';
import { api, sessionPath } from '../lib/api.js';
import { navigate } from '../lib/router.js';
import { fmtDuration, fmtTime, isoDay, sessionDuration, sessionKind } from '../lib/format.js';
import { toCSV, download } from '../lib/csv.js';
import { Badge, Banner, Confirm, Empty, ErrorBanner, Loading, PageHeader, Tabs, useAsync } from '../components/ui.jsx';

const STATUSES = ['Connected', 'Connecting', 'Terminating', 'Terminated', 'Failed'];

// since turns a local start date into the API's ?since= duration.
function sinceParam(from) {
  if (!from) return undefined;
  const [y, m, d] = from.split('-').map(Number);
  const start = new Date(y, m - 1, d).getTime();
  const h = Math.ceil((Date.now() - start) / 3_600_000);
  return `${Math.max(h, 1)}h`;
}

function endOfDay(to) {
  const [y, m, d] = to.split('-').map(Number);
  return new Date(y, m - 1, d + 1).getTime();
}

export function nodeNames(nodes) {
  const m = new Map();
  for (const n of nodes || []) m.set(n.id, n.name || n.hostname || n.id);
  return m;
}

export const isActive = (s) => !s.endDate && ['Connected', 'Connecting', 'Terminating'].includes(s.status);

// recordingOf is where a session's recording is for the report: a desktop's
// .guac where it was delivered (the listing carries a desktop's
// deliveries), else the journal on the server, with its size.
function recordingOf(s) {
  const logs = s.logs || [];
  return logs.find((l) => l.format === 'guac' && l.status === 'Delivered') || logs.find((l) => l.destination === 'local') || {};
}

export async function connectionsReport(names) {
  const list = await api('/v1/sessions', { params: { since: '30d' } });
  const rows = list.map((s) => [
    s.sessionId,
    s.owner,
    s.target,
    s.targetName || names.get(s.target) || '',
    s.status,
    s.statusReason || '',
    s.startDate || '',
    s.endDate || '',
    s.startDate ? Math.round(sessionDuration(s) / 1000) : '',
    s.exitCode ?? '',
    s.documentName || '',
    s.runAsUser || '',
    s.reason || '',
    sessionKind(s).label,
    sessionKind(s).target,
    recordingOf(s).location || '',
    recordingOf(s).bytes ?? '',
  ]);
  const csv = toCSV(['session_id', 'user', 'node_id', 'node_name', 'status', 'status_reason', 'start_time', 'end_time', 'duration_seconds', 'exit_code', 'document', 'run_as', 'reason', 'type', 'port_target', 'recording_location', 'recording_bytes'], rows);
  download(`postern-connections-${isoDay(new Date())}.csv`, csv);
  return list.length;
}

export function Sessions({ params, me, can }) {
  const state = params.get('state') || 'all';
  const f = {
    target: params.get('target') || '',
    owner: params.get('owner') || '',
    status: params.get('status') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
  };
  const set = (patch) => {
    const next = { state, ...f, ...patch };
    navigate('/sessions', next, { replace: true });
  };

  const nodes = useAsync((signal) => api('/v1/nodes', { signal }).catch(() => []), []);
  const names = useMemo(() => nodeNames(nodes.data), [nodes.data]);
  const sessions = useAsync(
    (signal) =>
      api('/v1/sessions', {
        params: { state: state === 'all' ? undefined : state, target: f.target, owner: f.owner, since: sinceParam(f.from), limit: 1000 },
        signal,
      }),
    [state, f.target, f.owner, f.from],
    { interval: state === 'history' ? 0 : 10000 },
  );
  const list = useMemo(() => {
    let l = sessions.data || [];
    if (f.status) l = l.filter((s) => s.status === f.status);
    if (f.to) {
      const end = endOfDay(f.to);
      l = l.filter((s) => new Date(s.startDate).getTime() < end);
    }
    return l;
  }, [sessions.data, f.status, f.to]);

  const [report, setReport] = useState({ busy: false, error: null, done: '' });
  const downloadReport = async () => {
    setReport({ busy: true, error: null, done: '' });
    try {
      const n = await connectionsReport(names);
      setReport({ busy: false, error: null, done: `Downloaded ${n} sessions from the last 30 days.` });
    } catch (e) {
      setReport({ busy: false, error: e, done: '' });
    }
  };

  const [term, setTerm] = useState(null);
  const [termBusy, setTermBusy] = useState(false);
  const [termError, setTermError] = useState(null);
  const terminate = async () => {
    setTermBusy(true);
    try {
      await api(`${sessionPath(term.sessionId)}/terminate`, { method: 'POST' });
      sessions.reload();
    } catch (e) {
      setTermError(e);
    }
    setTermBusy(false);
    setTerm(null);
  };

  const owners = useMemo(() => [...new Set((sessions.data || []).map((s) => s.owner))].sort(), [sessions.data]);
  const filtered = f.target || f.owner || f.status || f.from || f.to;

  return (
    <div class="page">
      <PageHeader title="Sessions" subtitle="Every shell, command, port forward and desktop, live and recorded.">
        <button type="button" class="btn" onClick={downloadReport} disabled={report.busy}>
          {report.busy ? 'Preparing…' : 'Download 30-day report (CSV)'}
        </button>
      </PageHeader>
      {report.error && (
        <Banner title="The report could not be made" onDismiss={() => setReport({ ...report, error: null })}>
          {report.error.message}
        </Banner>
      )}
      {report.done && (
        <Banner kind="success" onDismiss={() => setReport({ ...report, done: '' })}>
          {report.done}
        </Banner>
      )}
      {termError && (
        <Banner title="The session was not terminated" onDismiss={() => setTermError(null)}>
          {termError.message}
        </Banner>
      )}
      <Tabs
        label="Session state"
        value={state}
        onChange={(v) => set({ state: v })}
        tabs={[
          { id: 'all', label: 'All' },
          { id: 'active', label: 'Active' },
          { id: 'history', label: 'History' },
        ]}
      />
      <form class="filters" aria-label="Filter sessions" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          <span>Node</span>
          <select value={f.target} onChange={(e) => set({ target: e.currentTarget.value })}>
            <option value="">All nodes</option>
            {(nodes.data || []).map((n) => (
              <option value={n.id} key={n.id}>
                {n.name || n.id}
              </option>
            ))}
            {f.target && !names.has(f.target) && <option value={f.target}>{f.target}</option>}
          </select>
        </label>
        <label class="field">
          <span>User</span>
          <input list="session-owners" placeholder="Any user" value={f.owner} onChange={(e) => set({ owner: e.currentTarget.value.trim() })} />
          <datalist id="session-owners">
            {owners.map((o) => (
              <option value={o} key={o} />
            ))}
          </datalist>
        </label>
        <label class="field">
          <span>Status</span>
          <select value={f.status} onChange={(e) => set({ status: e.currentTarget.value })}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>From</span>
          <input type="date" value={f.from} max={f.to || undefined} onChange={(e) => set({ from: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>To</span>
          <input type="date" value={f.to} min={f.from || undefined} onChange={(e) => set({ to: e.currentTarget.value })} />
        </label>
        {filtered && (
          <button type="button" class="btn btn-link" onClick={() => navigate('/sessions', { state }, { replace: true })}>
            Clear filters
          </button>
        )}
      </form>
      <ErrorBanner error={sessions.error} title="Sessions could not be listed" onRetry={sessions.reload} />
      {sessions.loading && !sessions.data ? (
        <Loading />
      ) : list.length === 0 ? (
        <Empty icon="▭" title={filtered ? 'No sessions match these filters' : state === 'active' ? 'No active sessions' : 'No sessions yet'}>
          <p>{filtered ? 'Widen the date range or clear a filter.' : <>Start one from the <a href="#/nodes">Nodes</a> page or with <code>postern connect NODE</code>.</>}</p>
        </Empty>
      ) : (
        <div class="table-wrap">
          <table class="table" aria-label="Sessions">
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">User</th>
                <th scope="col">Node</th>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col" class="num">
                  Duration
                </th>
                <th scope="col" class="num">
                  Exit
                </th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => {
                const active = isActive(s);
                const mine = s.owner === me.user;
                const kind = sessionKind(s);
                const port = kind.kind === 'port';
                return (
                  <tr key={s.sessionId} data-session={s.sessionId} data-kind={kind.kind}>
                    <td>
                      <a class="mono" href={`#/sessions/${encodeURIComponent(s.sessionId)}`}>
                        {s.sessionId}
                      </a>
                      {s.reason && <div class="cell-sub">{s.reason}</div>}
                    </td>
                    <td>{s.owner}</td>
                    <td>
                      <div class="cell-main">{s.targetName || names.get(s.target) || s.target}</div>
                      <div class="cell-sub mono">{s.target}</div>
                    </td>
                    <td>
                      <div class="cell-main">{kind.label}</div>
                      {kind.target && <div class="cell-sub mono">to {kind.target}</div>}
                    </td>
                    <td>
                      <Badge status={s.status} />
                      {s.statusReason && <div class="cell-sub">{s.statusReason}</div>}
                    </td>
                    <td title={s.startDate}>{fmtTime(s.startDate)}</td>
                    <td class="num">{fmtDuration(sessionDuration(s))}</td>
                    <td class="num mono">{s.exitCode ?? '—'}</td>
                    <td class="actions">
                      {active && mine && !s.pipes && !port && (
                        <a
                          class="btn btn-sm btn-primary"
                          href={`#/${kind.kind === 'desktop' ? 'desktop' : 'shell'}/${encodeURIComponent(s.sessionId)}?${kind.kind === 'desktop' ? 'resume=1&' : ''}node=${encodeURIComponent(s.targetName || names.get(s.target) || s.target)}`}
                        >
                          Resume
                        </a>
                      )}
                      {active && !mine && can.observe && !port && (
                        <a class="btn btn-sm" href={`#/sessions/${encodeURIComponent(s.sessionId)}/live`}>
                          Watch live
                        </a>
                      )}
                      {port ? (
                        <a class="btn btn-sm" href={`#/sessions/${encodeURIComponent(s.sessionId)}`}>
                          Connections
                        </a>
                      ) : (
                        !active && (
                          <a class="btn btn-sm" href={`#/sessions/${encodeURIComponent(s.sessionId)}`}>
                            Replay
                          </a>
                        )
                      )}
                      {active && (mine || can.terminateAny) && (
                        <button type="button" class="btn btn-sm btn-danger-outline" onClick={() => setTerm(s)}>
                          Terminate
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <p class="table-foot muted">
            {list.length} {list.length === 1 ? 'session' : 'sessions'}
            {sessions.data?.length === 1000 ? ' (the newest 1,000; narrow the filters to see older ones)' : ''}
          </p>
        </div>
      )}
      <Confirm open={!!term} title="Terminate this session?" confirmLabel="Terminate" danger busy={termBusy} onConfirm={terminate} onCancel={() => setTerm(null)}>
        <p>
          <strong>{term?.owner}</strong>'s session <code>{term?.sessionId}</code> on {term && (term.targetName || names.get(term.target) || term.target)} will be stopped. The recording is kept.
        </p>
      </Confirm>
    </div>
  );
}
