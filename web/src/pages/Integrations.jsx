// The Integrations page: where the account's log events and events go, and
// how that is going. Delivery streams (what they delivered since the
// server started, what they owe, whether they are failing and why),
// subscription filters (what each sends where, and its backlog), event
// rules (pattern, targets, each target's backlog), the dead letters rules'
// targets refused for good, and the most recent events. Each card reads
// its own API call, so a call the caller may not make is refused in its
// card alone. Making any of these is the CLI's: the empty states give the
// command.
import { api } from '../lib/api.js';
import { ago, fmtBytes, fmtNum, fmtTime } from '../lib/format.js';
import { Badge, Banner, Copyable, Empty, ErrorBanner, Loading, PageHeader, useAsync } from '../components/ui.jsx';

export const DEAD_LETTER_GROUP = '/postern/events/dead-letter';
export const EVENTS_GROUP = '/postern/events';
const REFRESH_MS = 15000;
const RECENT = 20; // rows of dead letters and events
const DAY = 86400;

// recent reads the last n events of a built-in log group within the last
// seconds, newest first, with a Logs Insights query (a top-n heap on the
// server: nothing but the n rows comes back). A group that does not exist
// yet has no events: that is not an error.
export async function recent(group, seconds, n, signal) {
  const end = new Date();
  const start = new Date(end.getTime() - seconds * 1000);
  const q = `fields @timestamp, @logStream, @message | sort @timestamp desc | limit ${n}`;
  try {
    const res = await api('/v1/log-groups/query', { params: { group, q, start: start.toISOString(), end: end.toISOString() }, signal });
    const col = (name) => res.columns.indexOf(name);
    const [t, s, m] = [col('@timestamp'), col('@logStream'), col('@message')];
    return res.rows.map((r) => ({ time: r[t], stream: r[s], message: r[m] }));
  } catch (e) {
    if (e.code === 'ResourceNotFoundException') return [];
    throw e;
  }
}

