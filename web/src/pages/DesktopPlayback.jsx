import { useEffect, useRef, useState } from 'preact/hooks';
import { api, sessionPath } from '../lib/api.js';
import { clock } from '../lib/format.js';
import { Guacamole, RecordingError, RecordingTunnel, retime } from '../lib/guac.js';
import { Banner, Empty, ErrorBanner, Loading, useAsync } from '../components/ui.jsx';

const SPEEDS = [0.5, 1, 2, 4];

// DesktopPlayback plays a desktop session's recording (the .guac the
// server delivers) with guacamole-common-js's SessionRecording (fed by a
// RecordingTunnel, lib/guac.js, which says why): a seek
// bar, play and pause, and speed. SessionRecording has no speed of its
// own; another speed plays a copy of the recording whose sync timestamps
// are retimed (lib/guac.js retime), and the page converts its positions
// back to the recording's own time, so the seek bar and the clock always
// read the recording's time.
//
// For tests: the element [data-desktop-player] carries data-loaded,
// data-duration and data-position (the frame on screen: SessionRecording
// seeks to a frame near the time asked for, not always at or before it),
// in milliseconds of the recording's own time, data-sought (seeks done), data-seeking, data-playing and data-speed, and
// window.postern.player is the SessionRecording (getDisplay().flatten()
// is the frame shown, as a canvas).
export function DesktopPlayback({ id, active }) {
  const file = useAsync(
    async (signal) => {
      const res = await api(`${sessionPath(id)}/logs`, { params: { format: 'guac' }, raw: true, signal });
      return res.text();
    },
    [id],
  );
  const [speed, setSpeed] = useState(1);
  const [duration, setDuration] = useState(0);
  // pos: where the seek bar and clock are (where the user sought, or
  // the frame playing); shown: the time of the frame on screen.
  const [pos, setPos] = useState(0);
  const [shown, setShown] = useState(0);
  // The recording (and speed) the player has loaded: loaded only once the
  // player for this recording at this speed is ready, not in the moment
  // between a new speed and its player.
  const [ready, setReady] = useState(null);
  const loaded = ready !== null && ready.text === file.data && ready.speed === speed;
  const [playing, setPlaying] = useState(false);
  const [seeking, setSeeking] = useState(false);
  const [sought, setSought] = useState(0); // seeks completed, for tests
  const [error, setError] = useState('');
  const screen = useRef(null);
  const rec = useRef(null);
  // Where to carry on when the speed changes (the recording's own time).
  const resume = useRef({ at: 0, playing: false });

  useEffect(() => {
    const text = file.data;
    if (typeof text !== 'string' || !screen.current) return undefined;
    let gone = false;
    let r = null;
    let timer = 0;
    setReady(null);
    setError('');
    (async () => {
      let source = text;
      if (speed !== 1) {
        try {
          source = retime(text, speed);
        } catch (e) {
          if (!gone) setError(e instanceof RecordingError ? e.message : String(e.message || e));
          return;
        }
      }
      if (gone) return;
      r = new Guacamole.SessionRecording(new RecordingTunnel(source));
      rec.current = r;
      window.postern = { ...(window.postern || {}), player: r };
      const display = r.getDisplay();
      const el = display.getElement();
      screen.current.replaceChildren(el);
      const fit = () => {
        const w = display.getWidth();
        if (!w || !screen.current) return;
        display.scale(Math.min(screen.current.clientWidth / w, 1));
      };
      display.onresize = fit;
      const at = () => Math.round(r.getPosition() * speed);
      const track = () => {
        const t = at();
        setPos(t);
        setShown(t);
      };
      r.onprogress = (d) => !gone && setDuration(Math.round(d * speed));
      r.onerror = (m) => !gone && setError(String(m));
      r.onplay = () => {
        if (gone) return;
        setPlaying(true);
        clearInterval(timer);
        timer = setInterval(track, 100);
      };
      r.onpause = () => {
        if (gone) return;
        setPlaying(false);
        clearInterval(timer);
        track();
      };
      r.onseek = () => !gone && r.isPlaying() && track();
      r.onload = () => {
        if (gone) return;
        setDuration(Math.round(r.getDuration() * speed));
        // Show the frame where the last player was (the first frame at first).
        setSeeking(true);
        r.seek(resume.current.at / speed, () => r.getDisplay().flush(() => {
          if (gone) return;
          setSeeking(false);
          setPos(resume.current.at);
          setShown(at());
          setReady({ text, speed });
          if (resume.current.playing) r.play();
        }));
      };
      const ro = new ResizeObserver(fit);
      ro.observe(screen.current);
      r.stopFit = () => ro.disconnect();
      r.connect();
    })();
    return () => {
      gone = true;
      clearInterval(timer);
      if (r) {
        resume.current = { at: Math.round(r.getPosition() * speed), playing: r.isPlaying() };
        r.pause();
        r.abort();
        r.stopFit?.();
        if (window.postern?.player === r) delete window.postern.player;
      }
    };
  }, [file.data, speed]);

  const seek = (ms) => {
    const r = rec.current;
    if (!r || !loaded) return;
    setPos(ms);
    setSeeking(true);
    r.seek(ms / speed, () => {
      // The seek has handed the frame's instructions to the display,
      // which draws them in order (images decode asynchronously): done
      // once it has drawn them all.
      r.getDisplay().flush(() => {
        setSeeking(false);
        setShown(Math.round(r.getPosition() * speed));
        setSought((n) => n + 1);
      });
    });
  };

  if (file.loading && !file.data) return <Loading label="Loading the recording…" />;
  if (file.error) return <ErrorBanner error={file.error} title="The recording cannot be loaded" onRetry={file.reload} />;
  // No frame (no sync): the desktop never got on screen.
  if (typeof file.data === 'string' && !file.data.includes('4.sync,')) {
    return (
      <Empty icon="▭" title={active ? 'Nothing recorded yet' : 'Nothing was recorded'}>
        <p>{active ? 'The desktop has not been on screen yet.' : 'The desktop never got on screen: the connection ended before its first frame.'}</p>
        {active && (
          <button type="button" class="btn btn-sm" onClick={file.reload}>
            Reload recording
          </button>
        )}
      </Empty>
    );
  }
  return (
    <div class="player-col">
      {error && <Banner title="The recording cannot be played">{error}</Banner>}
      <div
        class="desktop-player"
        ref={screen}
        data-desktop-player
        data-loaded={loaded ? 'true' : 'false'}
        data-duration={duration}
        data-position={shown}
        data-seeking={seeking ? 'true' : 'false'}
        data-sought={sought}
        data-playing={playing ? 'true' : 'false'}
        data-speed={speed}
        aria-label="Recording of the desktop"
        role="img"
      />
      <div class="player-controls">
        <button type="button" class="btn btn-sm btn-primary" disabled={!loaded} onClick={() => (playing ? rec.current.pause() : rec.current.play())}>
          {playing ? 'Pause' : 'Play'}
        </button>
        <input
          type="range"
          class="desktop-seek"
          aria-label="Position in the recording"
          min={0}
          max={duration}
          step={1}
          value={pos}
          disabled={!loaded}
          onInput={(e) => seek(Number(e.currentTarget.value))}
        />
        <label class="field field-inline">
          <span>Speed</span>
          <select value={speed} onChange={(e) => setSpeed(Number(e.currentTarget.value))}>
            {SPEEDS.map((s) => (
              <option value={s} key={s}>
                {s}×
              </option>
            ))}
          </select>
        </label>
        <span class="player-pos mono" aria-live="off">
          {clock(pos / 1000, true)} / {clock(duration / 1000, true)}
        </span>
        {active && (
          <button type="button" class="btn btn-sm" onClick={file.reload}>
            Reload recording
          </button>
        )}
        <a class="btn btn-sm" href={`${sessionPath(id)}/logs?format=guac`} download={`${id}.guac`}>
          Download .guac
        </a>
      </div>
    </div>
  );
}
