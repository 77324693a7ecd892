//go:build linux || darwin

package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process is a program running in a pseudo-terminal. Read, Write, Resize
// and Echo may be called concurrently with each other and with Wait and
// Close. Callers must call Close to release the terminal.
type Process struct {
	cmd    *exec.Cmd
	master *os.File
	// conn is the master's raw connection. All ioctls and non-blocking
	// reads go through it: (*os.File).Fd would switch the master back to
	// blocking mode, after which Close and deadlines no longer interrupt a
	// blocked Read.
	conn syscall.RawConn

	exited   chan struct{} // closed once the process has been reaped
	exitCode int           // set before exited is closed
	waitErr  error         // set before exited is closed

	// draining is set drainWindow after the process exited. From then on
	// Read returns what the terminal has buffered without waiting for more,
	// and io.EOF once the buffer is empty.
	draining     atomic.Bool
	drainStarted chan struct{} // closed when draining is set

	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
}

// Start starts s in a new pseudo-terminal.
//
// ctx bounds the process's life: when it is done before the process exits,
// the process is hung up as by Close (SIGHUP to its process group, SIGKILL if
// it lingers), but the terminal stays open so that its final output can be
// read; Close must still be called.
func Start(ctx context.Context, s Spec) (*Process, error) {
	pr, err := prepare(ctx, s, true)
	if err != nil {
		return nil, err
	}
	path, argv, env, cred := pr.path, pr.argv, pr.env, pr.cred

	cols, rows := s.Cols, s.Rows
	if cols == 0 {
		cols = DefaultCols
	}
	if rows == 0 {
		rows = DefaultRows
	}
	master, slave, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("shell: start %s: %w", argv[0], err)
	}
	p := &Process{
		master:       master,
		exited:       make(chan struct{}),
		drainStarted: make(chan struct{}),
		closing:      make(chan struct{}),
	}
	if p.conn, err = master.SyscallConn(); err == nil {
		err = p.Resize(cols, rows)
	}
	if err == nil && cred != nil {
		err = giveTerminal(slave, cred)
	}
	if err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("shell: start %s: %w", argv[0], err)
	}

	childrenHearHangup()
	p.cmd = &exec.Cmd{
		Path:   path,
		Args:   argv,
		Env:    env,
		Dir:    pr.dir,
		Stdin:  slave,
		Stdout: slave,
		Stderr: slave,
		SysProcAttr: &syscall.SysProcAttr{
			// A session of its own with the PTY (the child's fd 0) as
			// controlling terminal: that is what makes Ctrl-C reach the
			// foreground job and lets the shell do job control.
			Setsid:     true,
			Setctty:    true,
			Ctty:       0,
			Credential: cred,
		},
	}
	err = p.cmd.Start()
	// The child has its own copies now. Ours must go, or the master would
	// never see end of file once the child is gone.
	slave.Close()
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("shell: start %s: %w", argv[0], err)
	}

	stop := context.AfterFunc(ctx, p.hangup)
	go p.wait(stop)
	return p, nil
}

// prepared is what starting a Spec resolves to, with or without a
// terminal.
type prepared struct {
	path string
	argv []string
	env  []string
	dir  string
	cred *syscall.Credential // nil: run as the agent's own user
}

