import { useMemo } from 'preact/hooks';
import { api } from '../lib/api.js';
import { fmtBytes, fmtDay, fmtNum, ago } from '../lib/format.js';
import { Chart } from '../components/Chart.jsx';
import { Badge, Banner, Empty, ErrorBanner, Loading, PageHeader, useAsync } from '../components/ui.jsx';

function Stat({ label, value, sub, tone, href }) {
  const body = (
    <>
      <span class="stat-label">{label}</span>
      <span class={`stat-value ${tone ? `tone-${tone}` : ''}`}>{value}</span>
      {sub && <span class="stat-sub">{sub}</span>}
    </>
  );
  return href ? (
    <a class="card stat stat-link" href={href}>
      {body}
    </a>
  ) : (
    <div class="card stat">{body}</div>
  );
}

function Ranked({ title, items, empty, link }) {
  const max = Math.max(1, ...items.map((i) => i.sessions));
  return (
    <section class="card" aria-labelledby={`rank-${title}`}>
      <h2 class="card-title" id={`rank-${title}`}>
        {title}
      </h2>
      {items.length === 0 ? (
        <p class="muted">{empty}</p>
      ) : (
        <ol class="ranked">
          {items.map((i) => (
            <li key={i.id || i.name}>
              <a href={link(i)} class="ranked-name" title={i.id || i.name}>
                {i.name || i.id}
              </a>
              <span class="ranked-bar" aria-hidden="true">
                <span style={{ width: `${(100 * i.sessions) / max}%` }} />
              </span>
              <span class="ranked-count">{fmtNum(i.sessions)}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function Dashboard({ can }) {
  const dash = useAsync((signal) => api('/v1/dashboard', { params: { days: 30 }, signal }), [], { interval: 30000 });
  const nodes = useAsync((signal) => api('/v1/nodes', { signal }), [], { interval: 30000 });
  const active = useAsync((signal) => api('/v1/sessions', { params: { state: 'active' }, signal }), [], { interval: 10000 });
  const d = dash.data;

  const chart = useMemo(() => {
    if (!d?.days?.length) return null;
    const x = d.days.map((day) => {
      const [y, m, dd] = day.date.split('-').map(Number);
      return new Date(y, m - 1, dd).getTime() / 1000;
    });
    return {
      x,
      series: [
        { label: 'Sessions', values: d.days.map((day) => day.sessions), color: '#4f46e5' },
        { label: 'Failed', values: d.days.map((day) => day.failed), color: '#e11d48' },
      ],
    };
  }, [d]);

  const total = d?.days?.reduce((a, day) => a + day.sessions, 0);
  const online = nodes.data?.filter((n) => n.online).length;

  return (
    <div class="page">
      <PageHeader title="Dashboard" subtitle="The last 30 days across the nodes and sessions you can see.">
        {can.startSessions && (
          <a class="btn btn-primary" href="#/nodes">
            Start a session
          </a>
        )}
      </PageHeader>
      <ErrorBanner error={dash.error} title="The dashboard could not be loaded" onRetry={dash.reload} />
      {d?.disk?.low && (
        <Banner title="The server's disk is full">
          {fmtBytes(d.disk.free)} free of {fmtBytes(d.disk.total)}, below the minimum of {fmtBytes(d.disk.min)}: new sessions and changes are refused until space is freed in the server's data directory; reads and deletions still work.
          {d.disk.paused > 0 && ` ${fmtNum(d.disk.paused)} live ${d.disk.paused === 1 ? 'session is' : 'sessions are'} paused and will resume by themselves.`}
        </Banner>
      )}
      <div class="stats">
        <Stat label="Sessions" value={d ? fmtNum(total) : '…'} sub="last 30 days" href="#/sessions?state=history" />
        <Stat label="Active now" value={active.data ? fmtNum(active.data.length) : '…'} sub="sessions connected" tone={active.data?.length ? 'live' : ''} href="#/sessions?state=active" />
        <Stat label="Nodes online" value={nodes.data ? `${online} / ${nodes.data.length}` : '…'} sub={nodes.data && online < nodes.data.length ? `${nodes.data.length - online} offline` : 'all reachable'} tone={nodes.data && online < nodes.data.length ? 'warn' : ''} href="#/nodes" />
        <Stat label="Failed sessions" value={d ? fmtNum(d.failed) : '…'} sub="ended in failure" tone={d?.failed ? 'bad' : ''} href="#/sessions?state=history&status=Failed" />
        {(!d || d.refused >= 0) && <Stat label="Refused" value={d ? fmtNum(d.refused) : '…'} sub="starts denied or refused" tone={d?.refused ? 'warn' : ''} />}
        {d?.disk?.total > 0 && (
          <Stat label="Disk free" value={fmtBytes(d.disk.free)} sub={`of ${fmtBytes(d.disk.total)}; minimum ${fmtBytes(d.disk.min)}`} tone={d.disk.low ? 'bad' : d.disk.free < 4 * d.disk.min ? 'warn' : ''} />
        )}
        <Stat label="Delivery backlog" value={d ? fmtNum(d.backlog?.sessions ?? 0) : '…'} sub={d ? `${fmtBytes(d.backlog?.bytes ?? 0)} waiting for destinations` : 'sessions waiting'} tone={d?.backlog?.sessions ? 'warn' : ''} />
      </div>

      <section class="card" aria-labelledby="per-day">
        <div class="card-head">
          <h2 class="card-title" id="per-day">
            Sessions per day
          </h2>
        </div>
        {dash.loading && !d ? (
          <Loading />
        ) : chart && total > 0 ? (
          <Chart x={chart.x} series={chart.series} bars height={240} label="Sessions and failed sessions per day" xFormat={(v) => fmtDay(v * 1000)} />
        ) : (
          <Empty icon="▁▃▅" title="No sessions in the last 30 days">
            <p>Sessions appear here as people open shells, run commands and forward ports.</p>
          </Empty>
        )}
      </section>

      <div class="grid-2">
        <Ranked title="Top users" items={d?.topUsers || []} empty="No sessions yet." link={(u) => `#/sessions?state=all&owner=${encodeURIComponent(u.name)}`} />
        <Ranked title="Top nodes" items={d?.topNodes || []} empty="No sessions yet." link={(n) => `#/sessions?state=all&target=${encodeURIComponent(n.id || n.name)}`} />
      </div>

      <section class="card" aria-labelledby="active-now">
        <div class="card-head">
          <h2 class="card-title" id="active-now">
            Active sessions
          </h2>
          <a href="#/sessions?state=active" class="card-link">
            All active sessions →
          </a>
        </div>
        {active.error ? (
          <ErrorBanner error={active.error} />
        ) : !active.data ? (
          <Loading />
        ) : active.data.length === 0 ? (
          <p class="muted">Nobody is connected right now.</p>
        ) : (
          <table class="table">
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">User</th>
                <th scope="col">Node</th>
                <th scope="col">Started</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {active.data.slice(0, 8).map((s) => (
                <tr key={s.sessionId}>
                  <td>
                    <a class="mono" href={`#/sessions/${encodeURIComponent(s.sessionId)}`}>
                      {s.sessionId}
                    </a>
                  </td>
                  <td>{s.owner}</td>
                  <td>{nodes.data?.find((n) => n.id === s.target)?.name || <span class="mono">{s.target}</span>}</td>
                  <td>{ago(s.startDate)}</td>
                  <td class="actions">
                    <Badge status={s.status} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
