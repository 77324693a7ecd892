//go:build linux

// Command bench measures Postern against OpenSSH on this machine, side by
// side, and prints how Postern does against its performance targets.
//
//	go run ./bench                      # defaults: 512 MiB bulk, 2000 echo samples
//	go run ./bench -size 64MiB -n 500   # a quick run
//	go run ./bench -o json -out r.json  # also write the raw numbers
//	go run ./bench -only forward        # one measurement (echo, bulk, terminal, watch, forward, start, logstore, agent, stream)
//
// It builds the postern binary (without -race), starts `postern dev` (server
// and agent for this host in one process, with its profiler on) and a
// private sshd with throwaway keys, both on 127.0.0.1, and drives the real
// clients (`postern exec`/`postern connect` and `ssh -tt`) through pipes:
//
//   - echo round trip: one byte written to a remote `cat` in a PTY until
//     the terminal's echo comes back, idle and while another session of the
//     same server streams a file as fast as it can;
//   - bulk output: `cat` of a file of random base64 lines, drained by the
//     benchmark, with the CPU time of every process involved (Postern also
//     records every byte; the recording is checked afterwards, and a CPU
//     profile of postern dev over the run tells what recording cost);
//   - bulk output through a terminal: `postern connect` and `ssh -tt` on
//     a pseudo-terminal of the benchmark's, read the way a terminal
//     emulator reads it, while the login shell cats the bulk file;
//   - a late watcher (Postern only): `postern sessions watch` of a
//     session that already printed the bulk file twice, start to last
//     byte;
//   - port forwarding: one TCP connection through `postern forward` or
//     `ssh -N -L` carrying random bytes each way;
//   - session start: from starting the client to the first byte of the
//     remote login shell;
//   - log store (Postern only): 1,000,000 generated events of 1,000
//     sessions ingested into the log store, then queried;
//   - idle agents: -agents postern-agent processes registered against
//     postern dev and left idle: their memory (RSS, private) and CPU
//     (heartbeats) beside the sshd listener and an idle connection's sshd
//     processes; and the wall time of `postern --version` beside `ssh -V`;
//   - stream latency (Postern only): from a line's output on the node to a
//     CloudWatch Logs endpoint (cwlogstest's fake, in this process)
//     accepting the streamed event that holds it.
//
// Everything runs as the current user in a temporary directory that is
// removed at the end (-keep keeps it). Every process is stopped on any way
// out, Ctrl-C included. The benchmark needs Linux (/proc) and OpenSSH
// (./scripts/install-test-deps installs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	size     int64
	sizeText string
	n        int
	starts   int
	runs     int
	warm     int
	keep     bool
	output   string
	outFile  string
	bin      string
	args     []string

	// only is the measurements to run (-only); all of them when empty.
	only map[string]bool

	// forwardSize is what each transfer through a forwarded port carries
	// (-forward-size, by default -size).
	forwardSize     int64
	forwardSizeText string

	// agents is how many postern-agent processes idle (-agents), for
	// agentIdle; agentBin a postern-agent to use instead of building one;
	// versionRuns how many times --version runs per program.
	agents      int
	agentIdle   time.Duration
	agentBin    string
	versionRuns int
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.sizeText, "size", "512MiB", "size of the bulk file (e.g. 64MiB, 1GiB)")
	fs.StringVar(&c.forwardSizeText, "forward-size", "", "bytes per transfer through a forwarded port (default: -size)")
	fs.IntVar(&c.n, "n", 2000, "echo round-trip samples per measurement")
	fs.IntVar(&c.starts, "starts", 20, "session-start samples per side")
	fs.IntVar(&c.runs, "runs", 3, "bulk transfers, and forwarded transfers each way, per side (the best is reported)")
	fs.IntVar(&c.warm, "warm", 50, "echo samples discarded before each measurement")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, recordings; several GiB with the default -size)")
	fs.StringVar(&c.output, "o", "table", "table, or json to also write the raw numbers to -out")
	fs.StringVar(&c.outFile, "out", "bench-results.json", "where -o json writes")
	onlyText := fs.String("only", "", "run only these measurements, comma-separated: "+strings.Join(measurements, ","))
	fs.IntVar(&c.agents, "agents", 10, "idle postern-agent processes in the agent measurement")
	fs.DurationVar(&c.agentIdle, "agent-idle", 30*time.Second, "how long the agents idle while their CPU is measured")
	fs.StringVar(&c.agentBin, "postern-agent", "", "use this postern-agent binary instead of building ./cmd/postern-agent")
	fs.IntVar(&c.versionRuns, "version-runs", 20, "runs of postern --version and ssh -V each")
	fs.StringVar(&c.bin, "postern", "", "use this postern binary instead of building ./cmd/postern (e.g. to compare two builds)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench [flags]\n\nMeasures Postern against OpenSSH on loopback and prints a table.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = errPrinted // the flag package has said what is wrong
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if c.size, err = parseSize(c.sizeText); err != nil {
		return c, fmt.Errorf("-size: %w", err)
	}
	if c.size < 1<<20 {
		return c, errors.New("-size: at least 1MiB")
	}
	c.forwardSize = c.size
	if c.forwardSizeText != "" {
		if c.forwardSize, err = parseSize(c.forwardSizeText); err != nil {
			return c, fmt.Errorf("-forward-size: %w", err)
		}
		if c.forwardSize < 1<<20 {
			return c, errors.New("-forward-size: at least 1MiB")
		}
	}
	if c.n < 1 || c.starts < 1 || c.runs < 1 || c.warm < 0 {
		return c, errors.New("-n, -starts and -runs must be at least 1, -warm at least 0")
	}
	if c.agents < 1 || c.agentIdle < time.Second || c.versionRuns < 1 {
		return c, errors.New("-agents and -version-runs must be at least 1, -agent-idle at least 1s")
	}
	if c.output != "table" && c.output != "json" {
		return c, fmt.Errorf("-o %q: must be table or json", c.output)
	}
	if *onlyText != "" {
		c.only = map[string]bool{}
		for _, m := range strings.Split(*onlyText, ",") {
			m = strings.TrimSpace(m)
			if !slices.Contains(measurements, m) {
				return c, fmt.Errorf("-only: unknown measurement %q (want %s)", m, strings.Join(measurements, ", "))
			}
			c.only[m] = true
		}
	}
	c.args = args
	return c, nil
}

