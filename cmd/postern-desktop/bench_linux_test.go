//go:build linux

package main

import (
	"bytes"
	"image"
	"image/png"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFullFrame is one full 1024x768 frame of a desktop-like screen:
// copying out of the framebuffer, PNG at BestSpeed, base64 blobs.
func BenchmarkFullFrame(b *testing.B) {
	img := desktopImage(1024, 768)
	d := newDisplay(time.Now)
	d.resize(img.Pix, 1024, 768, img.Stride)
	enc := newEncoder()
	var out []byte
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		d.mu.Lock()
		d.refresh = true
		d.unacked = nil
		d.mu.Unlock()
		f, _ := d.take()
		out = enc.appendFrame(out[:0], f)
		d.release(f)
	}
	// CPU time, not wall-clock: the machine is shared. It includes the
	// garbage collector's.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/frame")
	b.ReportMetric(float64(len(out)), "bytes/frame")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPNG compares the PNG writer with image/png at BestSpeed on a
// full 1024x768 screen, text-heavy and mostly flat.
func BenchmarkPNG(b *testing.B) {
	text := desktopImage(1024, 768)
	flat := desktopImage(1024, 768)
	for i := 0; i < len(flat.Pix); i += 4 {
		if flat.Pix[i] == 0x20 && (i/flat.Stride)%40 < 30 {
			flat.Pix[i], flat.Pix[i+1], flat.Pix[i+2] = 0xFF, 0xFF, 0xFF
		}
	}
	for _, screen := range []struct {
		name string
		img  *image.RGBA
	}{{"text", text}, {"flat", flat}} {
		b.Run(screen.name+"/postern", func(b *testing.B) {
			var p pngWriter
			var buf bytes.Buffer
			cpu0 := cpuTime()
			for b.Loop() {
				buf.Reset()
				p.encode(&buf, screen.img)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/frame")
			b.ReportMetric(float64(buf.Len()), "png-bytes")
		})
		b.Run(screen.name+"/image-png", func(b *testing.B) {
			enc := png.Encoder{CompressionLevel: png.BestSpeed}
			var buf bytes.Buffer
			cpu0 := cpuTime()
			for b.Loop() {
				buf.Reset()
				enc.Encode(&buf, screen.img)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/frame")
			b.ReportMetric(float64(buf.Len()), "png-bytes")
		})
	}
}
