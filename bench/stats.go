//go:build linux

package main

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of duration samples. Values are in microseconds
// so that the JSON stays readable and unit-explicit.
type Summary struct {
	N      int     `json:"n"`
	Min    float64 `json:"min_us"`
	P50    float64 `json:"p50_us"`
	P90    float64 `json:"p90_us"`
	P99    float64 `json:"p99_us"`
	Max    float64 `json:"max_us"`
	Mean   float64 `json:"mean_us"`
	Stddev float64 `json:"stddev_us"`
	// Samples are the raw measurements in the order they were taken,
	// rounded to 0.1 µs.
	Samples []float64 `json:"samples_us,omitempty"`
}

// percentile returns the p-th percentile (0 <= p <= 100) of sorted values,
// interpolating linearly between the two nearest ranks (the definition
// numpy and most spreadsheets use by default). It returns NaN for no
// values.
func percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	p = min(max(p, 0), 100)
	h := float64(n-1) * p / 100
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	frac := h - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// median returns the median of values (not necessarily sorted); NaN for
// none.
func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return percentile(s, 50)
}

// summarize computes a Summary of durations, keeping the raw samples.
func summarize(ds []time.Duration) Summary {
	us := make([]float64, len(ds))
	for i, d := range ds {
		us[i] = float64(d) / float64(time.Microsecond)
	}
	sum := Summary{N: len(us), Samples: make([]float64, len(us))}
	for i, v := range us {
		sum.Samples[i] = math.Round(v*10) / 10
	}
	if len(us) == 0 {
		return sum // all zero: JSON cannot carry NaN
	}
	sorted := slices.Clone(us)
	slices.Sort(sorted)
	var total float64
	for _, v := range us {
		total += v
	}
	mean := total / float64(len(us))
	var sq float64
	for _, v := range us {
		sq += (v - mean) * (v - mean)
	}
	sum.Min, sum.Max = sorted[0], sorted[len(sorted)-1]
	sum.P50 = percentile(sorted, 50)
	sum.P90 = percentile(sorted, 90)
	sum.P99 = percentile(sorted, 99)
	sum.Mean = mean
	if len(us) > 1 {
		sum.Stddev = math.Sqrt(sq / float64(len(us)-1))
	}
	return sum
}

// us converts microseconds back to a Duration, for display.
func us(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
