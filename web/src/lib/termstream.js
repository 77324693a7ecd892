// TermStream keeps a browser terminal attached to a session's stream, as
// the CLI's RunTerminal does (client/terminal.go): it counts the output
// bytes it has shown and, when the connection drops, reconnects with
// ?offset= so the session resumes exactly where the output left off,
// without losing or repeating a byte. Keystrokes typed while disconnected
// wait and are sent once it is back.

import { T, encodeFrame, resizeFrame, inputFrames, decodeFrame, parseOutput, text, ProtocolError } from './wire.js';

export function wsURL(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

const MIN_BACKOFF = 200;
const MAX_BACKOFF = 5000;
const MAX_PENDING = 256 << 10; // input held while disconnected
const encoder = new TextEncoder();

export class TermStream {
  // path: the session's stream path (api.Session.streamUrl).
  // observe: a read-only live view (?mode=observe); input is never sent.
  // grace: how long to keep reconnecting (the server's grace period).
  // Callbacks: onOutput(Uint8Array), onNotice(string), onExit({code,reason,status}),
  // onState(state, detail) where state is connecting, connected,
  // reconnecting ({attempt, until}), ended, failed ({message}) or lost.
  constructor({ path, observe = false, grace = 120_000, onOutput, onNotice, onExit, onState }) {
    Object.assign(this, { path, observe, grace, onOutput, onNotice, onExit, onState });
    this.offset = 0;
    this.ws = null;
    this.state = 'idle';
    this.pending = [];
    this.pendingBytes = 0;
    this.size = null;
    this.lostAt = 0;
    this.attempt = 0;
    this.backoff = MIN_BACKOFF;
    this.everConnected = false;
    this.closed = false;
    this.timer = 0;
    this.onOnline = () => {
      if (this.state === 'reconnecting') {
        clearTimeout(this.timer);
        this.connect();
      }
    };
  }

  start() {
    window.addEventListener('online', this.onOnline);
    this.setState('connecting');
    this.connect();
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState?.(state, detail);
  }

  connect() {
    if (this.closed) return;
    const q = `offset=${this.offset}${this.observe ? '&mode=observe' : ''}`;
    let ws;
    try {
      ws = new WebSocket(wsURL(`${this.path}?${q}`));
    } catch (e) {
      this.fail(`cannot open the session's connection: ${e.message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      opened = true;
      this.everConnected = true;
      const wasLost = this.lostAt !== 0;
      this.lostAt = 0;
      this.attempt = 0;
      this.backoff = MIN_BACKOFF;
      this.setState('connected', { resumed: wasLost });
      if (this.size && !this.observe) ws.send(resizeFrame(this.size.cols, this.size.rows));
      for (const f of this.pending) ws.send(f);
      this.pending = [];
      this.pendingBytes = 0;
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      try {
        if (typeof ev.data === 'string') throw new ProtocolError('text message from the server');
        this.handle(ev.data);
      } catch (e) {
        this.fail(e instanceof ProtocolError ? `protocol error: ${e.message}` : String(e.message || e));
      }
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.closed || this.state === 'ended' || this.state === 'failed') return;
      this.lost(opened);
    };
  }

  handle(buf) {
    const f = decodeFrame(buf);
    switch (f.type) {
      case T.OUTPUT: {
        const { offset, data } = parseOutput(f.payload);
        if (offset > this.offset) throw new ProtocolError(`output resumes at ${offset}, expected ${this.offset}`);
        const skip = this.offset - offset; // already shown before a reconnect
        if (skip >= data.length) return;
        const fresh = data.subarray(skip);
        // Copy: the frame's buffer is not ours to keep.
        this.onOutput?.(fresh.slice());
        this.offset += fresh.length;
        return;
      }
      case T.NOTICE:
        this.onNotice?.(text(f.payload));
        return;
      case T.EXIT: {
        let exit;
        try {
          exit = JSON.parse(text(f.payload));
        } catch {
          throw new ProtocolError('malformed exit frame');
        }
        this.finish();
        this.setState('ended', exit);
        this.onExit?.(exit);
        return;
      }
      case T.ERROR:
        this.fail(text(f.payload));
        return;
      default:
        throw new ProtocolError(`unexpected frame type ${f.type}`);
    }
  }

  async lost(opened) {
    if (!this.lostAt) this.lostAt = Date.now();
    this.attempt++;
    if (!opened) {
      // The browser does not say why a WebSocket was refused; a plain
      // GET of the same URL gets the server's own answer.
      const refusal = await this.refusal();
      if (this.closed) return;
      if (refusal) {
        this.fail(refusal.message, refusal.status);
        return;
      }
    }
    if (!this.everConnected && this.attempt >= 4) {
      this.fail('cannot connect to the session');
      return;
    }
    if (Date.now() - this.lostAt > this.grace) {
      this.finish();
      this.setState('lost');
      return;
    }
    this.setState('reconnecting', { attempt: this.attempt, until: this.lostAt + this.grace });
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(2 * this.backoff, MAX_BACKOFF);
  }

  async refusal() {
    try {
      const res = await fetch(`${this.path}?offset=${this.offset}${this.observe ? '&mode=observe' : ''}`, { credentials: 'same-origin' });
      if ([401, 403, 404, 410].includes(res.status)) {
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

  fail(message, status = 0) {
    this.finish();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
    this.setState('failed', { message, status });
  }

  finish() {
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
  }

  // Reconnect now, after the grace period ran out.
  retry() {
    if (this.closed) return;
    this.lostAt = Date.now();
    this.attempt = 0;
    this.backoff = MIN_BACKOFF;
    window.addEventListener('online', this.onOnline);
    this.setState('reconnecting', { attempt: 0, until: this.lostAt + this.grace });
    this.connect();
  }

  sendInput(data) {
    if (this.observe || this.state === 'ended' || this.state === 'failed') return;
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    for (const f of inputFrames(bytes)) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(f);
      } else if (this.pendingBytes + f.length <= MAX_PENDING) {
        this.pending.push(f);
        this.pendingBytes += f.length;
      }
    }
  }

  resize(cols, rows) {
    if (cols < 1 || rows < 1) return;
    this.size = { cols, rows };
    if (!this.observe && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(resizeFrame(cols, rows));
  }

  // drop closes the connection as a network failure would, to exercise
  // (and demonstrate) resuming.
  drop() {
    this.ws?.close(4000, 'dropped');
  }

  close() {
    this.closed = true;
    this.finish();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, 'closed');
    }
  }
}

export { encodeFrame };
