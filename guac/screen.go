package guac

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"strconv"
)

// Limits bound what a Screen holds, so that a hostile or broken recording
// costs a bounded amount of memory and ends with an error rather than
// exhausting the machine. A zero field takes its default.
type Limits struct {
	// MaxWidth and MaxHeight bound any layer, buffer or decoded image
	// (default 8192 each).
	MaxWidth, MaxHeight int
	// MaxPixels bounds all layers and buffers together, and any one
	// decoded image (default 8192*8192, 256 MiB of RGBA).
	MaxPixels int
	// MaxStreams bounds the image streams open at once (default 64).
	MaxStreams int
	// MaxStreamBytes bounds one image stream's decoded blob bytes (default
	// 32 MiB); MaxBufferedBytes all open streams' together (default 64 MiB).
	MaxStreamBytes, MaxBufferedBytes int
	// MaxPathRects bounds the rectangles of one layer's path (default 4096).
	MaxPathRects int
	// MaxBuffers bounds the buffers (negative layer indexes) kept at once
	// (default 1024), so that naming ever new ones grows nothing.
	MaxBuffers int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxWidth, 8192)
	def(&l.MaxHeight, 8192)
	def(&l.MaxPixels, 8192*8192)
	def(&l.MaxStreams, 64)
	def(&l.MaxStreamBytes, 32<<20)
	def(&l.MaxBufferedBytes, 64<<20)
	def(&l.MaxPathRects, 4096)
	def(&l.MaxBuffers, 1024)
	return l
}

// The composite operations Screen implements, as img, copy and cfill carry
// them in their mask argument (guacd's guac_composite_mode). The desktop
// engine draws with OVER and scrolls with SRC; others are refused.
const (
	compSrc  = 0xC
	compOver = 0xE
)

// maxCoord bounds coordinates and sizes in instructions, far beyond any
// layer, so that rectangle arithmetic cannot overflow.
const maxCoord = 1 << 24

// InstructionError is what Screen.Apply returns for an instruction it
// cannot apply: the opcode and why.
type InstructionError struct {
	Opcode string
	Err    error
}

func (e *InstructionError) Error() string { return e.Opcode + ": " + e.Err.Error() }
func (e *InstructionError) Unwrap() error { return e.Err }

// ErrLimit is wrapped by errors for input beyond the Screen's Limits.
var ErrLimit = errors.New("beyond the limit")

// Screen applies drawing instructions to images, as guacamole-common-js's
// display does, and keeps the default layer 0 (what a viewer sees) as an
// RGBA image. Buffers (negative layer indexes, grown as they are drawn on)
// are kept too, as sources for copy; visible layers other than 0 (pointer
// and overlay layers) are not drawn: instructions for them are accepted and
// ignored. Unknown opcodes are ignored, as the browser's client does.
//
// A Screen is not safe for concurrent use.
type Screen struct {
	lim      Limits
	layers   map[int]*layer // 0 and buffers
	pixels   int            // of all layers
	streams  map[string]*imgStream
	buffered int // blob bytes of all open streams
	sync     int64
	changed  bool // layer 0 was drawn on or resized since Frames last looked
}

type layer struct {
	img      *image.RGBA
	autosize bool // buffers grow to fit what is drawn on them
	path     []image.Rectangle
}

type imgStream struct {
	op       draw.Op
	layer    int
	mimetype string
	x, y     int
	data     []byte
	discard  bool // for a layer the Screen does not draw
}

// NewScreen returns an empty screen (layer 0 of size 0x0) with lim's
// bounds (zero fields: defaults).
func NewScreen(lim Limits) *Screen {
	s := &Screen{
		lim:     lim.withDefaults(),
		layers:  map[int]*layer{0: {img: image.NewRGBA(image.Rectangle{})}},
		streams: map[string]*imgStream{},
	}
	return s
}

// Frame returns layer 0 as it is now: the Screen's own image, changed by
// the next Apply. Pixels never drawn are transparent black.
func (s *Screen) Frame() *image.RGBA { return s.layers[0].img }

// Time returns the timestamp of the last sync applied (milliseconds, as the
// instruction carried it; Postern's are Unix milliseconds), 0 before any.
func (s *Screen) Time() int64 { return s.sync }

