//go:build !windows

package agentcli

import (
	"context"
	"os"

	"github.com/spf13/cobra"
)

// systemDir is where the agent keeps its identity when it runs as root.
func systemDir() (string, bool) { return "/var/lib/postern-agent", os.Geteuid() == 0 }

// asService runs run: services here are systemd's or launchd's, which
// start the agent as any other program.
func asService(ctx context.Context, service bool, run func(context.Context) error) error {
	return run(ctx)
}

// platformCommands are none: the Windows service's and install exist on
// Windows only (Linux and macOS nodes install with install.sh or a
// package).
func platformCommands(dir *string) []*cobra.Command { return nil }
