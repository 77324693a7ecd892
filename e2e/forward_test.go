package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/wire"
)

// TestPortForwardManyConnections forwards a local port to a real HTTP
// server behind the node and drives many parallel requests through it.
func TestPortForwardManyConnections(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "path=%s body=%d", r.URL.Path, len(body))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	local := freePort(t)

	fwd := start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(port), "--local-port", fmt.Sprint(local))
	id := fwd.waitFor(ctx, regexp.MustCompile(`Port \d+ opened for sessionId (\S+)\.`))[1]

	const conns = 50
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat("x", i*1000)
			resp, err := hc.Post(fmt.Sprintf("http://127.0.0.1:%d/req-%d", local, i), "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("path=/req-%d body=%d", i, len(body)); string(b) != want {
				errs <- fmt.Errorf("request %d: got %q, want %q", i, b, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var sess api.Session
	e.jsonOut(ctx, &sess, "sessions", "show", id)
	if sess.Status != "Connected" || sess.Document != "Postern-StartPortForwardingSession" || sess.SessionType != "Port" || sess.Port == nil || sess.Port.PortNumber == 0 {
		t.Errorf("session = %+v, want a connected port session with its type and port", sess)
	}
	fwd.signal(syscall.SIGINT)
	fwd.waitFor(ctx, regexp.MustCompile(`Exiting session with sessionId`))
	sess = waitSession(ctx, t, e, id, func(s api.Session) bool { return !isActive(s) })
	if sess.Status != "Terminated" {
		t.Errorf("after Ctrl-C the session is %s", sess.Status)
	}
	// The recording lists the connections.
	cast := e.mustRun(ctx, "logs", "get", id, "--format", "cast")
	if n := strings.Count(cast, "opened"); n != conns {
		t.Errorf("recording lists %d opened connections, want %d", n, conns)
	}
	// So does the transcript, a line each, with the bytes each way
	// (issue 17, item 3).
	transcript := e.mustRun(ctx, "logs", "get", id)
	if n := strings.Count(transcript, "opened"); n != conns || strings.Count(transcript, "bytes in") != conns || !strings.HasPrefix(transcript, "Script started on") {
		t.Errorf("transcript lists %d opened connections, want %d:\n%s", n, conns, transcript)
	}
	if tbl := e.mustRun(ctx, "sessions"); !strings.Contains(tbl, "TYPE") || !strings.Contains(tbl, "Port") {
		t.Errorf("the sessions table does not say it was a port session:\n%s", tbl)
	}
}

func isActive(s api.Session) bool {
	return s.Status == "Connected" || s.Status == "Connecting" || s.Status == "Terminating"
}

// TestForwardErrors: a closed target port and a bad port are refused
// clearly.
func TestForwardErrors(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	if _, errOut, code := e.run(ctx, "forward", hostname(t), "--port", "70000"); code != 2 || !strings.Contains(errOut, "1–65535") {
		t.Errorf("bad port: exit %d, %q", code, errOut)
	}
	closed := freePort(t)
	local := freePort(t)
	fwd := start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(closed), "--local-port", fmt.Sprint(local))
	fwd.waitFor(ctx, regexp.MustCompile(`Waiting for connections`))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes from a forward to a closed port", n)
	}
	c.Close()
	fwd.waitFor(ctx, regexp.MustCompile(`could not connect to localhost:\d+`))
}

