package relay

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestOutputRing writes random-sized pieces of a known stream and checks
// that every offset the ring claims to keep reads back exactly, across
// growth, wrap-around and pieces larger than the ring.
func TestOutputRing(t *testing.T) {
	for _, max := range []int{64 << 10, 256 << 10} {
		rng := rand.New(rand.NewPCG(uint64(max), 7))
		var all []byte
		r := newOutputRing(max, 0)
		for range 400 {
			n := rng.IntN(max / 8)
			if rng.IntN(50) == 0 {
				n = max + rng.IntN(1000) // larger than the ring
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			all = append(all, p...)
			r.write(p)
			if r.end != uint64(len(all)) {
				t.Fatalf("end %d, wrote %d", r.end, len(all))
			}
			if kept := r.end - r.start; kept > uint64(max) || (kept < uint64(min(len(all), max/2))) {
				t.Fatalf("keeps %d bytes of %d written, limit %d", kept, len(all), max)
			}
			from := r.start + uint64(rng.IntN(int(r.end-r.start)+1))
			got := r.appendFrom(nil, from, 1<<30)
			if want := all[from:]; !bytes.Equal(got, want) {
				t.Fatalf("read from %d: %d bytes differ from the %d written", from, len(got), len(want))
			}
		}
	}
}

func TestOutputRingStartsAtOffset(t *testing.T) {
	r := newOutputRing(64<<10, 1000)
	if got := r.appendFrom(nil, 1000, 10); len(got) != 0 {
		t.Fatalf("empty ring read %q", got)
	}
	r.write([]byte("hello"))
	if got := r.appendFrom(nil, 1002, 10); string(got) != "llo" {
		t.Fatalf("read %q, want llo", got)
	}
}
