package guac

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strconv"
	"strings"
	"testing"
)

// rec builds instruction streams the way postern-desktop writes them.
type rec struct{ b []byte }

func (r *rec) add(opcode string, args ...string) { r.b = Append(r.b, opcode, args...) }

// img streams data as image type mime to (x, y) of layer with mask, in
// blobs of at most BlobChunk characters.
func (r *rec) img(stream string, mask, layer int, mime string, x, y int, data []byte) {
	r.add("img", stream, strconv.Itoa(mask), strconv.Itoa(layer), mime, strconv.Itoa(x), strconv.Itoa(y))
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 0 {
		n := min(len(s), BlobChunk)
		r.add("blob", stream, s[:n])
		s = s[n:]
	}
	r.add("end", stream)
}

func (r *rec) png(t testing.TB, stream string, mask, layer, x, y int, img image.Image) {
	t.Helper()
	r.img(stream, mask, layer, "image/png", x, y, encodePNG(t, img))
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func uniform(w, h int, c color.Color) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

// rows is an image whose every row has its own colour.
func rows(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(y * 10), uint8(255 - y*10), uint8(x), 255})
		}
	}
	return img
}

// apply applies every instruction of b to s, failing the test on an error.
func apply(t testing.TB, s *Screen, b []byte) {
	t.Helper()
	r := NewReader(bytes.NewReader(b), 0)
	for {
		in, _, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(in); err != nil {
			t.Fatal(err)
		}
	}
}

func pixel(img *image.RGBA, x, y int) color.RGBA { return img.RGBAAt(x, y) }

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
)

