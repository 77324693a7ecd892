package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// releaseVersion is what TestReproducibleRelease releases as.
const releaseVersion = "9.9.9-test"

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
	head := strings.TrimSpace(string(runCmd(t, exec.Command("git", "-C", repo, "rev-parse", "HEAD"))))
	target := runtime.GOOS + "/" + runtime.GOARCH
	var outs []string
	for _, name := range []string{"one", "another-checkout"} {
		dir := filepath.Join(t.TempDir(), name)
		runCmd(t, exec.Command("git", "clone", "-q", repo, dir))
		out := filepath.Join(dir, "dist")
		cmd := exec.Command(filepath.Join(dir, "scripts", "release"), releaseVersion, out)
		cmd.Env = append(os.Environ(), "POSTERN_RELEASE_TARGETS="+target)
		runCmd(t, cmd)
		outs = append(outs, out)
	}

	// The manual pages too, one per command.
	for _, page := range []string{"postern/postern.1", "postern/postern-admin-backup.1", "postern-agent/postern-agent-register.1"} {
		a, err := os.ReadFile(filepath.Join(outs[0], "man", page))
		if err != nil || !bytes.HasPrefix(a, []byte(".nh\n.TH ")) || !bytes.Contains(a, []byte("Postern "+releaseVersion)) {
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
	runCmd(t, check)
	for _, cmd := range []string{"postern", "postern-agent"} {
		ext := ""
		if runtime.GOOS == "windows" {
			ext = ".exe"
		}
		name := cmd + "-" + releaseVersion + "-" + runtime.GOOS + "-" + runtime.GOARCH + ext
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
			got := string(runCmd(t, exec.Command(filepath.Join(outs[0], name), args...)))
			if want := cmd + " " + releaseVersion + "\ncommit " + head + "\n"; got != want {
				t.Errorf("%s %v printed %q, want %q", name, args, got, want)
			}
		}
	}
}
