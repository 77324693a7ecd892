package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"io"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/postern/postern/guac"
)

// Frame pacing and flow control (DESKTOP.md): at most ~30 frames a second,
// and at most maxUnacked frames whose sync the viewer has not echoed.
const (
	frameInterval = time.Second / 30
	maxUnacked    = 3
)

// output is stdout: whole groups of instructions, each written and flushed
// at once so that frames, clipboard and errors never interleave.
type output struct {
	mu  sync.Mutex // guards w and err
	w   *bufio.Writer
	err error // the first write error; later writes are dropped
}

func newOutput(w io.Writer) *output { return &output{w: bufio.NewWriterSize(w, 64<<10)} }

func (o *output) write(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	if _, err := o.w.Write(b); err != nil {
		o.err = err
		return err
	}
	o.err = o.w.Flush()
	return o.err
}

// display is the desktop as the viewer will see it: a copy of FreeRDP's
// framebuffer (FreeRDP draws the next update into its own while frames are
// encoded from this one), what changed since the last frame, and the sync
// timestamps the viewer has not acknowledged yet.
type display struct {
	now  func() time.Time
	wake chan struct{} // capacity 1: something changed for the sender

	mu        sync.Mutex // guards the fields below
	fb        *image.RGBA
	damage    []image.Rectangle
	sendSize  bool // the next frame starts with size (connect, resize)
	refresh   bool // the next frame is the whole screen, now
	unacked   []int64
	lastSync  int64
	lastFrame time.Time
	free      [][]byte // pixel buffers of encoded frames, for the next
}

// image is an RGBA image of r on a reused buffer when one is big enough.
func (d *display) image(r image.Rectangle) *image.RGBA {
	n := r.Dx() * r.Dy() * 4
	for i, b := range d.free {
		if cap(b) >= n {
			d.free = append(d.free[:i], d.free[i+1:]...)
			return &image.RGBA{Pix: b[:n], Stride: r.Dx() * 4, Rect: r}
		}
	}
	return image.NewRGBA(r)
}

// release gives an encoded frame's buffers back; a few are kept (a full
// screen's worth at most is what a frame needs).
func (d *display) release(f *frame) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, img := range f.rects {
		if len(d.free) < 4 {
			d.free = append(d.free, img.Pix)
		}
	}
	f.rects = nil
}

func newDisplay(now func() time.Time) *display {
	return &display{now: now, wake: make(chan struct{}, 1)}
}

func (d *display) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// resize replaces the framebuffer by src (RGBX, as FreeRDP's GDI keeps it)
// and makes the next frame a size and the whole screen.
func (d *display) resize(src []byte, w, h, stride int) {
	d.mu.Lock()
	d.fb = image.NewRGBA(image.Rect(0, 0, w, h))
	r := d.fb.Rect
	copyRGBX(d.fb, src, stride, r)
	d.damage = append(d.damage[:0], r)
	d.sendSize = true
	d.mu.Unlock()
	d.notify()
}

// paint copies the changed rectangles out of src.
func (d *display) paint(src []byte, stride int, rects []image.Rectangle) {
	d.mu.Lock()
	if d.fb == nil {
		d.mu.Unlock()
		return
	}
	for _, r := range rects {
		r = r.Intersect(d.fb.Rect)
		if r.Empty() {
			continue
		}
		copyRGBX(d.fb, src, stride, r)
		d.damage = append(d.damage, r)
	}
	d.mu.Unlock()
	d.notify()
}

// copyRGBX copies rectangle r from src into dst, making every pixel opaque
// (the X byte of RGBX is undefined; PNG would keep it as alpha).
func copyRGBX(dst *image.RGBA, src []byte, stride int, r image.Rectangle) {
	n := r.Dx() * 4
	for y := r.Min.Y; y < r.Max.Y; y++ {
		s := src[y*stride+r.Min.X*4:]
		o := dst.PixOffset(r.Min.X, y)
		row := dst.Pix[o : o+n]
		copy(row, s[:n])
		for i := 3; i < n; i += 4 {
			row[i] = 0xFF
		}
	}
}

// ack is the viewer's sync: it has drawn every frame up to ts.
func (d *display) ack(ts int64) {
	d.mu.Lock()
	i := 0
	for i < len(d.unacked) && d.unacked[i] <= ts {
		i++
	}
	d.unacked = d.unacked[i:]
	d.mu.Unlock()
	d.notify()
}

func (d *display) requestRefresh() {
	d.mu.Lock()
	d.refresh = true
	d.mu.Unlock()
	d.notify()
}

// frame is what one frame sends, taken from the display under its lock and
// encoded outside it.
type frame struct {
	size   image.Point // when not zero, a size instruction first
	rects  []*image.RGBA
	syncTS int64
}