// prepare resolves the user, environment and program of s. Without a
// terminal (tty false) the environment has no TERM unless s asks for one.
func prepare(ctx context.Context, s Spec, tty bool) (prepared, error) {
	if err := ctx.Err(); err != nil {
		return prepared{}, fmt.Errorf("shell: start: %w", err)
	}
	u, err := lookupUser(s.User)
	if err != nil {
		return prepared{}, err
	}
	cred, err := credential(u, os.Geteuid())
	if err != nil {
		return prepared{}, err
	}
	loginShell := loginShellFor(ctx, u.Username)
	env, err := baseEnv(u.HomeDir, u.Username, loginShell, s.Term, os.Getenv("LANG"), s.Env)
	if err != nil {
		return prepared{}, err
	}
	if !tty && s.Term == "" && lookupEnv(s.Env, "TERM") == "" {
		// Programs that see TERM assume a terminal to draw on.
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") })
	}
	pr := prepared{env: env, dir: workDir(s.Dir, u.HomeDir), cred: cred}
	if s.Command == nil {
		pr.path = loginShell
		// The leading "-" is how login(1) and sshd tell a shell it is a
		// login shell, so it reads /etc/profile and the user's profile.
		pr.argv = []string{"-" + filepath.Base(loginShell)}
		if !s.Integration || !tty {
			return pr, nil
		}
		dir, err := integration()
		if err != nil {
			return pr, nil // a session without command events, not none
		}
		switch filepath.Base(loginShell) {
		case "bash":
			// Bash ignores --rcfile as a login shell; the rcfile reads
			// the login startup files instead.
			pr.argv = []string{"bash", "--rcfile", filepath.Join(dir, "bash-integration.sh"), "-i"}
		case "zsh":
			// zsh reads its startup files from ZDOTDIR; ours read the
			// user's, from where the user keeps them.
			if zd := lookupEnv(pr.env, "ZDOTDIR"); zd != "" {
				pr.env = append(pr.env, "__POSTERN_USER_ZDOTDIR="+zd)
			}
			pr.env = append(slices.DeleteFunc(pr.env, func(kv string) bool { return strings.HasPrefix(kv, "ZDOTDIR=") }),
				"ZDOTDIR="+filepath.Join(dir, "zsh"))
		}
		return pr, nil
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		return prepared{}, errors.New("shell: start: empty command")
	}
	pr.path, err = lookPath(s.Command[0], lookupEnv(env, "PATH"))
	if err != nil {
		return prepared{}, fmt.Errorf("shell: start %s: %w", s.Command[0], err)
	}
	pr.argv = s.Command
	return pr, nil
}

// wait reaps the process, then lets readers drain its output.
func (p *Process) wait(stopCtx func() bool) {
	p.exitCode, p.waitErr = exitStatus(p.cmd.Wait())
	stopCtx()
	close(p.exited)

	// Output written before the exit is in the terminal's buffer and Read
	// returns it either way. Waiting a little before no longer blocking for
	// more gives background jobs' last words a chance too.
	t := time.NewTimer(drainWindow)
	select {
	case <-t.C:
	case <-p.closing:
		t.Stop()
	}
	p.draining.Store(true)
	// A deadline in the past wakes any Read blocked on the master; it then
	// sees draining and switches to non-blocking reads. The error is
	// os.ErrClosed after Close, when there is nothing left to wake.
	_ = p.master.SetReadDeadline(time.Now())
	close(p.drainStarted)
}

// exitStatus turns cmd.Wait's result into a shell-style exit code.
func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, fmt.Errorf("shell: wait: %w", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}

// Read reads the terminal's output. Once the process has exited and
// everything it wrote has been read, Read returns io.EOF; it also returns
// io.EOF after Close. Processes that outlive the shell and keep the terminal
// open are read for a short while after the exit, then cut off.
func (p *Process) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if p.draining.Load() {
			return p.readNonblocking(b)
		}
		n, err := p.master.Read(b)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && n == 0 && p.draining.Load() {
			continue // woken by wait to drain
		}
		return n, p.readError(err)
	}
}

// ReadBuffered reads what the terminal has already buffered, without
// waiting: 0 and no error when there is nothing (or the output has ended;
// the next Read reports that). After a Read, it lets a reader gather a
// burst of output, which the terminal hands out at most 4 KiB at a time,
// into one larger piece.
func (p *Process) ReadBuffered(b []byte) (int, error) {
	if len(b) == 0 || p.draining.Load() {
		return 0, nil
	}
	n, err := p.readNonblocking(b)
	if err == io.EOF {
		return 0, nil
	}
	return n, err
}

// readNonblocking reads what the terminal has buffered, without waiting for
// more. The master is in non-blocking mode, so a read with nothing to return
// fails with EAGAIN instead of blocking.
func (p *Process) readNonblocking(b []byte) (int, error) {
	return readNonblocking(p.conn, b, p.readError)
}

