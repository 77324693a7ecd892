//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the result table.
type row struct {
	Metric string
	Value  string
	Target string // "" for a row given for information
	// Ratio is the value over its target (below 1 is better for an upper
	// bound); NaN where there is none.
	Ratio float64
	// Met is "yes", "no", or "" for information; "not measured" when the
	// step did not run.
	Met string
}

// atMost is a row whose target is an upper bound.
func atMost(metric, value string, v, limit float64, target string) row {
	r := row{Metric: metric, Value: value, Target: target, Ratio: math.NaN()}
	if limit > 0 && !math.IsNaN(v) {
		r.Ratio = v / limit
	}
	r.Met = yesNo(!math.IsNaN(v) && v <= limit)
	return r
}

func info(metric, value string) row {
	return row{Metric: metric, Value: value, Ratio: math.NaN(), Target: "(info)"}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printTable writes the rows as aligned columns, then the notes.
func printTable(w io.Writer, rows []row, notes []string) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "metric\tvalue\ttarget\tratio\tmet")
	for _, r := range rows {
		ratio := ""
		if !math.IsNaN(r.Ratio) {
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Metric, r.Value, r.Target, ratio, r.Met)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows for information leave the last columns empty: no padding
	// after them.
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if _, err := io.WriteString(w, strings.TrimRight(l, " \n")+strings.Repeat("\n", strings.Count(l, "\n"))); err != nil {
			return err
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

// percentile returns the p-th percentile (0 <= p <= 100) of ds,
// interpolating linearly between the nearest ranks (numpy's default, as
// go run ./bench does); 0 for no samples.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	h := float64(len(s)-1) * min(max(p, 0), 100) / 100
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + time.Duration((h-float64(lo))*float64(s[lo+1]-s[lo]))
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// fmtBytes prints a size in binary units; negative sizes keep their sign.
func fmtBytes(n float64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%s%.2f GiB", sign, n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", sign, n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", sign, n/(1<<10))
	}
	return fmt.Sprintf("%s%.0f B", sign, n)
}

// perAgent is the growth from base to loaded spread over n agents.
func perAgent(base, loaded int64, n int) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(loaded-base) / float64(n)
}

// thousands writes n with a comma between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