// take returns the frame to send now, or how long to wait before one may
// be sent (0: until something changes).
func (d *display) take() (*frame, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fb == nil {
		return nil, 0
	}
	now := d.now()
	f := &frame{}
	switch {
	case d.refresh:
		// A viewer joining: the whole screen at once, whatever the flow
		// control says (its acks are still counted).
		d.refresh = false
		d.damage = append(d.damage[:0], d.fb.Rect)
		f.size = d.fb.Rect.Size()
		d.sendSize = false
	case len(d.damage) == 0 || len(d.unacked) >= maxUnacked:
		return nil, 0
	default:
		if wait := d.lastFrame.Add(frameInterval).Sub(now); wait > 0 {
			return nil, wait
		}
		if d.sendSize {
			f.size = d.fb.Rect.Size()
			d.sendSize = false
		}
	}
	for _, r := range mergeRects(d.damage) {
		img := d.image(r)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			copy(img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)], d.fb.Pix[d.fb.PixOffset(r.Min.X, y):d.fb.PixOffset(r.Max.X, y)])
		}
		f.rects = append(f.rects, img)
	}
	d.damage = d.damage[:0]
	ts := now.UnixMilli()
	if ts <= d.lastSync {
		ts = d.lastSync + 1 // strictly increasing, so acks are unambiguous
	}
	d.lastSync = ts
	f.syncTS = ts
	d.unacked = append(d.unacked, ts)
	d.lastFrame = now
	return f, 0
}

// run sends frames until ctx ends.
func (d *display) run(ctx context.Context, out *output, enc *encoder) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var buf []byte
	for {
		f, wait := d.take()
		if f != nil {
			buf = enc.appendFrame(buf[:0], f)
			d.release(f)
			if err := out.write(buf); err != nil {
				return err
			}
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-d.wake:
			timer.Stop()
		case <-tick:
		}
	}
}

// mergeRects coalesces a frame's damage: rectangles that overlap or whose
// union wastes little are merged (fewer, larger PNGs compress better and
// cost fewer instructions); past maxRects, everything becomes the bounding
// box.
func mergeRects(in []image.Rectangle) []image.Rectangle {
	const maxRects = 64
	const slack = 64 * 64 // pixels a merge may add
	rs := append([]image.Rectangle(nil), in...)
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(rs); i++ {
			for j := i + 1; j < len(rs); j++ {
				u := rs[i].Union(rs[j])
				if rs[i].Overlaps(rs[j]) || area(u) <= area(rs[i])+area(rs[j])+slack {
					rs[i] = u
					rs[j] = rs[len(rs)-1]
					rs = rs[:len(rs)-1]
					merged = true
					j = i
				}
			}
		}
		if len(rs) > maxRects {
			b := rs[0]
			for _, r := range rs[1:] {
				b = b.Union(r)
			}
			return []image.Rectangle{b}
		}
	}
	return rs
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// encoder turns frames into instructions. Not safe for concurrent use: the
// display's sender owns it.
type encoder struct {
	png pngWriter
	buf bytes.Buffer
	b64 []byte
}

func newEncoder() *encoder { return &encoder{} }

// imageStream is the stream every img uses: each ends before the next
// starts, so one id reused after end is enough.
const imageStream = "0"

// appendFrame appends a frame's instructions to b.
func (e *encoder) appendFrame(b []byte, f *frame) []byte {
	if f.size != (image.Point{}) {
		b = guac.Append(b, "size", "0", strconv.Itoa(f.size.X), strconv.Itoa(f.size.Y))
	}
	for _, img := range f.rects {
		b = e.appendImage(b, img)
	}
	return guac.Append(b, "sync", strconv.FormatInt(f.syncTS, 10))
}

// appendImage appends img (at its own bounds' position) as a PNG in an
// img stream: img, blobs of at most guac.BlobChunk base64 characters, end.
func (e *encoder) appendImage(b []byte, img *image.RGBA) []byte {
	e.buf.Reset()
	e.png.encode(&e.buf, img)
	b = guac.Append(b, "img", imageStream, "14", "0", "image/png",
		strconv.Itoa(img.Rect.Min.X), strconv.Itoa(img.Rect.Min.Y))
	data := e.buf.Bytes()
	const raw = guac.BlobChunk / 4 * 3 // bytes whose base64 is one chunk
	for len(data) > 0 {
		n := min(raw, len(data))
		e.b64 = base64.StdEncoding.AppendEncode(e.b64[:0], data[:n])
		data = data[n:]
		// Append copies the chunk at once: no string copy needed.
		b = guac.Append(b, "blob", imageStream, unsafe.String(unsafe.SliceData(e.b64), len(e.b64)))
	}
	return guac.Append(b, "end", imageStream)
}
