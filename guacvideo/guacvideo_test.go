//go:build linux

package guacvideo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/guac"
)

// requireFFmpeg skips a test without ffmpeg and ffprobe, unless the
// desktop tests are required to run.
func requireFFmpeg(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("POSTERN_REQUIRE_DESKTOP") == "1" {
				t.Fatalf("%s is required (POSTERN_REQUIRE_DESKTOP=1): %v", p, err)
			}
			t.Skipf("%s is not installed: %v", p, err)
		}
	}
}

// recording builds a .guac recording the way postern-desktop writes one.
type recording struct {
	b      []byte
	stream int
}

func (r *recording) size(w, h int) {
	r.b = guac.Append(r.b, "size", "0", strconv.Itoa(w), strconv.Itoa(h))
}

// image draws img at (x, y) on layer 0 (OVER), as a PNG in blobs of at
// most guac.BlobChunk characters.
func (r *recording) image(t testing.TB, x, y int, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	id := strconv.Itoa(r.stream)
	r.stream = (r.stream + 1) % 4
	r.b = guac.Append(r.b, "img", id, "14", "0", "image/png", strconv.Itoa(x), strconv.Itoa(y))
	data := base64.StdEncoding.EncodeToString(buf.Bytes())
	for len(data) > 0 {
		n := min(len(data), guac.BlobChunk)
		r.b = guac.Append(r.b, "blob", id, data[:n])
		data = data[n:]
	}
	r.b = guac.Append(r.b, "end", id)
}

func (r *recording) fill(t testing.TB, w, h int, c color.Color) {
	r.image(t, 0, 0, solid(w, h, c))
}

func (r *recording) sync(ms int64) {
	r.b = guac.Append(r.b, "sync", strconv.FormatInt(ms, 10))
}

func solid(w, h int, c color.Color) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		r, g, b, a := c.RGBA()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
	}
	return img
}

var (
	red  = color.RGBA{255, 0, 0, 255}
	blue = color.RGBA{0, 0, 255, 255}
)

const t0 = 1_700_000_000_000 // a Unix time in ms

