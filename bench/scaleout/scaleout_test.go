//go:build linux

// Package scaleout measures three Postern servers behind a load balancer
// against one server, on the same PostgreSQL and MinIO: how many sessions
// a second they start, and how long a fleet's agents take to be back on
// a live server after a server is lost. It is a benchmark run as a test,
// for the helpers that start PostgreSQL and MinIO (pgtest, miniotest),
// and only when asked:
//
//	POSTERN_BENCH_SCALEOUT=1 go test -run TestScaleOut -v -timeout 30m ./bench/scaleout
//	POSTERN_BENCH_SCALEOUT=1 go test -run TestScaleOut -v ./bench/scaleout -args -agents 200 -starts 400
//
// For each layout it builds postern, starts the servers (one; or three
// behind HAProxy in TCP mode, round robin, as the README's "Several
// servers" deploys them), registers -agents nodes through the real
// activation path and runs them as real agents of package agent in this
// process, then:
//
//   - starts -starts sessions (each runs `true`), -concurrency at a time,
//     through the client package as `postern exec` does, and counts the
//     starts a second (a start returns once the node's agent has opened
//     the session; with three servers most are forwarded from the server
//     the balancer picked to the node's);
//   - kills a server (SIGKILL): the one server, which is then started
//     again on the same data directory (the only way back for one
//     server), or of three the one holding the most agents, whose data
//     directory is removed and which stays dead; the clock runs from the
//     kill until every agent is online on a live server (placements in
//     the database, which a server writes when an agent's hello is in).
//
// Nothing here fails on a number: it prints them, with the ratios.
package scaleout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/s3logs/miniotest"
	"github.com/postern/postern/store/postgres"
	"github.com/postern/postern/store/postgres/pgtest"
)

