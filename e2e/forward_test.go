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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
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
	if sess.Status != "Connected" || sess.Document != "Postern-StartPortForwardingSession" {
		t.Errorf("session = %+v, want a connected port session", sess)
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
	if len(hist) != 1 || hist[0].Document != "Postern-StartSSHSession" {
		t.Fatalf("sessions = %+v, want one Postern-StartSSHSession", hist)
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
