package guac

import (
	"bytes"
	"errors"
	"image/color"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFrames(t *testing.T) {
	var r rec
	r.add("size", "0", "8", "8")
	r.add("sync", "1700000000000") // nothing drawn yet
	r.png(t, "0", compOver, 0, 0, 0, uniform(8, 8, red))
	r.add("sync", "1700000000500")
	r.png(t, "0", compOver, 0, 0, 0, uniform(8, 8, blue))
	r.add("sync", "1700000000400") // a clock stepping back
	r.add("mouse", "1", "1")
	r.add("sync", "1700000000600") // nothing drawn
	r.png(t, "0", compOver, 0, 0, 0, uniform(8, 8, green))
	// No sync after the green: never shown.

	type got struct {
		ms      int64
		c       color.RGBA
		changed bool
	}
	var frames []got
	for f, err := range Frames(bytes.NewReader(r.b), Limits{}) {
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, got{f.Time.UnixMilli(), f.Image.RGBAAt(3, 3), f.Changed})
	}
	want := []got{
		{1700000000000, color.RGBA{}, true},
		{1700000000500, red, true},
		{1700000000500, blue, true},
		{1700000000600, blue, false},
	}
	if len(frames) != len(want) {
		t.Fatalf("frames %v, want %v", frames, want)
	}
	for i := range want {
		if frames[i] != want[i] {
			t.Errorf("frame %d: %v, want %v", i, frames[i], want[i])
		}
	}

	// Stopping early is fine.
	n := 0
	for range Frames(bytes.NewReader(r.b), Limits{}) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("broke out after %d frames", n)
	}

	sum, err := ReadSummary(bytes.NewReader(r.b))
	if err != nil {
		t.Fatal(err)
	}
	wantSum := Summary{Width: 8, Height: 8, Start: time.UnixMilli(1700000000000), End: time.UnixMilli(1700000000600), Frames: 4}
	if sum != wantSum {
		t.Errorf("summary %+v, want %+v", sum, wantSum)
	}
	if sum.Duration() != 600*time.Millisecond {
		t.Errorf("duration %v", sum.Duration())
	}
}

func TestReadSummary(t *testing.T) {
	var r rec
	r.add("size", "0", "0", "0")
	r.add("sync", "1000") // no screen yet
	r.add("size", "-1", "64", "64")
	r.add("size", "0", "1024", "768")
	r.png(t, "0", compOver, 0, 0, 0, uniform(4, 4, red))
	r.add("sync", "2000")
	r.add("size", "0", "1280", "720")
	r.add("sync", "9000")
	sum, err := ReadSummary(bytes.NewReader(r.b))
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Width: 1024, Height: 768, Start: time.UnixMilli(1000), End: time.UnixMilli(9000), Frames: 3}
	if sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	if sum, err := ReadSummary(strings.NewReader("")); err != nil || sum != (Summary{}) {
		t.Errorf("empty recording: %+v, %v", sum, err)
	}
}

func TestRecordingErrors(t *testing.T) {
	var r rec
	r.add("size", "0", "8", "8")
	r.png(t, "0", compOver, 0, 0, 0, uniform(8, 8, red))
	r.add("sync", "1700000000000")
	good := r.b
	at := func(n int) string { return "at byte " + strconv.Itoa(n) + ": " }
	end := len(good)
	img := "3.img,1.0,2.14,1.0,9.image/png,1.0,1.0;4.blob,1.0,16.AAAAAAAAAAAAAAAA;"
	for _, tc := range []struct {
		name    string
		rec     []byte
		want    string
		summary string // ReadSummary's error, when it sees one
		is      error
	}{
		{"truncated", good[:len(good)-5], "guacamole recording: " + at(end-len("4.sync,13.1700000000000;")) + "the recording ends in the middle of an instruction", "same", ErrTruncated},
		{"garbage", append(append([]byte(nil), good...), "\x00\x01binary"...), "guacamole recording: " + at(end) + "length contains '\\x00', not a digit", "same", nil},
		{"bad instruction", append(append([]byte(nil), good...), "4.size,1.0,2.-1,1.1;"...), "guacamole recording: instruction " + at(end) + "size: negative size -1x1", "same", nil},
		{"bad sync", append(append([]byte(nil), good...), "4.sync,2.-5;"...), "instruction " + at(end) + "sync: timestamp \"-5\"", "same", nil},
		{"bad image", append(append([]byte(nil), good...), img+"3.end,1.0;"...), "instruction " + at(end+len(img)) + "end: stream \"0\": image/png at (0,0) on layer 0: png: invalid format: not a PNG file", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for _, e := range Frames(bytes.NewReader(tc.rec), Limits{}) {
				if e != nil {
					err = e
				}
			}
			var re *RecordingError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Frames: error %q, want a RecordingError saying %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			_, err = ReadSummary(bytes.NewReader(tc.rec))
			switch tc.summary {
			case "":
				if err != nil {
					t.Errorf("ReadSummary, which decodes no image: %v", err)
				}
			case "same":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("ReadSummary: error %q, want %q", err, tc.want)
				}
			}
		})
	}
}
