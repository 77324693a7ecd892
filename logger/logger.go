// Package logger is Postern's logging type: a printf-style function, as in
// Tailscale's types/logger, so components take a logger as a plain
// dependency and tests pass t.Logf.
package logger

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Logf is a printf-style log function.
type Logf func(format string, args ...any)

// Discard drops everything.
func Discard(string, ...any) {}

// Std logs through the standard library's default logger.
func Std(format string, args ...any) { log.Printf(format, args...) }

// WithPrefix returns a Logf that prefixes every line.
func WithPrefix(logf Logf, prefix string) Logf {
	return func(format string, args ...any) {
		logf("%s", prefix+fmt.Sprintf(format, args...))
	}
}

// Throttled returns a Logf for a line that repeats while a condition
// lasts (a database that does not answer, polled every second): it logs
// the first, then at most one an interval, saying how many it left out.
// It is safe for concurrent use.
func Throttled(logf Logf, every time.Duration) Logf { return throttled(logf, every, time.Now) }

func throttled(logf Logf, every time.Duration, clock func() time.Time) Logf {
	var mu sync.Mutex // guards the two below
	var last time.Time
	var dropped int
	return func(format string, args ...any) {
		mu.Lock()
		now := clock()
		if !last.IsZero() && now.Sub(last) < every {
			dropped++
			mu.Unlock()
			return
		}
		n := dropped
		last, dropped = now, 0
		mu.Unlock()
		line := fmt.Sprintf(format, args...)
		if n > 0 {
			line += fmt.Sprintf(" (and %d more like it since the last one logged)", n)
		}
		logf("%s", line)
	}
}

// Formats of New.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// New returns a Logf writing to w: text lines with the time, as the
// standard library's logger writes, or JSON lines (log/slog's) with
// "time", "level", "msg" and, for lines that start "component: ...", a
// "component" of their own, for log collectors to parse.
func New(format string, w io.Writer) (Logf, error) {
	switch format {
	case FormatText, "":
		l := log.New(w, "", log.LstdFlags)
		return func(f string, args ...any) { l.Printf(f, args...) }, nil
	case FormatJSON:
		l := slog.New(slog.NewJSONHandler(w, nil))
		return func(f string, args ...any) {
			msg := fmt.Sprintf(f, args...)
			if comp, rest, ok := strings.Cut(msg, ": "); ok && comp != "" && !strings.ContainsAny(comp, " \t") {
				l.Info(rest, "component", comp)
				return
			}
			l.Info(msg)
		}, nil
	}
	return nil, fmt.Errorf("log format %q: must be %s or %s", format, FormatText, FormatJSON)
}
