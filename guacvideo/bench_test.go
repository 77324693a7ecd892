//go:build linux

package guacvideo

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/guac"
)

// desktopRecording is a minute of a busy 1024x768 desktop as
// postern-desktop records one: a full screen at the start, then every
// 100 ms a changed 256x64 rectangle of text-like pixels somewhere, and every
// 5 s a scroll of the whole screen with a new strip at the bottom.
func desktopRecording(t testing.TB, seconds int) []byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	text := func(w, h int) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y += 2 {
			for x := 0; x < w; x += 2 {
				c := color.RGBA{250, 250, 250, 255}
				if rnd.IntN(3) == 0 {
					c = color.RGBA{20, 20, uint8(rnd.IntN(80)), 255}
				}
				img.SetRGBA(x, y, c)
				img.SetRGBA(x+1, y, c)
				img.SetRGBA(x, y+1, c)
				img.SetRGBA(x+1, y+1, c)
			}
		}
		return img
	}
	var r recording
	r.size(1024, 768)
	r.image(t, 0, 0, text(1024, 768))
	r.sync(t0)
	for i := 1; i <= seconds*10; i++ {
		if i%50 == 0 {
			r.b = guac.Append(r.b, "copy", "0", "0", "40", "1024", "728", "12", "0", "0", "0")
			r.image(t, 0, 728, text(1024, 40))
		} else {
			r.image(t, rnd.IntN(1024-256), rnd.IntN(768-64), text(256, 64))
		}
		r.sync(t0 + int64(i)*100)
	}
	return r.b
}

func cpuTimes() (self, children time.Duration) {
	var ru syscall.Rusage
	tv := func(ru *syscall.Rusage) time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = tv(&ru)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	children = tv(&ru)
	return self, children
}

// BenchmarkExport60s renders and encodes a minute of a busy 1024x768
// desktop to MP4 at 10 fps. The machine is shared: the CPU seconds (this
// process's, which draws the screen, and ffmpeg's, which encodes) are the
// numbers to compare, not ns/op.
//
//	go test -run XXX -bench Export60s -benchtime 3x ./guacvideo
func BenchmarkExport60s(b *testing.B) {
	requireFFmpeg(b)
	rec := desktopRecording(b, 60)
	out := filepath.Join(b.TempDir(), "rec.mp4")
	b.SetBytes(int64(len(rec)))
	self0, child0 := cpuTimes()
	n := 0
	for b.Loop() {
		if err := Export(context.Background(), bytes.NewReader(rec), out, Options{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	self1, child1 := cpuTimes()
	b.ReportMetric((self1-self0).Seconds()/float64(n), "go-cpu-s/op")
	b.ReportMetric((child1-child0).Seconds()/float64(n), "ffmpeg-cpu-s/op")
	b.ReportMetric((self1-self0+child1-child0).Seconds()/float64(n), "cpu-s/op")
	b.ReportMetric(float64(len(rec))/float64(1<<20), "rec-MiB")
}
