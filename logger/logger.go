// Package logger is Postern's logging type: a printf-style function, as in
// Tailscale's types/logger, so components take a logger as a plain
// dependency and tests pass t.Logf.
package logger

import (
	"fmt"
	"log"
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
