package recording

import "testing"

// benchTracker feeds output to a CommandTracker, as the cast writer and
// the command-event stream do for every terminal session.
func benchTracker(b *testing.B, chunks [][]byte) {
	var total int64
	for _, c := range chunks {
		total += int64(len(c))
	}
	b.SetBytes(total)
	var dst []byte
	for b.Loop() {
		tr := NewCommandTracker(80)
		for _, c := range chunks {
			dst, _ = tr.Feed(dst[:0], 0, c)
		}
	}
}

func BenchmarkCommandTrackerBulk(b *testing.B)  { benchTracker(b, bulkOutput(8<<20)) }
func BenchmarkCommandTrackerShell(b *testing.B) { benchTracker(b, shellOutput(20000)) }
