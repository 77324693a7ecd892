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

// serviceCmd is nil: the Windows service manager's commands exist on
// Windows only.
func serviceCmd(dir *string) *cobra.Command { return nil }
