// DesktopConnection keeps the console attached to a desktop session's
// WebSocket (DESKTOP.md section 2) through guacamole-common-js: a
// Guacamole.WebSocketTunnel to the session's desktop URL and a
// Guacamole.Client drawing what comes back. The owner's first attach
// sends the `login` instruction the server starts the desktop with; a
// watcher (?watch=1) and a reattach after the socket dropped send none,
// and the server answers them with the whole screen.
//
// States, as the shell's (TermStream): connecting, connected,
// reconnecting ({attempt}), lost (gave up reconnecting; retry() tries
// again), failed ({message}: the server or the desktop said no; final),
// ended (disconnected, or the server closed cleanly).
import { Guacamole, statusText } from './guac.js';

const MIN_BACKOFF = 500;
const MAX_BACKOFF = 5000;
const CLIPBOARD_MAX = 256 << 10; // the engine takes no more than this

export class DesktopConnection {
  // url: the desktop WebSocket (absolute). watch: read-only, no login.
  // grace: how long to keep reconnecting after a drop.
  // Callbacks: onState(state, detail), onClient(client) for each new
  // Guacamole.Client (its display is new too), onClipboard(text).
  constructor({ url, watch = false, grace = 120_000, onState, onClient, onClipboard }) {
    Object.assign(this, { url, watch, grace, onState, onClient, onClipboard });
    this.state = 'idle';
    this.client = null;
    this.tunnel = null;
    this.closed = false;
    this.everOpened = false;
    this.everConnected = false; // the desktop was on screen once
    this.lostAt = 0;
    this.attempt = 0;
    this.backoff = MIN_BACKOFF;
    this.timer = 0;
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState?.(state, detail);
  }

  // start attaches; login is {username, password, domain, security,
  // width, height, dpi} for the owner's first attach, null otherwise.
  // The password is sent once and not kept.
  start(login) {
    this.setState('connecting');
    this.attach(login);
  }

  attach(login) {
    if (this.closed) return;
    const tunnel = new Guacamole.WebSocketTunnel(this.url);
    const client = new Guacamole.Client(tunnel);
    this.tunnel = tunnel;
    this.client = client;
    let opened = false;
    let failed = false;
    let broke = false; // closed abnormally: a drop, not an end
    this.breakTunnel = () => (broke = true);
    const current = () => this.tunnel === tunnel;

    tunnel.onstatechange = (s) => {
      if (!current()) return;
      if (s === Guacamole.Tunnel.State.OPEN && !opened) {
        opened = true;
        this.everOpened = true;
        // The first instruction (the tunnel's UUID) has arrived: the
        // server is listening. The owner's first attach logs in.
        if (login) {
          tunnel.sendMessage('login', login.username, login.password, login.domain, login.security, login.width, login.height, login.dpi);
          login = null;
        }
        return;
      }
      if (s !== Guacamole.Tunnel.State.CLOSED) return;
      if (failed || this.closed || this.state === 'ended' || this.state === 'failed') return;
      this.tunnel = null;
      if (broke) this.lost(opened);
      else {
        // The server closed the connection cleanly: the session is over.
        this.finish();
        this.setState('ended', { byServer: true });
      }
    };
    // The socket broke, or never opened, or went silent (guacamole-common-js
    // calls this for any close but a clean one): a drop, unless the server
    // had said why with an `error` instruction first (client.onerror).
    tunnel.onerror = () => {
      broke = true;
    };
    // The server's last word (an `error` instruction), final either way:
    // success or the session closed is an end (the user disconnected
    // elsewhere, the desktop logged off, the session was terminated);
    // anything else is a failure, in the server's words.
    client.onerror = (status) => {
      if (!current()) return;
      failed = true;
      this.finish();
      const ok = status.code === Guacamole.Status.Code.SUCCESS;
      if (ok || (status.code === Guacamole.Status.Code.SESSION_CLOSED && this.everConnected)) {
        this.setState('ended', { reason: ok ? '' : statusText(status) });
      } else {
        this.setState('failed', { message: statusText(status), code: status.code, wasConnected: this.everConnected });
      }
    };
    client.onstatechange = (s) => {
      if (!current()) return;
      if (s === Guacamole.Client.State.CONNECTED) {
        this.everConnected = true;
        const wasLost = this.lostAt !== 0;
        this.lostAt = 0;
        this.attempt = 0;
        this.backoff = MIN_BACKOFF;
        this.setState('connected', { resumed: wasLost });
      }
    };
    client.onclipboard = (stream, mimetype) => this.readClipboard(stream, mimetype);
    this.onClient?.(client);
    try {
      client.connect(this.watch ? 'watch=1' : '');
    } catch (status) {
      failed = true;
      this.setState('failed', { message: statusText(status), code: status.code });
    }
  }

