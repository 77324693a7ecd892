package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/client"
)

// TestTokenFromEnvironment: scripts and CI use the CLI with an API token in
// POSTERN_TOKEN, with no configuration (the server and its CA from the
// environment too), or over a saved login, which the token neither spends
// nor replaces.
func TestTokenFromEnvironment(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	secret := strings.TrimSpace(e.mustRun(ctx, "tokens", "create", "--name", "ci", "--scope", "DescribeNodes"))
	saved, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(saved.CA), 0o600); err != nil {
		t.Fatal(err)
	}
	runWith := func(env []string, args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), append([]string{"HOME=" + e.dir}, env...)...)
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		return so.String(), se.String(), err
	}
	empty := t.TempDir()
	out, errOut, err := runWith([]string{"POSTERN_HOME=" + empty, "POSTERN_TOKEN=" + secret, "POSTERN_SERVER=" + e.url, "POSTERN_CA_FILE=" + caFile}, "nodes")
	if err != nil || !strings.Contains(out, hostname(t)) {
		t.Fatalf("postern nodes with POSTERN_TOKEN and no configuration: %v\n%s%s", err, out, errOut)
	}
	// Scoped to DescribeNodes: the token, not the saved admin login, is
	// what the command used.
	_, errOut, err = runWith([]string{"POSTERN_HOME=" + e.home, "POSTERN_TOKEN=" + secret}, "sessions")
	if err == nil || !strings.Contains(errOut, "may not DescribeSessions") {
		t.Fatalf("postern sessions with a DescribeNodes token over an admin login: %v\n%s", err, errOut)
	}
	_, errOut, err = runWith([]string{"POSTERN_HOME=" + empty, "POSTERN_TOKEN=" + secret}, "nodes")
	if err == nil || !strings.Contains(errOut, "POSTERN_SERVER") {
		t.Fatalf("POSTERN_TOKEN without a server: %v\n%s; want an error naming POSTERN_SERVER", err, errOut)
	}
	after, err := client.LoadConfig(e.home)
	if err != nil || after.Token != saved.Token || after.RefreshToken != saved.RefreshToken {
		t.Fatalf("the saved login changed under POSTERN_TOKEN: %v", err)
	}
	e.mustRun(ctx, "whoami") // and still works
}