// startSSHD runs a real sshd on a free loopback port for the test, which
// root may log in to with the key it returns. It skips the test where
// sshd is missing or cannot run.
func startSSHD(t *testing.T, ctx context.Context) (port int, key string) {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
		if _, err := os.Stat(sshd); err != nil {
			t.Skip("sshd not installed; scripts/install-test-deps installs openssh-server")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd needs root to run here")
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "user"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "user.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	port = freePort(t)
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
`, port, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitPort(t, ctx, port)
	return port, filepath.Join(dir, "user")
}

// TestSSHThroughProxy runs ssh with `postern proxy` as its ProxyCommand to
// a real sshd on the node.
func TestSSHThroughProxy(t *testing.T) {
	ctx := testCtx(t)
	port, key := startSSHD(t, ctx)
	e := startDev(t)

	ssh := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-i", key,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
		"-o", "ProxyCommand="+bin+" proxy %h %p", "-p", fmt.Sprint(port), "root@"+hostname(t), "echo via-postern-$((40+2))")
	ssh.Env = append(os.Environ(), e.vars()...)
	out, err := ssh.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "via-postern-42") {
		t.Fatalf("ssh through postern proxy: %v\n%s", err, out)
	}
	var hist []api.Session
	e.jsonOut(ctx, &hist, "sessions")
	if len(hist) != 1 || hist[0].Document != "Postern-StartSSHSession" || hist[0].SessionType != "Port" || hist[0].Port == nil || hist[0].Port.PortNumber != port {
		t.Fatalf("sessions = %+v, want one Postern-StartSSHSession, a port session to %d", hist, port)
	}
	s := waitSession(ctx, t, e, hist[0].ID, func(s api.Session) bool { return !isActive(s) })
	if s.Status != "Terminated" {
		t.Errorf("ssh session ended %s", s.Status)
	}
}

func waitPort(t *testing.T, ctx context.Context, port int) {
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("port %d never opened", port)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestForwardToMetadataRefused checks that the server refuses a forward to
// a cloud metadata address before any session starts, saying how to allow
// it.
func TestForwardToMetadataRefused(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	_, stderr, code := e.run(ctx, "forward", hostname(t), "--port", "80", "--host", "169.254.169.254")
	if code != 1 || !strings.Contains(stderr, "forwarding to 169.254.169.254 (a link-local address) is refused") || !strings.Contains(stderr, "allowLinkLocal") {
		t.Errorf("forward = exit %d, stderr %q", code, stderr)
	}
	if n := len(e.sessions(ctx)); n != 0 {
		t.Errorf("%d sessions after a refused forward", n)
	}
}

// pattern is the byte at offset i of a test transfer: anything lost,
// repeated or reordered shows.
func pattern(i int64) byte { return byte(i*7 + i>>9 + i>>17) }

// checkPattern reads want bytes from r and says what is wrong unless they
// are pattern's.
func checkPattern(r io.Reader, want int64) error {
	buf := make([]byte, 64<<10)
	var off int64
	for off < want {
		n, err := r.Read(buf[:min(int64(len(buf)), want-off)])
		for i, b := range buf[:n] {
			if b != pattern(off+int64(i)) {
				return fmt.Errorf("byte %d is %#x, want %#x", off+int64(i), b, pattern(off+int64(i)))
			}
		}
		off += int64(n)
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", off, want, err)
		}
	}
	return nil
}

// writePattern writes n bytes of pattern to w.
func writePattern(w io.Writer, n int64) error {
	buf := make([]byte, 256<<10)
	for off := int64(0); off < n; {
		m := min(int64(len(buf)), n-off)
		for i := range buf[:m] {
			buf[i] = pattern(off + int64(i))
		}
		if _, err := w.Write(buf[:m]); err != nil {
			return err
		}
		off += m
	}
	return nil
}

// TestForwardBulkBothWays moves bulk data each way through `postern
// forward` at once, in large and in odd-sized writes: every byte arrives,
// in order. (Neither end half-closes: a forwarded connection's WebSocket
// carries no half-close, so the end of one direction closes both.)
func TestForwardBulkBothWays(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	const size = 24 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	targetErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			targetErr <- err
			return
		}
		defer c.Close()
		sent := make(chan error, 1)
		go func() { sent <- writePattern(c, size) }()
		if err := checkPattern(c, size); err != nil {
			targetErr <- fmt.Errorf("upload: %w", err)
			return
		}
		targetErr <- <-sent
	}()
	local := freePort(t)
	fwd := start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), "--local-port", fmt.Sprint(local))
	fwd.waitFor(ctx, regexp.MustCompile(`Waiting for connections`))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := make(chan error, 1)
	go func() { sent <- writePattern(oddWriter{c}, size) }()
	if err := checkPattern(c, size); err != nil {
		t.Fatalf("download: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("upload: %v", err)
	}
	if err := <-targetErr; err != nil {
		t.Fatalf("target: %v", err)
	}
}

// oddWriter writes in pieces of odd sizes, down to a byte.
type oddWriter struct{ w io.Writer }

func (o oddWriter) Write(p []byte) (int, error) {
	var n int
	for i := 0; len(p) > 0; i++ {
		k := min(len(p), []int{1, 12, 4097, 65537, 777}[i%5])
		m, err := o.w.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// TestForwardStalledReader: the program on the user's side of a forward
// stops reading while the target keeps sending. What is in flight stays
// bounded (the stream's flow-control window, plus what the kernel's
// socket buffers hold), other sessions on the node run meanwhile, and
// when the reader resumes every byte arrives.
func TestForwardStalledReader(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stalled := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Send until a write makes no progress for a few seconds: the
		// path is full.
		buf := make([]byte, 64<<10)
		var off int64
		for {
			for i := range buf {
				buf[i] = pattern(off + int64(i))
			}
			c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			n, err := c.Write(buf)
			off += int64(n)
			if err != nil {
				stalled <- off
				return
			}
		}
	}()
	local := freePort(t)
	fwd := start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), "--local-port", fmt.Sprint(local))
	fwd.waitFor(ctx, regexp.MustCompile(`Waiting for connections`))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sent int64
	select {
	case sent = <-stalled:
	case <-ctx.Done():
		t.Fatal("the target never stalled: something buffers without bound")
	}
	// Three TCP connections on the way hold what their sockets' buffers
	// can; the stream's window and Postern's own buffers hold a few MiB.
	bound := 3*(sysctlMax(t, "net/ipv4/tcp_rmem")+sysctlMax(t, "net/ipv4/tcp_wmem")) + wire.StreamWindow + 16<<20
	t.Logf("%d bytes in flight when the target stalled (bound %d)", sent, bound)
	if sent > bound {
		t.Fatalf("%d bytes were taken from the target with nobody reading, more than %d", sent, bound)
	}
	// The node's connection is not blocked by the full stream.
	if out := e.mustRun(ctx, "exec", hostname(t), "--", "echo", "still-responsive"); out != "still-responsive\n" {
		t.Fatalf("a command during the stalled forward printed %q", out)
	}
	if err := checkPattern(c, sent); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	// The target closed after its stalled write: so does the forward.
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after all %d bytes: read %d more, %v; want the end", sent, n, err)
	}
}

// sysctlMax is the last (maximum) value of a Linux TCP buffer sysctl.
func sysctlMax(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Skipf("cannot read %s: %v", name, err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("%s: %q", name, b)
	}
	return n
}
