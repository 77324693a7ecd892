// Package guacvideo renders a desktop connection's recording (.guac) into a
// video file with ffmpeg, for people who want to hand a video to an
// auditor: the screen is drawn by guac.Screen, sampled at a fixed frame
// rate by the recording's sync timestamps, and piped to ffmpeg as raw RGBA
// frames, which encodes them (H.264 in MP4 or Matroska, VP9 in WebM).
package guacvideo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/guac"
)

// Options tune Export. The zero value is a 10 fps video in real time.
type Options struct {
	// FPS is the video's frame rate (default 10; at most 60).
	FPS int
	// MaxIdle, if positive, shortens every pause between two frames of the
	// recording to at most MaxIdle, so hours of an idle screen do not
	// become hours of video. Zero keeps real time.
	MaxIdle time.Duration
	// FFmpeg is the ffmpeg program; default: "ffmpeg" found on PATH.
	FFmpeg string
	// Limits bound the screen drawn from the recording (guac.Limits'
	// defaults where zero).
	Limits guac.Limits
	// Progress, if set, is called after each video frame is handed to
	// ffmpeg with the video time written so far. It runs on Export's
	// goroutine: it must be quick.
	Progress func(written time.Duration)
}

// ErrNoFFmpeg is wrapped by Export's error when ffmpeg cannot be found.
var ErrNoFFmpeg = errors.New("ffmpeg is not installed (Debian: apt-get install ffmpeg)")

// ErrNoFrames is wrapped by Export's error for a recording that has no
// frame with a screen (no size and sync).
var ErrNoFrames = errors.New("the recording has no frame to show")

// container is how a file extension is encoded.
type container struct {
	format string   // ffmpeg's -f
	codec  []string // video codec and its options
}

// containerFor picks the format and codec by out's extension. WebM needs
// VP9 (or VP8) from libvpx; encoders lists ffmpeg's encoders, asked only
// then.
func containerFor(out string, encoders func() (string, error)) (container, error) {
	x264 := []string{"-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-crf", "23", "-pix_fmt", "yuv420p"}
	switch ext := strings.ToLower(filepath.Ext(out)); ext {
	case ".mp4":
		return container{format: "mp4", codec: append(x264, "-movflags", "+faststart")}, nil
	case ".mkv":
		return container{format: "matroska", codec: x264}, nil
	case ".webm":
		list, err := encoders()
		if err != nil {
			return container{}, err
		}
		// Real-time deadline: libvpx's default (good, cpu-used 1) is an
		// order of magnitude slower, for a screen that rarely moves.
		vpx := []string{"-b:v", "0", "-crf", "32", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-pix_fmt", "yuv420p"}
		switch {
		case hasEncoder(list, "libvpx-vp9"):
			return container{format: "webm", codec: append([]string{"-c:v", "libvpx-vp9"}, vpx...)}, nil
		case hasEncoder(list, "libvpx"):
			return container{format: "webm", codec: append([]string{"-c:v", "libvpx"}, vpx...)}, nil
		}
		return container{}, errors.New("this ffmpeg has no VP9 or VP8 encoder (libvpx) for WebM: use .mp4 or .mkv")
	case "":
		return container{}, fmt.Errorf("%s has no extension: name it .mp4, .mkv or .webm", out)
	default:
		return container{}, fmt.Errorf("cannot write %s video: name the file .mp4, .mkv or .webm", ext)
	}
}

func hasEncoder(list, name string) bool {
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == name {
			return true
		}
	}
	return false
}

