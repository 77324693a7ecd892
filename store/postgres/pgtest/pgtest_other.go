//go:build !unix

package pgtest

import (
	"os"
	"testing"
)

// Main runs the tests.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests.
func Run(m *testing.M) int { return m.Run() }

// NewDatabase skips the test: the test servers run on Unix only.
func NewDatabase(t testing.TB) string {
	t.Helper()
	t.Skip("pgtest: PostgreSQL test servers run on Unix only")
	return ""
}
