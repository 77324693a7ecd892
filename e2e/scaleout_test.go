package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/s3logs/miniotest"
	"github.com/postern/postern/store/postgres"
	"github.com/postern/postern/store/postgres/pgtest"
)

// TestThreeServersLoseOne: three servers share PostgreSQL and MinIO
// behind a real TCP load balancer (HAProxy, round robin); 20 agents and
// the users' calls land on any of them. Every node runs a session that
// prints numbered lines, started through the load balancer (so most
// starts are forwarded to the server the node dialled), and the user's
// CLI runs one more on a node of the busiest server. The load balancer
// then drains that server, alive (its connections cut, none new): its
// nodes dial the others, which have it let go of their sessions and take
// them up. Then another server is killed (SIGKILL) and its data
// directory removed. Every agent is on a live server within 30 s of
// each, every session ends with every line exactly once and in order in
// its recording and in its client's output (each session has one,
// through the load balancer), and the CLI reconnects by itself and prints
// every line exactly once.
func TestThreeServersLoseOne(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if haproxy, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			t.Skip("haproxy is not installed (scripts/install-test-deps installs it)")
		}
	}
	ctx := testCtx(t)
	dsn := pgtest.NewDatabase(t)
	s3 := miniotest.Start(t)
	s3.CreateBucket(t, "postern-recordings", false)
	dir := t.TempDir()
	root := make([]byte, 32)
	rand.Read(root)
	srvEnv := []string{"POSTERN_ADMIN_PASSWORD=admin-pw", "HOME=" + dir, "POSTERN_ROOT_KEY=" + base64.StdEncoding.EncodeToString(root)}
	shared := filepath.Join(dir, "shared") // the cluster's CA
	os.MkdirAll(shared, 0o700)

	type server struct {
		name, data, addr string
		p                *proc
	}
	servers := make([]*server, 3)
	startServer := func(i int, ca bool) {
		s := &server{name: string(rune('a' + i)), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		s.data = filepath.Join(dir, "server-"+s.name)
		// leaseTTL: a dead server's commands and orphans are taken up
		// within two of it.
		// proxyProtocolFrom: HAProxy connects from 127.0.0.2 (source
		// below) and names each client in a PROXY header.
		cfg := fmt.Sprintf("database: %q\nlisten: %q\ngrace: 2m\nleaseTTL: 6s\nproxyProtocolFrom: [127.0.0.2]\n"+
			"s3: {endpoint: %q, region: %q, accessKeyId: %q, secretAccessKey: %q, timeout: 5s}\n"+
			"recordings: {s3BucketName: postern-recordings, s3KeyPrefix: fleet, shipInterval: 500ms}\n",
			dsn, s.addr, s3.URL(), s3.Region(), s3.AccessKey(), s3.SecretKey())
		if ca {
			cfg += fmt.Sprintf("caCert: %q\ncaKey: %q\n", filepath.Join(shared, "ca.crt"), filepath.Join(shared, "ca.key"))
		}
		p := filepath.Join(dir, s.name+".yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		s.p = start(t, srvEnv, "server", "--data", s.data, "--config", p)
		s.p.waitFor(ctx, regexp.MustCompile(`listening on https://`))
		servers[i] = s
	}
	startServer(0, false)
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(servers[0].data, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(shared, f), b, 0o600)
	}
	startServer(1, true)
	startServer(2, true)

	lb := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hsock := filepath.Join(dir, "haproxy.sock")
	hcfg := fmt.Sprintf(`global
	maxconn 4096
	stats socket %s mode 600 level admin
defaults
	mode tcp
	timeout connect 2s
	timeout client 1h
	timeout server 1h
	retries 3
	option redispatch
frontend postern
	bind %s
	default_backend servers
backend servers
	balance roundrobin
	source 127.0.0.2
	server a %s send-proxy-v2 check check-send-proxy inter 500ms fall 2 rise 2
	server b %s send-proxy-v2 check check-send-proxy inter 500ms fall 2 rise 2
	server c %s send-proxy-v2 check check-send-proxy inter 500ms fall 2 rise 2
`, hsock, lb, servers[0].addr, servers[1].addr, servers[2].addr)
	hpath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hpath, []byte(hcfg), 0o600); err != nil {
		t.Fatal(err)
	}
	hp := exec.Command(haproxy, "-db", "-f", hpath)
	var hout bytes.Buffer
	hp.Stdout, hp.Stderr = &hout, &hout
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hp.Process.Kill()
		hp.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", hout.String())
		}
	})

	ca, _ := os.ReadFile(filepath.Join(shared, "ca.crt"))
	url := "https://" + lb
	var tok string
	for {
		anon, _ := client.New(client.Config{Server: url, CA: string(ca)})
		res, err := anon.Login(ctx, "", "admin", "admin-pw")
		if err == nil {
			tok = res.Token
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("login through haproxy: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c := &cluster{t: t, dir: dir, addr: lb}
	c.admin, _ = client.New(client.Config{Server: url, CA: string(ca), Token: tok})

	// 20 agents, registered and connected through the load balancer.
	const agents = 20
	act, err := c.admin.CreateActivation(ctx, api.CreateActivationRequest{RegistrationLimit: agents})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for i := 0; i < agents; i++ {
		adir := filepath.Join(dir, fmt.Sprintf("agent-%d", i))
		reg := start(t, nil, "agent", "register", "--dir", adir, "--server", url, "--code", act.Code, "--id", act.ID, "--ca-pin", act.CAPin, "--name", fmt.Sprintf("node-%02d", i))
		nodes = append(nodes, reg.waitFor(ctx, regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`))[1])
		start(t, nil, "agent", "run", "--dir", adir)
	}
	waitAllOnline(ctx, t, c.admin, agents)

	// The drained server: the one with the most agents; the CLI's node
	// is one of them.
	drained, cliNode := servers[0], ""
	most := -1
	for _, s := range servers {
		var here []string
		for _, n := range nodes {
			if strings.Contains(s.p.Output(), "agent "+n+" connected") {
				here = append(here, n)
			}
		}
		if len(here) > most {
			drained, most, cliNode = s, len(here), here[0]
		}
	}
	t.Logf("agents per server: server %s, to be drained, holds %d of %d", drained.name, most, agents)

	// A session per node printing numbered lines, started through the
	// load balancer, at once.
	const lines = 800
	ids := make([]string, agents)
	began := time.Now()
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "s%d-line-$i"; if [ $((i %% 10)) -eq 0 ]; then sleep 0.1; fi; done`, lines, i)
			s, err := c.admin.StartSession(ctx, api.StartSessionRequest{Target: n, Command: []string{"/bin/sh", "-c", script}})
			if err != nil {
				t.Errorf("start a session on %s through the load balancer: %v", n, err)
				return
			}
			ids[i] = s.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d sessions started through the load balancer in %v", agents, time.Since(began).Round(time.Millisecond))

	// A client on every session, as `postern connect` is: through the
	// load balancer, reconnecting by itself wherever its session goes.
	outs := make([]bytes.Buffer, agents)
	var attached sync.WaitGroup
	noInput, closeInput := io.Pipe()
	defer closeInput.Close()
	for i, id := range ids {
		attached.Go(func() {
			if _, err := c.admin.RunTerminal(ctx, id, client.TerminalIO{In: noInput, Out: &outs[i], Notices: io.Discard}, client.ResumeOptions{}); err != nil {
				t.Errorf("the client of session %s: %v", id, err)
			}
		})
	}

	home := filepath.Join(dir, "cli")
	if err := client.SaveConfig(home, client.Config{Server: url, CA: string(ca), Token: tok}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, home: home}
	cli := exec.CommandContext(ctx, bin, "exec", cliNode, "--", "sh", "-c", `i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "cli-line-$i"; sleep 0.03; done`)
	cli.Env = append(os.Environ(), e.vars()...)
	var cliOut, cliErr bytes.Buffer
	cli.Stdout, cli.Stderr = &cliOut, &cliErr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}

	// Which server each node's link is on, from the database.
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	instance := func(s *server) string {
		id, err := os.ReadFile(filepath.Join(s.data, "instance-id"))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := os.Hostname()
		return h + "/" + strings.TrimSpace(string(id))
	}
	// waitNodesLeave waits until no node's link is on inst any more: each
	// agent has dialled another server and been placed there.
	waitNodesLeave := func(inst, what string, since time.Time) {
		for {
			placed, err := st.PlacementsWith(ctx, "node/")
			if err != nil {
				t.Fatal(err)
			}
			left := 0
			for _, srv := range placed {
				if srv == inst {
					left++
				}
			}
			if left == 0 && len(placed) == agents {
				t.Logf("every agent of the %s server was on another %v after it", what, time.Since(since).Round(time.Millisecond))
				return
			}
			if time.Since(since) > 30*time.Second {
				t.Fatalf("%d agents still on the %s server, %d placed in all, 30 s after it", left, what, len(placed))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The load balancer drains a live server: its connections (agents,
	// the CLI) are cut and it takes no new ones. Its nodes dial the
	// others, which ask it to let go of their sessions.
	// The server that will be killed.
	victim := servers[0]
	if victim == drained {
		victim = servers[1]
	}
	// Run Command on every node, sent to the server that will be killed
	// and still running through the drain and the kill: it carries the
	// command out and starts the invocations on nodes of the other
	// servers there; an invocation whose node moves is followed where it
	// goes; once it is dead, another server takes the command up.
	const cmdLines = 80
	onVictim, err := client.New(client.Config{Server: "https://" + victim.addr, CA: string(ca), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := onVictim.SendCommand(ctx, api.SendCommandRequest{DocumentName: "AWS-RunShellScript",
		Parameters: map[string][]string{"commands": {fmt.Sprintf(`for i in $(seq 1 %d); do echo "ran-$i-on-$AWS_SSM_INSTANCE_ID"; sleep 0.1; done`, cmdLines)}}, NodeIDs: nodes})
	if err != nil {
		t.Fatal(err)
	}

	// Every invocation started (one after the other) before the drain:
	// an invocation whose node moves while it is being started fails to
	// start (see the closing note), which is not what this test is about.
	for started := false; !started; {
		got, err := c.admin.Command(ctx, cmd.ID)
		if err != nil {
			t.Fatal(err)
		}
		started = len(got.Invocations) == agents
		for _, in := range got.Invocations {
			started = started && in.Status != "Pending"
		}
		time.Sleep(100 * time.Millisecond)
	}

	time.Sleep(1500 * time.Millisecond) // output flows, and some is shipped
	drainedAt := time.Now()
	haproxyCommand(t, hsock, "set server servers/"+drained.name+" state maint")
	haproxyCommand(t, hsock, "shutdown sessions server servers/"+drained.name)
	waitNodesLeave(instance(drained), "drained", drainedAt)
	if !strings.Contains(drained.p.Output(), "let go of its sessions") {
		t.Errorf("the drained server let go of no session: its nodes' sessions were not handed over")
	}

	// Then another server dies (SIGKILL) and loses its data directory.
	victimInstance := instance(victim)
	victim.p.signal(syscall.SIGKILL)
	<-victim.p.done
	killed := time.Now()
	if err := os.RemoveAll(victim.data); err != nil {
		t.Fatal(err)
	}
	waitNodesLeave(victimInstance, "killed", killed)
	waitAllOnline(ctx, t, c.admin, agents)

	if err := cli.Wait(); err != nil {
		t.Fatalf("postern exec across the server's loss: %v\nstderr: %s", err, cliErr.String())
	}
	if want := numberedLines(300, func(n int) string { return fmt.Sprintf("cli-line-%d\n", n) }); cliOut.String() != want {
		t.Errorf("the CLI printed %d bytes, want %d: lines lost, repeated or reordered across the server's loss\nstderr: %s", cliOut.Len(), len(want), cliErr.String())
	}
	for cmd.EndedAt == nil {
		time.Sleep(100 * time.Millisecond)
		if cmd, err = c.admin.Command(ctx, cmd.ID); err != nil {
			t.Fatal(err)
		}
	}
	if cmd.Status != "Success" || len(cmd.Invocations) != agents {
		t.Errorf("command %s: %s/%s with %d invocations; want Success on %d", cmd.ID, cmd.Status, cmd.StatusDetails, len(cmd.Invocations), agents)
	}
	for _, in := range cmd.Invocations {
		want := numberedLines(cmdLines, func(i int) string { return fmt.Sprintf("ran-%d-on-%s\n", i, in.NodeID) })
		if in.Status != "Success" || in.StandardOutputContent != want {
			t.Errorf("command %s on %s: %s/%s, output %q", cmd.ID, in.NodeID, in.Status, in.StatusDetails, in.StandardOutputContent)
		}
	}
	attached.Wait()
	for i, id := range ids {
		want := numberedLines(lines, func(n int) string { return fmt.Sprintf("s%d-line-%d\r\n", i, n) })
		if got := outs[i].String(); got != want {
			t.Errorf("session %s: its client printed %d bytes, want %d: lines lost, repeated or reordered across the drain and the kill", id, len(got), len(want))
		}
	}
	c.checkNumberedRecordings(ctx, ids, lines, "a drained server and the loss of another")
	took := 0
	for _, s := range servers {
		if s != victim {
			took += strings.Count(s.p.Output(), "took up session")
		}
	}
	if took < 4 {
		t.Errorf("the other servers took up %d sessions: the drain and the kill landed after they ended, so the test proved little", took)
	}
	takenUp := false
	for _, s := range servers {
		takenUp = takenUp || s != victim && strings.Contains(s.p.Output(), "command "+cmd.ID+" of admin: taken up from a server that is gone")
	}
	if !takenUp {
		t.Errorf("no server took command %s up from the killed one", cmd.ID)
	}

	// Behind the balancer the servers saw the clients' own addresses (the
	// PROXY header), not the balancer's: every request's audit record has
	// the test's 127.0.0.1 for source, whichever server wrote it
	// (forwarded requests included).
	records, err := c.admin.Audit(ctx, client.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sourced := 0
	for _, r := range records {
		if r.Source == "" {
			continue // the server's own (a session's start or end)
		}
		sourced++
		if host, _, _ := net.SplitHostPort(r.Source); host != "127.0.0.1" {
			t.Errorf("audit record %d (%s) has source %q: want the client's 127.0.0.1, not the balancer's 127.0.0.2", r.Seq, r.Action, r.Source)
			break
		}
	}
	if sourced == 0 {
		t.Error("no audit record has a source")
	}

	// The built-in log groups are in the database too: each live server,
	// asked directly, lists every session's stream of the sessions'
	// own group, whichever server wrote it (the killed one included).
	for _, s := range servers {
		if s == victim {
			continue
		}
		direct, _ := client.New(client.Config{Server: "https://" + s.addr, CA: string(ca), Token: tok})
		var missing []string
		var err error
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			var streams []api.LogStream
			streams, err = direct.LogStreams(ctx, "/postern/sessions")
			missing = nil
			for _, id := range ids {
				if err != nil || !slices.ContainsFunc(streams, func(st api.LogStream) bool { return strings.Contains(st.Name, id) }) {
					missing = append(missing, id)
				}
			}
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(missing) > 0 {
			t.Errorf("server %s lists no stream of /postern/sessions for %d sessions (%v): %v", s.name, len(missing), err, missing)
		}
	}
}

// haproxyCommand sends one command to HAProxy's runtime API.
func haproxyCommand(t *testing.T, sock, cmd string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("haproxy %q: %s", cmd, s)
	}
}

// waitAllOnline waits until n nodes are online, asked through the load
// balancer (each server counts the nodes connected to the others too).
func waitAllOnline(ctx context.Context, t *testing.T, admin *client.Client, n int) {
	t.Helper()
	for {
		ns, err := admin.Nodes(ctx)
		online := 0
		for _, nd := range ns {
			if nd.Online {
				online++
			}
		}
		if err == nil && online == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d agents online: %v", online, n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
