package agentcli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// swapAgent puts the agent newExe in the place of the installed agent exe,
// the service stopped around it (stop, start): the installed one is set
// aside as exe.old until the new one runs, and put back and started if
// the new one does not start. The error says what state it left. It is
// the Windows upgrade's, and portable so that its steps are tested
// everywhere.
func swapAgent(exe, newExe string, stop, start func() error, warn func(format string, args ...any)) error {
	old := exe + ".old"
	// An upgrade cut short (killed) between setting the agent aside and
	// putting the new one in its place left the agent only at old: put
	// it back before anything, never remove it below.
	if _, err := os.Stat(exe); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(old, exe); err != nil {
			return fmt.Errorf("the installed agent %s is missing, and so is the one an earlier upgrade set aside: %w; nothing was changed", exe, err)
		}
		warn("put back the previous agent, which an upgrade cut short had left at %s", old)
	}
	if err := stop(); err != nil {
		return fmt.Errorf("stop the service: %w; nothing was changed", err)
	}
	os.Remove(old)
	if err := os.Rename(exe, old); err != nil {
		if serr := start(); serr != nil {
			warn("starting the service again: %v", serr)
		}
		return fmt.Errorf("set the installed agent aside: %w; nothing was changed", err)
	}
	restore := func(why error) error {
		os.Remove(exe)
		if err := os.Rename(old, exe); err != nil {
			return fmt.Errorf("%w; putting the previous agent back failed too (%v): it is %s", why, err, old)
		}
		if err := start(); err != nil {
			return fmt.Errorf("%w; the previous agent is back in place but did not start: %v", why, err)
		}
		return fmt.Errorf("%w; the previous agent is back in place and running", why)
	}
	if _, err := copyFile(newExe, exe); err != nil {
		return restore(err)
	}
	if err := start(); err != nil {
		stop()
		return restore(fmt.Errorf("the new agent did not start: %w", err))
	}
	if err := os.Remove(old); err != nil {
		warn("the previous agent is left at %s: %v", old, err)
	}
	return nil
}

// copyFile copies src to dst (through a temporary file and a rename); it
// reports whether it made dst.
func copyFile(src, dst string) (bool, error) {
	_, statErr := os.Stat(dst)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, fmt.Errorf("install the agent: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("install the agent: %w", err)
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return false, fmt.Errorf("install the agent: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return false, fmt.Errorf("install the agent: %w", err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("install the agent: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("install the agent: %w", err)
	}
	return os.IsNotExist(statErr), nil
}
