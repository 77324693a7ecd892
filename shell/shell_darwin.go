//go:build darwin

package shell

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ioctlGetTermios reads a terminal's attributes (tcgetattr).
const ioctlGetTermios = unix.TIOCGETA

// macOS keeps accounts in Directory Services; creating one takes sysadminctl
// and more policy than this package should guess.
const canCreateUsers = false

func createUser(ctx context.Context, name string) error {
	return errors.ErrUnsupported
}

// passwdShell returns name's login shell from Directory Services, where
// macOS keeps regular accounts, falling back to /etc/passwd, or "" when
// neither knows it.
func passwdShell(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/dscl", ".", "-read", "/Users/"+name, "UserShell")
	cmd.Env = []string{"PATH=" + DefaultPath}
	if out, err := cmd.Output(); err == nil {
		// "UserShell: /bin/zsh"
		if _, sh, ok := strings.Cut(strings.TrimSpace(string(out)), ":"); ok {
			if sh = strings.TrimSpace(sh); sh != "" {
				return sh
			}
		}
	}
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		if sh, ok := parsePasswdShell(string(b), name); ok {
			return sh
		}
	}
	return ""
}