func TestScreenDraws(t *testing.T) {
	s := NewScreen(Limits{})
	var r rec
	r.add("size", "0", "8", "6")
	r.png(t, "1", compOver, 0, 0, 0, uniform(8, 6, red))
	// Half-transparent blue OVER red: a mix; SRC: replaces, alpha and all.
	r.png(t, "2", compOver, 0, 0, 0, uniform(2, 2, color.NRGBA{0, 0, 255, 128}))
	r.png(t, "1", compSrc, 0, 6, 4, uniform(2, 2, color.NRGBA{0, 0, 255, 128}))
	// Drawn partly outside the layer: clipped.
	r.png(t, "3", compOver, 0, 7, -1, uniform(4, 2, green))
	// A JPEG.
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, uniform(2, 1, blue), &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	r.img("4", compOver, 0, "image/jpeg", 3, 5, jb.Bytes())
	r.add("sync", "1700000000123")
	apply(t, s, r.b)

	f := s.Frame()
	if f.Bounds() != image.Rect(0, 0, 8, 6) {
		t.Fatalf("frame %v, want 8x6", f.Bounds())
	}
	if s.Time() != 1700000000123 {
		t.Errorf("Time() = %d", s.Time())
	}
	for _, tc := range []struct {
		x, y int
		want color.RGBA
	}{
		{4, 2, red},
		{0, 0, color.RGBA{127, 0, 128, 255}}, // blue at alpha 128 over red
		{6, 4, color.RGBA{0, 0, 128, 128}},   // replaced: premultiplied
		{7, 0, green},
		{6, 0, red},
	} {
		if got := pixel(f, tc.x, tc.y); got != tc.want {
			t.Errorf("pixel (%d,%d) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
	if got := pixel(f, 3, 5); got.B < 240 || got.R > 15 || got.G > 15 {
		t.Errorf("JPEG pixel (3,5) = %v, want about blue", got)
	}
}

func TestScreenCopyAndFill(t *testing.T) {
	s := NewScreen(Limits{})
	var r rec
	r.add("size", "0", "10", "10")
	r.png(t, "0", compOver, 0, 0, 0, rows(10, 10))
	apply(t, s, r.b)
	before := image.NewRGBA(s.Frame().Bounds())
	copy(before.Pix, s.Frame().Pix)

	// A scroll up by 3 rows within layer 0: overlapping rectangles.
	r = rec{}
	r.add("copy", "0", "0", "3", "10", "7", "12", "0", "0", "0")
	apply(t, s, r.b)
	for y := range 7 {
		for x := range 10 {
			if got, want := pixel(s.Frame(), x, y), pixel(before, x, y+3); got != want {
				t.Fatalf("after a scroll, (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	// And down by 2: the other direction of overlap.
	copy(before.Pix, s.Frame().Pix)
	r = rec{}
	r.add("copy", "0", "0", "0", "10", "8", "12", "0", "0", "2")
	apply(t, s, r.b)
	for y := 2; y < 10; y++ {
		if got, want := pixel(s.Frame(), 5, y), pixel(before, 5, y-2); got != want {
			t.Fatalf("after a scroll down, (5,%d) = %v, want %v", y, got, want)
		}
	}

	// A buffer grows as it is drawn on, and is a source for copy.
	r = rec{}
	r.png(t, "7", compOver, -1, 4, 4, uniform(2, 2, blue))
	r.add("copy", "-1", "4", "4", "2", "2", "14", "0", "1", "1")
	// rect + cfill, two rectangles in one path.
	r.add("rect", "0", "8", "0", "2", "1")
	r.add("rect", "0", "8", "9", "2", "1")
	r.add("cfill", "14", "0", "0", "255", "0", "255")
	// The path ended with the fill: this fill has nothing to fill.
	r.add("cfill", "14", "0", "255", "0", "0", "255")
	apply(t, s, r.b)
	if b := s.layers[-1].img.Bounds(); b != image.Rect(0, 0, 6, 6) {
		t.Errorf("buffer -1 is %v, want grown to 6x6", b)
	}
	for _, p := range []image.Point{{1, 1}, {2, 2}} {
		if got := pixel(s.Frame(), p.X, p.Y); got != blue {
			t.Errorf("copied from the buffer, %v = %v, want blue", p, got)
		}
	}
	for _, p := range []image.Point{{8, 0}, {9, 9}} {
		if got := pixel(s.Frame(), p.X, p.Y); got != green {
			t.Errorf("filled, %v = %v, want green", p, got)
		}
	}
	// Disposing of the buffer frees its pixels.
	r = rec{}
	r.add("dispose", "-1")
	apply(t, s, r.b)
	if s.pixels != 100 {
		t.Errorf("after dispose, %d pixels held, want 100", s.pixels)
	}

	// size keeps what is on the screen.
	copy(before.Pix, s.Frame().Pix)
	r = rec{}
	r.add("size", "0", "20", "5")
	apply(t, s, r.b)
	if got, want := pixel(s.Frame(), 3, 4), pixel(before, 3, 4); got != want {
		t.Errorf("after size, (3,4) = %v, want %v kept", got, want)
	}
	if got := pixel(s.Frame(), 15, 1); got != (color.RGBA{}) {
		t.Errorf("after size, new (15,1) = %v, want transparent", got)
	}
	if s.pixels != 100 {
		t.Errorf("after size, %d pixels held, want 100", s.pixels)
	}
}

// Instructions the Screen does not draw are accepted and change nothing.
func TestScreenIgnores(t *testing.T) {
	s := NewScreen(Limits{})
	var r rec
	r.add("size", "0", "4", "4")
	r.add("size", "1", "5000", "5000") // another visible layer: not kept
	r.png(t, "1", compOver, 0, 0, 0, uniform(4, 4, red))
	r.png(t, "2", compOver, 1, 0, 0, uniform(4, 4, blue))
	r.add("clipboard", "3", "text/plain")
	r.add("blob", "3", "aGVsbG8=")
	r.add("end", "3")
	r.add("blob", "99", "!!not base64, of no stream!!")
	r.add("end", "42")
	r.add("copy", "1", "0", "0", "4", "4", "12", "0", "0", "0")
	r.add("cursor", "0", "0", "-1", "0", "0", "16", "16")
	r.add("mouse", "1", "1")
	r.add("name", "desktop")
	r.add("nop")
	r.add("sync", "5")
	apply(t, s, r.b)
	if got := pixel(s.Frame(), 2, 2); got != red {
		t.Errorf("(2,2) = %v, want red", got)
	}
	if s.pixels != 16 || len(s.streams) != 0 {
		t.Errorf("%d pixels and %d streams held, want 16 and 0", s.pixels, len(s.streams))
	}
}

// hugePNG is a valid PNG header claiming w x h pixels, with no pixels.
func hugePNG(t testing.TB, w, h uint32) []byte {
	b := encodePNG(t, uniform(1, 1, red))
	// IHDR's data starts at 16: width, height; its CRC covers type + data.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestScreenRefuses(t *testing.T) {
	lim := Limits{MaxWidth: 100, MaxHeight: 100, MaxPixels: 6000, MaxStreams: 2, MaxStreamBytes: 4000, MaxBufferedBytes: 6000, MaxPathRects: 2, MaxBuffers: 3}
	big := make([]byte, 3000)
	for _, tc := range []struct {
		name string
		rec  func(r *rec)
		want string
	}{
		{"wide", func(r *rec) { r.add("size", "0", "101", "1") }, "size: 101x1: beyond the limit of 100x100"},
		{"pixels", func(r *rec) {
			r.add("size", "0", "100", "50")
			r.add("size", "-1", "21", "50")
		}, "size: 21x50: 6050 pixels in all layers"},
		{"buffer growth", func(r *rec) {
			r.add("size", "0", "100", "50")
			r.add("rect", "-2", "0", "0", "1", "1000")
			r.add("cfill", "14", "-2", "1", "2", "3", "4")
		}, "cfill: layer -2: 1x1000: beyond the limit"},
		{"buffers", func(r *rec) {
			for i := 1; i <= 4; i++ {
				r.add("rect", strconv.Itoa(-i), "0", "0", "1", "1")
			}
		}, "rect: buffer -4: more than 3 buffers"},
		{"negative", func(r *rec) { r.add("size", "0", "-1", "1") }, "size: negative size -1x1"},
		{"not a number", func(r *rec) { r.add("size", "0", "1e3", "1") }, `size: argument 2 is "1e3", not an integer`},
		{"out of range", func(r *rec) { r.add("copy", "0", "0", "0", "99999999999", "1", "12", "0", "0", "0") }, "copy: argument 4 (99999999999) is out of range"},
		{"too few", func(r *rec) { r.add("img", "1", "14") }, "img: needs 6 arguments, has 2"},
		{"streams", func(r *rec) {
			r.add("img", "1", "14", "0", "image/png", "0", "0")
			r.add("img", "2", "14", "0", "image/png", "0", "0")
			r.add("img", "3", "14", "0", "image/png", "0", "0")
		}, `img: stream "3": more than 2 image streams open at once`},
		{"stream bytes", func(r *rec) {
			r.add("img", "1", "14", "0", "image/png", "0", "0")
			r.add("blob", "1", base64.StdEncoding.EncodeToString(big))
			r.add("blob", "1", base64.StdEncoding.EncodeToString(big))
		}, `blob: stream "1": image larger than 4000 bytes`},
		{"buffered bytes", func(r *rec) {
			r.add("img", "1", "14", "0", "image/png", "0", "0")
			r.add("img", "2", "14", "0", "image/png", "0", "0")
			r.add("blob", "1", base64.StdEncoding.EncodeToString(big))
			r.add("blob", "2", base64.StdEncoding.EncodeToString(big))
			r.add("blob", "2", base64.StdEncoding.EncodeToString(big[:100]))
		}, `blob: stream "2": open image streams hold more than 6000 bytes`},
		{"base64", func(r *rec) {
			r.add("img", "1", "14", "0", "image/png", "0", "0")
			r.add("blob", "1", "####")
		}, `blob: stream "1": illegal base64 data at input byte 0`},
		{"mimetype", func(r *rec) { r.add("img", "1", "14", "0", "image/webp", "0", "0") }, `img: stream "1": image type "image/webp" is not supported`},
		{"mask", func(r *rec) { r.add("img", "1", "6", "0", "image/png", "0", "0") }, "img: composite mode 6 is not supported"},
		{"huge image", func(r *rec) { r.img("1", 14, 0, "image/png", 0, 0, hugePNG(t, 200000, 1)) }, `end: stream "1": image/png at (0,0) on layer 0: image of 200000x1: beyond the limit`},
		{"image pixels", func(r *rec) { r.img("1", 14, 0, "image/png", 0, 0, hugePNG(t, 100, 61)) }, "image of 100x61: beyond the limit of 100x100, 6000 pixels"},
		{"not a png", func(r *rec) { r.img("1", 14, 0, "image/png", 0, 0, []byte("GIF89a, not a PNG at all")) }, "png: invalid format: not a PNG file"},
		{"path", func(r *rec) {
			r.add("rect", "0", "0", "0", "1", "1")
			r.add("rect", "0", "0", "0", "1", "1")
			r.add("rect", "0", "0", "0", "1", "1")
		}, "rect: layer 0: path of more than 2 rectangles"},
		{"colour", func(r *rec) { r.add("cfill", "14", "0", "256", "0", "0", "0") }, "cfill: argument 3 (256) is not a colour component"},
		{"sync", func(r *rec) { r.add("sync", "soon") }, `sync: timestamp "soon" is not a non-negative integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScreen(lim)
			var r rec
			tc.rec(&r)
			rd := NewReader(bytes.NewReader(r.b), 0)
			var err error
			for err == nil {
				var in Instruction
				in, _, err = rd.Next()
				if err == io.EOF {
					t.Fatalf("no error, want one saying %q", tc.want)
				}
				if err != nil {
					t.Fatal(err)
				}
				err = s.Apply(in)
			}
			var ie *InstructionError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want an InstructionError saying %q", err, tc.want)
			}
			if strings.Contains(tc.want, "beyond the limit") && !errors.Is(err, ErrLimit) {
				t.Errorf("%v does not wrap ErrLimit", err)
			}
			// The Screen stays usable, its accounts right.
			if s.buffered < 0 || s.pixels < 0 || s.pixels > lim.MaxPixels {
				t.Errorf("after the error: %d bytes buffered, %d pixels", s.buffered, s.pixels)
			}
			var ok rec
			ok.add("size", "0", "3", "3")
			ok.png(t, "1", compOver, 0, 0, 0, uniform(3, 3, red))
			apply(t, s, ok.b)
			if got := pixel(s.Frame(), 1, 1); got != red {
				t.Errorf("after the error, drawing gives %v, want red", got)
			}
		})
	}
}

// seedRecording is a small recording like postern-desktop's.
func seedRecording(t testing.TB) []byte {
	var r rec
	r.add("size", "0", "32", "24")
	r.png(t, "0", compOver, 0, 0, 0, rows(32, 24))
	r.add("sync", "1700000000000")
	r.png(t, "1", compOver, 0, 4, 4, uniform(8, 8, color.NRGBA{0, 0, 255, 100}))
	r.add("copy", "0", "0", "2", "32", "22", "12", "0", "0", "0")
	r.add("sync", "1700000000100")
	var jb bytes.Buffer
	jpeg.Encode(&jb, rows(16, 8), nil)
	r.img("0", compSrc, 0, "image/jpeg", 10, 10, jb.Bytes())
	r.png(t, "2", compSrc, -1, 0, 0, uniform(4, 4, green))
	r.add("copy", "-1", "0", "0", "4", "4", "14", "0", "20", "20")
	r.add("rect", "0", "1", "1", "3", "3")
	r.add("cfill", "14", "0", "255", "0", "0", "255")
	r.add("size", "0", "40", "20")
	r.add("dispose", "-1")
	r.add("sync", "1700000000050")
	return r.b
}

func FuzzScreen(f *testing.F) {
	f.Add(seedRecording(f))
	var r rec
	r.add("size", "0", "4", "4")
	r.img("1", 14, 0, "image/png", 0, 0, hugePNG(f, 5000, 5000))
	r.add("sync", "1")
	f.Add(r.b)
	r = rec{}
	r.add("size", "-3", "10", "10")
	r.add("copy", "-3", "0", "0", "10", "10", "14", "-3", "5", "5")
	r.add("rect", "-3", "-5", "-5", "100", "100")
	r.add("cfill", "12", "-3", "1", "2", "3", "4")
	r.add("copy", "-3", "0", "0", "100", "100", "12", "0", "-50", "-50")
	r.add("sync", "2")
	f.Add(r.b)
	lim := Limits{MaxWidth: 256, MaxHeight: 256, MaxPixels: 1 << 16, MaxStreams: 4, MaxStreamBytes: 1 << 16, MaxBufferedBytes: 1 << 17, MaxPathRects: 16, MaxBuffers: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScreen(lim)
		rd := NewReader(bytes.NewReader(data), 0)
		for {
			in, _, err := rd.Next()
			if err != nil {
				break
			}
			s.Apply(in) // errors are fine; panics and unbounded growth are not
			if s.pixels > lim.MaxPixels || len(s.layers) > lim.MaxBuffers+1 || s.buffered > lim.MaxBufferedBytes || len(s.streams) > lim.MaxStreams {
				t.Fatalf("beyond the limits: %d pixels, %d bytes, %d streams", s.pixels, s.buffered, len(s.streams))
			}
			if b := s.Frame().Bounds(); b.Dx() > lim.MaxWidth || b.Dy() > lim.MaxHeight {
				t.Fatalf("frame %v beyond the limits", b)
			}
		}
		// A recording Frames reads through without an error, ReadSummary
		// (which checks less) reads too, and they agree.
		n, last := 0, int64(0)
		var ferr error
		for fr, err := range Frames(bytes.NewReader(data), lim) {
			if err != nil {
				ferr = err
				break
			}
			n++
			last = fr.Time.UnixMilli()
		}
		sum, serr := ReadSummary(bytes.NewReader(data))
		if ferr == nil {
			if serr != nil {
				t.Fatalf("Frames read it, ReadSummary: %v", serr)
			}
			if sum.Frames != n || n > 0 && sum.End.UnixMilli() != last {
				t.Fatalf("ReadSummary: %d frames ending %v; Frames: %d ending %d", sum.Frames, sum.End, n, last)
			}
		}
	})
}
