package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/recording"
)

// TestAgentOutputAfterGrace black-holes the link between a node's agent
// and the server (a TCP proxy between the two processes) for longer than
// the server's grace period, while a command prints numbered lines. The
// session fails as AgentDisconnected and the command goes on; when the
// link is back, the agent hands over what the command printed meanwhile
// and ends it. The recording then holds every line exactly once, in order,
// with the late marker where the late part begins; the command's process
// is gone; and every destination gets the complete recording: S3 objects
// rewritten, the CloudWatch Logs transcript in a stream of its own, the
// built-in log store's stream carried on.
func TestAgentOutputAfterGrace(t *testing.T) {
	// Liveness on real links takes up to 30 s to notice a black hole, on
	// each side: more than testCtx's usual two minutes may be needed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := startDestinations(t)
	c := &cluster{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	c.server = start(t, append(c.serverEnv(), d.env()...), "server", "--data", filepath.Join(c.dir, "server"), "--listen", c.addr, "--grace", "3s")
	c.server.waitFor(ctx, regexp.MustCompile(`listening on https://`))
	ca, err := os.ReadFile(filepath.Join(c.dir, "server", "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tok := loginToken(t, ctx, c)
	cfg := client.Config{Server: "https://" + c.addr, CA: string(ca), Token: tok}
	if c.admin, err = client.New(cfg); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: c.dir, home: filepath.Join(c.dir, "cli")}
	if err := client.SaveConfig(e.home, cfg); err != nil {
		t.Fatal(err)
	}

	// The agent reaches the server through the proxy only.
	proxy, err := netfault.New(c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	defer proxy.Stall(false)
	act, err := c.admin.CreateActivation(ctx, api.CreateActivationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(c.dir, "agent")
	reg := start(t, nil, "agent", "register", "--dir", agentDir, "--server", "https://"+proxy.Addr(), "--code", act.Code, "--id", act.ID, "--ca-pin", act.CAPin)
	c.nodeID = reg.waitFor(ctx, regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`))[1]
	c.agent = start(t, nil, "agent", "run", "--dir", agentDir)
	c.waitOnline(ctx)

	prefs := filepath.Join(t.TempDir(), "prefs.json")
	doc := `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"s3BucketName": "` + exampleBucket +
		`", "s3KeyPrefix": "late", "s3EncryptionEnabled": true, "cloudWatchLogGroupName": "` + exampleGroup + `"}}`
	if err := os.WriteFile(prefs, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "prefs", "set", "-f", prefs)

	script := `echo pid=$$; i=0; while :; do i=$((i+1)); echo line-$i; if [ $((i % 100)) -eq 0 ]; then sleep 0.1; fi; done`
	sess, err := c.admin.StartSession(ctx, api.StartSessionRequest{Target: c.nodeID, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	id := sess.ID
	// A client stays attached, so that only the agent's absence can end
	// the session.
	var out syncBuf
	type result struct {
		exit string
		err  error
	}
	clientDone := make(chan result, 1)
	go func() {
		exit, err := c.admin.RunTerminal(ctx, id, client.TerminalIO{Out: &out, Notices: io.Discard}, client.ResumeOptions{})
		clientDone <- result{exit.Status + "/" + exit.Reason, err}
	}()
	for !strings.Contains(out.String(), "line-200\r\n") {
		select {
		case <-ctx.Done():
			t.Fatalf("the command's output never showed; got %q", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	m := regexp.MustCompile(`pid=(\d+)\r\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no pid in %q", out.String())
	}
	pid, _ := strconv.Atoi(m[1])

	proxy.Stall(true)
	var s api.Session
	for {
		if s, err = c.admin.Session(ctx, id); err != nil {
			t.Fatal(err)
		}
		if !isActive(s) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the session did not fail while its agent was away: %+v", s)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if s.Status != "Failed" || s.StatusReason != "AgentDisconnected" {
		t.Fatalf("session = %s/%s, want Failed/AgentDisconnected", s.Status, s.StatusReason)
	}
	if res := <-clientDone; res.err != nil || !strings.HasPrefix(res.exit, "Failed/lost contact with node") {
		t.Errorf("client saw %q, %v; want the failure and why", res.exit, res.err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the command is gone while its agent is away: %v", err)
	}
	failedLog := e.mustRun(ctx, "logs", "get", id)

	proxy.Stall(false)
	doneRE := regexp.MustCompile(`Script done on .* \[COMMAND_EXIT_CODE="(\d+)"\]\n$`)
	var log string
	for {
		log = e.mustRun(ctx, "logs", "get", id)
		if doneRE.MatchString(log) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the late output never arrived; the transcript ends:\n%s", tail(log, 400))
		case <-time.After(200 * time.Millisecond):
		}
	}
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		select {
		case <-ctx.Done():
			t.Fatalf("the command (pid %d) still runs after its output was handed over", pid)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cast := e.mustRun(ctx, "logs", "get", id, "--format", "cast")
	_, events, err := recording.ReadCast(strings.NewReader(cast))
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	markers, onTime, late := 0, 0, 0
	for _, ev := range events {
		switch {
		case ev.Type == "m" && strings.HasPrefix(ev.Data, "late output: the server ended this session at "):
			markers++
			if !strings.Contains(ev.Data, "(AgentDisconnected); node "+c.nodeID+" handed over what follows at ") {
				t.Errorf("late marker %q", ev.Data)
			}
		case ev.Type == "o" && markers == 0:
			onTime += len(ev.Data)
			all.WriteString(ev.Data)
		case ev.Type == "o":
			late += len(ev.Data)
			all.WriteString(ev.Data)
		}
	}
	if markers != 1 || late == 0 {
		t.Fatalf("%d late markers, %d bytes after them; want one marker with the late output after it", markers, late)
	}
	last := checkLines(t, all.String(), pid)
	t.Logf("%d bytes recorded in time, %d late; last line %d", onTime, late, last)
	if s, _ := c.admin.Session(ctx, id); s.Status != "Failed" || s.StatusReason != "AgentDisconnected" {
		t.Errorf("after the late output the session is %s/%s, want still Failed/AgentDisconnected", s.Status, s.StatusReason)
	}
	if strings.Contains(failedLog, fmt.Sprintf("line-%d\r", last)) || !strings.Contains(log, fmt.Sprintf("line-%d\n", last)) {
		t.Errorf("the transcript did not grow with the late output")
	}

	// Destinations: S3 has the complete artifacts, byte for byte what the
	// server renders; CloudWatch Logs the complete transcript in a stream
	// of its own (the first one stays as delivered); the built-in log
	// store the late lines, after the ones it had.
	lastLine := fmt.Sprintf("line-%d", last)
	waitUntil(ctx, t, "S3 to get the late output", func() bool {
		for format, want := range map[string]string{"log": log, "cast": cast} {
			got, err := getObject(ctx, d, exampleBucket, "late/"+id+"."+format)
			if err != nil || string(got) != want {
				return false
			}
		}
		return true
	})
	var lateStream string
	waitUntil(ctx, t, "the CloudWatch Logs transcript to be delivered again", func() bool {
		s, err := c.admin.Session(ctx, id)
		if err != nil {
			return false
		}
		for _, l := range s.Logs {
			if l.Destination == "cloudwatch" && l.Format == "log" && l.Status == "Delivered" && strings.Contains(l.Location, "/"+id+"-late-") {
				lateStream = l.Location[strings.LastIndex(l.Location, "/")+1:]
				return true
			}
		}
		return false
	})
	var cw []string
	for _, ev := range d.cw.Events(exampleGroup, lateStream) {
		cw = append(cw, ev.Message)
	}
	if got := strings.Join(cw, "\n") + "\n"; got != log {
		t.Errorf("CloudWatch Logs stream %s differs from the transcript (%d bytes, want %d)", lateStream, len(got), len(log))
	}
	var first []string
	for _, ev := range d.cw.Events(exampleGroup, id) {
		first = append(first, ev.Message)
	}
	if got := strings.Join(first, "\n") + "\n"; got != failedLog {
		t.Errorf("the first CloudWatch Logs transcript changed (%d bytes, was %d)", len(got), len(failedLog))
	}
	waitUntil(ctx, t, "the built-in log store to get the late lines", func() bool {
		out, _, code := e.run(ctx, "logs", "tail", "--session", id, "-o", "json")
		if code != 0 {
			return false
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var ev api.LogEvent
			if json.Unmarshal([]byte(line), &ev) == nil && strings.Contains(ev.Message, `"`+lastLine+`"`) {
				return true
			}
		}
		return false
	})
}

// checkLines checks output of `echo pid=$$` and then line-1, line-2, ...:
// every line once, in order (the last may be cut off), and returns the
// number of the last whole line.
func checkLines(t *testing.T, out string, pid int) int {
	t.Helper()
	lines := strings.Split(out, "\r\n")
	if lines[0] != fmt.Sprintf("pid=%d", pid) {
		t.Fatalf("first line %q", lines[0])
	}
	lines = lines[1:]
	whole := 0
	for i, l := range lines {
		want := fmt.Sprintf("line-%d", i+1)
		if l == want {
			whole = i + 1
			continue
		}
		if i == len(lines)-1 && strings.HasPrefix(want, l) {
			break
		}
		t.Fatalf("line %d is %q, want %q: output was lost, repeated or reordered", i+1, l, want)
	}
	return whole
}

func getObject(ctx context.Context, d *destinations, bucket, key string) ([]byte, error) {
	out, err := d.minio.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// syncBuf is a strings.Builder safe for a writer and a reader goroutine.
type syncBuf struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