// Export renders the recording read from rec into the video file out,
// whose extension (.mp4, .mkv, .webm) chooses the container and codec.
// The video has the size of the recording's first frame (padded to even
// dimensions with black); frames of another size are scaled, keeping their
// aspect ratio, into the middle of it (black bars). out is replaced only
// when the video is complete; on any error nothing is left behind.
// Cancelling ctx stops ffmpeg.
func Export(ctx context.Context, rec io.Reader, out string, opts Options) (err error) {
	fps := opts.FPS
	if fps <= 0 {
		fps = 10
	}
	if fps > 60 {
		return fmt.Errorf("video export: %d frames per second: at most 60", fps)
	}
	ffmpeg := opts.FFmpeg
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	ffmpeg, err = exec.LookPath(ffmpeg)
	if err != nil {
		return fmt.Errorf("video export: %w: %v", ErrNoFFmpeg, err)
	}
	c, err := containerFor(out, func() (string, error) {
		b, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-encoders").Output()
		if err != nil {
			return "", fmt.Errorf("asking %s for its encoders: %w", ffmpeg, err)
		}
		return string(b), nil
	})
	if err != nil {
		return fmt.Errorf("video export: %w", err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return fmt.Errorf("video export: %w", err)
	}
	tmp.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()

	e := &encoder{fps: fps, maxIdle: opts.MaxIdle.Milliseconds(), progress: opts.Progress}
	for f, ferr := range guac.Frames(rec, opts.Limits) {
		if ferr != nil {
			err = ferr
			break
		}
		if err = ctx.Err(); err != nil {
			break
		}
		if e.ff == nil {
			b := f.Image.Bounds()
			if b.Empty() {
				continue // nothing to show yet
			}
			if err = e.start(ctx, ffmpeg, c, b.Dx(), b.Dy(), tmp.Name()); err != nil {
				break
			}
		}
		if err = e.frame(f); err != nil {
			break
		}
	}
	if e.ff == nil {
		if err == nil {
			err = ErrNoFrames
		}
		return fmt.Errorf("video export: %w", err)
	}
	if err == nil {
		err = e.finish()
	} else {
		// The recording failed: no point in ffmpeg finishing a video that
		// is thrown away.
		e.ff.Process.Kill()
	}
	werr := e.wait()
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case err == nil:
		err = werr
	case werr != nil && !errors.As(err, new(*guac.RecordingError)):
		// Writing to ffmpeg failed because ffmpeg died: what it said
		// explains it, where a broken pipe does not.
		err = werr
	}
	if err != nil {
		return fmt.Errorf("video export: %w", err)
	}
	if err = os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("video export: %w", err)
	}
	return nil
}

// encoder turns a recording's frames into frames at a fixed rate on
// ffmpeg's standard input.
type encoder struct {
	fps      int
	maxIdle  int64 // ms; 0: real time
	progress func(time.Duration)

	ff     *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	w, h   int // the video's frame (before padding)

	started bool
	prevT   int64 // the last sync's recording time, ms
	videoT  int64 // the last sync's video time, ms
	next    int   // the index of the next video frame
	last    *image.RGBA
	unseen  bool // last differs from the video's last frame
}

func (e *encoder) start(ctx context.Context, ffmpeg string, c container, w, h int, path string) error {
	e.w, e.h = w, h
	e.last = image.NewRGBA(image.Rect(0, 0, w, h))
	args := []string{"-hide_banner", "-nostats", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "rgba", "-s", fmt.Sprintf("%dx%d", w, h), "-r", strconv.Itoa(e.fps), "-i", "-",
		// H.264 in 4:2:0 needs even dimensions: one black row or column
		// more rather than a scaled, blurred screen.
		"-vf", fmt.Sprintf("pad=%d:%d:0:0:black", w+w%2, h+h%2),
		"-an"}
	args = append(args, c.codec...)
	args = append(args, "-f", c.format, "-y", path)
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	// ffmpeg gets no chance to finish writing once ctx is cancelled, and
	// its pipes are not left to hold Wait up.
	cmd.WaitDelay = 5 * time.Second
	e.stderr = &tailBuffer{max: 16 << 10}
	cmd.Stderr = e.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", ffmpeg, err)
	}
	// Only a started ffmpeg is the encoder's to wait for.
	e.ff, e.stdin = cmd, stdin
	return nil
}

