// Package ptytest runs a program in a real pseudo-terminal for end-to-end
// tests, such as those of the postern connect command, which must behave
// like an interactive terminal program (raw mode, window size, Ctrl-C).
//
// Start connects a command to a new terminal and reads everything it writes
// in the background; Expect waits for text to appear, failing the test with
// what arrived instead. Every wait takes a context; Context gives the usual
// one.
//
// Pseudo-terminals are supported on Linux and macOS. Elsewhere Start skips
// the test.
package ptytest

import (
	"context"
	"testing"
	"time"
)

// DefaultTimeout is the longest a context from Context lets a test wait.
const DefaultTimeout = 30 * time.Second

// deadlineMargin is kept free before the test binary's own deadline, so
// that a failing Expect reports what it received instead of the binary
// panicking with a goroutine dump.
const deadlineMargin = 2 * time.Second

// Context returns a context that ends after DefaultTimeout, shortly before
// the test's deadline if that comes sooner, or when the test finishes.
func Context(t testing.TB) context.Context {
	t.Helper()
	deadline := time.Now().Add(DefaultTimeout)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := d.Deadline(); ok && td.Add(-deadlineMargin).Before(deadline) {
			deadline = td.Add(-deadlineMargin)
		}
	}
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	t.Cleanup(cancel)
	return ctx
}
