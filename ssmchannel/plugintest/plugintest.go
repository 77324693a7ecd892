// Package plugintest finds AWS's session-manager-plugin for tests: the
// binary scripts/install-test-deps builds from the plugin's source at
// Version, or $POSTERN_SSM_PLUGIN.
//
// Without it a test is skipped with a message naming
// ./scripts/install-test-deps, unless $CI is set (and not "false") or
// POSTERN_REQUIRE_SSM_PLUGIN=1: then it fails, so that CI cannot pass by
// skipping.
package plugintest

import (
	"os"
	"path/filepath"
	"testing"
)

// Version is the plugin's pseudo-version on the module proxy, as
// scripts/install-test-deps builds it.
const Version = "v0.0.0-20260401221635-b79d06c1d3a2"

// Path returns the plugin's path, or skips (or fails) the test.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("POSTERN_SSM_PLUGIN"); p != "" {
		if !executable(p) {
			t.Fatalf("plugintest: POSTERN_SSM_PLUGIN=%s is not an executable file", p)
		}
		return p
	}
	cache := os.Getenv("POSTERN_TEST_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "postern-test")
	}
	p := filepath.Join(cache, "session-manager-plugin-"+Version)
	if executable(p) {
		return p
	}
	msg := "session-manager-plugin " + Version + " not found at " + p + ": run ./scripts/install-test-deps (or set POSTERN_SSM_PLUGIN)"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" || os.Getenv("POSTERN_REQUIRE_SSM_PLUGIN") == "1" {
		t.Fatalf("plugintest: %s (CI or POSTERN_REQUIRE_SSM_PLUGIN=1 forbids skipping)", msg)
	}
	t.Skipf("plugintest: %s", msg)
	return ""
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
