//go:build !linux && !darwin

package ptytest

import (
	"context"
	"os/exec"
	"regexp"
	"runtime"
	"testing"
)

// PTY is a command running in a pseudo-terminal. On this platform Start
// skips the test, so there are none.
type PTY struct{ t testing.TB }

// Start skips the test: this platform has no pseudo-terminals.
func Start(t testing.TB, cmd *exec.Cmd) *PTY {
	t.Helper()
	t.Skipf("ptytest: pseudo-terminals are not supported on %s", runtime.GOOS)
	return nil
}

func (p *PTY) unsupported() {
	p.t.Helper()
	p.t.Fatalf("ptytest: pseudo-terminals are not supported on %s", runtime.GOOS)
}

func (p *PTY) Write(s string)                       { p.unsupported() }
func (p *PTY) WriteLine(s string)                   { p.unsupported() }
func (p *PTY) Expect(ctx context.Context, s string) { p.unsupported() }
func (p *PTY) ExpectRegexp(ctx context.Context, re *regexp.Regexp) []string {
	p.unsupported()
	return nil
}
func (p *PTY) Output() string               { return "" }
func (p *PTY) Resize(cols, rows uint16)     { p.unsupported() }
func (p *PTY) Wait(ctx context.Context) int { p.unsupported(); return -1 }