// frameAt is video frame n's time, ms from the video's start.
func (e *encoder) frameAt(n int) int64 { return int64(n) * 1000 / int64(e.fps) }

// frame takes the screen after a sync: the video frames before its time
// show the screen before it, then it becomes the screen shown.
func (e *encoder) frame(f guac.Frame) error {
	t := f.Time.UnixMilli()
	if !e.started {
		e.started = true
	} else {
		gap := t - e.prevT
		if e.maxIdle > 0 && gap > e.maxIdle {
			gap = e.maxIdle
		}
		e.videoT += gap
		if err := e.emitBefore(e.videoT); err != nil {
			return err
		}
	}
	e.prevT = t
	if f.Changed {
		e.fit(f.Image)
		e.unseen = true
	}
	return nil
}

// emitBefore writes the last screen as every video frame before video time
// t.
func (e *encoder) emitBefore(t int64) error {
	for e.frameAt(e.next) < t {
		if _, err := e.stdin.Write(e.last.Pix); err != nil {
			return err
		}
		e.next++
		e.unseen = false
		if e.progress != nil {
			e.progress(time.Duration(e.frameAt(e.next)) * time.Millisecond)
		}
	}
	return nil
}

// finish ends ffmpeg's input. The video lasts as long as the recording
// (first sync to last), and one frame more only if the last sync showed
// something no frame has (a recording of one frame is a video of one).
func (e *encoder) finish() error {
	if e.unseen || e.next == 0 {
		if _, err := e.stdin.Write(e.last.Pix); err != nil {
			return err
		}
		e.next++
		if e.progress != nil {
			e.progress(time.Duration(e.frameAt(e.next)) * time.Millisecond)
		}
	}
	return e.stdin.Close()
}

// wait waits for ffmpeg and makes its failure an error carrying what it
// said.
func (e *encoder) wait() error {
	e.stdin.Close()
	err := e.ff.Wait()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(e.stderr.String())
	if msg == "" {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	return fmt.Errorf("ffmpeg: %w: %s", err, msg)
}

// fit copies img into the video's frame: as it is when of the video's
// size, else scaled to fit (nearest neighbour, aspect ratio kept) in the
// middle of a black frame.
func (e *encoder) fit(img *image.RGBA) {
	dst := e.last
	b := img.Bounds()
	if b.Dx() == e.w && b.Dy() == e.h {
		rowLen := 4 * e.w
		for y := 0; y < e.h; y++ {
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+rowLen], img.Pix[y*img.Stride:y*img.Stride+rowLen])
		}
		return
	}
	clear(dst.Pix)
	if b.Empty() {
		return
	}
	// The largest size of img's aspect ratio that fits.
	sw, sh := e.w, b.Dy()*e.w/b.Dx()
	if sh > e.h {
		sw, sh = b.Dx()*e.h/b.Dy(), e.h
	}
	if sw == 0 || sh == 0 {
		return
	}
	ox, oy := (e.w-sw)/2, (e.h-sh)/2
	xs := make([]int, sw)
	for x := range xs {
		xs[x] = 4 * (x * b.Dx() / sw)
	}
	for y := 0; y < sh; y++ {
		srow := img.Pix[(y*b.Dy()/sh)*img.Stride:]
		drow := dst.Pix[(oy+y)*dst.Stride+4*ox:]
		for x, sx := range xs {
			copy(drow[4*x:4*x+4], srow[sx:sx+4])
		}
	}
}

// tailBuffer keeps the last max bytes written to it: ffmpeg's last words
// are the ones that say why it failed, and a chatty ffmpeg must not grow
// memory without bound.
type tailBuffer struct {
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := t.buf.Len() + len(p) - t.max; over > 0 {
		t.buf.Next(over)
	}
	t.buf.Write(p)
	return n, nil
}

func (t *tailBuffer) String() string { return t.buf.String() }
