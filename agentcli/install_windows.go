//go:build windows

package agentcli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/cli"
)

// installCmd is what the Windows install command (nodeinstall's
// WindowsCommand) runs once it has checked this executable's SHA-256:
// register, copy to Program Files, install and start the service.
func installCmd(dir *string) *cobra.Command {
	var ro agent.RegisterOptions
	var tags []string
	var shellProgram, programDir string
	cmd := &cobra.Command{
		Use:   "install --server URL --code CODE --id ID [--ca-pin PIN]",
		Short: "Register this node, copy the agent to Program Files and install its service (as an administrator)",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			if ro.Server == "" || ro.Code == "" || ro.ID == "" {
				return cli.Usagef("%s needs --server, --code and --id (from `postern activations create`)", c.CommandPath())
			}
			if !windows.GetCurrentProcessToken().IsElevated() {
				return errors.New("install needs an administrator (PowerShell: Run as administrator): it installs a service; nothing was installed")
			}
			t, err := cli.ParseTags(tags)
			if err != nil {
				return err
			}
			ro.Tags, ro.Dir = t, *dir
			if _, err := os.Stat(filepath.Join(*dir, "identity.json")); err == nil {
				return fmt.Errorf("this node is already registered (%s): to register it again, `postern-agent service uninstall`, deregister it and remove %s; nothing was installed", filepath.Join(*dir, "identity.json"), *dir)
			}
			if programDir == "" {
				pf := os.Getenv("ProgramFiles")
				if pf == "" {
					pf = `C:\Program Files`
				}
				programDir = filepath.Join(pf, "Postern")
			}
			exe := filepath.Join(programDir, "postern-agent.exe")
			// What can be checked here is, before the activation is
			// spent.
			if exists, err := serviceExists(); err != nil {
				return fmt.Errorf("%w; nothing was installed", err)
			} else if exists {
				return fmt.Errorf("the %s service exists already: `postern-agent service uninstall` first; nothing was installed", serviceName)
			}
			// Undone in reverse if a later step fails.
			var undo []func()
			fail := func(err error) error {
				for i := len(undo) - 1; i >= 0; i-- {
					undo[i]()
				}
				return err
			}
			id, err := agent.Register(c.Context(), ro)
			if err != nil {
				return fmt.Errorf("%w; nothing was installed", err)
			}
			undo = append(undo, func() {
				removeIdentity(*dir, id)
				fmt.Fprintf(c.ErrOrStderr(), "%s: the server has node %s registered all the same: deregister it (postern nodes deregister %s) and use a new activation\n", c.Root().Name(), id.NodeID, id.NodeID)
			})
			created, err := copySelf(exe)
			if err != nil {
				return fail(err)
			}
			if created {
				undo = append(undo, func() { os.Remove(exe) })
			}
			if _, err := installService(exe, *dir, shellProgram, "", func(w string) { fmt.Fprintf(c.ErrOrStderr(), "%s: note: %s\n", c.Root().Name(), w) }); err != nil {
				return fail(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "Registered this node as %s (name %s); the agent is %s, its identity in %s; the %s service is running.\n", id.NodeID, cli.Printable(id.Name), exe, *dir, serviceName)
			return nil
		},
	}
	f := cmd.Flags()
	registrationFlags(f, &ro, &tags)
	f.StringVar(&shellProgram, "shell", "", "the program sessions without a command start (default: PowerShell)")
	f.StringVar(&programDir, "program-dir", "", `where the agent is copied (default: %ProgramFiles%\Postern)`)
	return cmd
}

// removeIdentity removes the files Register wrote in dir, and dir if that
// leaves it empty.
func removeIdentity(dir string, id agent.Identity) {
	for _, f := range []string{"identity.json", id.KeyFile, id.CertFile, id.CAFile} {
		if f != "" {
			os.Remove(filepath.Join(dir, f))
		}
	}
	os.Remove(dir) // fails, as it should, if anything else is there
}

// copySelf copies this executable to dst (through a temporary file and a
// rename), unless it is dst; it reports whether it made dst.
func copySelf(dst string) (bool, error) {
	self, err := os.Executable()
	if err != nil {
		return false, err
	}
	if strings.EqualFold(filepath.Clean(self), filepath.Clean(dst)) {
		return false, nil
	}
	return copyFile(self, dst)
}
