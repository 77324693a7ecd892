//go:build windows

package agentcli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/cli"
)

// serviceWait bounds how long upgrade waits for the service to stop, and
// then to run.
const serviceWait = 60 * time.Second

// upgradeCmd replaces the installed agent (the service's program) with
// this executable and restarts the service; install.ps1 -Upgrade runs it
// once it has checked this executable's SHA-256. The node's identity and
// the service's settings stay as they are.
func upgradeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade",
		Short: "Replace the agent the postern-agent service runs with this executable, and restart the service (as an administrator)",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			if !windows.GetCurrentProcessToken().IsElevated() {
				return errors.New("upgrade needs an administrator (PowerShell: Run as administrator): it restarts a service; nothing was changed")
			}
			m, err := mgr.Connect()
			if err != nil {
				return fmt.Errorf("the service manager: %w; nothing was changed", err)
			}
			defer m.Disconnect()
			s, err := m.OpenService(serviceName)
			if err != nil {
				return fmt.Errorf("the %s service is not installed (install it with the node install command): %w; nothing was changed", serviceName, err)
			}
			defer s.Close()
			cmdline, err := serviceCommandLine(s)
			if err != nil {
				return fmt.Errorf("the %s service's settings: %w; nothing was changed", serviceName, err)
			}
			exe := servicePath(cmdline)
			if exe == "" {
				return fmt.Errorf("the %s service runs %q, not an agent this can replace; nothing was changed", serviceName, cmdline)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if strings.EqualFold(filepath.Clean(self), filepath.Clean(exe)) {
				return fmt.Errorf("this is the installed agent (%s): run upgrade from the new build; nothing was changed", exe)
			}
			warn := func(format string, args ...any) {
				fmt.Fprintf(c.ErrOrStderr(), "%s: "+format+"\n", append([]any{c.Root().Name()}, args...)...)
			}
			if err := swapAgent(exe, self, func() error { return stopService(s) }, func() error { return startService(s) }, warn); err != nil {
				return fmt.Errorf("upgrade the %s service: %w", serviceName, err)
			}
			fmt.Fprintf(c.OutOrStdout(), "Upgraded the %s service to postern-agent %s (%s); it is running.\n", serviceName, agent.Version, exe)
			return nil
		},
	}
}

// serviceCommandLine is the command line s runs. (mgr's Config also asks
// for settings Wine's service manager does not have.)
func serviceCommandLine(s *mgr.Service) (string, error) {
	var need uint32
	err := windows.QueryServiceConfig(s.Handle, nil, 0, &need)
	if err != windows.ERROR_INSUFFICIENT_BUFFER {
		return "", err
	}
	buf := make([]byte, need)
	cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
	if err := windows.QueryServiceConfig(s.Handle, cfg, need, &need); err != nil {
		return "", err
	}
	return windows.UTF16PtrToString(cfg.BinaryPathName), nil
}

// servicePath is the program of a service's command line: its first word,
// quoted or not, when it is an .exe.
func servicePath(cmdline string) string {
	cmdline = strings.TrimSpace(cmdline)
	var exe string
	if rest, ok := strings.CutPrefix(cmdline, `"`); ok {
		exe, _, _ = strings.Cut(rest, `"`)
	} else {
		exe, _, _ = strings.Cut(cmdline, " ")
	}
	if !strings.EqualFold(filepath.Ext(exe), ".exe") || !filepath.IsAbs(exe) {
		return ""
	}
	return exe
}

// stopService stops s and waits until it has.
func stopService(s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return err
	}
	if st.State != svc.Stopped && st.State != svc.StopPending {
		if st, err = s.Control(svc.Stop); err != nil {
			return err
		}
	}
	return waitState(s, st, svc.Stopped)
}

// startService starts s and waits until it runs.
func startService(s *mgr.Service) error {
	if err := s.Start(); err != nil {
		return err
	}
	st, err := s.Query()
	if err != nil {
		return err
	}
	return waitState(s, st, svc.Running)
}

func waitState(s *mgr.Service, st svc.Status, want svc.State) error {
	deadline := time.Now().Add(serviceWait)
	for st.State != want {
		if st.State == svc.Stopped && want == svc.Running {
			return fmt.Errorf("it stopped (exit code %d, service code %d)", st.Win32ExitCode, st.ServiceSpecificExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still in state %d after %v", st.State, serviceWait)
		}
		time.Sleep(200 * time.Millisecond)
		var err error
		if st, err = s.Query(); err != nil {
			return err
		}
	}
	return nil
}
