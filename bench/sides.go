//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/postern/postern/api"
)

// side is one of the two systems under test, set up on loopback.
type side interface {
	name() string
	// command returns a client that runs argv on this machine in a
	// pseudo-terminal: a recorded `postern exec`, or `ssh -tt`.
	command(argv ...string) *exec.Cmd
	// login returns a client that opens an interactive login shell.
	login() *exec.Cmd
	// serverPID is the process whose CPU time, together with that of the
	// children it has reaped (per-connection processes, the remote
	// commands), is the server side's: `postern dev` (server and agent in
	// one process) or the sshd listener.
	serverPID() int
	// endSessions ends whatever sessions a killed client left running on
	// the server side (Postern keeps a session for its grace period).
	endSessions(ctx context.Context) error
	// awaitArtifacts waits until the session that just ended has its
	// recording's artifacts (Postern renders them after the session ends),
	// so their CPU time is counted; a no-op for sides that do not record.
	awaitArtifacts(ctx context.Context) error
	// verifyRecording checks the recording of the session that just ended
	// after sending output bytes; nil for sides that do not record.
	verifyRecording(ctx context.Context, output int64) (*recordingCheck, error)
	// startCPUProfile starts a CPU profile of the server process, and
	// stopCPUProfile stops it and returns it, keeping it in the temp dir
	// as name-N.pprof; nil for sides that do not record (their recording
	// costs nothing).
	startCPUProfile(ctx context.Context) error
	stopCPUProfile(ctx context.Context, name string) (*profile.Profile, error)
	// forwarder returns a client that listens on 127.0.0.1:local and
	// carries each connection to 127.0.0.1:target on this machine
	// (`postern forward`, `ssh -N -L`), and what it prints on stderr once
	// it accepts connections ("" when it prints nothing: then the port is
	// polled).
	forwarder(local, target int) (cmd *exec.Cmd, ready string)
}

// recordingCheck is what the benchmark found of a session's recording.
type recordingCheck struct {
	Session     string  `json:"session"`
	Status      string  `json:"status"`
	ExitCode    *int    `json:"exit_code"`
	Cast        string  `json:"cast"`
	CastBytes   int64   `json:"cast_bytes"`
	LogBytes    int64   `json:"log_bytes"`
	CastSeconds float64 `json:"cast_seconds"` // to render and download the .cast
	LogSeconds  float64 `json:"log_seconds"`
	OutputBytes int64   `json:"output_bytes"`
	Ratio       float64 `json:"cast_to_output_ratio"`
	Problem     string  `json:"problem,omitempty"`
}

// childEnv is the environment of every client and server the benchmark
// starts: the benchmark's own, with a throwaway HOME, the Postern CLI's
// home in the temp dir, a fixed TERM (ssh forwards the local one; Postern
// uses xterm-256color) and no ssh-agent (so ssh offers only the given
// key).
func childEnv(tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "POSTERN_HOME", "TERM", "SSH_AUTH_SOCK":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+tmp, "POSTERN_HOME="+filepath.Join(tmp, "home"), "TERM=xterm-256color")
}

