//go:build unix

package shell

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// bashIntegration is the rcfile that gives bash sessions OSC 133 marks.
//
//go:embed integration/bash.sh
var bashIntegration []byte

var (
	integrationOnce sync.Once
	integrationPath string // bash's rcfile, once written
	integrationErr  error
)

// bashRCFile returns the path of the bash integration, written once per
// process into a directory of its own that every user can read (sessions
// run as other users) and only this process's user can change.
func bashRCFile() (string, error) {
	integrationOnce.Do(func() {
		dir, err := os.MkdirTemp("", "postern-shell-")
		if err != nil {
			integrationErr = fmt.Errorf("shell: integration: %w", err)
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			integrationErr = fmt.Errorf("shell: integration: %w", err)
			return
		}
		p := filepath.Join(dir, "bash-integration.sh")
		if err := os.WriteFile(p, bashIntegration, 0o644); err != nil {
			integrationErr = fmt.Errorf("shell: integration: %w", err)
			return
		}
		integrationPath = p
	})
	return integrationPath, integrationErr
}
