// Package e2e tests Postern end to end: the real binary, a real server and
// agent on loopback, and real shells driven through real pseudo-terminals.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/store/postgres/pgtest"
)

// bin is the postern binary built once for the package's tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "postern-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "postern")
	build := exec.Command("go", "build", "-race", "-o", bin, "../cmd/postern")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building postern:", err)
		os.Exit(1)
	}
	// pgtest.Run runs the tests and stops the PostgreSQL server the
	// store migration's test started, if it did.
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// testCtx ends a little before the test's deadline, or after 2 minutes.
func testCtx(t *testing.T) context.Context {
	d := 2 * time.Minute
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d {
		d = time.Until(dl) - 5*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// proc is a background postern process whose output the test watches.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex // guards out
	out  strings.Builder
	done chan struct{}
}

func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs postern with args in env and collects stdout+stderr.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start postern %v: %v", args, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr) // a line too long for the scanner
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		// done means all the output is in: a process's last words are
		// often what a test waits for.
		<-scanned
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of postern %s:\n%s", strings.Join(args, " "), p.Output())
		}
	})
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// waitFor waits until the output matches re and returns the submatches.
func (p *proc) waitFor(ctx context.Context, re *regexp.Regexp) []string {
	p.t.Helper()
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("waiting for %q: %v; output so far:\n%s", re, ctx.Err(), p.Output())
		case <-p.done:
			if m := re.FindStringSubmatch(p.Output()); m != nil {
				return m
			}
			p.t.Fatalf("postern exited while waiting for %q; output:\n%s", re, p.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop interrupts the process and waits for it.
func (p *proc) stop(ctx context.Context) {
	p.t.Helper()
	p.signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.t.Fatalf("postern did not stop on SIGINT; output:\n%s", p.Output())
	}
}

// env is one isolated Postern installation: data directory and CLI home.
type env struct {
	t    *testing.T
	dir  string
	home string
	url  string
	dev  *proc
	// devEnv is added to postern dev's environment only (e.g. where the
	// AWS SDK finds S3 and CloudWatch Logs).
	devEnv []string
}

func (e *env) vars() []string {
	// POSTERN_NO_BROWSER: a command that would open a page (postern
	// desktop) only prints its URL.
	return []string{"POSTERN_HOME=" + e.home, "HOME=" + e.dir, "POSTERN_NO_BROWSER=1"}
}

var readyRE = regexp.MustCompile(`postern dev ready: (https://\S+)`)

// startDev runs `postern dev` on a free loopback port.
func startDev(t *testing.T, extra ...string) *env {
	t.Helper()
	return startDevEnv(t, nil, extra...)
}

// startDevEnv starts postern dev with devEnv added to its environment.
func startDevEnv(t *testing.T, devEnv []string, extra ...string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, home: filepath.Join(dir, "cli"), devEnv: devEnv}
	e.startDevIn(testCtx(t), extra...)
	return e
}

func (e *env) startDevIn(ctx context.Context, extra ...string) {
	e.t.Helper()
	args := append([]string{"dev", "--listen", "127.0.0.1:0", "--data", filepath.Join(e.dir, "data")}, extra...)
	e.dev = start(e.t, append(e.vars(), e.devEnv...), args...)
	e.url = e.dev.waitFor(ctx, readyRE)[1]
}

// run runs a postern client command to completion and returns its stdout,
// stderr and exit code.
func (e *env) run(ctx context.Context, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), e.vars()...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("postern %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

// mustRun runs a client command that must succeed.
func (e *env) mustRun(ctx context.Context, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(ctx, args...)
	if code != 0 {
		e.t.Fatalf("postern %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// jsonOut runs a client command with -o json and decodes its output.
func (e *env) jsonOut(ctx context.Context, v any, args ...string) {
	e.t.Helper()
	out := e.mustRun(ctx, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("postern %v -o json: %v\n%s", args, err, out)
	}
}

// connectCmd is `postern connect` for a PTY test.
func (e *env) connectCmd(target string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"connect", target}, args...)...)
	cmd.Env = append(os.Environ(), e.vars()...)
	return cmd
}
