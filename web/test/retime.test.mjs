// Tests of lib/guac.js's retime (the recording player's speed), run by
// `node --test test/` (npm test) and by web_test.go's TestScripts. The
// recordings are generated from a fixed seed, so a failure repeats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Guacamole from 'guacamole-common-js';
import { RecordingError, retime } from '../src/lib/guac.js';

// A small, seeded generator (mulberry32).
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = (op, ...args) => [op, ...args].map((v) => `${String(v).length}.${v}`).join(',') + ';';
const ALPHABET = 'ab09,.;:/ \n\té€\u2603';

function randomText(r, max) {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

// A recording: instructions of any kind, sync among them at rising times.
function recording(r) {
  const out = [];
  let ts = 1_700_000_000_000 + Math.floor(r() * 1e6);
  const n = 1 + Math.floor(r() * 40);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.3) {
      ts += Math.floor(r() * 5000);
      out.push(r() < 0.5 ? ['sync', String(ts)] : ['sync', String(ts), String(Math.floor(r() * 9))]);
    } else if (k < 0.4) {
      out.push([randomText(r, 6), ...Array.from({ length: Math.floor(r() * 4) }, () => randomText(r, 20))]);
    } else if (k < 0.5) {
      // Not a sync, though an argument looks like one.
      out.push(['name', '4.sync,13.1700000000000;']);
    } else {
      out.push(['img', '1', '14', '0', 'image/png', String(Math.floor(r() * 800)), String(Math.floor(r() * 600))]);
    }
  }
  return out;
}

function parse(text) {
  const got = [];
  const p = new Guacamole.Parser();
  p.oninstruction = (op, args) => got.push([op, ...args]);
  p.receive(text);
  return got;
}

test('retime scales sync timestamps and nothing else', () => {
  const r = rng(20);
  for (let round = 0; round < 300; round++) {
    const ins = recording(r);
    const text = ins.map((i) => enc(...i)).join(r() < 0.2 ? '\n' : '');
    for (const speed of [0.5, 1, 2, 4]) {
      const got = parse(retime(text, speed));
      assert.equal(got.length, ins.length);
      let t0 = null;
      got.forEach((g, i) => {
        const want = ins[i];
        if (want[0] === 'sync') {
          const ts = Number(want[1]);
          if (t0 === null) t0 = ts;
          assert.equal(g[1], String(t0 + Math.round((ts - t0) / speed)), `round ${round} speed ${speed} instruction ${i}`);
          assert.deepEqual(g.slice(2), want.slice(2));
        } else assert.deepEqual(g, want, `round ${round} speed ${speed} instruction ${i}`);
      });
    }
  }
});

test('retime refuses what is not a recording, with RecordingError', () => {
  for (const bad of ['4.sync', '4.sync,x.1;', '4.sync,3.abc;', '3.abc;5.', '4.sync,2.12:', '99999999999.a;', '.;', '4.sync;1']) {
    assert.throws(() => retime(bad, 2), RecordingError, bad);
  }
  assert.throws(() => retime('4.sync,1.1;', 0), RangeError);
});

// Mutated recordings (the fuzz): retime returns text or throws
// RecordingError, and never anything else, and always ends.
test('retime on mutated recordings', () => {
  const r = rng(7);
  for (let round = 0; round < 3000; round++) {
    const chars = [...recording(r).map((i) => enc(...i)).join('')];
    const edits = 1 + Math.floor(r() * 4);
    for (let e = 0; e < edits && chars.length; e++) {
      const at = Math.floor(r() * chars.length);
      const k = r();
      if (k < 0.33) chars.splice(at, 1);
      else if (k < 0.66) chars.splice(at, 0, ALPHABET[Math.floor(r() * ALPHABET.length)]);
      else chars[at] = ALPHABET[Math.floor(r() * ALPHABET.length)];
    }
    const text = chars.join('');
    try {
      const out = retime(text, 2);
      assert.equal(typeof out, 'string');
    } catch (err) {
      if (!(err instanceof RecordingError)) throw new Error(`round ${round}: ${err.stack}\n${JSON.stringify(text)}`);
    }
  }
});
