//go:build windows

package agentcli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/postern/postern/cli"
)

// serviceName is the agent's Windows service.
const serviceName = "postern-agent"

// systemDir is where the agent keeps its identity when it runs as an
// administrator (or as the service, LocalSystem).
func systemDir() (string, bool) {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "Postern", "agent"), windows.GetCurrentProcessToken().IsElevated()
}

// asService runs run under the service control manager when this process
// is the service (the service's command line says so: the manager's
// parent-process heuristic, svc.IsWindowsService, fails under Wine): Stop
// and Shutdown end run's context. Otherwise it runs run as it is.
func asService(ctx context.Context, service bool, run func(context.Context) error) error {
	if !service {
		if is, err := svc.IsWindowsService(); err != nil || !is {
			return run(ctx)
		}
	}
	h := &serviceHandler{run: run, ctx: ctx}
	if err := svc.Run(serviceName, h); err != nil {
		return fmt.Errorf("the service: %w", err)
	}
	return h.err
}

type serviceHandler struct {
	ctx context.Context
	run func(context.Context) error
	err error // run's error, once Execute returned
}

func (h *serviceHandler) Execute(args []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			h.err = err
			if err != nil && !errors.Is(err, context.Canceled) {
				return true, 1 // the manager's recovery restarts it
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
			}
		}
	}
}

// platformCommands are Windows's: the service's, install and upgrade.
func platformCommands(dir *string) []*cobra.Command {
	return []*cobra.Command{serviceCmd(dir), installCmd(dir), upgradeCmd()}
}

// serviceCmd installs and removes the agent's Windows service.
func serviceCmd(dir *string) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Install or remove the agent's Windows service"}
	var shellProgram, server string
	install := &cobra.Command{
		Use:   "install",
		Short: "Install this executable as the postern-agent service (automatic start, restarted on failure) and start it",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			runArgs, err := installService(exe, *dir, shellProgram, server, func(w string) { fmt.Fprintf(c.ErrOrStderr(), "%s: note: %s\n", c.Root().Name(), w) })
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Installed and started the %s service: %s %v\n", serviceName, exe, runArgs)
			return nil
		},
	}
	install.Flags().StringVar(&shellProgram, "shell", "", "the program sessions without a command start (run's --shell)")
	install.Flags().StringVar(&server, "server", "", "run's --server")
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the postern-agent service (the identity stays)",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			m, err := mgr.Connect()
			if err != nil {
				return fmt.Errorf("the service manager (run as an administrator): %w", err)
			}
			defer m.Disconnect()
			s, err := m.OpenService(serviceName)
			if err != nil {
				return fmt.Errorf("the service %s: %w", serviceName, err)
			}
			defer s.Close()
			if err := stopService(s); err != nil {
				fmt.Fprintf(c.ErrOrStderr(), "%s: note: stopping the service: %v (it is removed all the same)\n", c.Root().Name(), err)
			}
			if err := s.Delete(); err != nil {
				return fmt.Errorf("remove the service: %w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "Removed the %s service.\n", serviceName)
			return nil
		},
	}
	cmd.AddCommand(install, uninstall)
	return cmd
}

// serviceExists reports whether the agent's service is installed.
func serviceExists() (bool, error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, fmt.Errorf("the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return false, nil
	}
	s.Close()
	return true, nil
}

// installService creates the service running exe with run's arguments
// (automatic start, restarted after a failure, as systemd's
// Restart=always) and starts it.
func installService(exe, dir, shellProgram, server string, warn func(string)) ([]string, error) {
	runArgs := []string{"run", "--" + serviceFlag, "--dir", dir}
	if shellProgram != "" {
		runArgs = append(runArgs, "--shell", shellProgram)
	}
	if server != "" {
		runArgs = append(runArgs, "--server", server)
	}
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return nil, fmt.Errorf("the service %s exists already: `postern-agent service uninstall` first", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: "Postern agent",
		Description: "Dials out to a Postern server and runs the sessions it is asked for on this node.",
		StartType:   mgr.StartAutomatic,
	}, runArgs...)
	if err != nil {
		return nil, fmt.Errorf("create the service: %w", err)
	}
	defer s.Close()
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: 2 * time.Second}, {Type: mgr.ServiceRestart, Delay: 2 * time.Second}, {Type: mgr.ServiceRestart, Delay: 10 * time.Second}}, 86400); err != nil {
		s.Delete()
		return nil, fmt.Errorf("the service's recovery: %w", err)
	}
	// The agent stopping with an error (Execute's exit code) counts as a
	// failure too, not only a crash. Wine's service manager does not
	// know the setting: said, not fatal.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		warn(fmt.Sprintf("the service is restarted after a crash, but not after the agent stops with an error: %v", err))
	}
	if err := s.Start(); err != nil {
		s.Delete()
		return nil, fmt.Errorf("start the service: %w", err)
	}
	return runArgs, nil
}
