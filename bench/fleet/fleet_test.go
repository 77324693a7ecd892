//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestParseFlagsQuickFillsWhatIsNotGiven(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-agents", "300"})
	if err != nil {
		t.Fatal(err)
	}
	if c.agents != 300 || c.sessions != 20 || c.idleAgents != 100 || c.idleWindow != 15*time.Second || c.echoSamples != 300 {
		t.Errorf("-quick -agents 300: agents %d sessions %d idle %d window %v samples %d; want 300 20 100 15s 300",
			c.agents, c.sessions, c.idleAgents, c.idleWindow, c.echoSamples)
	}
	c, err = parseFlags([]string{"-only", "storm, load"})
	if err != nil || c.runs("idle") || !c.runs("storm") || !c.runs("load") {
		t.Errorf("-only storm,load: idle %v storm %v load %v (%v)", c.runs("idle"), c.runs("storm"), c.runs("load"), err)
	}
	c, err = parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.agents != 5000 || c.sessions != 200 || c.idleAgents != 1000 || c.idleWindow != time.Minute || !c.runs("idle") {
		t.Errorf("defaults: agents %d sessions %d idle %d window %v; want 5000 200 1000 1m", c.agents, c.sessions, c.idleAgents, c.idleWindow)
	}
}

func TestParseFlagsRefusesWhatCannotRun(t *testing.T) {
	for _, args := range [][]string{
		{"-agents", "100", "-sessions", "50", "-idle-agents", "60"}, // the load scenario needs 110 of 100
		{"-agents", "0"},
		{"-rate", "0"},
		{"-rate", "5000"},
		{"-line-bytes", "8"},
		{"-idle-window", "1s"},
		{"-echo-samples", "3"},
		{"-echo-gap", "-1ms"},
		{"-only", "idle,bogus"},
		{"-sources", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// comm may hold spaces and parentheses; utime and stime are fields 14
	// and 15.
	line := "4242 (post ern) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 11 0 1000 2000000 3000 18446744073709551615"
	got, err := parseStatCPU(line)
	if err != nil || got != 1234+567 {
		t.Errorf("parseStatCPU = %d, %v; want %d", got, err, 1234+567)
	}
	for _, bad := range []string{"", "4242 postern S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 -5 567 0 0"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted it", bad)
		}
	}
}

func TestParseMemStatus(t *testing.T) {
	status := "Name:\tpostern\nVmPeak:\t 2000000 kB\nVmRSS:\t  618700 kB\nRssAnon:\t  600000 kB\nRssFile:\t   18700 kB\nThreads:\t11\n"
	m, err := parseMemStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 618700<<10 || m.RSSAnon != 600000<<10 || m.Threads != 11 {
		t.Errorf("parseMemStatus = %+v", m)
	}
	if _, err := parseMemStatus(strings.NewReader("Name:\tx\nThreads:\t1\n")); err == nil {
		t.Error("a status without VmRSS was accepted")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 25021
# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 3.122e+08
# TYPE postern_things_total counter
postern_things_total 7
`
	v, err := parseMetrics(strings.NewReader(text), "go_goroutines", "go_memstats_heap_inuse_bytes", "postern_things_total")
	if err != nil {
		t.Fatal(err)
	}
	if v["go_goroutines"] != 25021 || v["go_memstats_heap_inuse_bytes"] != 3.122e8 || v["postern_things_total"] != 7 {
		t.Errorf("parseMetrics = %v", v)
	}
	if _, err := parseMetrics(strings.NewReader(text), "go_memstats_stack_inuse_bytes"); err == nil {
		t.Error("a missing metric was not an error")
	}
	if _, err := parseMetrics(strings.NewReader("not metrics {"), "x"); err == nil {
		t.Error("garbage was parsed")
	}
}

// TestClassifyAgentLog feeds the classifier lines as agent.Run writes
// them, with the WebSocket library's real error for a refused upgrade.
func TestClassifyAgentLog(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, _, dialErr := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if dialErr == nil {
		t.Fatal("the upgrade succeeded against a server that answers 503")
	}
	lost := func(err string) string {
		return fmt.Sprintf("agent: connection to %s lost: %v; reconnecting in %v", "https://127.0.0.1:8443", err, 731*time.Millisecond)
	}
	for _, tc := range []struct {
		line string
		want agentLogKind
	}{
		{lost(dialErr.Error()), logRefused},
		{lost("server refused this node (401 Unauthorized): failed to WebSocket dial: expected handshake response status code 101 but got 401"), logRefused},
		{lost("failed to WebSocket dial: failed to send handshake request: Get \"https://127.0.0.1:8443/v1/agent/connect\": dial tcp 127.0.0.1:8443: connect: connection refused"), logLost},
		{lost("connection closed"), logLost},
		{"agent: connected to https://127.0.0.1:8443 as mi-0a1b2c3d4e5f60718", logOther},
		{"agent: session alice-07e2d6c1b9a3f4e51 started for alice as bob (pid 7)", logOther},
		{"", logOther},
	} {
		if got := classifyAgentLog(tc.line); got != tc.want {
			t.Errorf("classifyAgentLog(%q) = %d, want %d", tc.line, got, tc.want)
		}
	}
}

func TestPrintTable(t *testing.T) {
	rows := []row{
		atMost("memory per agent", "40.0 KiB", 40<<10, 64<<10, "<= 64 KiB"),
		atMost("echo p99", "12.0 ms", 12, 10, "<= 10 ms"),
		info("idle CPU", "4.75 CPU-s/min"),
		{Metric: "refused for good", Value: "0", Target: "none", Ratio: math.NaN(), Met: "yes"},
	}
	var b bytes.Buffer
	if err := printTable(&b, rows, []string{"note one"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines, want header, 4 rows, a blank line and a note:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"metric", "value", "target", "ratio", "met"},
		{"memory per agent", "40.0 KiB", "<= 64 KiB", "0.62x", "yes"},
		{"echo p99", "12.0 ms", "<= 10 ms", "1.20x", "no"},
		{"idle CPU", "4.75 CPU-s/min", "(info)"},
		{"refused for good", "0", "none", "yes"},
	} {
		last := 0
		for _, cell := range want {
			at := strings.Index(lines[i][last:], cell)
			if at < 0 {
				t.Errorf("line %d %q lacks %q after column %d", i, lines[i], cell, last)
				break
			}
			last += at + len(cell)
		}
	}
	// Columns line up: every row's value starts where the header's does.
	col := strings.Index(lines[0], "value")
	for _, l := range lines[1:5] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("value column not at %d in %q", col, l)
		}
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing spaces: %q", l)
		}
	}
	if lines[6] != "note one" {
		t.Errorf("notes: %q", lines[6])
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, time.Millisecond}, {50, 50500 * time.Microsecond}, {99, 99010 * time.Microsecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentile sorted its argument")
	}
	if percentile(nil, 99) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestPerAgentAndFormatting(t *testing.T) {
	if got := perAgent(100<<20, 100<<20+5000*40<<10, 5000); got != 40<<10 {
		t.Errorf("perAgent = %v, want %v", got, 40<<10)
	}
	if !math.IsNaN(perAgent(1, 2, 0)) {
		t.Error("perAgent over no agents is not NaN")
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 5000: "5,000", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{512: "512 B", 40 << 10: "40.0 KiB", -3 << 20: "-3.0 MiB", 5 << 30: "5.00 GiB"} {
		if got := fmtBytes(v); got != want {
			t.Errorf("fmtBytes(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestStreamScript runs a streaming session's command in bash for a moment
// and checks what it prints: numbered lines of exactly the asked length.
func TestStreamScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "bash", "-c", streamScript(40, 10*time.Millisecond)).Output() // killed at the deadline
	lines := strings.Split(string(out), "\n")
	lines = lines[:len(lines)-1] // the text after the last newline, complete or not
	if len(lines) < 2 {
		t.Fatalf("bash printed %q", out)
	}
	for i, l := range lines {
		if len(l)+1 != 40 {
			t.Errorf("line %d is %d bytes with its newline, want 40: %q", i, len(l)+1, l)
		}
		num, pad, ok := strings.Cut(l, " ")
		if n, err := strconv.Atoi(num); !ok || err != nil || n != i+1 || strings.Trim(pad, "x") != "" {
			t.Errorf("line %d = %q, want %08d and x padding", i, l, i+1)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("4242 (post ern) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 11 0 1000")
	f.Add("1 (a) R")
	f.Add(")")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseStatCPU(s)
		if err == nil && v < 0 {
			t.Errorf("parseStatCPU(%q) = %d", s, v)
		}
	})
}

func FuzzParseMemStatus(f *testing.F) {
	f.Add("VmRSS:\t  618700 kB\nRssAnon:\t 600000 kB\nThreads:\t11\n")
	f.Add("VmRSS:")
	f.Add("VmRSS: -1 kB")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMemStatus(strings.NewReader(s))
		if err == nil && (m.RSS < 0 || m.RSSAnon < 0 || m.Threads < 0) {
			t.Errorf("parseMemStatus(%q) = %+v", s, m)
		}
	})
}

func FuzzClassifyAgentLog(f *testing.F) {
	f.Add("agent: connection to https://x lost: server refused this node (401); reconnecting in 1s")
	f.Add("agent: connection to  lost: ")
	f.Fuzz(func(t *testing.T, s string) {
		if k := classifyAgentLog(s); k != logOther && !strings.HasPrefix(s, "agent: connection to ") {
			t.Errorf("classifyAgentLog(%q) = %d for a line that is not about a connection", s, k)
		}
	})
}

func TestSourceAddr(t *testing.T) {
	for _, tc := range []struct {
		i, sources int
		want       string
	}{{0, 1, "127.0.0.1"}, {7, 1, "127.0.0.1"}, {0, 250, "127.0.0.2"}, {249, 250, "127.0.0.251"}, {250, 250, "127.0.0.2"}, {300, 1000, "127.0.1.46"}} {
		if got := sourceAddr(tc.i, tc.sources).String(); got != tc.want {
			t.Errorf("sourceAddr(%d, %d) = %s, want %s", tc.i, tc.sources, got, tc.want)
		}
	}
}