// readNonblocking reads from a non-blocking descriptor what is there now:
// io.EOF when nothing is (EAGAIN) or the other end has closed; other
// errors go through readError.
func readNonblocking(conn syscall.RawConn, b []byte, readError func(error) error) (int, error) {
	var n int
	var rerr error
	if err := conn.Control(func(fd uintptr) {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, readError(err)
	}
	switch {
	case rerr == unix.EAGAIN:
		return 0, io.EOF
	case rerr != nil:
		return 0, readError(rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readError maps the ways a PTY master says "no more output" to io.EOF.
// Linux reports EIO once every holder of the slave side has closed it.
// After Close, reads fail in ways that depend on where they were (the raw
// connection reports poll's unexported "use of closed file"); all are EOF.
func (p *Process) readError(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-p.closing:
		return io.EOF
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrClosed) {
		return io.EOF
	}
	return fmt.Errorf("shell: read: %w", err)
}

// Write writes b to the terminal, as if typed.
func (p *Process) Write(b []byte) (int, error) {
	n, err := p.master.Write(b)
	if err != nil {
		return n, fmt.Errorf("shell: write: %w", err)
	}
	return n, nil
}

// Resize sets the terminal's window size. The kernel signals SIGWINCH to the
// foreground job.
func (p *Process) Resize(cols, rows uint16) error {
	ws := &unix.Winsize{Col: cols, Row: rows}
	var ierr error
	if err := p.conn.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	}); err != nil {
		ierr = err
	}
	if ierr != nil {
		return fmt.Errorf("shell: resize to %dx%d: %w", cols, rows, ierr)
	}
	return nil
}

// Echo reports whether the terminal currently echoes input, which is the
// usual signal that what is typed is not a secret: password prompts turn
// echo off. It reports false when the terminal cannot be queried, so that a
// caller deciding whether to record input fails closed.
//
// Shells with line editing (bash's readline, zsh's zle) also turn echo off
// while they read a command line and draw the typed characters themselves,
// so at such a prompt Echo reports false; what was typed then shows up in the
// output instead.
func (p *Process) Echo() bool {
	echo, _, err := p.Modes()
	return err == nil && echo
}

// Modes reports whether the terminal echoes input and whether it reads
// whole lines (canonical mode). A prompt for a secret reads a line without
// echo; line editors (readline, zle) and programs that relay keys elsewhere
// (ssh, docker exec) read each key without echo and draw what they like.
func (p *Process) Modes() (echo, canonical bool, err error) {
	var t *unix.Termios
	var ierr error
	if err := p.conn.Control(func(fd uintptr) {
		t, ierr = unix.IoctlGetTermios(int(fd), ioctlGetTermios)
	}); err != nil || ierr != nil {
		return false, false, fmt.Errorf("shell: terminal modes: %w", errors.Join(err, ierr))
	}
	return t.Lflag&unix.ECHO != 0, t.Lflag&unix.ICANON != 0, nil
}

// Wait waits for the process to exit and returns its exit code, or 128 plus
// the signal number if a signal killed it. The error is only for failures to
// wait, not for non-zero exits. Wait may be called more than once.
func (p *Process) Wait() (exitCode int, err error) {
	<-p.exited
	return p.exitCode, p.waitErr
}

// Signal sends sig to the process (not its process group; Ctrl-C written
// to the terminal reaches the foreground job). After the process has exited
// it returns an error matching os.ErrProcessDone.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("shell: signal %v to pid %d: %w", sig, p.cmd.Process.Pid, err)
	}
	return nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Close hangs up: it sends SIGHUP to the process group, closes the terminal
// (unread output is discarded) and, if the process is still there after a
// short grace period, kills the group. It returns once the process has
// exited or the grace after the kill has passed too. Close is idempotent.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.signalGroup(unix.SIGHUP)
		if err := p.master.Close(); err != nil {
			p.closeErr = fmt.Errorf("shell: close terminal: %w", err)
		}
		p.killAfterGrace()
	})
	return p.closeErr
}

// hangup is Close without closing the terminal, for the end of Start's
// context.
func (p *Process) hangup() {
	p.signalGroup(unix.SIGHUP)
	p.killAfterGrace()
}

func (p *Process) killAfterGrace()             { killAfterGrace(p.cmd.Process.Pid, p.exited) }
func (p *Process) signalGroup(sig unix.Signal) { signalGroup(p.cmd.Process.Pid, p.exited, sig) }

// killAfterGrace waits hangupGrace for the process to exit after a polite
// signal, then kills its group and waits as long again.
func killAfterGrace(pid int, exited <-chan struct{}) {
	t := time.NewTimer(hangupGrace)
	defer t.Stop()
	select {
	case <-exited:
		return
	case <-t.C:
	}
	signalGroup(pid, exited, unix.SIGKILL)
	t.Reset(hangupGrace)
	select {
	case <-exited:
	case <-t.C:
	}
}

