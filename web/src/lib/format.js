// Formatting for people: times in the browser's zone, durations, sizes.

const dtf = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayf = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

export function fmtTime(t) {
  if (!t) return '—';
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : dtf.format(d);
}

export function fmtDay(t) {
  const d = t instanceof Date ? t : new Date(t);
  return dayf.format(d);
}

export function ago(t, now = Date.now()) {
  if (!t) return 'never';
  const s = Math.round((now - new Date(t).getTime()) / 1000);
  if (s < 0) return 'just now';
  if (s < 45) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export function sessionDuration(s, now = Date.now()) {
  if (!s.startDate) return null;
  const end = s.endDate ? new Date(s.endDate).getTime() : now;
  return end - new Date(s.startDate).getTime();
}

// clock renders seconds as m:ss.t (or h:mm:ss).
export function clock(sec, tenths = false) {
  if (sec === null || sec === undefined || Number.isNaN(sec)) return '–:––';
  const neg = sec < 0;
  sec = Math.abs(sec);
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  let out = h ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}` : `${m}:${String(s).padStart(2, '0')}`;
  if (tenths) out += `.${Math.floor((sec * 10) % 10)}`;
  return (neg ? '-' : '') + out;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do {
    n /= 1024;
    i++;
  } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

export const fmtNum = (n) => (n === null || n === undefined ? '—' : new Intl.NumberFormat().format(n));

// ISO date (yyyy-mm-dd) of a local day.
export function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// portTarget is where a port session's connections go: host:port, the
// host as the node reaches it (localhost: the node itself).
export function portTarget(host, port) {
  const h = host || 'localhost';
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

// sessionKind says what a session is, for lists and headings: a port
// session (SSH through `postern proxy`, or a port forward) carries
// connections, not a terminal, and is never a shell; a desktop session
// (sessionType Desktop) has a screen, not a terminal.
export function sessionKind(s) {
  // A desktop session is also a port session (to the node's RDP port),
  // but what it has is a screen.
  if (s.sessionType === 'Desktop') return { kind: 'desktop', label: 'Desktop', target: s.port ? portTarget(s.port.host, s.port.portNumber) : '' };
  if (s.port) {
    const ssh = /(^|-)StartSSHSession$/.test(s.documentName || '');
    return { kind: 'port', label: ssh ? 'SSH' : 'Port forward', target: portTarget(s.port.host, s.port.portNumber) };
  }
  if (s.pipes) return { kind: 'command', label: 'Command', target: '' };
  if (s.sessionType === 'InteractiveCommands') return { kind: 'commands', label: 'Commands', target: '' };
  return { kind: 'shell', label: 'Shell', target: '' };
}
