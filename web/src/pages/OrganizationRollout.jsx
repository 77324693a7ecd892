// The Organization page's rollout section: the organization's stack sets
// (templates the management account rolls out to its accounts, as
// CloudFormation StackSets does), and for one of them its instances,
// their drift field by field, and its recent operations. Making and
// deploying stack sets is the CLI's (postern org stacksets): templates
// are files. Shown to the management account only; the server refuses
// these calls to a member account (NotManagementAccount).
import { useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { fmtTime } from '../lib/format.js';
import { navigate } from '../lib/router.js';
import { Badge, Banner, Copyable, Empty, ErrorBanner, Loading, useAsync } from '../components/ui.jsx';

const SETS = '/v1/organization/stacksets';
const setPath = (name) => `${SETS}/${encodeURIComponent(name)}`;

// An instance's status, as the server words it, for people.
const instanceStatus = {
  CURRENT: ['Current', 'ok'],
  OUTDATED: ['Outdated', 'warn'],
  FAILED: ['Failed', 'bad'],
  DRIFTED: ['Drifted', 'warn'],
};
const driftStatus = {
  IN_SYNC: ['In sync', 'ok'],
  DRIFTED: ['Drifted', 'warn'],
  MODIFIED: ['Modified', 'warn'],
  DELETED: ['Deleted', 'bad'],
  UNKNOWN: ['Unknown', 'neutral'],
};
const outcome = {
  SUCCEEDED: ['Succeeded', 'ok'],
  FAILED: ['Failed', 'bad'],
  CANCELLED: ['Cancelled', 'neutral'],
};
const actions = { DEPLOY: 'Deploy', UPDATE: 'Update', REMOVE: 'Remove', DETECT_DRIFT: 'Detect drift' };
// A drift detection's outcomes, counted by what it found.
const detection = { DRIFTED: ['Drifted', 'warn'], IN_SYNC: ['In sync', 'ok'], ...outcome };

// outcomes counts an operation's accounts by outcome: a drift
// detection's that succeeded by what it found (its reason's first word).
function outcomes(op) {
  const n = {};
  for (const a of op.accounts) {
    const k = op.action === 'DETECT_DRIFT' && a.status === 'SUCCEEDED' ? (a.reason || '').split(':')[0] : a.status;
    n[k] = (n[k] || 0) + 1;
  }
  return n;
}

function StatusBadge({ table, status }) {
  const [label, kind] = table[status] || [status, 'neutral'];
  return <Badge kind={kind} label={label} />;
}

const shortDigest = (d) => (d ? d.slice(0, 12) : '—');

// counts lists the non-zero counts of a {STATUS: n} map, in the table's
// order.
function Counts({ counts, table }) {
  const parts = Object.keys(table).filter((s) => counts && counts[s] > 0);
  if (!parts.length) return <span class="muted">none</span>;
  return (
    <span class="rollout-counts">
      {parts.map((s) => (
        <Badge key={s} kind={table[s][1]} label={`${counts[s]} ${table[s][0].toLowerCase()}`} />
      ))}
    </span>
  );
}

// value shows a field's value as JSON has it; absent is null.
function Value({ v }) {
  if (v === null || v === undefined) return <span class="muted">(absent)</span>;
  return <code class="rollout-value">{JSON.stringify(v)}</code>;
}

// unitOf names the unit an account is in, from the page's tree.
function unitOf(accountId, accounts, units) {
  const a = accounts.find((x) => x.id === accountId);
  if (!a) return null;
  const u = units.find((x) => x.id === a.parentId);
  return { id: a.parentId, name: u ? u.name : a.parentId, path: a.path };
}

// RolloutCard lists the organization's stack sets; the one named in the
// page's address (or the first) is shown below it.
export function RolloutCard({ accounts, units, can, selected }) {
  const sets = useAsync((signal) => api(SETS, { signal }), []);
  const list = sets.data || [];
  const name = list.some((s) => s.name === selected) ? selected : list[0]?.name;
  const createCmd = 'postern org stacksets create NAME --template FILE';
  return (
    <>
      <section class="card" aria-labelledby="org-rollout-title">
        <div class="card-head">
          <h2 class="card-title" id="org-rollout-title">
            Rollout
          </h2>
          <span class="muted small">Stack sets are made, deployed and updated with the CLI (postern org stacksets).</span>
        </div>
        <ErrorBanner error={sets.error} title="The stack sets could not be listed" onRetry={sets.reload} />
        {sets.loading && !sets.data && <Loading />}
        {sets.data && !list.length && (
          <Empty title="No stack sets">
            A stack set is a template of log groups, preferences, keys and policies that every account of a unit gets, and that accounts placed there later get too:{' '}
            <Copyable text={createCmd} label="Copy command" />
          </Empty>
        )}
        {list.length > 0 && (
          <table class="table" aria-label="Stack sets">
            <thead>
              <tr>
                <th>Stack set</th>
                <th>Template</th>
                <th>Instances</th>
                <th>Targets</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.name} data-stackset={s.name} class={s.name === name ? 'row-selected' : ''} aria-current={s.name === name ? 'true' : undefined}>
                  <td>
                    <div class="cell-main">
                      <button type="button" class="link-btn" aria-label={`Show stack set ${s.name}`} onClick={() => navigate('/organization', { stackset: s.name })}>
                        {s.name}
                      </button>
                    </div>
                    {s.description && <div class="cell-sub rollout-text">{s.description}</div>}
                  </td>
                  <td>
                    <div>{s.templateName}</div>
                    <div class="cell-sub mono">{shortDigest(s.templateDigest)}</div>
                  </td>
                  <td data-col="instances">
                    <Counts counts={s.instances} table={instanceStatus} />
                  </td>
                  <td class="mono small">{(s.targets || []).join(', ') || '—'}</td>
                  <td>{fmtTime(s.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {name && <StackSetDetail key={name} name={name} accounts={accounts} units={units} can={can} onChanged={sets.reload} />}
    </>
  );
}

async function loadDetail(name, signal) {
  const [set, instances, operations] = await Promise.all([
    api(setPath(name), { signal }),
    api(`${setPath(name)}/instances`, { signal }),
    api(`${setPath(name)}/operations`, { signal }),
  ]);
  return { set, instances, operations };
}

// StackSetDetail shows one stack set: its template and targets, its
// instances (account, unit, status with its reason, last operation,
// drift), what drift detection found in each, field by field, and its
// recent operations.
function StackSetDetail({ name, accounts, units, can, onChanged }) {
  const d = useAsync((signal) => loadDetail(name, signal), [name]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState('');

  const detect = async () => {
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const r = await api(`${setPath(name)}/detect-drift`, { method: 'POST', body: {} });
      const drifted = r.instances.filter((i) => i.status === 'DRIFTED').length;
      const unknown = r.instances.filter((i) => i.status === 'UNKNOWN').length;
      let msg = `Checked ${r.instances.length} instance${r.instances.length === 1 ? '' : 's'} of ${name}: `;
      msg += drifted ? `${drifted} drifted` : 'no drift';
      if (unknown) msg += `, ${unknown} could not be read back`;
      setDone(`${msg}.`);
      d.reload();
      onChanged();
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  };

  const data = d.data;
  const ops = data?.operations || [];
  // The newest operation that changed each account (drift detection
  // changes nothing).
  const lastOp = new Map();
  for (const op of ops) {
    if (op.action === 'DETECT_DRIFT') continue;
    for (const a of op.accounts) if (!lastOp.has(a.account)) lastOp.set(a.account, { op, a });
  }
  const drifted = (data?.instances || []).filter((i) => i.drift && i.drift.status !== 'IN_SYNC');
  const names = new Map(accounts.map((a) => [a.id, a.name]));
  const set = data?.set;

  return (
    <section class="card rollout-detail" aria-labelledby="org-stackset-title" data-stackset-detail={name}>
      <div class="card-head">
        <h2 class="card-title" id="org-stackset-title">
          Stack set <span class="mono">{name}</span>
        </h2>
        <button type="button" class="btn" onClick={d.reload} disabled={d.loading}>
          Refresh
        </button>
        {can.admin && (
          <button type="button" class="btn btn-primary" onClick={detect} disabled={busy || !data}>
            {busy ? 'Detecting drift…' : 'Detect drift'}
          </button>
        )}
      </div>
      {done && (
        <Banner kind="success" onDismiss={() => setDone('')}>
          {done}
        </Banner>
      )}
      {error && (
        <Banner title="Drift was not detected" onDismiss={() => setError(null)}>
          {error.message}
        </Banner>
      )}
      <ErrorBanner error={d.error} title="The stack set could not be read" onRetry={d.reload} />
      {d.loading && !data && <Loading />}
      {set && (
        <dl class="meta rollout-facts">
          <div>
            <dt>Template</dt>
            <dd>
              {set.templateName} <span class="mono muted small">{shortDigest(set.templateDigest)}</span>
            </dd>
          </div>
          <div>
            <dt>Resources</dt>
            <dd>
              {(set.resources || []).map((r) => (
                <div key={r.logicalId}>
                  {r.logicalId} <span class="muted small">{r.type}</span>
                </div>
              ))}
              {!(set.resources || []).length && '—'}
            </dd>
          </div>
          <div>
            <dt>Parameters</dt>
            <dd class="mono small">
              {Object.entries(set.parameters || {})
                .map(([k, v]) => `${k}=${v}`)
                .join(', ') || 'defaults'}
            </dd>
          </div>
          <div>
            <dt>Targets</dt>
            <dd class="mono small">{(set.targets || []).join(', ') || '—'}</dd>
          </div>
          {set.operationInProgress && (
            <div>
              <dt>Running</dt>
              <dd class="mono small">{set.operationInProgress}</dd>
            </div>
          )}
        </dl>
      )}
      {data && (
        <>
          <h3 class="rollout-sub">Instances</h3>
          {!data.instances.length ? (
            <p class="muted">
              Not deployed anywhere yet: <Copyable text={`postern org stacksets deploy ${name} --targets ou-...`} label="Copy command" />
            </p>
          ) : (
            <table class="table" aria-label={`Instances of ${name}`}>
              <thead>
                <tr>
                  <th>Account</th>
                  <th>Unit</th>
                  <th>Status</th>
                  <th>Last operation</th>
                  <th>Drift</th>
                </tr>
              </thead>
              <tbody>
                {data.instances.map((i) => {
                  const unit = unitOf(i.account, accounts, units);
                  const last = lastOp.get(i.account);
                  return (
                    <tr key={i.account} data-instance={i.account}>
                      <td>
                        <div class="org-name">{i.accountName || i.account}</div>
                        <div class="cell-sub mono">{i.account}</div>
                      </td>
                      <td data-col="unit">
                        {unit ? (
                          <>
                            <div class="org-name">{unit.name}</div>
                            <div class="cell-sub mono nowrap">{unit.id}</div>
                          </>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td data-col="status">
                        <StatusBadge table={instanceStatus} status={i.status} />
                        {i.reason && <div class="cell-sub rollout-text" data-col="reason">{i.reason}</div>}
                      </td>
                      <td data-col="last">
                        <div>{fmtTime(i.lastOperation)}</div>
                        {last && (
                          <div class="cell-sub">
                            {actions[last.op.action] || last.op.action}: {(outcome[last.a.status] || [last.a.status])[0].toLowerCase()}
                          </div>
                        )}
                      </td>
                      <td data-col="drift">
                        {i.drift ? (
                          <>
                            <StatusBadge table={driftStatus} status={i.drift.status} />
                            <div class="cell-sub">checked {fmtTime(i.driftCheckedAt)}</div>
                          </>
                        ) : (
                          <span class="muted">not checked</span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          {drifted.length > 0 && (
            <>
              <h3 class="rollout-sub">Drift</h3>
              {drifted.map((i) => (
                <InstanceDrift key={i.account} instance={i} />
              ))}
            </>
          )}
          <h3 class="rollout-sub">Recent operations</h3>
          {!ops.length ? (
            <p class="muted">None yet.</p>
          ) : (
            <table class="table" aria-label={`Operations of ${name}`}>
              <thead>
                <tr>
                  <th>Started</th>
                  <th>Action</th>
                  <th>By</th>
                  <th>Accounts</th>
                </tr>
              </thead>
              <tbody>
                {ops.map((op) => (
                  <tr key={op.operationId} data-operation={op.operationId}>
                    <td>{fmtTime(op.startedAt)}</td>
                    <td data-col="action">{actions[op.action] || op.action}</td>
                    <td class="mono small rollout-text">{op.by || '—'}</td>
                    <td data-col="accounts">
                      <details>
                        <summary>
                          <Counts counts={outcomes(op)} table={op.action === 'DETECT_DRIFT' ? detection : outcome} />
                        </summary>
                        <ul class="rollout-outcomes">
                          {op.accounts.map((a) => (
                            <li key={a.account} data-outcome-account={a.account}>
                              <span class="org-name">{names.get(a.account) || a.account}</span> <span class="mono muted small">{a.account}</span>{' '}
                              <StatusBadge table={outcome} status={a.status} />
                              {a.reason && <span class="rollout-text"> {a.reason}</span>}
                            </li>
                          ))}
                        </ul>
                      </details>
                      {op.stopped && <div class="cell-sub rollout-text">Stopped: {op.stopped}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

// InstanceDrift shows what drift detection found in one account: each
// resource that differs, and for one that was changed, each field with
// the value deployed and the value found.
function InstanceDrift({ instance }) {
  const rs = instance.drift.resources.filter((r) => r.status !== 'IN_SYNC');
  return (
    <div class="rollout-drift" data-drift-account={instance.account}>
      <div class="cell-main">
        <span class="org-name">{instance.accountName || instance.account}</span> <span class="mono muted small">{instance.account}</span>{' '}
        <StatusBadge table={driftStatus} status={instance.drift.status} />
      </div>
      {rs.map((r) => (
        <div key={r.logicalId} class="rollout-resource" data-drift-resource={r.logicalId}>
          <div>
            <strong>{r.logicalId}</strong> <span class="muted small">{r.type}</span> <span class="mono small">{r.physicalId}</span> <StatusBadge table={driftStatus} status={r.status} />
          </div>
          {r.status === 'DELETED' && <div class="muted small">Deleted in the account: deploying or updating the stack set makes it again.</div>}
          {r.reason && <div class="muted small rollout-text">{r.reason}</div>}
          {r.differences && r.differences.length > 0 && (
            <table class="table table-dense" aria-label={`Drift of ${r.logicalId} in ${instance.account}`}>
              <thead>
                <tr>
                  <th>Field</th>
                  <th>Expected</th>
                  <th>Actual</th>
                </tr>
              </thead>
              <tbody>
                {r.differences.map((p) => (
                  <tr key={p.path} data-drift-field={p.path}>
                    <td class="mono">{p.path}</td>
                    <td data-col="expected">
                      <Value v={p.expected} />
                    </td>
                    <td data-col="actual">
                      <Value v={p.actual} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </div>
  );
}