// runQuick runs a short command to completion and returns its stdout.
// countOutput runs cmd and returns how many bytes it wrote to stdout and
// how long it ran.
func countOutput(ctx context.Context, reg *registry, name string, cmd *exec.Cmd) (int64, float64, error) {
	var n countingWriter
	cmd.Stdout = &n
	p, err := reg.start(name, cmd)
	if err != nil {
		return 0, 0, err
	}
	if err := p.wait(ctx, 10*time.Minute); err != nil {
		return 0, 0, fmt.Errorf("%s: %s", name, p.describe(err))
	}
	return int64(n), time.Since(p.start).Seconds(), nil
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

func runQuick(ctx context.Context, reg *registry, name string, cmd *exec.Cmd, timeout time.Duration) (string, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	p, err := reg.start(name, cmd)
	if err != nil {
		return "", err
	}
	if err := p.wait(ctx, timeout); err != nil {
		return out.String(), fmt.Errorf("%s: %s", name, p.describe(err))
	}
	return out.String(), nil
}

// ---- Postern ----

type posternSide struct {
	reg        *registry
	bin, node  string
	data, home string
	env        []string
	dev        *proc
	// debugAddr is postern dev's --debug-listen address, for CPU
	// profiles; empty when the binary has no such flag, as noProfiler
	// says.
	debugAddr, noProfiler string
	profiles              map[string]int // CPU profiles taken so far, by name
}

// startPostern runs `postern dev` on a free loopback port with its state in
// the temp dir, and its profiler on another (when the binary has one: an
// older build given with -postern may not), waits until it is ready and
// checks that a command runs on this machine's node.
func startPostern(ctx context.Context, reg *registry, tmp, bin string, extraEnv []string) (*posternSide, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname (the node's name): %w", err)
	}
	s := &posternSide{reg: reg, bin: bin, node: host, data: filepath.Join(tmp, "data"), home: filepath.Join(tmp, "home"), env: append(childEnv(tmp), extraEnv...)}
	// stderr goes straight to the log; stdout through the watcher below,
	// which appends it too (both descriptors are O_APPEND, so lines do not
	// overwrite each other).
	logPath := filepath.Join(tmp, "postern-dev.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	args := []string{"dev", "--listen", "127.0.0.1:0", "--data", s.data, "--quiet"}
	help, err := exec.CommandContext(ctx, bin, "dev", "--help").CombinedOutput()
	if err == nil && bytes.Contains(help, []byte("--debug-listen")) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.debugAddr = fmt.Sprintf("127.0.0.1:%d", port)
		args = append(args, "--debug-listen", s.debugAddr)
	} else {
		s.noProfiler = fmt.Sprintf("%s dev --help does not list --debug-listen", bin)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = w, logFile
	s.dev, err = reg.start("postern dev", cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	ready := make(chan string, 1)
	lf, _ := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if lf != nil {
				fmt.Fprintln(lf, line)
			}
			if url, ok := strings.CutPrefix(line, "postern dev ready: "); ok {
				select {
				case ready <- url:
				default:
				}
			}
		}
		if lf != nil {
			lf.Close()
		}
	}()
	select {
	case <-ready:
	case <-s.dev.done:
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("postern dev exited before it was ready (%v): %s", s.dev.err, strings.TrimSpace(string(b)))
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("postern dev did not print \"postern dev ready\" within 60s; see %s", logPath)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The node is this machine, named by its hostname: check that a
	// recorded command runs on it before measuring anything.
	if _, err := runQuick(ctx, reg, "postern exec (check)", s.command("true"), 60*time.Second); err != nil {
		return nil, fmt.Errorf("postern cannot run a command on node %q: %w", s.node, err)
	}
	return s, nil
}

func (s *posternSide) name() string { return "postern" }

func (s *posternSide) cli(args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, args...)
	cmd.Env = s.env
	return cmd
}

// command is `postern exec --tty`: without --tty the command runs with
// pipes, not a terminal (an older build, given with -postern, always used
// one, and --tty only made its own terminal raw, which pipes are not).
func (s *posternSide) command(argv ...string) *exec.Cmd {
	return s.cli(append([]string{"exec", s.node, "--tty", "--"}, argv...)...)
}

func (s *posternSide) login() *exec.Cmd { return s.cli("connect", s.node) }

// forwarder is `postern forward` with the default port document, which
// connects to localhost on the node.
func (s *posternSide) forwarder(local, target int) (*exec.Cmd, string) {
	return s.cli("forward", s.node, "--port", fmt.Sprint(target), "--local-port", fmt.Sprint(local)), "Waiting for connections"
}

func (s *posternSide) serverPID() int { return s.dev.cmd.Process.Pid }

// sessions lists the sessions through the CLI.
func (s *posternSide) sessions(ctx context.Context, args ...string) ([]api.Session, error) {
	out, err := runQuick(ctx, s.reg, "postern sessions", s.cli(append([]string{"sessions", "-o", "json"}, args...)...), 30*time.Second)
	if err != nil {
		return nil, err
	}
	var ss []api.Session
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		return nil, fmt.Errorf("postern sessions -o json: %w", err)
	}
	return ss, nil
}

