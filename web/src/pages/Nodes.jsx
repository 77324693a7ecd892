import { useMemo, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { navigate } from '../lib/router.js';
import { ago, fmtTime } from '../lib/format.js';
import { Badge, Banner, Confirm, Empty, ErrorBanner, Loading, PageHeader, useAsync } from '../components/ui.jsx';
import { RDP_PORT, startDesktop } from './Desktop.jsx';

function osLabel(n) {
  const os = n.os ? n.os[0].toUpperCase() + n.os.slice(1) : '';
  return n.platform ? n.platform : os || '—';
}

function matches(n, q) {
  if (!q) return true;
  const hay = [n.id, n.name, n.hostname, n.ip, n.os, n.platform, n.agentVersion, ...Object.entries(n.tags || {}).map(([k, v]) => `${k}=${v}`)]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

// startSession starts a shell on a node and opens it.
export async function startSession(node) {
  const el = document.querySelector('.main');
  // A first guess at the size; the terminal sends its real size on attach.
  const cols = Math.max(80, Math.floor(((el?.clientWidth || 1000) - 40) / 8.4));
  const rows = Math.max(24, Math.floor(((el?.clientHeight || 700) - 120) / 17));
  const s = await api('/v1/sessions', { method: 'POST', body: { target: node.id, cols, rows } });
  navigate(`/shell/${encodeURIComponent(s.sessionId)}`, { node: node.name || node.id });
}

export function Nodes({ can, params }) {
  const nodes = useAsync((signal) => api('/v1/nodes', { signal }), [], { interval: 15000 });
  const [q, setQ] = useState(params.get('q') || '');
  const [status, setStatus] = useState('all');
  const [starting, setStarting] = useState('');
  const [startError, setStartError] = useState(null);

  const list = useMemo(
    () =>
      (nodes.data || [])
        .filter((n) => matches(n, q))
        .filter((n) => status === 'all' || (status === 'online' ? n.online : !n.online))
        .sort((a, b) => Number(b.online) - Number(a.online) || (a.name || a.id).localeCompare(b.name || b.id)),
    [nodes.data, q, status],
  );
  const online = (nodes.data || []).filter((n) => n.online).length;

  // The node whose remote desktop is being opened, and on which port.
  const [desk, setDesk] = useState(null);
  const [rdpPort, setRdpPort] = useState(RDP_PORT);
  const portOK = /^\d{1,5}$/.test(rdpPort) && Number(rdpPort) >= 1 && Number(rdpPort) <= 65535;

  // start opens a shell, or with desktop the node's remote desktop.
  const start = async (n, desktop = false) => {
    setStarting(`${desktop ? 'desktop' : 'shell'}:${n.id}`);
    setStartError(null);
    setDesk(null);
    try {
      await (desktop ? startDesktop(n, rdpPort) : startSession(n));
    } catch (e) {
      setStartError({ node: n, error: e });
      setStarting('');
    }
  };

  return (
    <div class="page">
      <PageHeader
        title="Nodes"
        subtitle={nodes.data ? `${nodes.data.length} managed ${nodes.data.length === 1 ? 'node' : 'nodes'} · ${online} online` : 'Managed nodes and their agents'}
      />
      {startError && (
        <Banner title={`Could not start a session on ${startError.node.name || startError.node.id}`} onDismiss={() => setStartError(null)}>
          {startError.error.message}
        </Banner>
      )}
      <ErrorBanner error={nodes.error} title="Nodes could not be listed" onRetry={nodes.reload} />
      <div class="toolbar" role="search">
        <label class="field field-inline grow">
          <span class="sr-only">Search nodes</span>
          <input type="search" placeholder="Search by name, ID, IP, platform or tag (env=prod)…" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </label>
        <label class="field field-inline">
          <span>Status</span>
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="all">All</option>
            <option value="online">Online</option>
            <option value="offline">Offline</option>
          </select>
        </label>
      </div>
      {nodes.loading && !nodes.data ? (
        <Loading />
      ) : nodes.data?.length === 0 ? (
        <Empty icon="⌂" title="No managed nodes yet">
          <p>Register a node by running its agent with an activation:</p>
          <pre class="code">{`postern activations create --tag env=dev\npostern agent register --server URL --code CODE --id ID\npostern agent run`}</pre>
        </Empty>
      ) : list.length === 0 && nodes.data ? (
        <Empty icon="⌕" title="No nodes match">
          <p>Try another search or status.</p>
        </Empty>
      ) : (
        <div class="table-wrap">
          <table class="table" aria-label="Managed nodes">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col">Platform</th>
                <th scope="col">Agent</th>
                <th scope="col">Tags</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((n) => (
                <tr key={n.id} data-node={n.id}>
                  <td>
                    <div class="cell-main">{n.name || n.hostname || n.id}</div>
                    <div class="cell-sub mono">
                      {n.id}
                      {n.ip && ` · ${n.ip}`}
                    </div>
                  </td>
                  <td>
                    <Badge status={n.online ? 'Online' : 'Offline'} label={n.online ? 'Online' : 'Offline'} />
                    <div class="cell-sub" title={fmtTime(n.lastSeen)}>
                      {n.online ? 'connected' : `last seen ${ago(n.lastSeen)}`}
                    </div>
                  </td>
                  <td>
                    <div class="cell-main">{osLabel(n)}</div>
                    <div class="cell-sub">{n.os}</div>
                  </td>
                  <td class="mono">{n.agentVersion || '—'}</td>
                  <td>
                    <div class="tags">
                      {Object.entries(n.tags || {}).map(([k, v]) => (
                        <button type="button" class="tag" key={k} title={`Filter by ${k}=${v}`} onClick={() => setQ(`${k}=${v}`)}>
                          <span class="tag-k">{k}</span>
                          {v && <span class="tag-v">{v}</span>}
                        </button>
                      ))}
                    </div>
                  </td>
                  <td class="actions">
                    {can.startSessions && (
                      <button
                        type="button"
                        class="btn btn-primary btn-sm"
                        disabled={!n.online || starting !== ''}
                        title={n.online ? `Open a shell on ${n.name || n.id}` : 'The node is offline'}
                        onClick={() => start(n)}
                      >
                        {starting === `shell:${n.id}` ? 'Starting…' : 'Start session'}
                      </button>
                    )}
                    {can.startSessions && (
                      <button
                        type="button"
                        class="btn btn-sm"
                        disabled={!n.online || starting !== ''}
                        title={n.online ? `Connect to the remote desktop (RDP) of ${n.name || n.id}` : 'The node is offline'}
                        onClick={() => setDesk(n)}
                      >
                        {starting === `desktop:${n.id}` ? 'Starting…' : 'Connect (desktop)'}
                      </button>
                    )}
                    <a class="btn btn-sm" href={`#/sessions?state=all&target=${encodeURIComponent(n.id)}`}>
                      Sessions
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Confirm
        open={!!desk}
        title={`Remote desktop of ${desk ? desk.name || desk.id : ''}`}
        confirmLabel="Connect"
        busy={starting !== ''}
        disabled={!portOK}
        onConfirm={() => start(desk, true)}
        onCancel={() => setDesk(null)}
      >
        <p>A recorded RDP connection to the node's own desktop, through its agent. You log in to the desktop on the next page.</p>
        <label class="field">
          <span>RDP port on the node</span>
          <input inputMode="numeric" value={rdpPort} aria-invalid={!portOK} onInput={(e) => setRdpPort(e.currentTarget.value.trim())} />
        </label>
        {!portOK && <p class="tone-bad small">A port is a number from 1 to 65535.</p>}
      </Confirm>
    </div>
  );
}