// Apply applies one instruction. Its error (an *InstructionError) leaves
// the Screen usable: the instruction was not applied.
func (s *Screen) Apply(in Instruction) error {
	var err error
	switch in.Opcode {
	case "size":
		err = s.size(in.Args)
	case "img":
		err = s.img(in.Args)
	case "blob":
		err = s.blob(in.Args)
	case "end":
		err = s.end(in.Args)
	case "copy":
		err = s.copy(in.Args)
	case "rect":
		err = s.rect(in.Args)
	case "cfill":
		err = s.cfill(in.Args)
	case "dispose":
		err = s.dispose(in.Args)
	case "sync":
		err = s.syncTo(in.Args)
	}
	if err != nil {
		return &InstructionError{Opcode: in.Opcode, Err: err}
	}
	return nil
}

// args checks an instruction's argument count and parses the integers at
// the given indexes, each within [-maxCoord, maxCoord].
func args(a []string, n int, ints ...int) ([]int, error) {
	if len(a) < n {
		return nil, fmt.Errorf("needs %d arguments, has %d", n, len(a))
	}
	out := make([]int, len(ints))
	for i, idx := range ints {
		v, err := strconv.Atoi(a[idx])
		if err != nil {
			return nil, fmt.Errorf("argument %d is %.20q, not an integer", idx+1, a[idx])
		}
		if v < -maxCoord || v > maxCoord {
			return nil, fmt.Errorf("argument %d (%d) is out of range", idx+1, v)
		}
		out[i] = v
	}
	return out, nil
}

func compositeOp(mask int) (draw.Op, error) {
	switch mask {
	case compOver:
		return draw.Over, nil
	case compSrc:
		return draw.Src, nil
	}
	return 0, fmt.Errorf("composite mode %d is not supported (only 12, src, and 14, over)", mask)
}

// drawable returns the layer instructions for index draw on, nil for a
// visible layer other than 0 (ignored). A buffer springs into existence
// when first drawn on, as in guacamole-common-js.
func (s *Screen) drawable(index int) (*layer, error) {
	if index > 0 {
		return nil, nil
	}
	l := s.layers[index]
	if l == nil {
		if len(s.layers)-1 >= s.lim.MaxBuffers {
			return nil, fmt.Errorf("buffer %d: more than %d buffers: %w", index, s.lim.MaxBuffers, ErrLimit)
		}
		l = &layer{img: image.NewRGBA(image.Rectangle{}), autosize: true}
		s.layers[index] = l
	}
	return l, nil
}

// resize gives l a w x h image keeping what it shows, within the limits.
func (s *Screen) resize(l *layer, w, h int) error {
	old := l.img.Bounds()
	if w == old.Dx() && h == old.Dy() {
		return nil
	}
	if w > s.lim.MaxWidth || h > s.lim.MaxHeight {
		return fmt.Errorf("%dx%d: %w of %dx%d", w, h, ErrLimit, s.lim.MaxWidth, s.lim.MaxHeight)
	}
	if p := s.pixels - old.Dx()*old.Dy() + w*h; p > s.lim.MaxPixels {
		return fmt.Errorf("%dx%d: %d pixels in all layers, %w of %d", w, h, p, ErrLimit, s.lim.MaxPixels)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), l.img, image.Point{}, draw.Src)
	s.pixels += w*h - old.Dx()*old.Dy()
	l.img = img
	s.drew(l)
	return nil
}

// drew notes that l changed, for Frames' Changed when l is layer 0.
func (s *Screen) drew(l *layer) {
	if l == s.layers[0] {
		s.changed = true
	}
}

// fit grows an autosize layer to hold r (coordinates from 0).
func (s *Screen) fit(l *layer, r image.Rectangle) error {
	if !l.autosize || r.Empty() {
		return nil
	}
	b := l.img.Bounds()
	w, h := max(b.Dx(), r.Max.X), max(b.Dy(), r.Max.Y)
	return s.resize(l, w, h)
}

func (s *Screen) size(a []string) error {
	v, err := args(a, 3, 0, 1, 2)
	if err != nil {
		return err
	}
	if v[1] < 0 || v[2] < 0 {
		return fmt.Errorf("negative size %dx%d", v[1], v[2])
	}
	l, err := s.drawable(v[0])
	if l == nil {
		return err
	}
	return s.resize(l, v[1], v[2])
}