// measurements are the names -only takes, in the order they run.
var measurements = []string{"echo", "bulk", "terminal", "watch", "forward", "start", "logstore", "agent", "stream"}

// measures reports whether the measurement named m is to run.
func (c config) measures(m string) bool { return c.only == nil || c.only[m] }

// errPrinted is an error whose message is already on stderr.
var errPrinted = errors.New("(printed)")

// parseSize parses sizes like 512MiB, 64M, 1GiB, 100MB or 1048576.
// K, M and G alone are binary, as in most tools' size flags.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (use KiB, MiB, GiB, KB, MB or GB)", s, unit)
	}
	return int64(v * mult), nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if errors.Is(err, errPrinted) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the benchmark cleans up; a second one
		// kills it at once (its children die with it: see registry.start).
		<-ctx.Done()
		stop()
	}()
	err = run(ctx, cfg)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx too
	stop()
	if err != nil && interrupted {
		fmt.Fprintln(os.Stderr, "bench: interrupted; every process it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf prints progress to stderr; the table goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) error {
	if err := checkPrerequisites(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "postern-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			logf("kept %s", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()
	reg := &registry{}
	defer reg.cleanup() // before the directory goes (defers run last first)

	res := &results{
		Date:    time.Now().Format("2006-01-02 15:04 MST"),
		Machine: machineInfo(ctx),
		Command: commandLine(cfg.args),
		Settings: settings{SizeBytes: cfg.size, EchoSamples: cfg.n, EchoWarmup: cfg.warm, Starts: cfg.starts,
			BulkRuns: cfg.runs, ForwardBytes: cfg.forwardSize, ForwardRuns: cfg.runs, TempDir: tmp},
		Sides: map[string]*sideResult{"postern": {}, "openssh": {}},
	}
	nz := startNoise()
	hz, guessed := clockTicks()
	res.Settings.ClockTicks = hz
	if guessed {
		res.Warnings = append(res.Warnings, "getconf CLK_TCK failed; assumed 100 clock ticks per second for CPU times")
	}
	logf("%s", res.Machine.line())

	bin := filepath.Join(tmp, "postern")
	if cfg.bin != "" {
		bin = absPath(cfg.bin)
		logf("using %s", bin)
		res.Settings.Postern = bin
		if v, err := exec.CommandContext(ctx, bin, "version").Output(); err == nil {
			res.Settings.Postern += " (" + strings.TrimSpace(string(v)) + ")"
		}
	} else {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		logf("building postern (go build -o %s ./cmd/postern)", bin)
		bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		build := exec.CommandContext(bctx, "go", "build", "-o", bin, "./cmd/postern")
		build.Dir = root
		out, err := build.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("go build ./cmd/postern in %s: %v\n%s", root, err, out)
		}
		res.Settings.Postern = "built from " + gitRevision(ctx, root)
	}

	bulkFile := filepath.Join(tmp, "bulk.txt")
	var expect int64
	if cfg.measures("echo") || cfg.measures("bulk") || cfg.measures("terminal") || cfg.measures("watch") {
		logf("writing the bulk file (%s of random base64 lines)", fmtBytes(cfg.size))
		lines, err := makeBulkFile(bulkFile, cfg.size)
		if err != nil {
			return err
		}
		// The terminal turns each LF into CR LF on output, for both sides.
		expect = cfg.size + lines
	}

	var dest *streamDestination
	var extraEnv []string
	if cfg.measures("stream") {
		dest = startStreamDestination()
		defer dest.close()
		extraEnv = dest.env()
	}
	logf("starting postern dev and sshd on 127.0.0.1")
	pst, err := startPostern(ctx, reg, tmp, bin, extraEnv)
	if err != nil {
		return err
	}
	ssh, err := startOpenSSH(ctx, reg, tmp)
	if err != nil {
		return err
	}
	sides := []side{pst, ssh}

	steps := []struct {
		name string
		run  func() error
	}{
		{"echo", func() error { return measureEcho(ctx, reg, sides, bulkFile, cfg, res) }},
		{"bulk", func() error { return measureBulk(ctx, reg, sides, bulkFile, expect, hz, cfg, res) }},
		{"terminal", func() error { return measureTerminalBulk(ctx, reg, sides, bulkFile, cfg, res) }},
		{"watch", func() error { return measureLateWatch(ctx, reg, pst, bulkFile, expect, res) }},
		{"forward", func() error { return measureForward(ctx, reg, sides, hz, cfg, res) }},
		{"start", func() error { return measureStarts(ctx, reg, sides, cfg, res) }},
		{"logstore", func() error { return measureLogStore(ctx, tmp, res) }},
		{"agent", func() error { return measureAgents(ctx, reg, tmp, pst, ssh, cfg, res) }},
		// Last: it changes the account's preferences.
		{"stream", func() error { return measureStream(ctx, reg, pst, dest, res) }},
	}
	for _, st := range steps {
		if !cfg.measures(st.name) {
			continue
		}
		if err := st.run(); err != nil {
			return err
		}
		res.Measured = append(res.Measured, st.name)
	}

	nz.finish(hz, pst.serverPID(), ssh.serverPID())
	res.Noise = nz
	if nz.OtherShare > 0.1 {
		res.Warnings = append(res.Warnings, "the machine was busy with other work; latencies especially are noisy (see \"other load\")")
	}
	res.finish()
	res.print(os.Stdout)
	if cfg.output == "json" {
		if err := res.writeJSON(cfg.outFile); err != nil {
			return err
		}
		logf("wrote %s", absPath(cfg.outFile))
	}
	return nil
}

// echoBlock is how many idle echo samples one side takes before the other
// takes its turn: alternating keeps a drift of the machine (other tenants,
// idle states of virtual CPUs) from favouring one side, and blocks keep one
// side's background work (Postern syncs its journal a few milliseconds
// after each keystroke) from landing in the other's samples.
const echoBlock = 100

// measureEcho measures echo round trips: idle, on one session per side
// measured alternately in blocks; then, one side after the other, while a
// second session of the same server streams the bulk file.
func measureEcho(ctx context.Context, reg *registry, sides []side, bulkFile string, cfg config, res *results) error {
	sessions := make([]*echoSession, len(sides))
	for i, s := range sides {
		if err := quiesce(ctx, s); err != nil {
			return err
		}
		e, err := openEcho(ctx, reg, s)
		if err != nil {
			return err
		}
		sessions[i] = e
	}
	logf("echo round trip: %d samples per side after %d warm-up, alternating in blocks of %d", cfg.n, cfg.warm, echoBlock)
	idle := make([][]time.Duration, len(sides))
	for i, e := range sessions {
		if _, err := e.samples(cfg.warm, 0); err != nil {
			return err
		}
		idle[i] = make([]time.Duration, 0, cfg.n)
	}
	for done := 0; done < cfg.n; done += echoBlock {
		for i, e := range sessions {
			ds, err := e.samples(0, min(echoBlock, cfg.n-done))
			if err != nil {
				return err
			}
			idle[i] = append(idle[i], ds...)
		}
	}
	for i, s := range sides {
		res.Sides[s.name()].EchoIdle = summarize(idle[i])
	}
	for i, s := range sides {
		if err := measureEchoBusy(ctx, reg, s, sessions[i], bulkFile, cfg, res.Sides[s.name()]); err != nil {
			return err
		}
	}
	for _, e := range sessions {
		if err := e.close(ctx); err != nil {
			return err
		}
	}
	return nil
}

// measureEchoBusy measures echo on e while a second session of the same
// server streams the bulk file.
func measureEchoBusy(ctx context.Context, reg *registry, s side, e *echoSession, bulkFile string, cfg config, sr *sideResult) error {
	logf("%s: echo round trip while another session streams the bulk file", s.name())
	loop, err := startBulkLoop(ctx, reg, s, bulkFile)
	if err != nil {
		return err
	}
	w0, t0 := loop.written(), time.Now()
	busy, err := e.samples(cfg.warm, cfg.n)
	if err != nil {
		return err
	}
	w1, elapsed := loop.written(), time.Since(t0)
	if loop.p.exited() {
		return fmt.Errorf("%s: the bulk stream ended during the measurement: %s", s.name(), loop.p.describe(fmt.Errorf("exit: %v", loop.p.err)))
	}
	sr.EchoBusy = summarize(busy)
	sr.EchoBusyBulkMBps = float64(w1-w0) / 1e6 / elapsed.Seconds()
	if sr.EchoBusyBulkMBps < 1 {
		return fmt.Errorf("%s: the bulk stream all but stopped during the measurement (%.2f MB/s)", s.name(), sr.EchoBusyBulkMBps)
	}
	logf("%s: echo p50 %s p99 %s idle; p50 %s p99 %s while the other session streamed %.0f MB/s",
		s.name(), fmtDur(us(sr.EchoIdle.P50)), fmtDur(us(sr.EchoIdle.P99)), fmtDur(us(sr.EchoBusy.P50)), fmtDur(us(sr.EchoBusy.P99)), sr.EchoBusyBulkMBps)
	// Postern renders the recording of everything streamed before the
	// session ends, which takes about as long as streaming it did.
	if err := loop.stop(ctx, 2*stallLimit+4*elapsed); err != nil {
		return err
	}
	// Nor may the next measurement share the disk with the writeback of
	// this session's recording. (The server side still runs the echo
	// sessions, so quiesce, which waits for all sessions, cannot be used.)
	syscall.Sync()
	return nil
}

// measureBulk runs the bulk transfer cfg.runs times per side, alternating
// between the sides so that a slow drift of the machine (other tenants,
// page cache, thermal) affects both alike, and checks Postern's recording
// of each.
func measureBulk(ctx context.Context, reg *registry, sides []side, bulkFile string, expect, hz int64, cfg config, res *results) error {
	// Generous: the slowest plausible rate plus room for ending the
	// session; stalls are caught much sooner by the watchdog.
	timeout := 2*time.Minute + time.Duration(float64(expect)/4e6*float64(time.Second))
	for i := 1; i <= cfg.runs; i++ {
		for _, s := range sides {
			r, err := runBulk(ctx, reg, s, bulkFile, expect, hz, timeout)
			if err != nil {
				return err
			}
			logf("%s: bulk run %d/%d: %s in %.2fs (bytes flowed from %.2fs to %.2fs; artifacts done at %.2fs) = %.1f MB/s; CPU server %.2fs + client %.2fs = %.2f s/GiB",
				s.name(), i, cfg.runs, fmtBytes(r.Bytes), r.Seconds, r.FirstByte, r.LastByte, r.Recorded, r.MBps, r.ServerCPU, r.ClientCPU, r.CPUPerGiB)
			if rc := r.Recording; rc != nil {
				logf("%s: bulk run %d/%d: recording CPU %.2fs (%s) = %.1f%% ± %.1f over the unrecorded relay's %.2fs; the profile saw %.2fs (%d samples) of postern dev's %.2fs",
					s.name(), i, cfg.runs, rc.RecordingCPU, rc.funcBreakdown(), 100*rc.Overhead, 100*rc.OverheadError,
					r.ServerCPU+r.ClientCPU-rc.RecordingCPU, rc.ProfiledCPU, rc.Samples, rc.ProcessCPU)
				if rc.RecordingSamples == 0 {
					res.warn(s.name() + ": no CPU sample of a bulk run fell in the recording functions (" + strings.Join(recordingFuncs, ", ") + "); were they renamed?")
				}
				if rc.ProcessCPU >= 1 && math.Abs(rc.ProfiledCPU/rc.ProcessCPU-1) > 0.2 {
					res.warn(fmt.Sprintf("%s: the CPU profile of bulk run %d saw %.2fs of postern dev's %.2fs of CPU; the recording CPU row may be off", s.name(), i, rc.ProfiledCPU, rc.ProcessCPU))
				}
			}
			if r.ProfileProblem != "" {
				logf("%s: bulk run %d/%d: no recording CPU: %s", s.name(), i, cfg.runs, r.ProfileProblem)
				res.warn(s.name() + ": recording CPU: " + r.ProfileProblem)
			}
			sr := res.Sides[s.name()]
			sr.Bulk = append(sr.Bulk, r)
			rc, err := s.verifyRecording(ctx, r.Bytes)
			if err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: could not check the recording: %v", s.name(), err))
			} else if rc != nil {
				logf("%s: recording %s: .cast %s (%.3f x output) rendered on read in %.2fs (%.0f MB/s), .log %s in %.2fs", s.name(), rc.Session,
					fmtBytes(rc.CastBytes), rc.Ratio, rc.CastSeconds, float64(rc.CastBytes)/1e6/max(rc.CastSeconds, 1e-9), fmtBytes(rc.LogBytes), rc.LogSeconds)
				if rc.Problem != "" {
					res.Warnings = append(res.Warnings, s.name()+": recording check failed: "+rc.Problem)
				}
				sr.Recordings = append(sr.Recordings, rc)
			}
		}
	}
	return nil
}

