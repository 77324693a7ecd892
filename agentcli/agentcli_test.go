package agentcli

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/cli"
)

func TestRegisterNeedsItsFlags(t *testing.T) {
	cmd := New("postern-agent", "")
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"register", "--server", "https://x:1"})
	err := cmd.Execute()
	var ue cli.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "postern-agent register needs --server, --code and --id") {
		t.Errorf("register without --code and --id: %v, want a usage error naming the command", err)
	}
}

func TestRunNeedsAnIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	t.Setenv("POSTERN_AGENT_DIR", dir)
	cmd := New("agent", "")
	cmd.SetArgs([]string{"run"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "postern-agent register") {
		t.Errorf("run with no identity in $POSTERN_AGENT_DIR: %v, want an error naming %s and postern-agent register", err, dir)
	}
}