var (
	agents      = flag.Int("agents", 50, "nodes (agents of package agent, in this process)")
	starts      = flag.Int("starts", 200, "sessions started per layout")
	concurrency = flag.Int("concurrency", 10, "session starts in flight at once")
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// result is one layout's numbers.
type result struct {
	startsPerSec float64
	back         time.Duration
}

func TestScaleOut(t *testing.T) {
	if os.Getenv("POSTERN_BENCH_SCALEOUT") != "1" {
		t.Skip("a benchmark: POSTERN_BENCH_SCALEOUT=1 go test -run TestScaleOut -v ./bench/scaleout")
	}
	bin := filepath.Join(t.TempDir(), "postern")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/postern/postern/cmd/postern").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s3 := miniotest.Start(t)
	s3.CreateBucket(t, "postern-recordings", false)
	one := measure(t, bin, s3, 1)
	three := measure(t, bin, s3, 3)
	fmt.Printf("\n%d agents, %d session starts (%d in flight), PostgreSQL and MinIO on this machine\n", *agents, *starts, *concurrency)
	fmt.Printf("%-52s %14s %14s %8s\n", "", "one server", "three servers", "ratio")
	fmt.Printf("%-52s %14.1f %14.1f %7.2fx\n", "sessions started per second (higher is better)", one.startsPerSec, three.startsPerSec, three.startsPerSec/one.startsPerSec)
	fmt.Printf("%-52s %14s %14s %7.2fx\n", "agents all back after a server's SIGKILL (lower)", one.back.Round(time.Millisecond), three.back.Round(time.Millisecond), float64(three.back)/float64(one.back))
	fmt.Printf("(one server: started again on its data directory; three: the busiest lost with its disk, the others take its agents)\n")
}

// proc is a postern server process.
type proc struct {
	name, data, addr, cfg string
	cmd                   *exec.Cmd
	out                   *syncBuffer
	done                  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// measure runs one layout of n servers (behind HAProxy when n > 1).
func measure(t *testing.T, bin string, s3 *miniotest.Server, n int) result {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	dir := t.TempDir()
	root := make([]byte, 32)
	rand.Read(root)
	env := append(os.Environ(), "POSTERN_ADMIN_PASSWORD=admin-pw", "HOME="+dir, "POSTERN_ROOT_KEY="+base64.StdEncoding.EncodeToString(root))
	shared := filepath.Join(dir, "shared")
	os.MkdirAll(shared, 0o700)
	prefix := fmt.Sprintf("bench-%d", n)

	servers := make([]*proc, n)
	start := func(p *proc) {
		p.cmd = exec.Command(bin, "server", "--data", p.data, "--config", p.cfg)
		p.cmd.Env = env
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		p.out, p.done = &syncBuffer{}, make(chan struct{})
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.done) }()
		for !regexp.MustCompile(`listening on https://`).MatchString(p.out.String()) {
			select {
			case <-p.done:
				t.Fatalf("server %s exited:\n%s", p.name, p.out.String())
			case <-ctx.Done():
				t.Fatalf("server %s did not start:\n%s", p.name, p.out.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	kill := func(p *proc) {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	for i := range servers {
		p := &proc{name: string(rune('a' + i)), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		p.data = filepath.Join(dir, "server-"+p.name)
		cfg := fmt.Sprintf("database: %q\nlisten: %q\ngrace: 2m\n"+
			"s3: {endpoint: %q, region: %q, accessKeyId: %q, secretAccessKey: %q, timeout: 5s}\n"+
			"recordings: {s3BucketName: postern-recordings, s3KeyPrefix: %s}\n",
			dsn, p.addr, s3.URL(), s3.Region(), s3.AccessKey(), s3.SecretKey(), prefix)
		if i > 0 {
			cfg += fmt.Sprintf("caCert: %q\ncaKey: %q\n", filepath.Join(shared, "ca.crt"), filepath.Join(shared, "ca.key"))
		}
		p.cfg = filepath.Join(dir, p.name+".yaml")
		os.WriteFile(p.cfg, []byte(cfg), 0o600)
		start(p)
		servers[i] = p
		t.Cleanup(func() { kill(p) })
		if i == 0 {
			for _, f := range []string{"ca.crt", "ca.key"} {
				b, err := os.ReadFile(filepath.Join(p.data, "tls", f))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(shared, f), b, 0o600)
			}
		}
	}
	url := "https://" + servers[0].addr
	if n > 1 {
		url = "https://" + loadBalancer(t, servers)
	}
	caFile := filepath.Join(shared, "ca.crt")
	ca, _ := os.ReadFile(caFile)
	var admin *client.Client
	for {
		anon, _ := client.New(client.Config{Server: url, CA: string(ca)})
		res, err := anon.Login(ctx, "", "admin", "admin-pw")
		if err == nil {
			admin, _ = client.New(client.Config{Server: url, CA: string(ca), Token: res.Token})
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("login: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}

	// The fleet.
	act, err := admin.CreateActivation(ctx, api.CreateActivationRequest{RegistrationLimit: *agents})
	if err != nil {
		t.Fatal(err)
	}
	runAs := ""
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	actx, stopAgents := context.WithCancel(context.Background())
	var running sync.WaitGroup
	t.Cleanup(func() { stopAgents(); running.Wait() })
	var nodes []string
	for i := range *agents {
		adir := filepath.Join(dir, fmt.Sprintf("agent-%d", i))
		id, err := agent.Register(ctx, agent.RegisterOptions{Server: url, Code: act.Code, ID: act.ID, CAFile: caFile, Dir: adir, Name: fmt.Sprintf("node-%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, id.NodeID)
		ag, err := agent.New(agent.Config{Dir: adir, DefaultRunAs: runAs})
		if err != nil {
			t.Fatal(err)
		}
		running.Go(func() { ag.Run(actx) })
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// allPlaced waits until every node's link is on a server of live.
	allPlaced := func(live map[string]bool) {
		for {
			placed, err := st.PlacementsWith(ctx, "node/")
			if err != nil {
				t.Fatal(err)
			}
			ok := len(placed) == len(nodes)
			for _, srv := range placed {
				ok = ok && live[srv]
			}
			if ok {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("agents not back: %v", placed)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	instances := map[string]bool{}
	instance := func(p *proc) string {
		id, err := os.ReadFile(filepath.Join(p.data, "instance-id"))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := os.Hostname()
		return h + "/" + strings.TrimSpace(string(id))
	}
	for _, p := range servers {
		instances[instance(p)] = true
	}
	allPlaced(instances)

	// Session starts, -concurrency at a time.
	began := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range *concurrency {
		wg.Go(func() {
			for i := range jobs {
				if _, err := admin.StartSession(ctx, api.StartSessionRequest{Target: nodes[i%len(nodes)], Command: []string{"true"}}); err != nil {
					t.Errorf("start a session: %v", err)
				}
			}
		})
	}
	for i := range *starts {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	var r result
	r.startsPerSec = float64(*starts) / time.Since(began).Seconds()

	// A server's loss.
	victim := servers[0]
	if n > 1 {
		placed, err := st.PlacementsWith(ctx, "node/")
		if err != nil {
			t.Fatal(err)
		}
		most := -1
		for _, p := range servers {
			k := 0
			for _, srv := range placed {
				if srv == instance(p) {
					k++
				}
			}
			if k > most {
				victim, most = p, k
			}
		}
	}
	vi := instance(victim)
	kill(victim)
	killed := time.Now()
	if n == 1 {
		start(victim)
	} else {
		os.RemoveAll(victim.data)
		delete(instances, vi)
	}
	allPlaced(instances)
	r.back = time.Since(killed)
	if n == 1 {
		// Placed again by the same instance: wait for the agents' new
		// links, not the dead process's rows. Every agent reconnected
		// once the server lists them online.
		for {
			ns, err := admin.Nodes(ctx)
			online := 0
			for _, nd := range ns {
				if nd.Online {
					online++
				}
			}
			if err == nil && online == len(nodes) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.back = time.Since(killed)
	}
	t.Logf("%d server(s): %.1f starts/s; agents back %v after the kill", n, r.startsPerSec, r.back.Round(time.Millisecond))
	return r
}

// loadBalancer runs HAProxy in front of servers and returns its address.
func loadBalancer(t *testing.T, servers []*proc) string {
	hp, err := exec.LookPath("haproxy")
	if err != nil {
		if hp, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			t.Skip("haproxy is not installed (scripts/install-test-deps installs it)")
		}
	}
	lb := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf("defaults\n\tmode tcp\n\ttimeout connect 2s\n\ttimeout client 1h\n\ttimeout server 1h\n\tretries 3\n\toption redispatch\n"+
		"frontend postern\n\tbind %s\n\tdefault_backend servers\nbackend servers\n\tbalance roundrobin\n", lb)
	for _, p := range servers {
		cfg += fmt.Sprintf("\tserver %s %s check inter 500ms fall 2 rise 2\n", p.name, p.addr)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(path, []byte(cfg), 0o600)
	cmd := exec.Command(hp, "-db", "-f", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return lb
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
