const items = [
  ['/', 'Dashboard', 'M3 13h8V3H3v10zm0 8h8v-6H3v6zm10 0h8V11h-8v10zm0-18v6h8V3h-8z'],
  ['/nodes', 'Nodes', 'M4 5h16v4H4V5zm0 6h16v4H4v-4zm0 6h16v4H4v-4zm2-10.5h2v1H6v-1zm0 6h2v1H6v-1zm0 6h2v1H6v-1z'],
  ['/sessions', 'Sessions', 'M3 4h18v14H3V4zm2 2v10h14V6H5zm1.5 2.5 3 2.5-3 2.5M11 14h5'],
  ['/logs', 'Logs', 'M5 3h10l4 4v14H5V3zm2 6h10M7 13h10M7 17h6'],
  ['/integrations', 'Integrations', 'M3 12h6m0 0 4-6h5m-5 12-4-6m4 6h5M16 3l3 3-3 3M16 15l3 3-3 3'],
  ['/preferences', 'Preferences', 'M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zm8.5 4-2 1.2.2 2.3-2.2.9-1.2 2-2.3-.4L12 21l-1.8-1.9-2.3.4-1.2-2-2.2-.9.2-2.3-2-1.3 2-1.2-.2-2.3 2.2-.9 1.2-2 2.3.4L12 3l1.8 1.9 2.3-.4 1.2 2 2.2.9-.2 2.3 2 1.3z'],
  ['/organization', 'Organization', 'M9 3h6v4H9V3zm-6 14h6v4H3v-4zm12 0h6v4h-6v-4zM12 7v5M6 17v-5h12v5'],
];

function active(path, to) {
  if (to === '/') return path === '/' || path === '/dashboard';
  if (to === '/sessions') return path.startsWith('/sessions') || path.startsWith('/shell');
  return path.startsWith(to);
}

export function Logo() {
  return (
    <svg class="logo-mark" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="8" fill="#4f46e5" />
      <path d="M9 25V9a7 7 0 0 1 14 0v16" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" />
      <path d="M13 25v-8h6v8" fill="#a5b4fc" />
    </svg>
  );
}

export function Sidebar({ path, me, onSignOut }) {
  return (
    <nav class="sidebar" aria-label="Main">
      <a class="brand" href="#/">
        <Logo />
        <span>Postern</span>
      </a>
      <ul class="nav-list">
        {items.map(([to, label, d]) => (
          <li key={to}>
            <a href={`#${to}`} class={active(path, to) ? 'nav-item active' : 'nav-item'} aria-current={active(path, to) ? 'page' : undefined}>
              <svg viewBox="0 0 24 24" aria-hidden="true" class="nav-icon">
                <path d={d} fill="none" stroke="currentColor" stroke-width="1.7" stroke-linejoin="round" stroke-linecap="round" />
              </svg>
              {label}
            </a>
          </li>
        ))}
      </ul>
      <div class="sidebar-foot">
        <div class="me">
          <span class="avatar" aria-hidden="true">
            {(me.user || '?').slice(0, 1).toUpperCase()}
          </span>
          <div class="me-text">
            <span class="me-name">{me.user}</span>
            <span class="me-sub" title={me.arn}>
              {me.admin ? 'Administrator' : (me.groups || []).join(', ') || 'No groups'} · {me.account}
            </span>
          </div>
        </div>
        <button type="button" class="btn btn-ghost-dark" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </nav>
  );
}
