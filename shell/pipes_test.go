//go:build linux

package shell

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runPipes starts cmd without a terminal, writes in to its standard input
// and closes it, and returns what it wrote to each output and its exit code.
func runPipes(t *testing.T, in []byte, cmd ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	p, err := StartPipes(context.Background(), Spec{Command: cmd})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	var o, e bytes.Buffer
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(&o, p.Stdout) }()
	go func() { defer wg.Done(); io.Copy(&e, p.Stderr) }()
	if _, err := p.Stdin.Write(in); err != nil {
		t.Errorf("write standard input: %v", err)
	}
	if err := p.Stdin.Close(); err != nil {
		t.Fatal(err)
	}
	p.Stdin.Close() // idempotent
	code, err = p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return o.Bytes(), e.Bytes(), code
}

func TestPipesSeparateStreamsAndExitCode(t *testing.T) {
	o, e, code := runPipes(t, nil, "/bin/sh", "-c", "echo out; echo err >&2; [ -t 0 ] || [ -t 1 ] && echo tty; echo TERM=$TERM; exit 3")
	if string(o) != "out\nTERM=\n" || string(e) != "err\n" || code != 3 {
		t.Fatalf("stdout %q, stderr %q, code %d; want \"out\\nTERM=\\n\", \"err\\n\", 3", o, e, code)
	}
}

func TestPipesStdinAndBinary(t *testing.T) {
	if o, _, _ := runPipes(t, []byte("a\nb\n"), "sort", "-r"); string(o) != "b\na\n" {
		t.Fatalf("sort -r: %q", o)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	o, _, code := runPipes(t, data, "cat")
	if code != 0 || !bytes.Equal(o, data) {
		t.Fatalf("cat of %d random bytes gave %d bytes (equal %v), code %d", len(data), len(o), bytes.Equal(o, data), code)
	}
}

// A background job that keeps the output open must not keep readers
// waiting after the command exits: the output ends while the job, which
// holds it open, is still alive (a broken drain would end it only when the
// job does, a minute later, and the job would be gone).
func TestPipesBackgroundJobHoldsOutput(t *testing.T) {
	p, err := StartPipes(context.Background(), Spec{Command: []string{"/bin/sh", "-c", "sleep 60 & echo $!; echo done"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Stdin.Close()
	go io.Copy(io.Discard, p.Stderr)
	o, err := io.ReadAll(p.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	pidText, rest, _ := strings.Cut(string(o), "\n")
	pid, err := strconv.Atoi(pidText)
	if err != nil || rest != "done\n" {
		t.Fatalf("stdout %q", o)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the output ended only when the background job did: %v", err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Errorf("Wait = %d, %v", code, err)
	}
}

// Close signals the whole process group, and output ends.
func TestPipesCloseEndsGroup(t *testing.T) {
	p, err := StartPipes(context.Background(), Spec{Command: []string{"/bin/sh", "-c", "trap '' TERM; sleep 60 & echo started; wait"}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := p.Stdout.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "started") {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	code, _ := p.Wait()
	if code != 128+9 {
		t.Errorf("exit code %d, want %d (killed after ignoring SIGTERM)", code, 128+9)
	}
	if _, err := p.Stdout.Read(buf); err != io.EOF {
		t.Errorf("read after Close: %v, want io.EOF", err)
	}
}

func TestPipesContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := StartPipes(ctx, Spec{Command: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cancel()
	if code, _ := p.Wait(); code != 128+15 {
		t.Fatalf("exit code %d, want %d (SIGTERM)", code, 128+15)
	}
}

func TestPipesUnknownUser(t *testing.T) {
	if _, err := StartPipes(context.Background(), Spec{User: "no-such-user-xyz", Command: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err %v", err)
	}
}
