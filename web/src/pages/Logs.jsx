import { useMemo, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { navigate } from '../lib/router.js';
import { fmtNum, fmtTime } from '../lib/format.js';
import { toCSV, download } from '../lib/csv.js';
import { Chart } from '../components/Chart.jsx';
import { Banner, Empty, Loading, PageHeader, useAsync } from '../components/ui.jsx';

const RANGES = [
  ['15m', 'Last 15 minutes', 15 * 60],
  ['1h', 'Last hour', 3600],
  ['6h', 'Last 6 hours', 6 * 3600],
  ['24h', 'Last 24 hours', 86400],
  ['7d', 'Last 7 days', 7 * 86400],
  ['30d', 'Last 30 days', 30 * 86400],
  ['custom', 'Custom range…', 0],
];

const SAMPLES = [
  ['Recent events', 'fields @timestamp, @logStream, @message\n| sort @timestamp desc\n| limit 50'],
  ['Events per 5 minutes', 'stats count(*) by bin(5m)'],
  ['Commands that failed', 'fields @timestamp, @logStream, command, exitCode\n| filter eventType = "Command" and exitCode != 0\n| sort @timestamp desc'],
  ['Commands per user', 'filter eventType = "Command"\n| stats count(*) as commands by userIdentity.arn\n| sort commands desc'],
  ['sudo, by hour', 'filter command like /sudo/\n| stats count(*) by bin(1h)'],
];

const DEFAULT_QUERY = 'fields @timestamp, @logStream, @message\n| sort @timestamp desc\n| limit 50';

const UNIT_SECONDS = { s: 1, sec: 1, second: 1, seconds: 1, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hour: 3600, hours: 3600, d: 86400, day: 86400, days: 86400, w: 604800, week: 604800, weeks: 604800 };

function binSeconds(q) {
  const m = /\bbin\s*\(\s*(\d+)\s*([a-z]+)\s*\)/i.exec(q);
  if (!m) return 0;
  const u = UNIT_SECONDS[m[2].toLowerCase()];
  return u ? Number(m[1]) * u : 0;
}

const isTime = (v) => typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v) && !Number.isNaN(Date.parse(v));
const isNum = (v) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)));

