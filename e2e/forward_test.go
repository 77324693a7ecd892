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
	// So does the transcript, a line each as they open and close, with
	// the bytes each way (issue 17, item 3).
	transcript := e.mustRun(ctx, "logs", "get", id)
	if n := strings.Count(transcript, "opened"); n != conns || strings.Count(transcript, "bytes from the client") != conns || !strings.HasPrefix(transcript, "Script started on") {
		t.Errorf("transcript lists %d opened connections, want %d:\n%s", n, conns, transcript)
	}
	// The sessions table says it was a port session, and names its node
	// by name, not id (issue 17, item 7).
	var nodes []api.Node
	e.jsonOut(ctx, &nodes, "nodes")
	tbl := e.mustRun(ctx, "sessions")
	if len(nodes) != 1 || nodes[0].Name == "" || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(id)+` +admin +`+regexp.QuoteMeta(nodes[0].Name)+` +Port +Terminated `).MatchString(tbl) ||
		strings.Contains(tbl, nodes[0].ID) || !strings.Contains(tbl, "TYPE") {
		t.Errorf("the sessions table does not say it was a port session on %+v:\n%s", nodes, tbl)
	}
	csv := e.mustRun(ctx, "sessions", "-o", "csv")
	if want := id + ",admin," + nodes[0].ID + "," + nodes[0].Name + ",Port,Terminated,"; !strings.HasPrefix(csv, "SESSION,OWNER,TARGET,TARGET NAME,TYPE,STATUS,") || !strings.Contains(csv, want) {
		t.Errorf("sessions -o csv lacks %q:\n%s", want, csv)
	}
	show := e.mustRun(ctx, "sessions", "show", id)
	if want := fmt.Sprintf("Target:     %s (%s)\n", nodes[0].Name, nodes[0].ID); !strings.Contains(show, want) || !strings.Contains(show, "Connections:\n") {
		t.Errorf("sessions show lacks %q:\n%s", want, show)
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
	// Its one connection is on record, with what SSH carried each way
	// (encrypted, so only counted) and who ended it.
	e.waitDelivered(ctx, s.ID)
	var res api.QueryResult
	e.jsonOut(ctx, &res, "logs", "query", `filter eventType = "ConnectionClosed" and sessionId = "`+s.ID+`" | fields targetPort, bytesFromClient, bytesFromTarget, closeReason`)
	if len(res.Rows) != 1 {
		t.Fatalf("ConnectionClosed events of the ssh session: %v", res.Rows)
	}
	r := res.Rows[0]
	in, _ := r[1].(float64)
	out2, _ := r[2].(float64)
	// Who ended it: ssh closing, sshd closing, or `postern proxy`
	// ending its session as ssh exits, when the server hears that first
	// (a race on a loaded machine; each is the truth).
	if r[0] != float64(port) || in < 100 || out2 < 100 || (r[3] != "ClientClosed" && r[3] != "TargetClosed" && r[3] != "SessionEnded") {
		t.Errorf("the ssh connection's event: %v %v", res.Columns, r)
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

// TestPortSessionConnectionEvents: every forwarded connection of a port
// session is on record (issue 17, item 3) as events in the session's
// stream in the built-in log store, where queries and metric filters
// find them, in `sessions show` and the API, and in the transcript: the
// client's address, the target, when, the bytes each way and why it
// closed. The target here behaves so that each close has one cause: it
// closes first; the client closes first; the session is terminated with
// the connection open; the node cannot connect.
func TestPortSessionConnectionEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t, "--metrics-listen", "127.0.0.1:0")
	metricsURL := e.dev.waitFor(ctx, regexp.MustCompile(`metrics on (http://\S+)`))[1]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	clientEOF := make(chan struct{}, 1)
	holding := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				mode := make([]byte, 1)
				if _, err := io.ReadFull(c, mode); err != nil {
					c.Close()
					return
				}
				switch mode[0] {
				case 'a': // answers 5000 bytes to 1000 and closes
					io.CopyN(io.Discard, c, 999)
					c.Write(make([]byte, 5000))
					c.Close()
				case 'b': // reads until the client's end, then closes
					io.Copy(io.Discard, c)
					c.Close()
					clientEOF <- struct{}{}
				case 'c': // reads 10 bytes and keeps the connection
					io.CopyN(io.Discard, c, 9)
					holding <- c
				}
			}()
		}
	}()

	local := freePort(t)
	fwd := start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(port), "--local-port", fmt.Sprint(local))
	id := fwd.waitFor(ctx, regexp.MustCompile(`Port \d+ opened for sessionId (\S+)\.`))[1]
	// The session made the account's own log group: a metric filter on
	// it adds up what targets sent on the connections they closed.
	e.mustRun(ctx, "logs", "metric-filters", "put", "--group", "/postern/sessions", "--name", "target-bytes",
		"--pattern", `{ $.eventType = "ConnectionClosed" && $.closeReason = "TargetClosed" }`,
		"--metric-namespace", "Postern", "--metric-name", "TargetBytes", "--value", "$.bytesFromTarget")
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		return c
	}
	// 1: the target closes first.
	c := dial()
	c.Write(append([]byte{'a'}, make([]byte, 999)...))
	if b, err := io.ReadAll(c); len(b) != 5000 || err != nil {
		t.Fatalf("connection 1 read %d bytes, %v; want 5000 and the end", len(b), err)
	}
	c.Close()
	// 2: the client closes first.
	c = dial()
	c.Write(append([]byte{'b'}, make([]byte, 699)...))
	c.Close()
	select {
	case <-clientEOF:
	case <-ctx.Done():
		t.Fatal("the target never saw connection 2 end")
	}
	// 3: open when the session is terminated.
	c = dial()
	defer c.Close()
	c.Write(append([]byte{'c'}, make([]byte, 9)...))
	var held net.Conn
	select {
	case held = <-holding:
		defer held.Close()
	case <-ctx.Done():
		t.Fatal("connection 3 never reached the target")
	}
	// While it runs, the API lists the open connection.
	cs, err := e.api().Connections(ctx, id)
	if err != nil || len(cs) != 3 || cs[2].EndTime != nil || cs[2].CloseReason != "" || cs[0].CloseReason != "TargetClosed" {
		t.Fatalf("connections of the running session: %+v, %v", cs, err)
	}
	e.mustRun(ctx, "terminate", id)
	fwd.waitFor(ctx, regexp.MustCompile(`Exiting session with sessionId`))
	e.waitDelivered(ctx, id)

	type row struct {
		id, bytesIn, bytesOut         int
		host, reason, detail, address string
		port                          int
	}
	want := []row{
		{id: 1, bytesIn: 1000, bytesOut: 5000, reason: "TargetClosed"},
		{id: 2, bytesIn: 700, bytesOut: 0, reason: "ClientClosed"},
		{id: 3, bytesIn: 10, bytesOut: 0, reason: "SessionEnded", detail: "the session ended: TerminatedByUser"},
	}
	var res api.QueryResult
	e.jsonOut(ctx, &res, "logs", "query", `filter eventType = "ConnectionClosed" and sessionId = "`+id+`"
		| fields connectionId, clientAddress, targetHost, targetPort, bytesFromClient, bytesFromTarget, closeReason, detail | sort connectionId asc`)
	if len(res.Rows) != len(want) {
		t.Fatalf("ConnectionClosed events of %s: %v %v, want %d", id, res.Columns, res.Rows, len(want))
	}
	for i, r := range res.Rows {
		num := func(v any) int { f, _ := v.(float64); return int(f) }
		str := func(v any) string { s, _ := v.(string); return s }
		got := row{id: num(r[0]), address: str(r[1]), host: str(r[2]), port: num(r[3]), bytesIn: num(r[4]), bytesOut: num(r[5]), reason: str(r[6]), detail: str(r[7])}
		w := want[i]
		if got.id != w.id || !strings.HasPrefix(got.address, "127.0.0.1:") || got.host != "localhost" || got.port != port ||
			got.bytesIn != w.bytesIn || got.bytesOut != w.bytesOut || got.reason != w.reason || got.detail != w.detail {
			t.Errorf("ConnectionClosed event %d: %+v, want %+v (from 127.0.0.1, to localhost:%d)", i+1, got, w, port)
		}
	}
	if out := e.mustRun(ctx, "logs", "query", `filter eventType = "ConnectionOpened" and sessionId = "`+id+`" | stats count(*) as n`, "-o", "csv"); out != "n\n3\n" {
		t.Errorf("ConnectionOpened events: %q, want 3", out)
	}
	metric := `postern_logs_Postern_TargetBytes{filter="target-bytes",log_group="/postern/sessions"} 5000`
	if m := scrape(t, metricsURL, e.metricsToken()); !strings.Contains(m, metric+"\n") {
		t.Errorf("metrics lack %s:\n%s", metric, grepLines(m, "postern_logs_"))
	}

	// The API, sessions show and the transcript say the same.
	cs, err = e.api().Connections(ctx, id)
	if err != nil || len(cs) != 3 {
		t.Fatalf("connections: %+v, %v", cs, err)
	}
	for i, cn := range cs {
		w := want[i]
		if cn.ID != w.id || cn.EndTime == nil || cn.BytesFromClient == nil || *cn.BytesFromClient != int64(w.bytesIn) ||
			cn.BytesFromTarget == nil || *cn.BytesFromTarget != int64(w.bytesOut) || cn.CloseReason != w.reason || cn.TargetPort != port {
			t.Errorf("connection %d in the API: %+v", i+1, cn)
		}
	}
	show := e.mustRun(ctx, "sessions", "show", id)
	for _, re := range []string{
		`(?m)^Type: +Port$`, fmt.Sprintf(`(?m)^Port: +localhost:%d$`, port), `(?m)^Status: +Terminated$`,
		`(?m)^  ID +CLIENT +TARGET +OPENED +CLOSED +DURATION +FROM CLIENT +FROM TARGET +CLOSE REASON +DETAIL$`,
		fmt.Sprintf(`(?m)^  1 +127\.0\.0\.1:\d+ +localhost:%d +.* 1000 +5000 +TargetClosed +-$`, port),
		fmt.Sprintf(`(?m)^  2 +127\.0\.0\.1:\d+ +localhost:%d +.* 700 +0 +ClientClosed +-$`, port),
		fmt.Sprintf(`(?m)^  3 +127\.0\.0\.1:\d+ +localhost:%d +.* 10 +0 +SessionEnded +the session ended: TerminatedByUser$`, port),
	} {
		if !regexp.MustCompile(re).MatchString(show) {
			t.Errorf("sessions show lacks %s:\n%s", re, show)
		}
	}
	transcript := e.mustRun(ctx, "logs", "get", id)
	for _, s := range []string{
		fmt.Sprintf("to localhost:%d closed (TargetClosed) after", port), "1000 bytes from the client, 5000 from the target",
		"700 bytes from the client, 0 from the target", "closed (SessionEnded)",
	} {
		if !strings.Contains(transcript, s) {
			t.Errorf("transcript lacks %q:\n%s", s, transcript)
		}
	}

	// A connection the node cannot make is on record too, with the
	// node's reason.
	closed, local := freePort(t), freePort(t)
	fwd = start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(closed), "--local-port", fmt.Sprint(local))
	id = fwd.waitFor(ctx, regexp.MustCompile(`Port \d+ opened for sessionId (\S+)\.`))[1]
	c = dial()
	c.Read(make([]byte, 1))
	c.Close()
	fwd.waitFor(ctx, regexp.MustCompile(`could not connect to localhost:\d+`))
	fwd.signal(syscall.SIGINT)
	fwd.waitFor(ctx, regexp.MustCompile(`Exiting session with sessionId`))
	e.waitDelivered(ctx, id)
	e.jsonOut(ctx, &res, "logs", "query", `filter eventType = "ConnectionClosed" and sessionId = "`+id+`" | fields closeReason, detail, bytesFromClient`)
	if len(res.Rows) != 1 || res.Rows[0][0] != "ConnectFailed" || !strings.Contains(fmt.Sprint(res.Rows[0][1]), fmt.Sprintf("could not connect to localhost:%d", closed)) || res.Rows[0][2] != 0.0 {
		t.Errorf("the refused connection's event: %v", res.Rows)
	}
}
