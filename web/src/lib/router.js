// Hash routing: #/sessions/ID?state=active. The server's single sign-on
// hands back to the path /sso?code=... (a redirect carries no fragment),
// which reads as the route /sso until the console moves on.
import { useEffect, useState } from 'preact/hooks';

export function parseHash(hash = location.hash) {
  if (location.pathname === '/sso' && (hash === '' || hash === '#')) {
    return { path: '/sso', params: new URLSearchParams(location.search) };
  }
  const h = hash.replace(/^#/, '') || '/';
  const i = h.indexOf('?');
  const path = i < 0 ? h : h.slice(0, i);
  return { path: path || '/', params: new URLSearchParams(i < 0 ? '' : h.slice(i + 1)) };
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function href(path, params) {
  const q = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return `#${path}${q ? `?${q}` : ''}`;
}

export function navigate(path, params, { replace = false } = {}) {
  const h = href(path, params);
  // Leaving the single sign-on return path: back to the console's root.
  if (replace) history.replaceState(null, '', location.pathname === '/sso' ? `/${h}` : h);
  else location.hash = h;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

// match returns the named parts of path for a pattern like /sessions/:id.
export function match(pattern, path) {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const out = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      if (!s[i]) return null;
      out[p[i].slice(1)] = decodeURIComponent(s[i]);
    } else if (p[i] !== s[i]) return null;
  }
  return out;
}