// chartOf turns the result of "stats ... by bin(...)" into series over
// time: one per aggregate and per value of the other group keys.
export function chartOf(q, res, range = {}) {
  if (!/\bstats\b[\s\S]*\bby\b[\s\S]*\bbin\s*\(/i.test(q) || !res?.rows?.length) return null;
  const cols = res.columns;
  let ti = cols.findIndex((c) => /^bin\s*\(/i.test(c));
  if (ti < 0) ti = cols.findIndex((c, i) => res.rows.every((r) => r[i] === null || isTime(r[i])));
  if (ti < 0) return null;
  const numeric = cols.map((c, i) => i !== ti && res.rows.every((r) => r[i] === null || isNum(r[i])));
  const keys = cols.map((c, i) => i !== ti && !numeric[i]);
  if (!numeric.some(Boolean)) return null;
  const byTime = new Map();
  const names = new Set();
  for (const r of res.rows) {
    if (!isTime(r[ti])) continue;
    const t = Date.parse(r[ti]) / 1000;
    const k = cols
      .map((c, i) => (keys[i] ? String(r[i] ?? '∅') : null))
      .filter((x) => x !== null)
      .join(' · ');
    const slot = byTime.get(t) || {};
    cols.forEach((c, i) => {
      if (!numeric[i]) return;
      const name = k ? (numeric.filter(Boolean).length > 1 ? `${c} · ${k}` : k) : c;
      names.add(name);
      slot[name] = (slot[name] || 0) + Number(r[i] ?? 0);
    });
    byTime.set(t, slot);
  }
  let xs = [...byTime.keys()].sort((a, b) => a - b);
  // Empty bins are absent from the result: draw them as zeros, across the
  // whole time range the query covered, so the chart shows when nothing
  // happened too.
  const step = binSeconds(q);
  if (step && xs.length) {
    const lo = Math.min(xs[0], range.start ? Math.floor(Date.parse(range.start) / 1000 / step) * step : xs[0]);
    const hi = Math.max(xs[xs.length - 1], range.end ? Math.floor(Date.parse(range.end) / 1000 / step) * step : xs[xs.length - 1]);
    if ((hi - lo) / step <= 2000 && xs.every((t) => (t - lo) % step === 0)) {
      xs = [];
      for (let t = lo; t <= hi; t += step) xs.push(t);
    }
  }
  const series = [...names].slice(0, 10).map((name) => ({ label: name, values: xs.map((t) => byTime.get(t)?.[name] ?? 0) }));
  return { x: xs, series, bars: series.length === 1 };
}

function Cell({ col, v }) {
  if (v === null || v === undefined) return <span class="muted">—</span>;
  if ((col === '@timestamp' || col === '@ingestionTime' || /^bin\s*\(/i.test(col)) && isTime(v)) return <span title={v}>{fmtTime(v)}</span>;
  if (typeof v === 'number') return <span class="num">{fmtNum(v)}</span>;
  return <span class={col === '@message' ? 'mono msg' : ''}>{String(v)}</span>;
}

function rangeTimes(range, from, to) {
  if (range === 'custom') {
    return { start: from ? new Date(from).toISOString() : undefined, end: to ? new Date(to).toISOString() : undefined };
  }
  const secs = RANGES.find((r) => r[0] === range)?.[2] || 3600;
  const end = new Date();
  return { start: new Date(end.getTime() - secs * 1000).toISOString(), end: end.toISOString() };
}

export function Logs({ params }) {
  const groups = useAsync((signal) => api('/v1/log-groups', { signal }), []);
  const [group, setGroup] = useState(params.get('group') || '/postern/sessions');
  const [q, setQ] = useState(params.get('q') || DEFAULT_QUERY);
  const [range, setRange] = useState(params.get('range') || '1h');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [run, setRun] = useState({ busy: false, error: null, res: null, q: '' });

  const execute = async (e) => {
    e?.preventDefault();
    setRun((r) => ({ ...r, busy: true, error: null }));
    navigate('/logs', { group, range: range === 'custom' ? undefined : range, q }, { replace: true });
    const times = rangeTimes(range, from, to);
    try {
      const res = await api('/v1/log-groups/query', { params: { group, q, ...times } });
      setRun({ busy: false, error: null, res, q, times });
    } catch (err) {
      setRun({ busy: false, error: err, res: null, q, times });
    }
  };

  const chart = useMemo(() => chartOf(run.q, run.res, run.times), [run]);
  const names = (groups.data || []).map((g) => g.logGroupName);
  if (group && !names.includes(group)) names.unshift(group);

  return (
    <div class="page">
      <PageHeader title="Logs" subtitle="Query session logs, command events and the audit trail with the Logs Insights language." />
      <form class="card query-card" onSubmit={execute} aria-label="Log query">
        <div class="query-row">
          <label class="field">
            <span>Log group</span>
            <select value={group} onChange={(e) => setGroup(e.currentTarget.value)}>
              {names.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>Time range</span>
            <select value={range} onChange={(e) => setRange(e.currentTarget.value)}>
              {RANGES.map(([id, label]) => (
                <option value={id} key={id}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          {range === 'custom' && (
            <>
              <label class="field">
                <span>From</span>
                <input type="datetime-local" value={from} onChange={(e) => setFrom(e.currentTarget.value)} required />
              </label>
              <label class="field">
                <span>To</span>
                <input type="datetime-local" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
              </label>
            </>
          )}
          <label class="field">
            <span>Examples</span>
            <select
              value=""
              onChange={(e) => {
                if (e.currentTarget.value) setQ(e.currentTarget.value);
              }}
            >
              <option value="">Insert an example…</option>
              {SAMPLES.map(([label, text]) => (
                <option value={text} key={label}>
                  {label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label class="field">
          <span>Query</span>
          <textarea
            class="code-input query-input"
            spellcheck={false}
            rows={Math.min(10, Math.max(3, q.split('\n').length + 1))}
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) execute(e);
            }}
            aria-describedby="query-help"
          />
        </label>
        <div class="query-foot">
          <span id="query-help" class="muted small">
            Commands: fields, filter, stats … by bin(5m), sort, limit, parse, dedup. Ctrl+Enter runs.
          </span>
          <button type="submit" class="btn btn-primary" disabled={run.busy || !q.trim()}>
            {run.busy ? 'Running…' : 'Run query'}
          </button>
        </div>
      </form>
      {run.error && <Banner title={run.error.code === 'MalformedQueryException' ? 'The query has an error' : 'The query failed'}>{run.error.message}</Banner>}
      {run.busy && !run.res && <Loading label="Running the query…" />}
      {run.res && (
        <section class="card" aria-labelledby="results-title">
          <div class="card-head">
            <h2 class="card-title" id="results-title">
              Results
            </h2>
            <span class="muted small" role="status">
              {fmtNum(run.res.rows.length)} {run.res.rows.length === 1 ? 'row' : 'rows'} · {fmtNum(run.res.scanned)} events scanned · {fmtNum(run.res.matched)} matched · {fmtNum(run.res.elapsedMs)} ms
            </span>
            {run.res.rows.length > 0 && (
              <button type="button" class="btn btn-sm" onClick={() => download('postern-query.csv', toCSV(run.res.columns, run.res.rows))}>
                Export CSV
              </button>
            )}
          </div>
          {chart && <Chart x={chart.x} series={chart.series} bars={chart.bars} height={260} label={`Chart of ${run.res.columns.join(', ')} over time`} />}
          {run.res.rows.length === 0 ? (
            <Empty icon="∅" title="No events matched">
              <p>Widen the time range, check the log group, or loosen the filter.</p>
            </Empty>
          ) : (
            <div class="table-wrap results">
              <table class="table table-dense" aria-label="Query results">
                <thead>
                  <tr>
                    {run.res.columns.map((c) => (
                      <th scope="col" key={c}>
                        {c}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {run.res.rows.map((r, i) => (
                    <tr key={i}>
                      {r.map((v, j) => (
                        <td key={j}>
                          <Cell col={run.res.columns[j]} v={v} />
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}
      {!run.res && !run.busy && !run.error && (
        <Empty icon="⌕" title="Run a query to see results">
          <p>
            Try <code>stats count(*) by bin(5m)</code> for a chart of activity, or pick an example above.
          </p>
        </Empty>
      )}
    </div>
  );
}
