import { useMemo, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { fmtTime } from '../lib/format.js';
import { Badge, Banner, Confirm, Copyable, Empty, ErrorBanner, Loading, PageHeader, useAsync } from '../components/ui.jsx';
import { RolloutCard } from './OrganizationRollout.jsx';

const ORG = '/v1/organization';
const NOT_IN_USE = 'AWSOrganizationsNotInUseException';
const DEFAULT_ROLE = 'OrganizationAccountAccessRole';
const NO_ARCHIVE = 'ArchiveNotSet';

// load reads the caller's organization and, when the caller's account
// manages it, its units and accounts. A member account asks for nothing
// more: the server answers those calls only for the management account
// (403 NotManagementAccount), and a refused call would only add noise to
// the member's audit trail.
async function load(account, signal) {
  let org;
  try {
    org = await api(ORG, { signal });
  } catch (e) {
    if (e.code === NOT_IN_USE) return { org: null };
    throw e;
  }
  if (org.managementAccountId !== account) return { org };
  // The central archive's settings and each account's copies; none set
  // is an answer too, not an error of the page.
  const archive = api(`${ORG}/archive`, { signal }).catch((e) => {
    if (e.code === NO_ARCHIVE) return null;
    if (e.name === 'AbortError') throw e;
    return { error: e };
  });
  try {
    const [units, accounts, arch] = await Promise.all([api(`${ORG}/units`, { signal }), api(`${ORG}/accounts`, { signal }), archive]);
    return { org, units, accounts, archive: arch };
  } catch (e) {
    // Allowed to describe the organization but not to list it: the
    // facts still show, the refusal beside them.
    if (e.name === 'AbortError') throw e;
    return { org, listError: e };
  }
}

const byName = (a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);

// orgTree arranges the organization's units and accounts under their
// parents, each list by name.
export function orgTree(rootId, units, accounts) {
  const unitsIn = new Map();
  const accountsIn = new Map();
  const add = (m, k, v) => (m.get(k) || m.set(k, []).get(k)).push(v);
  for (const u of units) if (u.parentId) add(unitsIn, u.parentId, u);
  for (const a of accounts) add(accountsIn, a.parentId, a);
  for (const l of [...unitsIn.values(), ...accountsIn.values()]) l.sort(byName);
  const root = units.find((u) => u.id === rootId) || { id: rootId, name: 'Root', path: '' };
  // Every unit once, depth first from the root: the choices of a parent.
  const flat = [];
  const seen = new Set();
  const walk = (u, depth) => {
    if (seen.has(u.id)) return; // a cycle would be the server's bug; do not loop on it
    seen.add(u.id);
    flat.push({ unit: u, depth });
    for (const c of unitsIn.get(u.id) || []) walk(c, depth + 1);
  };
  walk(root, 0);
  return { root, unitsIn, accountsIn, flat };
}

function unitLabel(u, depth = 0) {
  return `${'\u00a0\u00a0\u00a0'.repeat(depth)}${u.name} (${u.id})`;
}

function ParentSelect({ tree, value, onChange, exclude, label = 'Parent' }) {
  return (
    <label class="field">
      <span>{label}</span>
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {tree.flat
          .filter(({ unit }) => unit.id !== exclude)
          .map(({ unit, depth }) => (
            <option key={unit.id} value={unit.id}>
              {unitLabel(unit, depth)}
            </option>
          ))}
      </select>
    </label>
  );
}

function AccountNode({ a, can, onMove }) {
  const cli = `postern org assume-role ${a.id} --format env`;
  return (
    <li class="org-node" data-account={a.id}>
      <div class="org-row">
        <span class="org-icon org-icon-account" aria-hidden="true" />
        <div class="org-main">
          <div class="cell-main">
            <span class="org-name">{a.name}</span> {a.management ? <Badge kind="info" label="Management account" /> : <span class="muted small">Member account</span>}
          </div>
          <div class="cell-sub mono">
            {a.id} · {a.path}
          </div>
          {!a.management && (
            <div class="org-cli" title="Credentials of the account's role, for the CLI (the console does not assume roles)">
              <Copyable text={cli} label="Copy command" />
            </div>
          )}
        </div>
        {can.admin && (
          <div class="org-actions">
            <button type="button" class="btn btn-sm" aria-label={`Move account ${a.name}`} onClick={() => onMove(a)}>
              Move
            </button>
          </div>
        )}
      </div>
    </li>
  );
}

function UnitNode({ unit, tree, can, onMove, onDelete, seen = new Set() }) {
  if (seen.has(unit.id)) return null;
  seen.add(unit.id);
  const accounts = tree.accountsIn.get(unit.id) || [];
  const units = tree.unitsIn.get(unit.id) || [];
  const isRoot = unit.id === tree.root.id;
  return (
    <li class="org-node" data-unit={unit.id}>
      <div class="org-row org-row-unit">
        <span class={isRoot ? 'org-icon org-icon-root' : 'org-icon org-icon-unit'} aria-hidden="true" />
        <div class="org-main">
          <div class="cell-main">
            <span class="org-name">{unit.name}</span> <span class="muted small">{isRoot ? "The organization's root" : 'Organizational unit'}</span>
          </div>
          <div class="cell-sub mono">
            {unit.id} · {unit.path}
          </div>
        </div>
        {can.admin && !isRoot && (
          <div class="org-actions">
            <button type="button" class="btn btn-sm btn-danger-outline" aria-label={`Delete unit ${unit.name}`} onClick={() => onDelete(unit)}>
              Delete
            </button>
          </div>
        )}
      </div>
      {(accounts.length > 0 || units.length > 0) && (
        <ul class="org-children">
          {accounts.map((a) => (
            <AccountNode key={a.id} a={a} can={can} onMove={onMove} />
          ))}
          {units.map((u) => (
            <UnitNode key={u.id} unit={u} tree={tree} can={can} onMove={onMove} onDelete={onDelete} seen={seen} />
          ))}
        </ul>
      )}
    </li>
  );
}

function OrgFacts({ rows }) {
  return (
    <dl class="meta">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

const copyId = (id) => (
  <Copyable text={id}>
    <span class="mono">{id}</span>
  </Copyable>
);

// NoOrganization: the account is in none; an administrator may make one,
// which the account then manages.
function NoOrganization({ me, can, onCreated }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      onCreated(await api(ORG, { method: 'POST', body: {} }));
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <>
      {error && (
        <Banner title="No organization created" onDismiss={() => setError(null)}>
          {error.message}
        </Banner>
      )}
      <Empty icon="⌬" title="This account belongs to no organization">
        <p>
          Account <span class="mono">{me.account}</span> is not in an organization. An organization groups accounts under one management account, which creates member accounts, arranges them
          in organizational units and acts in them through a role each grants it.
        </p>
        {can.admin ? (
          <>
            <p>Creating one makes this account its management account.</p>
            <button type="button" class="btn btn-primary" disabled={busy} onClick={create}>
              {busy ? 'Creating…' : 'Create organization'}
            </button>
          </>
        ) : (
          <p>An administrator of this account can create one.</p>
        )}
      </Empty>
    </>
  );
}

function MemberView({ me, org }) {
  return (
    <>
      <Banner kind="info" title="This is a member account">
        Members see only which organization they belong to. The organization's units and accounts, its archive and its rollout are seen and managed from its management account,{' '}
        <span class="mono">{org.managementAccountId}</span>.
      </Banner>
      <section class="card" aria-labelledby="org-facts" data-org={org.id}>
        <h2 class="card-title" id="org-facts">
          Organization
        </h2>
        <OrgFacts
          rows={[
            ['Organization ID', copyId(org.id)],
            ['Management account', <span class="mono">{org.managementAccountId}</span>],
            ['This account', <span class="mono">{me.account}</span>],
          ]}
        />
      </section>
    </>
  );
}

// The dialogs of the management view, one open at a time: kind is unit,
// account, move or delete.
function ActionDialog({ dialog, tree, busy, error, onChange, onConfirm, onCancel }) {
  const d = dialog || {};
  const set = (k) => (v) => onChange({ ...d, [k]: v });
  const text = (k, label, extra = {}) => (
    <label class="field">
      <span>{label}</span>
      <input name={k} value={d[k] || ''} autocomplete="off" onInput={(e) => set(k)(e.currentTarget.value)} {...extra} />
    </label>
  );
  let title = '';
  let confirmLabel = '';
  let body = null;
  switch (d.kind) {
    case 'unit':
      title = 'Create organizational unit';
      confirmLabel = 'Create unit';
      body = (
        <div class="form">
          {text('name', 'Name', { required: true, maxLength: 128 })}
          <ParentSelect tree={tree} value={d.parentId} onChange={set('parentId')} />
        </div>
      );
      break;
    case 'account':
      title = 'Create member account';
      confirmLabel = 'Create account';
      body = (
        <div class="form">
          {text('name', 'Name', { required: true, maxLength: 128 })}
          <ParentSelect tree={tree} value={d.parentId} onChange={set('parentId')} />
          {text('roleName', 'Role name', { placeholder: DEFAULT_ROLE, maxLength: 64 })}
          <p class="muted small">The role, in the new account's administrators group, is what this account assumes to act in it (postern org assume-role).</p>
        </div>
      );
      break;
    case 'move':
      title = 'Move account';
      confirmLabel = 'Move';
      body = (
        <div class="form">
          <p>
            <strong class="org-name">{d.account?.name}</strong> (<span class="mono">{d.account?.id}</span>) is in{' '}
            <span class="mono">{d.account?.parentId}</span>.
          </p>
          {d.to ? (
            <ParentSelect tree={tree} value={d.to} onChange={set('to')} exclude={d.account?.parentId} label="Move to" />
          ) : (
            <p class="muted">There is no other unit to move it to: create one first.</p>
          )}
        </div>
      );
      break;
    case 'delete':
      title = 'Delete organizational unit?';
      confirmLabel = 'Delete';
      body = (
        <p>
          <strong class="org-name">{d.unit?.name}</strong> (<span class="mono">{d.unit?.id}</span>) will be deleted. Only an empty unit can be: move its accounts and delete its units first.
        </p>
      );
      break;
    default:
  }
  return (
    <Confirm open={!!dialog} title={title} confirmLabel={confirmLabel} danger={d.kind === 'delete'} busy={busy} disabled={d.kind === 'move' && !d.to} onConfirm={onConfirm} onCancel={onCancel}>
      {error && <Banner title={d.kind === 'delete' ? 'Not deleted' : 'Refused'}>{error.message}</Banner>}
      {body}
    </Confirm>
  );
}

// ArchiveCard shows the organization's central archive: where every
// account's copies go, and per account how many are delivered, waiting for
// their sessions to end, due, and failing, with the oldest undelivered,
// and how many of its log events are still to be shipped there.
function ArchiveCard({ archive }) {
  const setCmd = 'postern org archive set --account ACCOUNT --bucket BUCKET --key prn:postern:kms:ACCOUNT:key/ID';
  return (
    <section class="card" aria-labelledby="org-archive-title" data-archive={archive && !archive.error ? archive.bucket : ''}>
      <div class="card-head">
        <h2 class="card-title" id="org-archive-title">
          Central archive
        </h2>
      </div>
      {archive === null && (
        <Empty title="No central archive">
          A copy of every account's sessions and audit trail can go to one account's bucket, under its key: <Copyable text={setCmd} label="Copy command" />
        </Empty>
      )}
      {archive && archive.error && <ErrorBanner error={archive.error} title="The archive's status could not be read" />}
      {archive && !archive.error && (
        <>
          <OrgFacts
            rows={[
              ['Archive account', <span class="mono">{archive.accountId}</span>],
              ['Bucket', <span class="mono">{`s3://${archive.bucket}/${archive.prefix ? archive.prefix + '/' : ''}ACCOUNT/`}</span>],
              ['Key', <span class="mono">{archive.kmsKeyArn}</span>],
              [
                'Log groups shipped',
                <span class="mono">{(archive.logGroups && archive.logGroups.length ? archive.logGroups : ['/postern/sessions']).join(', ')}</span>,
              ],
            ]}
          />
          <table class="table" aria-label="Copies per account">
            <thead>
              <tr>
                <th>Account</th>
                <th>Delivered</th>
                <th>Waiting</th>
                <th>Due</th>
                <th>Failing</th>
                <th>Oldest undelivered</th>
                <th>Log events pending</th>
              </tr>
            </thead>
            <tbody>
              {archive.accounts.map((a) => (
                <tr key={a.accountId} data-archive-account={a.accountId}>
                  <td>
                    <span class="org-name">{a.name}</span> <span class="mono muted small">{a.accountId}</span>
                  </td>
                  <td data-col="delivered">{a.delivered}</td>
                  <td data-col="waiting">{a.waiting}</td>
                  <td data-col="due">{a.pending}</td>
                  <td data-col="failing">{a.failing ? <Badge kind="bad" label={String(a.failing)} /> : '0'}</td>
                  <td>{a.oldestUndelivered ? fmtTime(a.oldestUndelivered) : '—'}</td>
                  <td data-col="logs" title={a.logEventsOldest ? `oldest taken ${fmtTime(a.logEventsOldest)}` : undefined}>
                    {a.logEventsPending}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function ManagementView({ org, units = [], accounts = [], archive, listError, can, stackSet, onChanged, onRetry }) {
  const tree = useMemo(() => orgTree(org.rootId, units, accounts), [org.rootId, units, accounts]);
  const [dialog, setDialog] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState('');

  const open = (d) => {
    setError(null);
    setDone('');
    setDialog(d);
  };
  const onMove = (a) => {
    const to = tree.flat.find(({ unit }) => unit.id !== a.parentId);
    open({ kind: 'move', account: a, to: to ? to.unit.id : '' });
  };
  const onDelete = (unit) => open({ kind: 'delete', unit });

  const run = async () => {
    const d = dialog;
    setBusy(true);
    setError(null);
    try {
      let msg = '';
      if (d.kind === 'unit') {
        const u = await api(`${ORG}/units`, { method: 'POST', body: { name: (d.name || '').trim(), parentId: d.parentId } });
        msg = `Created organizational unit ${u.name} (${u.id}).`;
      } else if (d.kind === 'account') {
        const body = { name: (d.name || '').trim(), parentId: d.parentId };
        if ((d.roleName || '').trim()) body.roleName = d.roleName.trim();
        const a = await api(`${ORG}/accounts`, { method: 'POST', body });
        msg = `Created account ${a.name} (${a.id}) in ${a.path}.`;
      } else if (d.kind === 'move') {
        const a = await api(`${ORG}/accounts/${encodeURIComponent(d.account.id)}/move`, {
          method: 'POST',
          body: { sourceParentId: d.account.parentId, destinationParentId: d.to },
        });
        msg = `Moved account ${a.name} (${a.id}) to ${a.path}.`;
      } else if (d.kind === 'delete') {
        await api(`${ORG}/units/${encodeURIComponent(d.unit.id)}`, { method: 'DELETE' });
        msg = `Deleted organizational unit ${d.unit.name} (${d.unit.id}).`;
      }
      setDialog(null);
      setDone(msg);
      onChanged();
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  };

  const members = accounts.filter((a) => !a.management).length;
  return (
    <>
      {done && (
        <Banner kind="success" onDismiss={() => setDone('')}>
          {done}
        </Banner>
      )}
      <section class="card" aria-labelledby="org-facts" data-org={org.id}>
        <div class="card-head">
          <h2 class="card-title" id="org-facts">
            Organization
          </h2>
          {can.admin && !listError && (
            <>
              <button type="button" class="btn" onClick={() => open({ kind: 'unit', name: '', parentId: org.rootId })}>
                Create unit
              </button>
              <button type="button" class="btn btn-primary" onClick={() => open({ kind: 'account', name: '', parentId: org.rootId, roleName: '' })}>
                Create account
              </button>
            </>
          )}
        </div>
        <OrgFacts
          rows={[
            ['Organization ID', copyId(org.id)],
            ['Root', <span class="mono">{org.rootId}</span>],
            ['Management account', <span class="mono">{org.managementAccountId}</span>],
            ['Created', fmtTime(org.createdAt)],
            ...(listError
              ? []
              : [
                  ['Member accounts', String(members)],
                  ['Organizational units', String(Math.max(0, units.length - 1))],
                ]),
          ]}
        />
      </section>
      <ErrorBanner error={listError} title="The organization's units and accounts could not be listed" onRetry={onRetry} />
      {!listError && (
        <section class="card" aria-labelledby="org-tree-title">
          <div class="card-head">
            <h2 class="card-title" id="org-tree-title">
              Structure
            </h2>
            <span class="muted small">Acting in a member account is for the CLI: copy the command beside it.</span>
          </div>
          <ul class="org-tree" aria-labelledby="org-tree-title">
            <UnitNode unit={tree.root} tree={tree} can={can} onMove={onMove} onDelete={onDelete} />
          </ul>
        </section>
      )}
      {archive !== undefined && <ArchiveCard archive={archive} />}
      {!listError && <RolloutCard accounts={accounts} units={units} can={can} selected={stackSet} />}
      <ActionDialog dialog={dialog} tree={tree} busy={busy} error={error} onChange={setDialog} onConfirm={run} onCancel={() => setDialog(null)} />
    </>
  );
}

export function Organization({ me, can, params }) {
  const o = useAsync((signal) => load(me.account, signal), [me.account]);
  const [created, setCreated] = useState('');
  const org = o.data?.org;

  let subtitle = 'The organization this account belongs to';
  if (org && org.managementAccountId === me.account) subtitle = `${org.id} · this account manages it`;
  else if (org) subtitle = `${org.id} · this account is a member`;

  let body;
  if (o.loading && !o.data) body = <Loading />;
  else if (!o.data) body = null;
  else if (!org)
    body = (
      <NoOrganization
        me={me}
        can={can}
        onCreated={(c) => {
          setCreated(`Created organization ${c.id}: this account manages it.`);
          o.reload();
        }}
      />
    );
  else if (org.managementAccountId !== me.account) body = <MemberView me={me} org={org} />;
  else
    body = (
      <ManagementView
        org={org}
        units={o.data.units}
        accounts={o.data.accounts}
        archive={o.data.archive}
        listError={o.data.listError}
        can={can}
        stackSet={params?.get('stackset') || ''}
        onRetry={o.reload}
        onChanged={() => {
          setCreated('');
          o.reload();
        }}
      />
    );

  return (
    <div class="page">
      <PageHeader title="Organization" subtitle={subtitle} />
      <ErrorBanner error={o.error} title="The organization could not be read" onRetry={o.reload} />
      {created && org && (
        <Banner kind="success" onDismiss={() => setCreated('')}>
          {created}
        </Banner>
      )}
      {body}
    </div>
  );
}