// measureStarts times session starts, alternating between the sides; the
// first of each is a warm-up.
func measureStarts(ctx context.Context, reg *registry, sides []side, cfg config, res *results) error {
	logf("session start: %d samples per side (after 1 warm-up), alternating", cfg.starts)
	for _, s := range sides {
		if err := quiesce(ctx, s); err != nil {
			return err
		}
	}
	starts := map[string][]time.Duration{}
	for i := 0; i <= cfg.starts; i++ {
		for _, s := range sides {
			d, err := sessionStart(ctx, reg, s)
			if err != nil {
				return err
			}
			if i > 0 {
				starts[s.name()] = append(starts[s.name()], d)
			}
		}
	}
	for name, ds := range starts {
		res.Sides[name].Start = summarize(ds)
	}
	return nil
}

// checkPrerequisites fails early, with what to do, when a tool is missing.
func checkPrerequisites() error {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return errors.New("this benchmark needs Linux with /proc mounted")
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return fmt.Errorf("OpenSSH's server is not installed (%s is missing); run ./scripts/install-test-deps as root to install openssh-server and openssh-client", sshdPath)
	}
	for _, tool := range []string{"ssh", "ssh-keygen", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			hint := "run ./scripts/install-test-deps as root"
			if tool == "go" {
				hint = "install Go 1.26 and put it on PATH"
			}
			return fmt.Errorf("%s is not on PATH; %s", tool, hint)
		}
	}
	return nil
}

// moduleRoot is the directory of Postern's go.mod, where `go build
// ./cmd/postern` runs whatever the current directory is.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark inside the Postern module (go run ./bench from the repository root)")
	}
	return filepath.Dir(gomod), nil
}

// gitRevision names the commit of the tree in dir, noting uncommitted
// changes, so that a table says what it measured.
func gitRevision(ctx context.Context, dir string) string {
	rev, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return dir + " (not a git checkout)"
	}
	s := "commit " + strings.TrimSpace(string(rev))
	st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain").Output()
	if err != nil {
		return s
	}
	for _, l := range strings.Split(string(st), "\n") {
		// "XY path": changes to the benchmark itself do not change what
		// it measures.
		if len(l) > 3 && !strings.HasPrefix(l[3:], "bench/") {
			return s + " with uncommitted changes"
		}
	}
	return s
}

// commandLine is how the benchmark was invoked, for the report.
func commandLine(args []string) string {
	q := []string{"go", "run", "./bench"}
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") {
		q = []string{exe} // a built binary, not go run
	}
	for _, a := range args {
		q = append(q, shellQuote(a))
	}
	return strings.Join(q, " ")
}
