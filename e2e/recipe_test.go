package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/postern/postern/s3logs/miniotest"
)

// readmeScript returns the nth sh block after a README heading.
func readmeScript(t *testing.T, heading string, nth int) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), heading)
	for range nth {
		if ok {
			_, s, ok = strings.Cut(s, "```sh\n")
		}
	}
	if ok {
		s, _, ok = strings.Cut(s, "```")
	}
	if !ok {
		t.Fatalf("the README has no script under %q", heading)
	}
	return s
}

// TestReadmeOrgRecipe runs the README's multi-account recipe as written,
// with bash, against a fresh postern dev whose S3 is a real MinIO: the
// organization, the archive account's bucket and key, the baseline rolled
// out to a unit, a member's node and session, the archive read with the
// AWS CLI and decrypted by the archive's administrator (and not by the
// member's), a new account getting the baseline, and a member's change
// reported as drift.
func TestReadmeOrgRecipe(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, tool := range []string{"aws", "jq", "gunzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (scripts/install-test-deps)", tool)
			}
			t.Skipf("no %s", tool)
		}
	}
	minio := miniotest.Start(t)
	awsEnv := []string{
		"AWS_ENDPOINT_URL_S3=" + minio.URL(), "AWS_ACCESS_KEY_ID=" + minio.AccessKey(), "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey(),
		"AWS_REGION=" + minio.Region(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	// postern dev as the README starts it.
	const devConfig = "cloudWatch: {use: builtin}"
	if !strings.Contains(readmeScript(t, "### The whole setup, end to end\n", 1), "echo '"+devConfig+"' > dev.yaml") {
		t.Fatalf("the README no longer starts postern dev with %q: update this test", devConfig)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dev.yaml"), []byte(devConfig+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startDevEnv(t, awsEnv, "--config", filepath.Join(dir, "dev.yaml"))
	script := readmeScript(t, "### The whole setup, end to end\n", 2)
	if err := os.WriteFile(filepath.Join(dir, "baseline.yaml"), []byte(readmeTemplate(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append(append(os.Environ(), e.vars()...), awsEnv...), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The script leaves its agent running in the background: its
	// process group goes with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	out := so.String()
	if err != nil {
		t.Fatalf("the README's recipe: %v\nstdout:\n%s\nstderr:\n%s", err, out, se.String())
	}
	t.Logf("the recipe printed:\n%s", out)
	for _, want := range []string{
		"hello from web\n",              // the transcript, decrypted by the archive's administrator
		"web's administrators cannot\n", // and not by the member's
		"LOG EVENTS PENDING",            // archive show
		"Content.inputs.idleSessionTimeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the recipe's output lacks %q", want)
		}
	}
	// The shipped log events hold the session's output too, besides the
	// transcript.
	if n := strings.Count(out, "hello from web"); n < 2 {
		t.Errorf("%q appears %d times: the transcript and the shipped events should both hold it", "hello from web", n)
	}
	if !strings.Contains(se.String(), "cannot read archive copies") {
		t.Errorf("the member's decryption was not refused for the archive key's policy:\n%s", se.String())
	}
}
