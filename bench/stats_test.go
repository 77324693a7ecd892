//go:build linux

package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5}
	for _, c := range []struct{ p, want float64 }{
		{0, 1}, {25, 2}, {50, 3}, {90, 4.6}, {99, 4.96}, {100, 5},
		{-5, 1}, {150, 5}, // clamped
	} {
		if got := percentile(s, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", s, c.p, got, c.want)
		}
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v, want 7", got)
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile of nothing = %v, want NaN", got)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("median odd = %v, want 3", got)
	}
	in := []float64{4, 1, 3, 2}
	if got := median(in); got != 2.5 {
		t.Errorf("median even = %v, want 2.5", got)
	}
	if in[0] != 4 {
		t.Errorf("median reordered its input: %v", in)
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	// Out of order on purpose: summarize must sort a copy.
	ds[0], ds[99] = ds[99], ds[0]
	s := summarize(ds)
	if s.N != 100 || s.Min != 1 || s.Max != 100 {
		t.Errorf("n/min/max = %d/%v/%v, want 100/1/100", s.N, s.Min, s.Max)
	}
	if s.P50 != 50.5 || math.Abs(s.P99-99.01) > 1e-9 || math.Abs(s.P90-90.1) > 1e-9 {
		t.Errorf("p50/p90/p99 = %v/%v/%v, want 50.5/90.1/99.01", s.P50, s.P90, s.P99)
	}
	if s.Mean != 50.5 {
		t.Errorf("mean = %v, want 50.5", s.Mean)
	}
	if want := math.Sqrt(841.6666666666666); math.Abs(s.Stddev-want) > 1e-9 {
		t.Errorf("stddev = %v, want %v", s.Stddev, want)
	}
	if len(s.Samples) != 100 || s.Samples[0] != 100 {
		t.Errorf("samples not kept in order: %v", s.Samples[:3])
	}
	if e := summarize(nil); e.N != 0 || e.P50 != 0 || e.Max != 0 {
		t.Errorf("empty summary = %+v", e)
	}
}