  readClipboard(stream, mimetype) {
    if (!/^text\//.test(mimetype)) {
      stream.sendAck('only text is taken from the clipboard', Guacamole.Status.Code.UNSUPPORTED);
      return;
    }
    const reader = new Guacamole.StringReader(stream);
    let text = '';
    reader.ontext = (t) => {
      if (text.length + t.length <= CLIPBOARD_MAX) text += t;
    };
    reader.onend = () => this.onClipboard?.(text);
  }

  async lost(opened) {
    if (!this.lostAt) this.lostAt = Date.now();
    this.attempt++;
    if (!opened) {
      // The browser does not say why a WebSocket was refused; a plain
      // GET of the same address gets the server's own answer.
      const refusal = await this.refusal();
      if (this.closed) return;
      if (refusal) {
        this.finish();
        this.setState('failed', { message: refusal.message, status: refusal.status });
        return;
      }
      if (!this.everOpened && this.attempt >= 4) {
        this.finish();
        this.setState('failed', { message: 'cannot connect to the desktop session' });
        return;
      }
    }
    if (Date.now() - this.lostAt > this.grace) {
      this.finish();
      this.setState('lost');
      return;
    }
    this.setState('reconnecting', { attempt: this.attempt });
    // A reattach sends no login: the desktop is still connected at the
    // server, which sends the whole screen again.
    this.timer = setTimeout(() => this.attach(null), this.backoff);
    this.backoff = Math.min(2 * this.backoff, MAX_BACKOFF);
  }

  async refusal() {
    const http = this.url.replace(/^ws/, 'http') + (this.watch ? '?watch=1' : '');
    try {
      const res = await fetch(http, { credentials: 'same-origin' });
      if ([401, 403, 404, 409, 410].includes(res.status)) {
        let message = res.statusText;
        try {
          message = (await res.json()).message || message;
        } catch {
          /* not JSON */
        }
        return { status: res.status, message };
      }
    } catch {
      /* the network is down: keep trying */
    }
    return null;
  }

  finish() {
    clearTimeout(this.timer);
  }

  // retry reconnects after reconnecting gave up.
  retry() {
    if (this.closed) return;
    this.lostAt = Date.now();
    this.attempt = 0;
    this.backoff = MIN_BACKOFF;
    this.setState('reconnecting', { attempt: 0 });
    this.attach(null);
  }

  connected() {
    return this.state === 'connected' && !this.watch && this.client;
  }

  sendSize(width, height) {
    if (this.connected() && width > 0 && height > 0) this.client.sendSize(width, height);
  }

  sendClipboard(text) {
    if (!this.connected()) return false;
    const stream = this.client.createClipboardStream('text/plain');
    const writer = new Guacamole.StringWriter(stream);
    writer.sendText(text.slice(0, CLIPBOARD_MAX));
    writer.sendEnd();
    return true;
  }

  // disconnect ends the desktop connection (the server ends the session).
  disconnect() {
    this.finish();
    const client = this.client;
    this.setState('ended');
    client?.disconnect();
  }

  // close leaves the page: the socket closes without `disconnect`, so the
  // desktop stays connected at the server for its grace period and the
  // owner can come back to it.
  close() {
    this.closed = true;
    this.finish();
    const t = this.tunnel;
    this.tunnel = null;
    t?.disconnect();
  }

  // drop closes the socket as a network failure would, to exercise (and
  // demonstrate) reconnecting.
  drop() {
    const t = this.tunnel;
    if (!t) return;
    // WebSocketTunnel keeps its socket private: close it and count it
    // broken, as the network would have.
    this.breakTunnel();
    t.disconnect();
  }
}
