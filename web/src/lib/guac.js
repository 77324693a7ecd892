// Remote desktops in the console: Apache Guacamole's JavaScript client
// (guacamole-common-js, whose ESM build ends in `export default
// Guacamole`) draws the desktop, reads the keyboard and mouse, and plays
// recordings; this file holds what the desktop page and the player share:
// the desktop's WebSocket address, the words for a failure, and the
// retiming of a recording for playback at another speed.
import Guacamole from 'guacamole-common-js';
import { sessionPath } from './api.js';
import { wsURL } from './termstream.js';

export { Guacamole };

// desktopURL is the session's desktop WebSocket, absolute (ws: or wss:,
// this page's host, so the sign-in cookie goes with it).
// guacamole-common-js appends "?" and the connect data ("watch=1").
export const desktopURL = (id) => wsURL(`${sessionPath(id)}/desktop`);

const C = Guacamole.Status.Code;

// What a status code means to someone at the console, for failures that
// come without words of the server's own.
const WORDS = {
  [C.CLIENT_UNAUTHORIZED]: 'the desktop refused the user name or password',
  [C.CLIENT_FORBIDDEN]: 'you may not connect to this desktop',
  [C.UPSTREAM_NOT_FOUND]: "could not reach the node's desktop",
  [C.UPSTREAM_TIMEOUT]: 'the desktop did not answer in time',
  [C.UPSTREAM_ERROR]: 'the desktop refused the connection',
  [C.UPSTREAM_UNAVAILABLE]: 'the desktop is busy or unavailable',
  [C.SESSION_CLOSED]: 'the desktop ended the session',
  [C.SESSION_CONFLICT]: 'someone else took over this desktop connection',
  [C.RESOURCE_NOT_FOUND]: 'the desktop session does not exist or has ended',
  [C.SERVER_BUSY]: 'the server is too busy to connect the desktop',
  [C.SERVER_ERROR]: 'the server failed to connect the desktop',
  [C.CLIENT_TIMEOUT]: 'the connection was idle for too long',
};

// statusText is a Guacamole.Status in words: the server's message when
// it sent one (a number alone is a WebSocket close reason, not words).
export function statusText(status) {
  const m = (status?.message || '').trim();
  if (m && !/^\d+$/.test(m)) return m;
  return WORDS[status?.code] || `the desktop connection failed (code ${status?.code ?? 'unknown'})`;
}

export class RecordingError extends Error {}

// retime returns a recording (Guacamole instructions, as the server
// delivers a .guac) whose `sync` timestamps run speed times as fast:
// SessionRecording has no speed of its own and schedules each frame at
// its sync timestamp, so playing at 2x is playing a recording whose
// frames are half as far apart. Only the sync timestamps change; every
// other instruction is copied as it is. Lengths count UTF-16 code units,
// as guacamole-common-js 1.5.0's parser (which plays the result) does.
// It throws RecordingError for text that is not Guacamole instructions.
export function retime(text, speed) {
  if (!(speed > 0)) throw new RangeError(`speed ${speed}`);
  if (speed === 1) return text;
  const out = [];
  let copied = 0; // text before this has been copied to out
  let t0 = null;
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Whitespace between instructions (a trailing newline) is tolerated,
    // as the player's parser tolerates it.
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    const at = i;
    let k = 0; // element index within the instruction
    let opcode = '';
    let syncStart = -1;
    let syncEnd = -1;
    for (;;) {
      const dot = text.indexOf('.', i);
      if (dot < 0 || dot - i > 10) throw new RecordingError(`no element length at character ${i}`);
      const len = text.slice(i, dot);
      if (!/^\d+$/.test(len)) throw new RecordingError(`bad element length "${len}" at character ${i}`);
      const start = dot + 1;
      const end = start + Number(len);
      if (end >= n) throw new RecordingError(`the recording ends inside an instruction (character ${at})`);
      if (k === 0) opcode = text.slice(start, end);
      else if (k === 1 && opcode === 'sync') {
        syncStart = start;
        syncEnd = end;
      }
      k++;
      const term = text[end];
      i = end + 1;
      if (term === ';') break;
      if (term !== ',') throw new RecordingError(`bad terminator "${term}" at character ${end}`);
    }
    if (syncStart < 0) continue;
    const ts = Number(text.slice(syncStart, syncEnd));
    if (!Number.isSafeInteger(ts)) throw new RecordingError(`bad sync timestamp at character ${syncStart}`);
    if (t0 === null) t0 = ts;
    const v = String(t0 + Math.round((ts - t0) / speed));
    // Copy up to the timestamp's length, then the new timestamp.
    const lenStart = text.lastIndexOf(',', syncStart) + 1;
    out.push(text.slice(copied, lenStart), `${v.length}.${v}`);
    copied = syncEnd;
  }
  out.push(text.slice(copied));
  return out.join('');
}

const CHUNK = 256 << 10;

// RecordingTunnel hands a recording's text (Guacamole instructions) to a
// Guacamole.SessionRecording, as a tunnel that plays it once and closes.
// SessionRecording also takes a Blob, but guacamole-common-js 1.5.0 as
// published on npm never keeps the Blob it is given (it parses an
// undefined recordingBlob and fails on its size), so the console feeds
// it through this tunnel instead: the tunnel path is the one the library
// uses for recordings streamed from a server. The text is parsed in
// chunks between tasks so that a long recording does not freeze the page.
export class RecordingTunnel extends Guacamole.Tunnel {
  constructor(text) {
    super();
    const closed = () => this.state === Guacamole.Tunnel.State.CLOSED;
    this.connect = () => {
      this.setState(Guacamole.Tunnel.State.OPEN);
      const parser = new Guacamole.Parser();
      parser.oninstruction = (opcode, args) => this.oninstruction?.(opcode, args);
      let i = 0;
      const step = () => {
        if (closed()) return;
        try {
          parser.receive(text.slice(i, i + CHUNK));
        } catch (e) {
          this.onerror?.(new Guacamole.Status(Guacamole.Status.Code.SERVER_ERROR, `the recording is not Guacamole instructions: ${e.message}`));
          this.setState(Guacamole.Tunnel.State.CLOSED);
          return;
        }
        i += CHUNK;
        if (i < text.length) setTimeout(step, 0);
        else this.setState(Guacamole.Tunnel.State.CLOSED);
      };
      setTimeout(step, 0);
    };
    this.disconnect = () => this.setState(Guacamole.Tunnel.State.CLOSED);
    this.sendMessage = () => {};
  }
}
