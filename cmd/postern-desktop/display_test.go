package main

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/postern/postern/guac"
)

func TestMergeRects(t *testing.T) {
	in := []image.Rectangle{
		image.Rect(0, 0, 64, 64), image.Rect(64, 0, 128, 64), // neighbours: one
		image.Rect(500, 500, 510, 510), // far away: stays
		image.Rect(5, 5, 10, 10),       // inside the first
	}
	out := mergeRects(in)
	if len(out) != 2 {
		t.Fatalf("merged %v into %v", in, out)
	}
	for _, r := range in {
		covered := false
		for _, o := range out {
			covered = covered || r.In(o)
		}
		if !covered {
			t.Fatalf("%v not covered by %v", r, out)
		}
	}
	// Many scattered rectangles: one bounding box.
	var many []image.Rectangle
	for i := 0; i < 200; i++ {
		many = append(many, image.Rect(i*97%1000, i*31%700, i*97%1000+2, i*31%700+2))
	}
	if out := mergeRects(many); len(out) > 64 {
		t.Fatalf("%d rectangles", len(out))
	}
}

// A frame decodes to the framebuffer's pixels, in blobs of at most
// guac.BlobChunk characters.
func TestEncoderFrame(t *testing.T) {
	img := desktopImage(320, 240)
	d := newDisplay(time.Now)
	d.resize(img.Pix, 320, 240, img.Stride)
	f, _ := d.take()
	if f == nil || f.size != image.Pt(320, 240) {
		t.Fatalf("first frame %+v", f)
	}
	b := newEncoder().appendFrame(nil, f)
	r := guac.NewReader(bytes.NewReader(b), 0)
	var data []byte
	var at image.Point
	for {
		in, _, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch in.Opcode {
		case "img":
			at = image.Pt(atoi(in.Args[4]), atoi(in.Args[5]))
		case "blob":
			if len(in.Args[1]) > guac.BlobChunk {
				t.Fatalf("blob of %d", len(in.Args[1]))
			}
			p, err := base64.StdEncoding.DecodeString(in.Args[1])
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, p...)
		}
		if in.Opcode == "sync" {
			break
		}
	}
	got, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if at != (image.Point{}) || got.Bounds().Size() != image.Pt(320, 240) {
		t.Fatalf("image at %v of %v", at, got.Bounds())
	}
	for _, p := range []image.Point{{0, 0}, {150, 100}, {319, 239}} {
		if c := color.RGBAModel.Convert(got.At(p.X, p.Y)); c != img.RGBAAt(p.X, p.Y) {
			t.Fatalf("pixel %v: %v, want %v", p, c, img.RGBAAt(p.X, p.Y))
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// desktopImage is a desktop-like screen: a solid background and windows
// of text-like glyph noise on white, what office desktops mostly show.
func desktopImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 0x33, 0x66, 0xCC, 0xFF
	}
	for _, win := range []image.Rectangle{image.Rect(w/10, h/10, w*6/10, h*7/10), image.Rect(w/2, h/3, w*9/10, h*9/10)} {
		for y := win.Min.Y; y < win.Max.Y; y++ {
			for x := win.Min.X; x < win.Max.X; x++ {
				c := color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}
				// Lines of text: 13-pixel rows, glyph pixels here and there.
				if (y-win.Min.Y)%16 < 12 && rnd.IntN(5) == 0 {
					c = color.RGBA{0x20, 0x20, 0x20, 0xFF}
				}
				img.SetRGBA(x, y, c)
			}
		}
	}
	return img
}

// The PNG writer's images decode to their pixels, whatever the size.
func TestPNGWriter(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var p pngWriter
	for _, size := range []image.Point{{1, 1}, {3, 700}, {1024, 768}, {17, 5}} {
		img := image.NewRGBA(image.Rect(10, 20, 10+size.X, 20+size.Y))
		for i := range img.Pix {
			img.Pix[i] = byte(rnd.IntN(256))
			if i%4 == 3 {
				img.Pix[i] = 0xFF
			}
		}
		var buf bytes.Buffer
		p.encode(&buf, img)
		got, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		if got.Bounds().Size() != size {
			t.Fatalf("size %v, want %v", got.Bounds().Size(), size)
		}
		for y := 0; y < size.Y; y++ {
			for x := 0; x < size.X; x++ {
				if c := color.RGBAModel.Convert(got.At(x, y)); c != img.RGBAAt(10+x, 20+y) {
					t.Fatalf("%v: pixel %d,%d is %v, want %v", size, x, y, c, img.RGBAAt(10+x, 20+y))
				}
			}
		}
	}
}
