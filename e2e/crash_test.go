package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/recording"
)

// freePort returns a loopback port that was free a moment ago; the server
// must come back on the same port after a crash.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// cluster is a separate `postern server` and `postern agent run`.
type cluster struct {
	t      *testing.T
	dir    string
	addr   string
	server *proc
	agent  *proc
	admin  *client.Client
	nodeID string
}

func (c *cluster) serverEnv() []string {
	return []string{"POSTERN_ADMIN_PASSWORD=admin-pw", "HOME=" + c.dir}
}

func (c *cluster) startServer(ctx context.Context, grace string) {
	c.server = start(c.t, c.serverEnv(), "server", "--data", filepath.Join(c.dir, "server"), "--listen", c.addr, "--grace", grace)
	c.server.waitFor(ctx, regexp.MustCompile(`listening on https://`))
}

// startCluster runs a server and a registered agent as processes.
func startCluster(t *testing.T, ctx context.Context, grace string) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	c.startServer(ctx, grace)
	ca, err := os.ReadFile(filepath.Join(c.dir, "server", "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New(client.Config{Server: "https://" + c.addr, CA: string(ca)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := anon.Login(ctx, "", "admin", "admin-pw")
	if err != nil {
		t.Fatal(err)
	}
	c.admin, _ = client.New(client.Config{Server: "https://" + c.addr, CA: string(ca), Token: res.Token})
	act, err := c.admin.CreateActivation(ctx, api.CreateActivationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(c.dir, "agent")
	reg := start(t, nil, "agent", "register", "--dir", agentDir, "--server", "https://"+c.addr, "--code", act.Code, "--id", act.ID, "--ca-pin", act.CAPin)
	c.nodeID = reg.waitFor(ctx, regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`))[1]
	c.agent = start(t, nil, "agent", "run", "--dir", agentDir)
	c.waitOnline(ctx)
	return c
}

// checkNumberedRecordings waits for sessions ids[i], which printed
// "s<i>-line-1" to "s<i>-line-<lines>", to end, and checks that each
// ended well and that its recording holds every line exactly once and in
// order, across what happened (what says what).
func (c *cluster) checkNumberedRecordings(ctx context.Context, ids []string, lines int, what string) {
	t := c.t
	t.Helper()
	for i, id := range ids {
		var s api.Session
		for {
			var err error
			s, err = c.admin.Session(ctx, id)
			if err == nil && s.Status != "Connected" && s.Status != "Connecting" && s.Status != "Terminating" {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("session %s did not end: %+v %v", id, s, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if s.Status != "Terminated" || s.ExitCode == nil || *s.ExitCode != 0 {
			t.Errorf("session %s = %s/%s exit %v, want Terminated with 0", id, s.Status, s.StatusReason, s.ExitCode)
			continue
		}
		rc, err := c.admin.Logs(ctx, id, "cast")
		if err != nil {
			t.Fatal(err)
		}
		_, events, err := recording.ReadCast(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
		var got strings.Builder
		for _, ev := range events {
			if ev.Type == "o" {
				got.WriteString(ev.Data)
			}
		}
		want := numberedLines(lines, func(n int) string { return fmt.Sprintf("s%d-line-%d\r\n", i, n) })
		if got.String() != want {
			t.Errorf("session %s: recording has %d bytes, want %d: bytes were lost, duplicated or reordered across %s", id, got.Len(), len(want), what)
		}
	}
}

// numberedLines is line(1) through line(n): what a test's numbered-line
// printer prints, for comparing with what arrived.
func numberedLines(n int, line func(int) string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(line(i))
	}
	return b.String()
}

func (c *cluster) waitOnline(ctx context.Context) {
	for {
		ns, err := c.admin.Nodes(ctx)
		if err == nil && len(ns) == 1 && ns[0].Online {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("agent did not come online: %v %+v", err, ns)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestServerCrashLosesNothing kills the server with SIGKILL while 20
// sessions print known streams, restarts it, and checks that every
// recording holds every byte each node produced.
func TestServerCrashLosesNothing(t *testing.T) {
	ctx := testCtx(t)
	c := startCluster(t, ctx, "2m")

	const sessions, lines = 20, 1500
	var ids []string
	for i := 0; i < sessions; i++ {
		script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "s%d-line-$i"; if [ $((i %% 100)) -eq 0 ]; then sleep 0.1; fi; done`, lines, i)
		s, err := c.admin.StartSession(ctx, api.StartSessionRequest{Target: c.nodeID, Command: []string{"/bin/sh", "-c", script}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	time.Sleep(500 * time.Millisecond) // let output flow; where the kill lands is what varies
	c.server.signal(syscall.SIGKILL)
	<-c.server.done
	c.startServer(ctx, "2m")

	c.checkNumberedRecordings(ctx, ids, lines, "the crash")
	if !strings.Contains(c.server.Output(), "recovered session") {
		t.Errorf("the restarted server recovered no session; the kill landed after every session ended, so the test proved nothing")
	}
}

// TestKilledAgentFailsSession kills the agent process under a live
// session: the session fails with a reason, the CLI says so and exits
// non-zero, and the recording holds everything the user saw.
func TestKilledAgentFailsSession(t *testing.T) {
	ctx := testCtx(t)
	c := startCluster(t, ctx, "2s")
	home := filepath.Join(c.dir, "cli")
	ca, _ := os.ReadFile(filepath.Join(c.dir, "server", "tls", "ca.crt"))
	tok := loginToken(t, ctx, c)
	if err := client.SaveConfig(home, client.Config{Server: "https://" + c.addr, CA: string(ca), Token: tok}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: c.dir, home: home}
	pty := ptytest.Start(t, e.connectCmd(c.nodeID))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine("echo seen-before-$((6*7))")
	pty.Expect(ctx, "seen-before-42")

	c.agent.signal(syscall.SIGKILL)
	pty.Expect(ctx, "lost the connection to the node")
	pty.Expect(ctx, "session failed")
	if code := pty.Wait(ctx); code == 0 {
		t.Fatalf("connect exited 0 after the agent died")
	}
	s, err := c.admin.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "Failed" || s.StatusReason != "AgentDisconnected" {
		t.Errorf("session = %s/%s, want Failed/AgentDisconnected", s.Status, s.StatusReason)
	}
	// A root agent runs sessions as the unprivileged ssm-user.
	if s.RunAsUser != "ssm-user" && os.Geteuid() == 0 {
		t.Errorf("session ran as %q, want ssm-user", s.RunAsUser)
	}
	// The node is offline now: a new session is refused in one clear line.
	_, errOut, code := e.run(ctx, "connect", c.nodeID)
	if code != 1 || !strings.Contains(errOut, "is offline") {
		t.Errorf("connect to an offline node: exit %d, %q", code, errOut)
	}
	rc, err := c.admin.Logs(ctx, id, "log")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if !strings.Contains(string(b), "seen-before-42") {
		t.Errorf("transcript lacks what the user saw:\n%s", b)
	}
}

func loginToken(t *testing.T, ctx context.Context, c *cluster) string {
	ca, _ := os.ReadFile(filepath.Join(c.dir, "server", "tls", "ca.crt"))
	anon, _ := client.New(client.Config{Server: "https://" + c.addr, CA: string(ca)})
	res, err := anon.Login(ctx, "", "admin", "admin-pw")
	if err != nil {
		t.Fatal(err)
	}
	return res.Token
}

// TestPortSessionServerCrash kills the server under a port session with a
// connection open: the restarted server recovers the session, records the
// lost connection as closed by the restart with its bytes uncounted, and
// numbers the session's next connection after it.
func TestPortSessionServerCrash(t *testing.T) {
	ctx := testCtx(t)
	c := startCluster(t, ctx, "2m")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(conn, conn); conn.Close() }() // echoes until the client's end
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	s, err := c.admin.StartSession(ctx, api.StartSessionRequest{Target: c.nodeID, Document: "Postern-StartPortForwardingSession",
		Parameters: map[string]string{"portNumber": fmt.Sprint(port)}})
	if err != nil {
		t.Fatal(err)
	}
	echo := func(conn net.Conn, msg string) {
		t.Helper()
		conn.SetDeadline(time.Now().Add(time.Minute))
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, b); err != nil || string(b) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, b, err)
		}
	}
	conn, err := c.admin.DialForward(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(conn, "before the crash")
	// The connection's opening is durable once the API lists it.
	if cs, err := c.admin.Connections(ctx, s.ID); err != nil || len(cs) != 1 || cs[0].EndTime != nil {
		t.Fatalf("connections before the crash: %+v, %v", cs, err)
	}
	c.server.signal(syscall.SIGKILL)
	<-c.server.done
	c.startServer(ctx, "2m")
	c.waitOnline(ctx)

	cs, err := c.admin.Connections(ctx, s.ID)
	if err != nil || len(cs) != 1 || cs[0].ID != 1 || cs[0].CloseReason != "ServerRestarted" || cs[0].EndTime == nil ||
		cs[0].BytesFromClient != nil || cs[0].BytesFromTarget != nil || cs[0].TargetPort != port {
		t.Fatalf("connections after the restart: %+v, %v; want the first closed by the restart, uncounted", cs, err)
	}
	// The recovered session forwards on, numbering after the lost one.
	conn2, err := c.admin.DialForward(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	echo(conn2, "after the restart")
	conn2.Close()
	if _, err := c.admin.Terminate(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	cs, err = c.admin.Connections(ctx, s.ID)
	if err != nil || len(cs) != 2 || cs[1].ID != 2 || cs[1].CloseReason == "" || cs[1].BytesFromClient == nil || *cs[1].BytesFromClient != int64(len("after the restart")) {
		t.Fatalf("connections at the end: %+v, %v", cs, err)
	}
}