// redThenBlue is 2 s of red then 2 s of blue at w x h.
func redThenBlue(t testing.TB, w, h int) []byte {
	var r recording
	r.size(w, h)
	r.fill(t, w, h, red)
	r.sync(t0)
	r.fill(t, w, h, blue)
	r.sync(t0 + 2000)
	r.sync(t0 + 4000)
	return r.b
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		PixFmt    string `json:"pix_fmt"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) (probe, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe's JSON: %v\n%s", err, out)
	}
	if len(p.Streams) != 1 || p.Streams[0].CodecType != "video" {
		t.Fatalf("ffprobe: want one video stream: %s", out)
	}
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe: duration %q: %v", p.Format.Duration, err)
	}
	return p, d
}

// frameAt extracts the video's frame at sec seconds with ffmpeg.
func frameAt(t *testing.T, video string, sec float64) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "frame.png")
	cmd := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(sec, 'f', 3, 64), "-i", video, "-frames:v", "1", "-f", "image2", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("extracting the frame at %gs: %v\n%s", sec, err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// near says whether c is within what lossy YUV 4:2:0 encoding leaves of
// want.
func near(c, want color.Color) bool {
	r1, g1, b1, _ := c.RGBA()
	r2, g2, b2, _ := want.RGBA()
	d := func(a, b uint32) bool { return math.Abs(float64(a>>8)-float64(b>>8)) <= 24 }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

func checkColour(t *testing.T, video string, sec float64, x, y int, want color.Color) {
	t.Helper()
	img := frameAt(t, video, sec)
	if c := img.At(x, y); !near(c, want) {
		t.Errorf("%s at %gs, (%d,%d): %v, want about %v", filepath.Base(video), sec, x, y, c, want)
	}
}

func TestExportMP4(t *testing.T) {
	requireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "rec.mp4")
	var written time.Duration
	err := Export(context.Background(), bytes.NewReader(redThenBlue(t, 1024, 768)), out, Options{
		Progress: func(d time.Duration) { written = d },
	})
	if err != nil {
		t.Fatal(err)
	}
	p, d := ffprobe(t, out)
	s := p.Streams[0]
	if s.CodecName != "h264" || s.Width != 1024 || s.Height != 768 || s.PixFmt != "yuv420p" {
		t.Errorf("video stream: %+v, want h264 1024x768 yuv420p", s)
	}
	if !strings.Contains(p.Format.FormatName, "mp4") {
		t.Errorf("format %q, want mp4", p.Format.FormatName)
	}
	// 10 fps by default: within one frame of the recording's 4 s.
	if math.Abs(d-4) > 0.1+1e-6 {
		t.Errorf("duration %gs, want 4s within a frame", d)
	}
	if written != 4*time.Second {
		t.Errorf("progress reported %v written, want 4s", written)
	}
	checkColour(t, out, 1, 512, 384, red)
	checkColour(t, out, 3, 512, 384, blue)
	// Nothing else is left in the directory.
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("directory holds %d files, want only the video", len(ents))
	}
}

func TestExportContainers(t *testing.T) {
	requireFFmpeg(t)
	for _, tc := range []struct{ ext, codec, format string }{
		{".mkv", "h264", "matroska"},
		{".webm", "vp9", "webm"},
	} {
		t.Run(tc.ext, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rec"+tc.ext)
			// Odd dimensions: padded to even ones.
			if err := Export(context.Background(), bytes.NewReader(redThenBlue(t, 321, 241)), out, Options{FPS: 5}); err != nil {
				t.Fatal(err)
			}
			p, d := ffprobe(t, out)
			s := p.Streams[0]
			if s.CodecName != tc.codec || s.Width != 322 || s.Height != 242 {
				t.Errorf("video stream: %+v, want %s 322x242", s, tc.codec)
			}
			if !strings.Contains(p.Format.FormatName, tc.format) {
				t.Errorf("format %q, want %s", p.Format.FormatName, tc.format)
			}
			if math.Abs(d-4) > 0.2+1e-6 {
				t.Errorf("duration %gs, want 4s within a frame", d)
			}
			checkColour(t, out, 1, 160, 120, red)
			checkColour(t, out, 3, 160, 120, blue)
		})
	}
}

// A pause longer than MaxIdle is shortened to it; a screen that changes
// size is scaled into the first size, with black bars.
func TestExportIdleAndResize(t *testing.T) {
	requireFFmpeg(t)
	var r recording
	r.size(640, 480)
	r.fill(t, 640, 480, red)
	r.sync(t0)
	r.size(320, 480)
	r.fill(t, 320, 480, blue)
	r.sync(t0 + 60_000) // a minute later
	r.sync(t0 + 61_500)
	out := filepath.Join(t.TempDir(), "rec.mp4")
	if err := Export(context.Background(), bytes.NewReader(r.b), out, Options{MaxIdle: time.Second}); err != nil {
		t.Fatal(err)
	}
	p, d := ffprobe(t, out)
	if s := p.Streams[0]; s.Width != 640 || s.Height != 480 {
		t.Errorf("video %dx%d, want the first size 640x480", s.Width, s.Height)
	}
	// 0 red, 1 s blue (the minute shortened), 2 s the end (1.5 s shortened).
	if math.Abs(d-2) > 0.1+1e-6 {
		t.Errorf("duration %gs, want 2s within a frame", d)
	}
	checkColour(t, out, 0.5, 320, 240, red)
	checkColour(t, out, 1.5, 320, 240, blue)
	// 320x480 fits 640x480 as 320x480 in the middle: bars left and right.
	checkColour(t, out, 1.5, 40, 240, color.Black)
	checkColour(t, out, 1.5, 600, 240, color.Black)
}

func TestExportBadRecording(t *testing.T) {
	requireFFmpeg(t)
	good := redThenBlue(t, 64, 48)
	for _, tc := range []struct {
		name string
		rec  []byte
		want string
	}{
		{"truncated", good[:len(good)-200], "truncated"},
		{"garbage", []byte("GET / HTTP/1.1\r\n"), "at byte 0: length contains 'G'"},
		{"empty", nil, ErrNoFrames.Error()},
		{"no size", []byte("4.sync,3.123;"), ErrNoFrames.Error()},
		{"bad image", append(append([]byte(nil), good...), []byte("3.img,1.1,2.14,1.0,9.image/png,1.0,1.0;4.blob,1.1,4.AAAA;3.end,1.1;")...), "instruction at byte 660: end: stream \"1\": image/png at (0,0) on layer 0: unexpected EOF"},
		{"huge", []byte("4.size,1.0,5.99999,1.1;4.sync,1.1;"), "size: 99999x1: beyond the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "rec.mp4")
			err := Export(context.Background(), bytes.NewReader(tc.rec), out, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("a failed export left %d files behind", len(ents))
			}
		})
	}
}

func TestExportBadArguments(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	rec := redThenBlue(t, 64, 48)
	for _, tc := range []struct {
		out  string
		opts Options
		want string
	}{
		{filepath.Join(dir, "rec.avi"), Options{}, "cannot write .avi video"},
		{filepath.Join(dir, "rec"), Options{}, "has no extension"},
		{filepath.Join(dir, "rec.mp4"), Options{FFmpeg: filepath.Join(dir, "no-ffmpeg")}, "ffmpeg is not installed"},
		{filepath.Join(dir, "rec.mp4"), Options{FPS: 1000}, "at most 60"},
		{filepath.Join(dir, "missing", "rec.mp4"), Options{}, "no such file or directory"},
	} {
		err := Export(context.Background(), bytes.NewReader(rec), tc.out, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: error %v, want it to say %q", filepath.Base(tc.out), tc.opts, err, tc.want)
		}
	}
	err := Export(context.Background(), bytes.NewReader(rec), filepath.Join(dir, "x.mp4"), Options{FFmpeg: filepath.Join(dir, "no-ffmpeg")})
	if !errors.Is(err, ErrNoFFmpeg) {
		t.Errorf("missing ffmpeg: %v, want ErrNoFFmpeg", err)
	}
}

// ffmpeg's complaints come back in the error, even when ffmpeg dies before
// reading its input (Export's write fails first).
func TestExportFFmpegFails(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "rec.mp4")
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	// The real ffmpeg, given an option it does not know.
	wrapper := filepath.Join(dir, "ffmpeg-bad")
	script := "#!/bin/sh\nexec " + ff + " -no-such-option \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	err = Export(context.Background(), bytes.NewReader(redThenBlue(t, 64, 48)), out, Options{FFmpeg: wrapper})
	if err == nil || !strings.Contains(err.Error(), "ffmpeg: exit status") || !strings.Contains(err.Error(), "no-such-option") {
		t.Fatalf("error %v, want ffmpeg's exit status and its message", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a failed export left %d files behind", len(ents)-1)
	}
}

// children returns the ids of this process's child processes named name.
func children(t *testing.T, name string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var ids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasSuffix(s[:i], "("+name) {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			ids = append(ids, pid)
		}
	}
	return ids
}

// Cancelling the context stops ffmpeg, even one that no longer reads its
// input, and leaves nothing behind.
func TestExportCancel(t *testing.T) {
	requireFFmpeg(t)
	// An hour of a screen changing colour every second: far more than the
	// test lets it write.
	var redFill, blueFill recording
	redFill.fill(t, 320, 240, red)
	blueFill.fill(t, 320, 240, blue)
	var r recording
	r.size(320, 240)
	for i := range int64(3600) {
		fill := redFill.b
		if i%2 == 1 {
			fill = blueFill.b
		}
		r.b = append(r.b, fill...)
		r.sync(t0 + i*1000)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "rec.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped []int
	err := Export(ctx, bytes.NewReader(r.b), out, Options{
		Progress: func(d time.Duration) {
			if d < 5*time.Second || stopped != nil {
				return
			}
			// ffmpeg stops reading: Export blocks writing to it, and only
			// killing ffmpeg ends that.
			stopped = children(t, "ffmpeg")
			for _, pid := range stopped {
				syscall.Kill(pid, syscall.SIGSTOP)
			}
			go cancel()
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if len(stopped) != 1 {
		t.Fatalf("found %d ffmpeg processes while exporting, want 1", len(stopped))
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(stopped[0]))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ffmpeg (process %d) still exists after Export returned: %v", stopped[0], err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a cancelled export left %d files behind", len(ents))
	}
}
