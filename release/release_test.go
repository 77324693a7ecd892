// Package release tests scripts/release, which builds Postern's release
// artifacts: what it builds runs and says its version and commit, matches
// its checksums, and is the same bytes when built again from another
// checkout of the same commit.
package release

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// version is what the test releases as.
const version = "9.9.9-test"

// TestReproducibleRelease clones the repository's HEAD twice, into two
// different directories, releases each for this machine's platform, and
// compares: a build that took in its path, its time or the checkout's
// state would differ.
func TestReproducibleRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release twice")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	repo := strings.TrimSpace(string(top))
	head := strings.TrimSpace(string(must(t, exec.Command("git", "-C", repo, "rev-parse", "HEAD"))))
	target := runtime.GOOS + "/" + runtime.GOARCH
	var outs []string
	for _, name := range []string{"one", "another-checkout"} {
		dir := filepath.Join(t.TempDir(), name)
		must(t, exec.Command("git", "clone", "-q", repo, dir))
		out := filepath.Join(dir, "dist")
		cmd := exec.Command(filepath.Join(dir, "scripts", "release"), version, out)
		cmd.Env = append(os.Environ(), "POSTERN_RELEASE_TARGETS="+target)
		must(t, cmd)
		outs = append(outs, out)
	}

	// The manual pages too, one per command.
	for _, page := range []string{"postern/postern.1", "postern/postern-admin-backup.1", "postern-agent/postern-agent-register.1"} {
		a, err := os.ReadFile(filepath.Join(outs[0], "man", page))
		if err != nil || !bytes.HasPrefix(a, []byte(".nh\n.TH ")) || !bytes.Contains(a, []byte("Postern "+version)) {
			t.Errorf("man/%s: %v\n%.200s", page, err, a)
		}
		if b, _ := os.ReadFile(filepath.Join(outs[1], "man", page)); !bytes.Equal(a, b) {
			t.Errorf("man/%s differs between the checkouts", page)
		}
	}
	sums, err := os.ReadFile(filepath.Join(outs[0], "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = outs[0]
	must(t, check)
	for _, cmd := range []string{"postern", "postern-agent"} {
		ext := ""
		if runtime.GOOS == "windows" {
			ext = ".exe"
		}
		name := cmd + "-" + version + "-" + runtime.GOOS + "-" + runtime.GOARCH + ext
		if !bytes.Contains(sums, []byte("  "+name+"\n")) {
			t.Errorf("SHA256SUMS names no %s:\n%s", name, sums)
		}
		a, err := os.ReadFile(filepath.Join(outs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(outs[1], name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: %d bytes from one checkout, %d from another: the build is not reproducible", name, len(a), len(b))
		}
		for _, args := range [][]string{{"version"}, {"--version"}} {
			got := string(must(t, exec.Command(filepath.Join(outs[0], name), args...)))
			if want := cmd + " " + version + "\ncommit " + head + "\n"; got != want {
				t.Errorf("%s %v printed %q, want %q", name, args, got, want)
			}
		}
	}
}

// must runs cmd and returns its standard output, failing the test with
// its output if it fails.
func must(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s%s", cmd.Args, err, out, stderr.Bytes())
	}
	return out
}
