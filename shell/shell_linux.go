//go:build linux

package shell

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ioctlGetTermios reads a terminal's attributes. On the master side of a
// Linux PTY it returns the slave's, which are the ones programs change.
const ioctlGetTermios = unix.TCGETS

const canCreateUsers = true

// createUser adds a local user called name with useradd, or busybox adduser
// where shadow's tools are missing (Alpine). The name has been validated, so
// it cannot be mistaken for an option.
func createUser(ctx context.Context, name string) error {
	sh := "/bin/sh"
	if isExecutable("/bin/bash") {
		sh = "/bin/bash"
	}
	var args []string
	path, err := lookPath("useradd", DefaultPath)
	if err == nil {
		// --user-group rather than the login.defs default, which on some
		// systems puts new users in a shared group. No --groups: the user
		// must not land in sudo, wheel or adm.
		args = []string{"--create-home", "--user-group", "--shell", sh, name}
	} else if path, err = lookPath("adduser", DefaultPath); err == nil {
		// -D: no password. busybox adduser creates the home and a group of
		// the same name by default.
		args = []string{"-D", "-s", sh, name}
	} else {
		return fmt.Errorf("shell: create user %q: neither useradd nor adduser found in %s", name, DefaultPath)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=" + DefaultPath}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("shell: create user %q: %s: %w: %s", name, filepath.Base(path), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// passwdShell returns the login shell in name's passwd entry, or "" when it
// cannot be found. getent goes through NSS (LDAP, SSSD) as login would;
// /etc/passwd is the fallback for systems without it.
func passwdShell(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if path, err := lookPath("getent", DefaultPath); err == nil {
		cmd := exec.CommandContext(ctx, path, "passwd", name)
		cmd.Env = []string{"PATH=" + DefaultPath}
		if out, err := cmd.Output(); err == nil {
			if sh, ok := parsePasswdShell(string(out), name); ok {
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