func (s *Screen) img(a []string) error {
	// img,STREAM,MASK,LAYER,MIMETYPE,X,Y
	v, err := args(a, 6, 1, 2, 4, 5)
	if err != nil {
		return err
	}
	id := a[0]
	op, err := compositeOp(v[0])
	if err != nil {
		return err
	}
	switch a[3] {
	case "image/png", "image/jpeg":
	default:
		return fmt.Errorf("stream %.20q: image type %.40q is not supported (only image/png and image/jpeg)", id, a[3])
	}
	old, reopened := s.streams[id]
	if reopened {
		// A stream id reused without end: the earlier image was never
		// finished, so it is dropped, as the browser's client would.
		s.buffered -= len(old.data)
	} else if len(s.streams) >= s.lim.MaxStreams {
		return fmt.Errorf("stream %.20q: more than %d image streams open at once: %w", id, s.lim.MaxStreams, ErrLimit)
	}
	s.streams[id] = &imgStream{op: op, layer: v[1], mimetype: a[3], x: v[2], y: v[3], discard: v[1] > 0}
	return nil
}

func (s *Screen) blob(a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("needs 2 arguments, has %d", len(a))
	}
	st := s.streams[a[0]]
	if st == nil || st.discard {
		// Blobs of streams that are not images (clipboard, audio, files)
		// or of an ignored layer: nothing to keep.
		return nil
	}
	n := base64.StdEncoding.DecodedLen(len(a[1]))
	if len(st.data)+n > s.lim.MaxStreamBytes {
		s.closeStream(a[0])
		return fmt.Errorf("stream %.20q: image larger than %d bytes: %w", a[0], s.lim.MaxStreamBytes, ErrLimit)
	}
	if s.buffered+n > s.lim.MaxBufferedBytes {
		s.closeStream(a[0])
		return fmt.Errorf("stream %.20q: open image streams hold more than %d bytes: %w", a[0], s.lim.MaxBufferedBytes, ErrLimit)
	}
	before := len(st.data)
	st.data = append(st.data, make([]byte, n)...)
	m, err := base64.StdEncoding.Decode(st.data[before:], []byte(a[1]))
	if err != nil {
		st.data = st.data[:before]
		s.closeStream(a[0])
		return fmt.Errorf("stream %.20q: %v", a[0], err)
	}
	st.data = st.data[:before+m]
	s.buffered += m
	return nil
}

func (s *Screen) closeStream(id string) *imgStream {
	st := s.streams[id]
	if st != nil {
		s.buffered -= len(st.data)
		delete(s.streams, id)
	}
	return st
}

func (s *Screen) end(a []string) error {
	if len(a) < 1 {
		return errors.New("needs 1 argument, has 0")
	}
	st := s.closeStream(a[0])
	if st == nil || st.discard {
		return nil
	}
	img, err := s.decode(st)
	if err != nil {
		return fmt.Errorf("stream %.20q: %s at (%d,%d) on layer %d: %w", a[0], st.mimetype, st.x, st.y, st.layer, err)
	}
	l, err := s.drawable(st.layer)
	if err != nil {
		return fmt.Errorf("stream %.20q: %w", a[0], err)
	}
	b := img.Bounds()
	r := image.Rect(st.x, st.y, st.x+b.Dx(), st.y+b.Dy())
	if err := s.fit(l, r); err != nil {
		return fmt.Errorf("stream %.20q: layer %d: %w", a[0], st.layer, err)
	}
	draw.Draw(l.img, r, img, b.Min, st.op)
	s.drew(l)
	return nil
}

// decode decodes a finished stream's image, having checked from its header
// that it fits the limits before anything is allocated for its pixels.
func (s *Screen) decode(st *imgStream) (image.Image, error) {
	var decodeConfig func([]byte) (image.Config, error)
	var decode func([]byte) (image.Image, error)
	switch st.mimetype {
	case "image/png":
		decodeConfig = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
	default:
		decodeConfig = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
	}
	cfg, err := decodeConfig(st.data)
	if err != nil {
		return nil, err
	}
	if cfg.Width > s.lim.MaxWidth || cfg.Height > s.lim.MaxHeight || cfg.Width*cfg.Height > s.lim.MaxPixels {
		return nil, fmt.Errorf("image of %dx%d: %w of %dx%d, %d pixels", cfg.Width, cfg.Height, ErrLimit, s.lim.MaxWidth, s.lim.MaxHeight, s.lim.MaxPixels)
	}
	return decode(st.data)
}