func (s *posternSide) endSessions(ctx context.Context) error {
	ss, err := s.sessions(ctx, "--state", "active")
	if err != nil {
		return err
	}
	var errs []error
	for _, x := range ss {
		if _, err := runQuick(ctx, s.reg, "postern terminate", s.cli("terminate", x.ID), 30*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *posternSide) awaitArtifacts(ctx context.Context) error {
	for {
		ss, err := s.sessions(ctx)
		if err != nil {
			return err
		}
		pending := false
		for _, x := range ss {
			for _, l := range x.Logs {
				pending = pending || l.Status == "Pending" || l.Status == "Recording"
			}
		}
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *posternSide) verifyRecording(ctx context.Context, output int64) (*recordingCheck, error) {
	ss, err := s.sessions(ctx)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, errors.New("postern sessions lists no session")
	}
	newest := ss[0]
	for _, x := range ss[1:] {
		if x.StartedAt.After(newest.StartedAt) {
			newest = x
		}
	}
	rc := &recordingCheck{Session: newest.ID, Status: newest.Status, ExitCode: newest.ExitCode, OutputBytes: output,
		Cast: "postern logs get " + newest.ID + " --format cast"}
	// The journal is the recording; the artifacts are rendered from it as
	// they are read, which is timed here (not part of the bulk run).
	if rc.CastBytes, rc.CastSeconds, err = countOutput(ctx, s.reg, "postern logs get (cast)", s.cli("logs", "get", newest.ID, "--format", "cast")); err != nil {
		return nil, err
	}
	if rc.LogBytes, rc.LogSeconds, err = countOutput(ctx, s.reg, "postern logs get (log)", s.cli("logs", "get", newest.ID, "--format", "log")); err != nil {
		return nil, err
	}
	if output > 0 {
		rc.Ratio = float64(rc.CastBytes) / float64(output)
	}
	// asciicast stores output as JSON strings: every CR and LF becomes a
	// two-character escape, and each event adds a timestamp, so a complete
	// recording of base64 lines is a few percent larger than the output.
	switch {
	case newest.Status != "Terminated" || newest.ExitCode == nil || *newest.ExitCode != 0:
		rc.Problem = fmt.Sprintf("session %s ended %s (%s), exit code %v", newest.ID, newest.Status, newest.StatusReason, fmtExit(newest.ExitCode))
	case rc.CastBytes <= 0:
		rc.Problem = fmt.Sprintf("%s printed nothing", rc.Cast)
	case rc.Ratio < 0.98 || rc.Ratio > 1.5:
		rc.Problem = fmt.Sprintf("recording %s holds %d bytes for %d bytes of output (ratio %.3f; expected about 1.03)", rc.Cast, rc.CastBytes, output, rc.Ratio)
	}
	return rc, nil
}

func fmtExit(c *int) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprint(*c)
}

// ---- OpenSSH ----

type sshSide struct {
	port int
	key  string
	env  []string
	sshd *proc
}

// sshdPath is where Debian's openssh-server puts sshd; sshd insists on
// being started by its absolute path.
const sshdPath = "/usr/sbin/sshd"

// startOpenSSH runs a private sshd on a free loopback port with throwaway
// keys and checks that the ssh client can run a command through it.
func startOpenSSH(ctx context.Context, reg *registry, tmp string) (*sshSide, error) {
	dir := filepath.Join(tmp, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	hostKey, userKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "user_ed25519")
	for _, k := range []string{hostKey, userKey} {
		if out, err := exec.CommandContext(ctx, "ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(userKey + ".pub")
	if err != nil {
		return nil, err
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, pub, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// Only what a private test server needs; everything else, ciphers
	// included, stays at the system's defaults. PrintMotd and PrintLastLog
	// are off (Debian's own sshd_config turns PrintMotd off too; it leaves
	// the motd to PAM, which is off here) so that the first byte a client
	// sees comes from the shell, as with Postern.
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
PrintMotd no
PrintLastLog no
`, port, hostKey, authKeys, filepath.Join(dir, "sshd.pid"))
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("create /run/sshd (sshd's privilege separation directory): %w", err)
	}
	logPath := filepath.Join(tmp, "sshd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s := &sshSide{port: port, key: userKey, env: childEnv(tmp)}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	cmd.Stderr = logFile
	if s.sshd, err = reg.start("sshd", cmd); err != nil {
		return nil, err
	}
	if err := waitSSHBanner(ctx, s.sshd, port, 15*time.Second); err != nil {
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w; sshd log: %s", err, strings.TrimSpace(string(b)))
	}
	if _, err := runQuick(ctx, reg, "ssh (check)", s.command("true"), 60*time.Second); err != nil {
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("ssh cannot run a command through the benchmark's sshd: %w; sshd log: %s", err, strings.TrimSpace(string(b)))
	}
	return s, nil
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitSSHBanner waits until sshd answers on port with its version banner.
func waitSSHBanner(ctx context.Context, sshd *proc, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for {
		if sshd.exited() {
			return fmt.Errorf("sshd exited at start (%v)", sshd.err)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd did not answer on %s within %v", addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *sshSide) name() string { return "openssh" }

func (s *sshSide) ssh(remote ...string) *exec.Cmd {
	return s.sshWith([]string{"-tt"}, remote...)
}

// sshWith runs ssh with the benchmark's options, then opts, against the
// private sshd.
func (s *sshSide) sshWith(opts []string, remote ...string) *exec.Cmd {
	args := []string{"-F", "/dev/null", "-i", s.key, "-p", fmt.Sprint(s.port),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "BatchMode=yes"}
	args = append(append(args, opts...), "127.0.0.1")
	cmd := exec.Command("ssh", append(args, remote...)...)
	cmd.Env = s.env
	return cmd
}

// forwarder is `ssh -N -L`, which prints nothing when it is ready; it
// exits if it cannot listen on the local port.
func (s *sshSide) forwarder(local, target int) (*exec.Cmd, string) {
	return s.sshWith([]string{"-N", "-o", "ExitOnForwardFailure=yes", "-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", local, target)}), ""
}

// command passes argv as one shell-quoted string: ssh joins its arguments
// with spaces and the remote user's shell parses the result.
func (s *sshSide) command(argv ...string) *exec.Cmd {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return s.ssh(strings.Join(q, " "))
}

func (s *sshSide) login() *exec.Cmd { return s.ssh() }

func (s *sshSide) serverPID() int { return s.sshd.cmd.Process.Pid }

// endSessions: an OpenSSH session ends with its connection.
func (s *sshSide) endSessions(context.Context) error { return nil }

func (s *sshSide) awaitArtifacts(context.Context) error { return nil }

func (s *sshSide) verifyRecording(context.Context, int64) (*recordingCheck, error) { return nil, nil }

func (s *sshSide) startCPUProfile(context.Context) error { return nil }

func (s *sshSide) stopCPUProfile(context.Context, string) (*profile.Profile, error) { return nil, nil }