function parseJSON(s) {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

// prettyPattern is an event pattern laid out for reading; one that is not
// JSON (which the server would have refused) is shown as it is.
export function prettyPattern(p) {
  const v = parseJSON(p);
  return v === undefined ? p : JSON.stringify(v, null, 2);
}

// streamNameOf is the name in a delivery stream's ARN
// (prn:postern:firehose:ACCOUNT:deliverystream/NAME).
export function streamNameOf(arn) {
  const i = (arn || '').indexOf(':deliverystream/');
  return i < 0 ? '' : arn.slice(i + ':deliverystream/'.length);
}

// n things, for people: 1 event, 2 events.
const counted = (n, one, many = `${one}s`) => `${fmtNum(n ?? 0)} ${n === 1 ? one : many}`;
const clip = (s, n = 240) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const who = (arn) => (arn || '').replace(/^.*:(user|role|assumed-role)\//, '');

// summary says what an event is about in one line, by its detail-type;
// an event of a kind this page does not know shows its detail as JSON.
export function summary(ev) {
  const d = ev && typeof ev.detail === 'object' && ev.detail !== null ? ev.detail : {};
  const node = d.target ? d.target.name || d.target.id : '';
  switch (ev?.['detail-type']) {
    case 'Session State Change':
      return [d.state, d.sessionId, d.userIdentity?.arn && `by ${who(d.userIdentity.arn)}`, node && `on ${node}`, d.reason && `(${d.reason})`].filter(Boolean).join(' ');
    case 'Session Command':
      return [d.command, d.exitCode !== undefined && `exit ${d.exitCode}`, d.sessionId && `in ${d.sessionId}`].filter(Boolean).join(' · ');
    case 'Node State Change':
      return [d.name || d.nodeId, d.state].filter(Boolean).join(' ');
    case 'Postern API Call via Audit Trail':
      // The action names the route, which often is the resource too.
      return [who(d.actor) || d.actor, d.action, d.resource && !String(d.action).includes(d.resource) && d.resource, d.result && `→ ${d.result}`].filter(Boolean).join(' ');
    default:
      return clip(JSON.stringify(ev?.detail ?? ev ?? null));
  }
}

// streamState is a delivery stream's status badge.
export function streamState(st) {
  if (!st) return ['Unknown', 'neutral'];
  if (st.failingSince) return ['Failing', 'bad'];
  if (st.backlogEvents > 0 || st.bufferedBytes > 0) return ['Buffering', 'info'];
  if (st.lastDelivery) return ['Up to date', 'ok'];
  return ['Nothing delivered yet', 'neutral'];
}

// CardError shows why a card's call failed: a refusal politely, in the
// server's words, as information; anything else as an error to retry.
function CardError({ error, what, onRetry }) {
  if (!error) return null;
  if (error.status === 403) {
    return (
      <Banner kind="info" title={`You may not see ${what}`}>
        {error.message}
      </Banner>
    );
  }
  return <ErrorBanner error={error} title={`The ${what} could not be read`} onRetry={onRetry} />;
}

// Listings leave out what the caller may not describe, without saying so:
// an empty one may be that.
function FilteredNote({ can }) {
  return can.admin ? null : <p class="muted small">Only what your policies let you describe is listed.</p>;
}

function Card({ id, title, sub, data, children }) {
  return (
    <section class="card" aria-labelledby={id} data-card={data}>
      <div class="card-head">
        <h2 class="card-title" id={id}>
          {title}
        </h2>
        {sub && <span class="muted small">{sub}</span>}
      </div>
      {children}
    </section>
  );
}

function When({ t }) {
  if (!t) return <span class="muted">—</span>;
  return (
    <span title={fmtTime(t)} class="nowrap">
      {ago(t)}
    </span>
  );
}

function Destination({ ds }) {
  const bucket = ds.bucket ? `s3://${ds.bucket}/${ds.prefix || ''}` : '';
  const dest = ds.destination || 'S3';
  let main;
  if (dest === 'S3') main = <span class="mono int-text">{bucket}</span>;
  else if (ds.httpEndpointDestination)
    main = (
      <>
        <span class="mono int-text">{ds.httpEndpointDestination.url}</span>
        <div class="cell-sub">Webhook · {ds.httpEndpointDestination.format || 'awslogs'}</div>
      </>
    );
  else main = <span>{dest}</span>;
  return (
    <>
      {main}
      {dest !== 'S3' && bucket && <div class="cell-sub">refused records backed up to {bucket}</div>}
      {ds.errorOutputPrefix && ds.bucket && (
        <div class="cell-sub">
          errors to <span class="mono">{`s3://${ds.bucket}/${ds.errorOutputPrefix}`}</span>
        </div>
      )}
      {ds.kmsKeyArn && (
        <div class="cell-sub">
          sealed with <span class="mono int-text">{ds.kmsKeyArn}</span>
        </div>
      )}
    </>
  );
}

function StreamsCard({ q, can }) {
  const streams = q.data || [];
  const createS3 = 'postern delivery-streams create NAME --bucket BUCKET --prefix PREFIX/ --compression GZIP';
  const createHTTP = 'postern delivery-streams create NAME --destination HTTP --http-url https://HOST/PATH --http-secret-file SECRET_FILE';
  return (
    <Card id="int-streams" title="Delivery streams" sub="Delivered since the server started; backlog: what their filters have yet to deliver" data="streams">
      <CardError error={q.error} what="delivery streams" onRetry={q.reload} />
      {q.loading && !q.data && !q.error && <Loading />}
      {q.data && streams.length === 0 && (
        <Empty icon="⇶" title={`No delivery streams${can.admin ? '' : ' that you may see'}`}>
          <p>A delivery stream batches what subscription filters send it into objects in a bucket, or posts it to a webhook:</p>
          <p>
            <Copyable text={createS3} label="Copy command" />
          </p>
          <p>
            <Copyable text={createHTTP} label="Copy command" />
          </p>
          <FilteredNote can={can} />
        </Empty>
      )}
      {streams.length > 0 && (
        <div class="table-wrap">
          <table class="table" aria-label="Delivery streams">
            <thead>
              <tr>
                <th scope="col">Stream</th>
                <th scope="col">Destination</th>
                <th scope="col">Buffering</th>
                <th scope="col">Delivered</th>
                <th scope="col">Backlog</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {streams.map((ds) => {
                const st = ds.status || {};
                const [label, kind] = streamState(ds.status);
                return (
                  <tr key={ds.deliveryStreamName} data-stream={ds.deliveryStreamName}>
                    <td>
                      <div class="cell-main int-text">{ds.deliveryStreamName}</div>
                      {ds.deliveryStreamArn && (
                        <div class="cell-sub">
                          <Copyable text={ds.deliveryStreamArn} label="Copy ARN">
                            <span class="mono int-text">{ds.deliveryStreamArn}</span>
                          </Copyable>
                        </div>
                      )}
                      {st.sources?.length > 0 && <div class="cell-sub">from {st.sources.join(', ')}</div>}
                    </td>
                    <td data-col="destination">
                      <Destination ds={ds} />
                    </td>
                    <td class="nowrap">
                      {ds.bufferSizeInMBs ?? '—'} MiB or {ds.bufferIntervalInSeconds ?? '—'} s
                      <div class="cell-sub">{ds.compressionFormat === 'GZIP' ? 'gzip' : 'uncompressed'}</div>
                    </td>
                    <td data-col="delivered">
                      <span data-col="events">{counted(st.events, 'event')}</span>
                      <div class="cell-sub">
                        {counted(st.objects, 'object')} · {fmtBytes(st.bytes ?? 0)}
                        {st.errorObjects > 0 && ` · ${counted(st.errorObjects, 'refused object')}`}
                      </div>
                      <div class="cell-sub">
                        last <When t={st.lastDelivery} />
                      </div>
                      {st.lastObjectKey && <div class="cell-sub mono int-text" title="The last object written">{st.lastObjectKey}</div>}
                    </td>
                    <td data-col="backlog">
                      <span data-col="backlog-events">{counted(st.backlogEvents, 'event')}</span>
                      <div class="cell-sub">{fmtBytes(st.bufferedBytes ?? 0)} buffered</div>
                    </td>
                    <td data-col="status">
                      <Badge kind={kind} label={label} />
                      {st.failingSince && (
                        <div class="cell-sub">
                          since <When t={st.failingSince} />
                        </div>
                      )}
                      {st.lastError && <div class="int-error" data-col="last-error">{st.lastError}</div>}
                      {st.nextAttempt && <div class="cell-sub">next attempt {fmtTime(st.nextAttempt)}</div>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function FiltersCard({ q, streams, me, can }) {
  const filters = q.data || [];
  const arn = streams?.[0]?.deliveryStreamArn || `prn:postern:firehose:${me.account}:deliverystream/NAME`;
  const put = `postern logs subscription-filters put --group /postern/sessions --name NAME --destination ${arn}`;
  const groups = [...new Set(filters.map((f) => f.logGroupName))].sort();
  return (
    <Card id="int-filters" title="Subscription filters" sub="Per log group: what each sends on, and what it has yet to" data="filters">
      <CardError error={q.error} what="subscription filters" onRetry={q.reload} />
      {q.loading && !q.data && !q.error && <Loading />}
      {q.data && filters.length === 0 && (
        <Empty icon="▽" title={`No subscription filters${can.admin ? '' : ' that you may see'}`}>
          <p>A subscription filter sends a log group's events that match its pattern to a delivery stream:</p>
          <p>
            <Copyable text={put} label="Copy command" />
          </p>
          <FilteredNote can={can} />
        </Empty>
      )}
      {groups.map((g) => (
        <div key={g} class="int-group" data-group={g}>
          <h3 class="int-sub mono int-text">{g}</h3>
          <div class="table-wrap">
            <table class="table" aria-label={`Subscription filters of ${g}`}>
              <thead>
                <tr>
                  <th scope="col">Filter</th>
                  <th scope="col">Pattern</th>
                  <th scope="col">Destination</th>
                  <th scope="col">Backlog</th>
                  <th scope="col">Oldest pending</th>
                </tr>
              </thead>
              <tbody>
                {filters
                  .filter((f) => f.logGroupName === g)
                  .map((f) => (
                    <tr key={f.filterName} data-filter={f.filterName}>
                      <td>
                        <div class="cell-main int-text">{f.filterName}</div>
                        {f.creationTime && <div class="cell-sub">created {fmtTime(f.creationTime)}</div>}
                      </td>
                      <td data-col="pattern">{f.filterPattern ? <code class="int-text">{f.filterPattern}</code> : <span class="muted">every event</span>}</td>
                      <td data-col="destination">
                        <div class="int-text">{streamNameOf(f.destinationArn) || f.destinationArn}</div>
                        <div class="cell-sub mono int-text">{f.destinationArn}</div>
                      </td>
                      <td data-col="backlog">{counted(f.backlogEvents, 'event')}</td>
                      <td data-col="oldest">{f.oldestPendingEventTime ? <When t={f.oldestPendingEventTime} /> : <span class="muted">none</span>}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
        </div>
      ))}
    </Card>
  );
}

function TargetDest({ t }) {
  if (t.webhook)
    return (
      <>
        <span class="mono int-text">{t.webhook.url}</span>
        <div class="cell-sub">Webhook · {t.webhook.format || 'json'}</div>
      </>
    );
  if (t.snsTopicArn)
    return (
      <>
        <span class="mono int-text">{t.snsTopicArn}</span>
        <div class="cell-sub">SNS topic</div>
      </>
    );
  // A kind of target this console does not know yet: its settings.
  const { id, backlogEvents, inputTransformer, ...rest } = t;
  return <span class="mono int-text">{clip(JSON.stringify(rest))}</span>;
}

function RulesCard({ q, can }) {
  const rules = q.data || [];
  const put = 'postern events rules put NAME --pattern-file pattern.json --targets-file targets.json';
  return (
    <Card id="int-rules" title="Event rules" sub="Each target reads the events from a cursor of its own: its backlog is what it has yet to pass" data="rules">
      <CardError error={q.error} what="event rules" onRetry={q.reload} />
      {q.loading && !q.data && !q.error && <Loading />}
      {q.data && rules.length === 0 && (
        <Empty icon="◇" title={`No event rules${can.admin ? '' : ' that you may see'}`}>
          <p>A rule sends the events its EventBridge pattern matches to webhooks and SNS topics:</p>
          <p>
            <Copyable text={put} label="Copy command" />
          </p>
          <FilteredNote can={can} />
        </Empty>
      )}
      {rules.map((r) => (
        <div key={r.name} class="int-rule" data-rule={r.name}>
          <div class="int-rule-head">
            <span class="cell-main int-text">{r.name}</span>
            {r.state === 'DISABLED' ? <Badge kind="neutral" label="Disabled" /> : <Badge kind="ok" label="Enabled" />}
            {r.creationTime && <span class="muted small">since {fmtTime(r.creationTime)}</span>}
          </div>
          {r.description && <p class="int-text int-desc">{r.description}</p>}
          <div class="int-rule-body">
            <div class="int-pattern">
              <div class="muted small">Event pattern</div>
              <pre class="code" data-col="pattern">
                {prettyPattern(r.eventPattern)}
              </pre>
            </div>
            <div class="int-targets">
              {r.targets.length === 0 ? (
                <p class="muted">No targets: the rule matches, and sends nowhere.</p>
              ) : (
                <table class="table table-dense" aria-label={`Targets of ${r.name}`}>
                  <thead>
                    <tr>
                      <th scope="col">Target</th>
                      <th scope="col">Sends to</th>
                      <th scope="col">Backlog</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.targets.map((t) => (
                      <tr key={t.id} data-target={t.id}>
                        <td class="int-text">{t.id}</td>
                        <td>
                          <TargetDest t={t} />
                          {t.inputTransformer && (
                            <div class="cell-sub">
                              as <code class="int-text">{t.inputTransformer.inputTemplate}</code>
                            </div>
                          )}
                        </td>
                        <td data-col="backlog">{counted(t.backlogEvents, 'event')}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          </div>
        </div>
      ))}
    </Card>
  );
}

function RawEvent({ text }) {
  const v = parseJSON(text);
  return (
    <details class="int-raw">
      <summary>Event</summary>
      <pre class="code">{v === undefined ? text : JSON.stringify(v, null, 2)}</pre>
    </details>
  );
}

function EventCells({ ev, raw }) {
  return (
    <>
      <td class="nowrap">
        {ev?.['detail-type'] ? <span data-col="detail-type">{ev['detail-type']}</span> : <span class="muted">—</span>}
        {ev?.source && <div class="cell-sub mono">{ev.source}</div>}
      </td>
      <td class="int-text" data-col="summary">
        <EventSummary ev={ev} />
        <RawEvent text={raw} />
      </td>
    </>
  );
}

// EventSummary is summary() with the session it is about linked.
function EventSummary({ ev }) {
  if (!ev) return <span class="muted">not an event</span>;
  const text = summary(ev);
  const id = ev.detail?.sessionId;
  const i = id ? text.indexOf(id) : -1;
  if (i < 0) return <span>{text}</span>;
  return (
    <span>
      {text.slice(0, i)}
      <a class="mono" href={`#/sessions/${encodeURIComponent(id)}`}>
        {id}
      </a>
      {text.slice(i + id.length)}
    </span>
  );
}

function DeadLettersCard({ q }) {
  const rows = q.data || [];
  return (
    <Card id="int-dead" title="Dead letters" sub={`The last ${RECENT} events a rule's target refused for good, in the past 30 days (${DEAD_LETTER_GROUP})`} data="dead-letters">
      <CardError error={q.error} what="dead letters" onRetry={q.reload} />
      {q.loading && !q.data && !q.error && <Loading />}
      {q.data && rows.length === 0 && (
        <Empty icon="✓" title="No dead letters">
          <p>An event a target refuses for good (a 4xx from a webhook, a topic that does not exist) is kept here with the reason, and the target goes on. To read them all:</p>
          <p>
            <Copyable text={`postern logs tail --group ${DEAD_LETTER_GROUP} --since 30d`} label="Copy command" />
          </p>
        </Empty>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="table table-dense" aria-label="Dead letters">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Rule</th>
                <th scope="col">Target</th>
                <th scope="col">Reason</th>
                <th scope="col">Event</th>
                <th scope="col">Summary</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, i) => {
                const dl = parseJSON(row.message) || {};
                const ev = dl.event && typeof dl.event === 'object' ? dl.event : undefined;
                return (
                  <tr key={i} data-dead-letter={dl.rule || ''}>
                    <td>
                      <When t={row.time} />
                    </td>
                    <td class="int-text" data-col="rule">
                      {dl.rule || row.stream}
                    </td>
                    <td class="int-text" data-col="target">
                      {dl.target || '—'}
                    </td>
                    <td data-col="reason">
                      <span class="int-error">{dl.reason || row.message}</span>
                    </td>
                    <EventCells ev={ev} raw={dl.event ? JSON.stringify(dl.event) : row.message} />
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function EventsCard({ q }) {
  const rows = q.data || [];
  return (
    <Card id="int-events" title="Recent events" sub={`The last ${RECENT} events of the past 24 hours (${EVENTS_GROUP}), which rules match`} data="events">
      <CardError error={q.error} what="events" onRetry={q.reload} />
      {q.loading && !q.data && !q.error && <Loading />}
      {q.data && rows.length === 0 && (
        <Empty icon="∅" title="No events in the past 24 hours">
          <p>Sessions starting and ending, nodes coming and going, and every change made through the API are events. To follow them:</p>
          <p>
            <Copyable text={`postern logs tail --group ${EVENTS_GROUP} --follow`} label="Copy command" />
          </p>
        </Empty>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="table table-dense" aria-label="Recent events">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Type</th>
                <th scope="col">Summary</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, i) => {
                const ev = parseJSON(row.message);
                return (
                  <tr key={i} data-event={ev?.id || ''}>
                    <td>
                      <When t={row.time} />
                    </td>
                    <EventCells ev={ev && typeof ev === 'object' ? ev : undefined} raw={row.message} />
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

export function Integrations({ me, can }) {
  const opt = { interval: REFRESH_MS };
  const streams = useAsync((signal) => api('/v1/delivery-streams', { signal }), [], opt);
  const filters = useAsync((signal) => api('/v1/log-groups/subscription-filters', { signal }), [], opt);
  const rules = useAsync((signal) => api('/v1/events/rules', { signal }), [], opt);
  const dead = useAsync((signal) => recent(DEAD_LETTER_GROUP, 30 * DAY, RECENT, signal), [], opt);
  const evs = useAsync((signal) => recent(EVENTS_GROUP, DAY, RECENT, signal), [], opt);
  const all = [streams, filters, rules, dead, evs];
  const busy = all.some((q) => q.loading);
  const failing = (streams.data || []).filter((d) => d.status?.failingSince);
  return (
    <div class="page">
      <PageHeader title="Integrations" subtitle="Where log events and events go: delivery streams, subscription filters and event rules, and what they could not deliver.">
        <span class="muted small" aria-live="polite">
          {busy ? 'Refreshing…' : `Refreshes every ${REFRESH_MS / 1000} s`}
        </span>
        <button type="button" class="btn" disabled={busy} onClick={() => all.forEach((q) => q.reload())}>
          Refresh
        </button>
      </PageHeader>
      {failing.length > 0 && (
        <Banner title={failing.length === 1 ? 'A delivery stream is failing' : `${failing.length} delivery streams are failing`}>
          {failing.map((d) => d.deliveryStreamName).join(', ')}: events wait in their log groups, retried with back-off, and the backlog grows until the destination takes them.
        </Banner>
      )}
      <StreamsCard q={streams} can={can} />
      <FiltersCard q={filters} streams={streams.data} me={me} can={can} />
      <RulesCard q={rules} can={can} />
      <DeadLettersCard q={dead} />
      <EventsCard q={evs} />
    </div>
  );
}