func (s *Screen) copy(a []string) error {
	// copy,SRCLAYER,SX,SY,W,H,MASK,DSTLAYER,DX,DY
	v, err := args(a, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	if err != nil {
		return err
	}
	op, err := compositeOp(v[5])
	if err != nil {
		return err
	}
	if v[3] < 0 || v[4] < 0 {
		return fmt.Errorf("negative size %dx%d", v[3], v[4])
	}
	src := s.layers[v[0]] // a buffer never drawn on has nothing to copy
	if src == nil {
		return nil
	}
	dst, err := s.drawable(v[6])
	if dst == nil {
		return err
	}
	// Only what the source has can be copied.
	sr := image.Rect(v[1], v[2], v[1]+v[3], v[2]+v[4]).Intersect(src.img.Bounds())
	if sr.Empty() {
		return nil
	}
	dr := sr.Add(image.Pt(v[7]-v[1], v[8]-v[2]))
	if err := s.fit(dst, dr); err != nil {
		return fmt.Errorf("layer %d: %w", v[6], err)
	}
	// draw clips dr to the destination and moves the source point along;
	// it copies overlapping rectangles of one image (scrolls) correctly.
	draw.Draw(dst.img, dr, src.img, sr.Min, op)
	s.drew(dst)
	return nil
}

func (s *Screen) rect(a []string) error {
	// rect,LAYER,X,Y,W,H: adds a rectangle to the layer's path.
	v, err := args(a, 5, 0, 1, 2, 3, 4)
	if err != nil {
		return err
	}
	if v[3] < 0 || v[4] < 0 {
		return fmt.Errorf("negative size %dx%d", v[3], v[4])
	}
	l, err := s.drawable(v[0])
	if l == nil {
		return err
	}
	if len(l.path) >= s.lim.MaxPathRects {
		return fmt.Errorf("layer %d: path of more than %d rectangles: %w", v[0], s.lim.MaxPathRects, ErrLimit)
	}
	l.path = append(l.path, image.Rect(v[1], v[2], v[1]+v[3], v[2]+v[4]))
	return nil
}

func (s *Screen) cfill(a []string) error {
	// cfill,MASK,LAYER,R,G,B,A: fills the layer's path, which it ends.
	v, err := args(a, 6, 0, 1, 2, 3, 4, 5)
	if err != nil {
		return err
	}
	op, err := compositeOp(v[0])
	if err != nil {
		return err
	}
	for i, c := range v[2:] {
		if c < 0 || c > 255 {
			return fmt.Errorf("argument %d (%d) is not a colour component 0-255", i+3, c)
		}
	}
	l := s.layers[v[1]] // a buffer never drawn on has no path to fill
	if l == nil {
		return nil
	}
	path := l.path
	l.path = nil
	fill := image.NewUniform(color.NRGBA{uint8(v[2]), uint8(v[3]), uint8(v[4]), uint8(v[5])})
	for _, r := range path {
		if err := s.fit(l, r); err != nil {
			return fmt.Errorf("layer %d: %w", v[1], err)
		}
		draw.Draw(l.img, r, fill, image.Point{}, op)
		s.drew(l)
	}
	return nil
}

func (s *Screen) dispose(a []string) error {
	v, err := args(a, 1, 0)
	if err != nil {
		return err
	}
	if v[0] >= 0 {
		// Layer 0 cannot be disposed of; other visible layers are not kept.
		return nil
	}
	if l := s.layers[v[0]]; l != nil {
		b := l.img.Bounds()
		s.pixels -= b.Dx() * b.Dy()
		delete(s.layers, v[0])
	}
	return nil
}

func (s *Screen) syncTo(a []string) error {
	if len(a) < 1 {
		return errors.New("needs 1 argument, has 0")
	}
	t, err := strconv.ParseInt(a[0], 10, 64)
	if err != nil || t < 0 {
		return fmt.Errorf("timestamp %.30q is not a non-negative integer", a[0])
	}
	s.sync = t
	return nil
}
