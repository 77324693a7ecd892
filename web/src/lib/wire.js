// The client side of Postern's session protocol (package wire): one frame
// per WebSocket message, a 1-byte type, a 4-byte big-endian payload length
// and the payload.

export const T = {
  INPUT: 15, // client -> server: raw bytes typed
  RESIZE: 16, // client -> server: 2+2 bytes cols, rows
  OUTPUT: 20, // server -> client: 8-byte offset then bytes
  EXIT: 21, // server -> client: JSON {code, reason, status}; the session is over
  NOTICE: 22, // server -> client: UTF-8 text for the user
  ERROR: 23, // server -> client: UTF-8 text; the attachment is refused or broken
};

export const HEADER_LEN = 5;
export const MAX_PAYLOAD = 1 << 20;

export function encodeFrame(type, payload = new Uint8Array(0)) {
  const b = new Uint8Array(HEADER_LEN + payload.length);
  const dv = new DataView(b.buffer);
  b[0] = type;
  dv.setUint32(1, payload.length);
  b.set(payload, HEADER_LEN);
  return b;
}

export function resizeFrame(cols, rows) {
  const p = new Uint8Array(4);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, cols);
  dv.setUint16(2, rows);
  return encodeFrame(T.RESIZE, p);
}

// Input larger than a frame's limit is split.
export function inputFrames(bytes) {
  const out = [];
  for (let i = 0; i < bytes.length; i += MAX_PAYLOAD) {
    out.push(encodeFrame(T.INPUT, bytes.subarray(i, i + MAX_PAYLOAD)));
  }
  return out;
}

export class ProtocolError extends Error {}

// decodeFrame parses one message; it throws a ProtocolError on anything
// malformed.
export function decodeFrame(buf) {
  const b = new Uint8Array(buf);
  if (b.length < HEADER_LEN) throw new ProtocolError(`message of ${b.length} bytes is shorter than a frame header`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = b[0];
  const n = dv.getUint32(1);
  if (n > MAX_PAYLOAD) throw new ProtocolError(`frame of ${n} bytes exceeds the limit`);
  if (b.length - HEADER_LEN !== n) throw new ProtocolError(`frame header says ${n} payload bytes, message has ${b.length - HEADER_LEN}`);
  return { type, payload: b.subarray(HEADER_LEN) };
}

// parseOutput splits a TOutput payload into its offset and data.
export function parseOutput(p) {
  if (p.length < 8) throw new ProtocolError(`output of ${p.length} bytes is shorter than its offset`);
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const offset = Number(dv.getBigUint64(0));
  return { offset, data: p.subarray(8) };
}

const utf8 = new TextDecoder();
export const text = (p) => utf8.decode(p);
