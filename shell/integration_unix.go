//go:build unix

package shell

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// integrationFiles give bash and zsh sessions OSC 133 marks: bash.sh is
// bash's rcfile, zsh/ the startup files of a ZDOTDIR (see zsh/zshenv), and
// hook.sh the prompt hook both hand to a bash started from the session.
//
//go:embed integration/bash.sh integration/hook.sh integration/zsh
var integrationFiles embed.FS

var (
	integrationOnce sync.Once
	integrationDir  string // where the files are, once written
	integrationErr  error
)

// integration returns the directory holding the integration: bash's rcfile
// as bash-integration.sh, the prompt hook as hook.sh and zsh's startup
// files in zsh/. It is written once
// per process into a directory of its own that every user can read
// (sessions run as other users) and only this process's user can change.
func integration() (string, error) {
	integrationOnce.Do(func() {
		integrationDir, integrationErr = writeIntegration()
		if integrationErr != nil {
			integrationErr = fmt.Errorf("shell: integration: %w", integrationErr)
		}
	})
	return integrationDir, integrationErr
}

func writeIntegration() (string, error) {
	dir, err := os.MkdirTemp("", "postern-shell-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{
		"bash-integration.sh": "integration/bash.sh",
		"hook.sh":             "integration/hook.sh",
		"zsh/.zshenv":         "integration/zsh/zshenv",
		"zsh/.zprofile":       "integration/zsh/zprofile",
		"zsh/.zshrc":          "integration/zsh/zshrc",
		"zsh/.zlogin":         "integration/zsh/zlogin",
		"zsh/.zlogout":        "integration/zsh/zlogout",
	}
	if err := os.Mkdir(filepath.Join(dir, "zsh"), 0o755); err != nil {
		return "", err
	}
	for dst, src := range files {
		b, err := integrationFiles.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}
