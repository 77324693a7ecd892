//go:build !windows

package shell

import (
	"os"
	"os/user"
)

// Privileged reports whether the agent runs as root: it may then run
// sessions as other users and create ssm-user.
func Privileged() bool { return os.Geteuid() == 0 }

// IsRoot reports whether u is the superuser (uid 0, whatever its name),
// whom sessions run as only where the preferences allow it.
func IsRoot(u *user.User) bool { return u.Uid == "0" }
