import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as AsciinemaPlayer from 'asciinema-player';
import { api, sessionPath } from '../lib/api.js';
import { clock, fmtBytes, fmtDuration, fmtNum, fmtTime, portTarget, sessionDuration, sessionKind } from '../lib/format.js';
import { monoFont } from '../lib/xterm.js';
import { Badge, Banner, Confirm, Empty, ErrorBanner, Loading, PageHeader, Tabs, useAsync, Copyable } from '../components/ui.jsx';
import { isActive } from './Sessions.jsx';
import { isDesktop } from './Desktop.jsx';
import { DesktopPlayback } from './DesktopPlayback.jsx';

const SPEEDS = [0.5, 1, 1.5, 2, 4, 8];

function Meta({ s, nodeName }) {
  const rows = [
    ['Status', <Badge status={s.status} />],
    ['User', s.owner],
    ['Node', <a href={`#/sessions?state=all&target=${encodeURIComponent(s.target)}`}>{nodeName || s.target}</a>, s.target],
    ['Type', s.port ? `${sessionKind(s).label} to ${sessionKind(s).target}` : s.pipes ? 'Command (no terminal)' : sessionKind(s).label, s.sessionType],
    ['Document', s.documentName || '—'],
    ['Run as', s.runAsUser || '—'],
    ['Started', fmtTime(s.startDate)],
    ['Ended', s.endDate ? fmtTime(s.endDate) : 'still running'],
    ['Duration', fmtDuration(sessionDuration(s))],
    ['Exit code', s.exitCode ?? '—'],
  ];
  if (s.reason) rows.push(['Reason given', s.reason]);
  if (s.statusReason) rows.push(['Status reason', s.statusReason]);
  return (
    <dl class="meta">
      {rows.map(([k, v, sub]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>
            {v}
            {sub && sub !== v && <div class="cell-sub mono">{sub}</div>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function Deliveries({ logs }) {
  if (!logs?.length) return <p class="muted">This session has no recorded artifacts.</p>;
  return (
    <div class="table-wrap">
      <table class="table" aria-label="Delivery status per destination">
        <thead>
          <tr>
            <th scope="col">Destination</th>
            <th scope="col">Format</th>
            <th scope="col">Status</th>
            <th scope="col">Location</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col" class="num">
              Size
            </th>
          </tr>
        </thead>
        <tbody>
          {logs.map((l, i) => (
            <tr key={i}>
              <td class="cell-main">{{ local: 'Recording (local)', postern: 'Built-in log store', s3: 'S3', cloudwatch: 'CloudWatch Logs', opensearch: 'OpenSearch', webhook: 'Webhook' }[l.destination] || l.destination}</td>
              <td>{l.format}</td>
              <td>
                <Badge status={l.status} />
                {l.error && <div class="cell-sub tone-bad">{l.error}</div>}
                {l.nextAttempt && <div class="cell-sub">next attempt {fmtTime(l.nextAttempt)}</div>}
              </td>
              <td class="mono small break">{l.location}</td>
              <td class="num">{l.attempts || '—'}</td>
              <td class="num">{l.bytes ? fmtBytes(l.bytes) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// Player plays the session's asciicast with speed control and seeking;
// the command timeline beside it seeks to each command.
function Playback({ id, active }) {
  const cast = useAsync((signal) => api(`${sessionPath(id)}/logs`, { params: { format: 'cast' }, signal }), [id]);
  const commands = useAsync((signal) => api(`${sessionPath(id)}/commands`, { signal }), [id]);
  const [speed, setSpeed] = useState(1);
  const [pos, setPos] = useState(0);
  const [duration, setDuration] = useState(null);
  const [filter, setFilter] = useState('');
  const el = useRef(null);
  const player = useRef(null);
  const resume = useRef({ at: 0, playing: false });

  useEffect(() => {
    if (typeof cast.data !== 'string' || !el.current) return undefined;
    const p = AsciinemaPlayer.create({ data: cast.data }, el.current, {
      speed,
      preload: true,
      fit: 'width',
      autoPlay: resume.current.playing,
      startAt: resume.current.at || undefined,
      terminalFontFamily: monoFont,
      theme: 'postern',
    });
    player.current = p;
    // Show where the old player was (startAt alone leaves the screen
    // blank until play).
    if (resume.current.at > 0) p.seek(resume.current.at).catch(() => {});
    let playing = resume.current.playing;
    p.addEventListener('play', () => (playing = true));
    p.addEventListener('playing', () => (playing = true));
    p.addEventListener('pause', () => (playing = false));
    p.addEventListener('ended', () => (playing = false));
    const tick = setInterval(() => {
      const t = p.getCurrentTime();
      if (typeof t === 'number') setPos(t);
      const d = p.getDuration();
      if (typeof d === 'number') setDuration(d);
    }, 150);
    return () => {
      clearInterval(tick);
      resume.current = { at: p.getCurrentTime() || 0, playing };
      p.dispose();
      player.current = null;
    };
  }, [cast.data, speed]);

  const seek = async (t) => {
    const p = player.current;
    if (!p) return;
    const r = el.current.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) el.current.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    await p.seek(t);
    setPos(p.getCurrentTime());
  };

  const cmds = commands.data || [];
  const current = useMemo(() => {
    let idx = -1;
    cmds.forEach((c, i) => {
      if (c.castOffset <= pos + 0.05) idx = i;
    });
    return idx;
  }, [cmds, pos]);
  const shown = filter ? cmds.filter((c) => c.command.toLowerCase().includes(filter.toLowerCase())) : cmds;

  return (
    <div class="playback">
      <div class="player-col">
        {cast.loading && !cast.data ? (
          <Loading label="Loading the recording…" />
        ) : cast.error ? (
          <Banner title={cast.error.status === 410 ? 'Recording deleted' : 'No recording to play'}>{cast.error.message}</Banner>
        ) : (
          <>
            <div class="player" ref={el} />
            <div class="player-controls">
              <label class="field field-inline">
                <span>Speed</span>
                <select value={speed} onChange={(e) => setSpeed(Number(e.currentTarget.value))} aria-label="Playback speed">
                  {SPEEDS.map((s) => (
                    <option value={s} key={s}>
                      {s}×
                    </option>
                  ))}
                </select>
              </label>
              <span class="player-pos mono" data-current-time={pos.toFixed(3)} aria-live="off">
                {clock(pos, true)} / {clock(duration, true)}
              </span>
              {active && (
                <button type="button" class="btn btn-sm" onClick={cast.reload}>
                  Reload recording
                </button>
              )}
              <span class="muted small">Space plays and pauses; ← → seek 5 s; [ ] jump between commands.</span>
            </div>
          </>
        )}
      </div>
      <aside class="timeline" aria-labelledby="timeline-title">
        <div class="timeline-head">
          <h3 id="timeline-title">Commands</h3>
          {cmds.length > 0 && <span class="muted small">{cmds.length}</span>}
        </div>
        {cmds.length > 8 && (
          <label class="field">
            <span class="sr-only">Filter commands</span>
            <input type="search" placeholder="Filter commands…" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
          </label>
        )}
        {commands.loading && !commands.data ? (
          <Loading />
        ) : commands.error ? (
          <p class="muted small">{commands.error.status === 404 && !commands.error.code ? 'This server does not provide a command timeline.' : commands.error.message}</p>
        ) : cmds.length === 0 ? (
          <p class="muted small">No commands were recorded. Commands appear for shells with Postern's shell integration (bash and zsh).</p>
        ) : (
          <ol class="timeline-list">
            {shown.map((c) => {
              const i = cmds.indexOf(c);
              return (
                <li key={i}>
                  <button
                    type="button"
                    class={i === current ? 'cmd current' : 'cmd'}
                    aria-current={i === current ? 'step' : undefined}
                    data-offset={c.castOffset}
                    onClick={() => seek(c.castOffset)}
                    aria-label={`Jump to ${clock(c.castOffset)}: ${c.command}${c.exitCode !== undefined && c.exitCode !== null ? `, exit code ${c.exitCode}` : ''}`}
                  >
                    <span class="cmd-time mono">{clock(c.castOffset)}</span>
                    <span class="cmd-text mono">{c.command}</span>
                    <span class="cmd-meta">
                      {c.exitCode !== undefined && c.exitCode !== null && <span class={c.exitCode === 0 ? 'exit ok' : 'exit bad'}>{c.exitCode}</span>}
                      {c.exitCode !== undefined && c.exitCode !== null && <span class="muted">{c.durationMs ? fmtDuration(c.durationMs) : '<1 ms'}</span>}
                    </span>
                  </button>
                </li>
              );
            })}
          </ol>
        )}
      </aside>
    </div>
  );
}

// Connections lists a port session's forwarded connections from its
// recording: where each came from and went, when, the bytes each way and
// why it closed. A port session has no terminal to play.
function Connections({ id, active }) {
  const list = useAsync((signal) => api(`${sessionPath(id)}/connections`, { signal }), [id], { interval: active ? 5000 : 0 });
  if (list.loading && list.data === undefined) return <Loading label="Loading the connections…" />;
  if (list.error && !list.data) return <ErrorBanner error={list.error} title="The connections cannot be listed" onRetry={list.reload} />;
  const cs = list.data || [];
  if (cs.length === 0) {
    return (
      <Empty icon="⇄" title={active ? 'No connection yet' : 'No connection was made'}>
        <p>Each TCP connection forwarded through this session is listed here as it opens and closes. What the connections carry is not recorded.</p>
      </Empty>
    );
  }
  const sum = (f) => cs.reduce((n, c) => n + (c[f] || 0), 0);
  const open = cs.filter((c) => !c.endTime).length;
  return (
    <>
      <p class="muted small" data-summary>
        {cs.length} {cs.length === 1 ? 'connection' : 'connections'}
        {open ? `, ${open} open` : ''} · {fmtBytes(sum('bytesFromClient'))} from clients, {fmtBytes(sum('bytesFromTarget'))} from targets
      </p>
      <div class="table-wrap">
        <table class="table" aria-label="Forwarded connections">
          <thead>
            <tr>
              <th scope="col" class="num">
                #
              </th>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Opened</th>
              <th scope="col" class="num">
                Duration
              </th>
              <th scope="col" class="num">
                Bytes from client
              </th>
              <th scope="col" class="num">
                Bytes from target
              </th>
              <th scope="col">Closed because</th>
            </tr>
          </thead>
          <tbody>
            {cs.map((c) => (
              <tr key={c.connectionId} data-connection={c.connectionId}>
                <td class="num mono">{c.connectionId}</td>
                <td class="mono">{c.clientAddress}</td>
                <td class="mono">{portTarget(c.targetHost, c.targetPort)}</td>
                <td title={c.startTime}>{fmtTime(c.startTime)}</td>
                <td class="num">{c.endTime ? fmtDuration(new Date(c.endTime) - new Date(c.startTime)) : 'open'}</td>
                <td class="num" title={c.bytesFromClient !== undefined ? `${c.bytesFromClient} bytes` : 'counted when it closes'}>
                  {c.bytesFromClient !== undefined ? fmtNum(c.bytesFromClient) : '—'}
                </td>
                <td class="num" title={c.bytesFromTarget !== undefined ? `${c.bytesFromTarget} bytes` : 'counted when it closes'}>
                  {c.bytesFromTarget !== undefined ? fmtNum(c.bytesFromTarget) : '—'}
                </td>
                <td>
                  {c.closeReason ? <span class={/Closed$/.test(c.closeReason) ? '' : 'tone-bad'}>{c.closeReason}</span> : <Badge status="Connected" label="Open" />}
                  {c.detail && <div class="cell-sub">{c.detail}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Transcript({ id }) {
  const t = useAsync((signal) => api(`${sessionPath(id)}/logs`, { params: { format: 'log' }, signal }), [id]);
  if (t.loading && t.data === undefined) return <Loading label="Loading the transcript…" />;
  if (t.error) return <ErrorBanner error={t.error} title="No transcript" />;
  return (
    <pre class="transcript" tabIndex={0} aria-label="Transcript">
      {t.data}
    </pre>
  );
}

export function SessionDetail({ id, me, can }) {
  const s = useAsync((signal) => api(sessionPath(id), { signal }), [id]);
  const nodes = useAsync((signal) => api('/v1/nodes', { signal }).catch(() => []), []);
  const [tab, setTab] = useState('playback');
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const sess = s.data;
  const nodeName = sess?.targetName || nodes.data?.find((n) => n.id === sess?.target)?.name;
  const active = sess && isActive(sess);
  const mine = sess && sess.owner === me.user;
  const desktop = isDesktop(sess);

  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(s.reload, 5000);
    return () => clearInterval(t);
  }, [active]);

  const terminate = async () => {
    setBusy(true);
    try {
      await api(`${sessionPath(id)}/terminate`, { method: 'POST' });
      s.reload();
    } catch (e) {
      setError(e);
    }
    setBusy(false);
    setConfirm(false);
  };

  if (s.error && !sess) {
    return (
      <div class="page">
        <PageHeader title="Session" subtitle={id} />
        <ErrorBanner error={s.error} title="This session cannot be shown" onRetry={s.reload} />
        <a href="#/sessions">← All sessions</a>
      </div>
    );
  }
  if (!sess) return <Loading />;

  return (
    <div class="page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="#/sessions">Sessions</a> <span aria-hidden="true">/</span> <span aria-current="page">{id}</span>
      </nav>
      <PageHeader title={<Copyable text={id}>{<span class="mono">{id}</span>}</Copyable>} subtitle={`${sess.owner} on ${nodeName || sess.target} · ${sessionKind(sess).label}${sessionKind(sess).target ? ` to ${sessionKind(sess).target}` : ''} · ${fmtTime(sess.startDate)}`}>
        {active && mine && !sess.pipes && !sess.port && !desktop && (
          <a class="btn btn-primary" href={`#/shell/${encodeURIComponent(id)}?node=${encodeURIComponent(nodeName || sess.target)}`}>
            Resume shell
          </a>
        )}
        {active && mine && desktop && (
          <a class="btn btn-primary" href={`#/desktop/${encodeURIComponent(id)}?resume=1&node=${encodeURIComponent(nodeName || sess.target)}`}>
            Resume desktop
          </a>
        )}
        {active && (!sess.port || desktop) && (can.observe || mine) && (
          <a class="btn" href={`#/sessions/${encodeURIComponent(id)}/live`}>
            Watch live
          </a>
        )}
        {active && (mine || can.terminateAny) && (
          <button type="button" class="btn btn-danger-outline" onClick={() => setConfirm(true)}>
            Terminate
          </button>
        )}
        {desktop ? (
          <a class="btn" href={`${sessionPath(id)}/logs?format=guac`} download={`${id}.guac`}>
            Download .guac
          </a>
        ) : (
          <>
            {!sess.port && (
              <a class="btn" href={`${sessionPath(id)}/logs?format=cast`} download={`${id}.cast`}>
                Download .cast
              </a>
            )}
            <a class="btn" href={`${sessionPath(id)}/logs?format=log`} download={`${id}.log`}>
              Download .log
            </a>
          </>
        )}
      </PageHeader>
      {error && (
        <Banner title="The session was not terminated" onDismiss={() => setError(null)}>
          {error.message}
        </Banner>
      )}
      <section class="card" aria-label="Session details">
        <Meta s={sess} nodeName={nodeName} />
      </section>
      {desktop ? (
        <section class="card" aria-labelledby="rec-title">
          <div class="card-head">
            <h2 class="card-title" id="rec-title">
              Recording
            </h2>
          </div>
          <DesktopPlayback id={id} active={active} />
        </section>
      ) : sess.port ? (
        <section class="card" aria-labelledby="conn-title">
          <div class="card-head">
            <h2 class="card-title" id="conn-title">
              Connections
            </h2>
          </div>
          <Connections id={id} active={active} />
        </section>
      ) : (
        <section class="card" aria-labelledby="rec-title">
          <div class="card-head">
            <h2 class="card-title" id="rec-title">
              Recording
            </h2>
            <Tabs
              label="Recording view"
              value={tab}
              onChange={setTab}
              tabs={[
                { id: 'playback', label: 'Playback' },
                { id: 'transcript', label: 'Transcript' },
              ]}
            />
          </div>
          <div role="tabpanel" aria-labelledby={`tab-${tab}`}>
            {tab === 'playback' ? <Playback id={id} active={active} /> : <Transcript id={id} />}
          </div>
        </section>
      )}
      <section class="card" aria-labelledby="deliv-title">
        <h2 class="card-title" id="deliv-title">
          Delivery
        </h2>
        <Deliveries logs={sess.logs} />
      </section>
      <Confirm open={confirm} title="Terminate this session?" confirmLabel="Terminate" danger busy={busy} onConfirm={terminate} onCancel={() => setConfirm(false)}>
        <p>
          The session and everything running in it will be stopped. The recording is kept.
        </p>
      </Confirm>
    </div>
  );
}
