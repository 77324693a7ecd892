// Package shell starts users' login shells and commands in a pseudo-terminal
// as a chosen OS user. It is what the Postern agent runs for a session: the
// agent relays the PTY's output to the server, which records it, and feeds
// the user's keystrokes and window size changes back in.
//
// The child gets its own session with the PTY as controlling terminal, so job
// control and Ctrl-C behave as in any terminal. It starts from a small, clean
// environment rather than the agent's, which may hold secrets.
//
// Running as a user other than the agent's own requires the agent to run as
// root. A user that does not exist is refused; there is never a fallback to
// another account. EnsureUser creates the default unprivileged session user
// (like Session Manager's ssm-user) when the node lacks it.
//
// Pseudo-terminals are supported on Linux and macOS. Elsewhere the package
// compiles, and Start and EnsureUser fail with an error matching
// ErrUnsupported.
package shell

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/postern/postern/lazyregexp"
)

// Spec describes what to start.
type Spec struct {
	// User is the OS user to run as; "" means the agent's own user. Running
	// as another user requires the agent to be root.
	User string

	// Command is the program and its arguments. A program name without a
	// slash is looked up in the child's PATH, not the agent's. Nil means the
	// user's login shell from the passwd entry (falling back to /bin/bash,
	// then /bin/sh), started as a login shell: argv[0] prefixed with "-".
	Command []string

	// Env holds extra KEY=VALUE entries applied on top of the clean base
	// environment (HOME, USER, LOGNAME, SHELL, PATH, TERM and the agent's
	// LANG). Later entries win.
	Env []string

	// Shell, on Windows, is the program started when Command is nil
	// (looked up in the session's PATH); "" means Windows PowerShell, or
	// cmd.exe (%ComSpec%) where there is none. Elsewhere the user's login
	// shell is started and Shell is not used.
	Shell string

	// Dir is the working directory; "" means the user's home directory, or
	// / when that does not exist.
	Dir string

	// Cols and Rows are the initial window size; 0 means 80 columns or 24
	// rows.
	Cols, Rows uint16

	// Term is the TERM value; "" means "xterm-256color".
	Term string

	// Integration asks for shell integration in a login shell (Command
	// nil) with a terminal: bash then marks its prompts and commands with
	// OSC 133 sequences, which the recorder turns into command events. It
	// starts as `bash --rcfile INTEGRATION -i`, which reads the login
	// startup files itself. Other shells start as they would without it.
	Integration bool
}

// Defaults for Spec's zero values.
const (
	DefaultTerm = "xterm-256color"
	DefaultCols = 80
	DefaultRows = 24

	// DefaultPath is the child's PATH unless Spec.Env sets one. It includes
	// the sbin directories because root sessions expect them.
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Errors callers branch on; test with errors.Is.
var (
	// ErrUnsupported is returned on platforms without pseudo-terminal
	// support. It also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("shell: pseudo-terminal sessions are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

	// ErrUnknownUser is matched by the error returned when Spec.User or the
	// name given to EnsureUser does not exist on this node.
	ErrUnknownUser = errors.New("shell: no such user")

	// ErrInvalidUserName is matched by the error EnsureUser returns for a
	// name it would not create.
	ErrInvalidUserName = errors.New("shell: invalid user name")
)

// Timings, variables so that tests can shorten them.
var (
	// hangupGrace is how long Close (or the end of Start's context) leaves a
	// hung-up process to exit before killing its process group.
	hangupGrace = 2 * time.Second

	// drainWindow is how long Read keeps waiting for output after the
	// process has exited. The PTY reports end of file by itself only once
	// every process holding the terminal has closed it; a background job
	// that outlived the shell would otherwise keep readers blocked forever.
	drainWindow = 200 * time.Millisecond
)

// unknownUserError reports a user that does not exist, in words an operator
// can act on, while matching ErrUnknownUser.
type unknownUserError struct{ name string }

func (e *unknownUserError) Error() string {
	return fmt.Sprintf("shell: user %q does not exist on this node", e.name)
}

func (e *unknownUserError) Is(target error) bool { return target == ErrUnknownUser }

// userNameRE is the portable subset of names useradd and busybox adduser
// accept. It rules out anything an option parser could take for a flag and
// anything numeric, which tools might read as a uid.
var userNameRE = lazyregexp.New(`^[a-z_][a-z0-9_-]{0,31}$`)

// validUserName reports whether EnsureUser would create a user called name.
// Start accepts any existing user; this only restricts what gets created.
func validUserName(name string) bool { return userNameRE.MatchString(name) }

// baseEnv returns the child's environment: the base entries followed by extra,
// with later entries for the same key replacing earlier ones in place. It
// returns an error for an entry that is not KEY=VALUE.
func baseEnv(home, username, loginShell, term, lang string, extra []string) ([]string, error) {
	if term == "" {
		term = DefaultTerm
	}
	env := []string{
		"HOME=" + home,
		"USER=" + username,
		"LOGNAME=" + username,
		"SHELL=" + loginShell,
		"PATH=" + DefaultPath,
		"TERM=" + term,
	}
	if lang != "" {
		env = append(env, "LANG="+lang)
	}
	for _, kv := range extra {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("shell: bad environment entry %q: want KEY=VALUE", kv)
		}
		env = append(env, kv)
	}
	return dedupEnv(env), nil
}

// dedupEnv keeps the last value for each key, at the position of the key's
// first occurrence. os/exec would also keep the last, but doing it here
// gives the child one well-defined environment and keeps tests exact.
func dedupEnv(env []string) []string {
	index := make(map[string]int, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// lookupEnv returns the value of the last entry for key in env.
func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == key {
			return v
		}
	}
	return ""
}

// workDir returns dir, or home when dir is empty, or / when home is not a
// directory (system accounts often point at a home that was never created).
func workDir(dir, home string) string {
	if dir != "" {
		return dir
	}
	if home != "" {
		if fi, err := os.Stat(home); err == nil && fi.IsDir() {
			return home
		}
	}
	return "/"
}