// signalGroup sends sig to the process group the child pid leads (Setsid
// made it leader of a new session and group, so the group id is its pid).
// Any signal but SIGKILL is followed by SIGCONT, as the kernel does on
// hangup, so that stopped jobs act on it.
//
// Once the child has been reaped (exited is closed) its pid may be reused,
// and -pid might then name a stranger's group; so nothing is sent after
// that. The window between the check and the kill is a few instructions
// against the kernel cycling through the whole pid space.
func signalGroup(pid int, exited <-chan struct{}, sig unix.Signal) {
	select {
	case <-exited:
		return
	default:
	}
	if err := unix.Kill(-pid, sig); err == unix.ESRCH {
		// No group yet: the child is between fork and its setsid (a
		// hang-up right after the start). It is not reaped (exited is
		// open), so pid is still it; the signal waits for it there.
		_ = unix.Kill(pid, sig)
	}
	if sig != unix.SIGKILL && sig != unix.SIGCONT {
		_ = unix.Kill(-pid, unix.SIGCONT)
	}
}

// lookupUser resolves the user to run as; "" is the agent's own user.
func lookupUser(name string) (*user.User, error) {
	cur, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("shell: look up the agent's user: %w", err)
	}
	if name == "" || name == cur.Username {
		return cur, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, &unknownUserError{name}
		}
		return nil, fmt.Errorf("shell: look up user %q: %w", name, err)
	}
	return u, nil
}

// credential returns what the child must switch to in order to run as u, or
// nil when the agent (effective uid euid) already runs as u.
func credential(u *user.User, euid int) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("shell: user %q: bad uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("shell: user %q: bad gid %q", u.Username, u.Gid)
	}
	if uid == uint64(euid) {
		return nil, nil
	}
	if euid != 0 {
		return nil, fmt.Errorf("shell: cannot run as user %q: the agent runs as uid %d, and only root can start processes as another user", u.Username, euid)
	}
	// The user's own supplementary groups, so that group-shared files work
	// as after a normal login. Setting them also drops root's: an empty
	// list still clears the inherited ones (NoSetGroups stays false).
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("shell: groups of user %q: %w", u.Username, err)
	}
	groups := make([]uint32, 0, len(gids))
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("shell: user %q: bad group id %q", u.Username, g)
		}
		groups = append(groups, uint32(n))
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, nil
}

// giveTerminal makes the terminal device the user's, as login and sshd do:
// programs that reopen it by name (screen, mesg, write) otherwise fail with
// "permission denied" because it still belongs to the agent. Group tty with
// mode 0620 lets write(1) reach the user, the usual convention.
func giveTerminal(tty *os.File, cred *syscall.Credential) error {
	gid := int(cred.Gid)
	if g, err := user.LookupGroup("tty"); err == nil {
		if n, err := strconv.Atoi(g.Gid); err == nil {
			gid = n
		}
	}
	if err := tty.Chown(int(cred.Uid), gid); err != nil {
		return err
	}
	return tty.Chmod(0o620)
}

// loginShellFor returns the login shell to use for name: the one in its
// passwd entry if it is executable, else /bin/bash, else /bin/sh. A shell
// like /usr/sbin/nologin is honoured; it exists and refuses the session.
func loginShellFor(ctx context.Context, name string) string {
	if sh := passwdShell(ctx, name); sh != "" && isExecutable(sh) {
		return sh
	}
	for _, sh := range []string{"/bin/bash", "/bin/sh"} {
		if isExecutable(sh) {
			return sh
		}
	}
	return "/bin/sh"
}

// parsePasswdShell finds name's entry in passwd(5)-formatted data and
// returns its shell field.
func parsePasswdShell(data, name string) (string, bool) {
	for line := range strings.Lines(data) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(f) == 7 && f[0] == name {
			return f[6], f[6] != ""
		}
	}
	return "", false
}

// lookPath finds an executable like exec.LookPath, but in the given PATH
// value: the child's PATH, not the agent's, decides what a bare name means.
// Names with a slash are returned as they are (relative ones are taken
// relative to the working directory by exec).
func lookPath(file, pathEnv string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue // an empty entry means ".", which is not safe to honour
		}
		if p := filepath.Join(dir, file); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w in %s", exec.ErrNotFound, pathEnv)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
