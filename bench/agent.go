//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/api"
)

// agentResult is the lean agent measurement: what idle postern-agent
// processes weigh, beside an idle sshd, and how fast the CLI starts,
// beside ssh.
type agentResult struct {
	Agents int `json:"agents"`
	// IdleSeconds is the window over which idle CPU was measured, after
	// every agent was online.
	IdleSeconds float64 `json:"idle_seconds"`
	// PerAgent is each agent's memory and CPU at the end of the window.
	PerAgent []procMemCPU `json:"per_agent"`
	// Medians over the agents.
	RSSMiB        float64 `json:"rss_mib_median"`
	PrivateMiB    float64 `json:"private_mib_median"`
	CPUSecPerHour float64 `json:"cpu_s_per_hour_median"`
	// SSHD is the sshd listener (the daemon a node runs, idle), SSHConn
	// the per-connection sshd processes of one idle `ssh -N` connection,
	// summed, over the same window.
	SSHD    procMemCPU `json:"sshd_listener"`
	SSHConn procMemCPU `json:"sshd_per_connection"`
	// Wall time and CPU time (user + system) of `postern --version`,
	// `postern-agent --version` and `ssh -V`, runs alternating: CPU time
	// tells start-up costs apart from a busy machine's waits.
	VersionRuns    int     `json:"version_runs"`
	PosternVersion Summary `json:"postern_version"`
	AgentVersion   Summary `json:"postern_agent_version"`
	SSHVersion     Summary `json:"ssh_version"`
	PosternCPU     Summary `json:"postern_version_cpu"`
	AgentCPU       Summary `json:"postern_agent_version_cpu"`
	SSHCPU         Summary `json:"ssh_version_cpu"`
}

// procMemCPU is one process's (or a group's, summed) memory at a moment
// and CPU over a window.
type procMemCPU struct {
	PIDs          []int   `json:"pids"`
	RSSMiB        float64 `json:"rss_mib"`
	PssMiB        float64 `json:"pss_mib"`
	PrivateMiB    float64 `json:"private_mib"` // Private_Clean + Private_Dirty
	AnonMiB       float64 `json:"anonymous_mib"`
	CPUSecPerHour float64 `json:"cpu_s_per_hour"`
	// cpu is the CPU time at the start of the window (ns), for the
	// measurement only.
	cpu int64
}

// measureAgents registers cfg.agents postern-agent processes, each with
// its own activation and identity directory, against the benchmark's
// postern dev, lets them idle, and measures their memory (RSS, and
// private: what each one alone costs) and their CPU (heartbeats), beside
// the benchmark's sshd with one idle connection; then the start of
// `postern --version` beside `ssh -V`.
func measureAgents(ctx context.Context, reg *registry, tmp string, p *posternSide, ssh *sshSide, cfg config, res *results) error {
	agentBin := filepath.Join(tmp, "postern-agent")
	if cfg.agentBin != "" {
		agentBin = absPath(cfg.agentBin)
	} else {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		logf("building postern-agent (go build -o %s ./cmd/postern-agent)", agentBin)
		build := exec.CommandContext(ctx, "go", "build", "-o", agentBin, "./cmd/postern-agent")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/postern-agent: %v\n%s", err, out)
		}
	}
	ar := &agentResult{Agents: cfg.agents, IdleSeconds: cfg.agentIdle.Seconds(), VersionRuns: cfg.versionRuns}
	res.Agent = ar

	logf("agents: registering %d postern-agent processes, each with its own activation", cfg.agents)
	registerRE := regexp.MustCompile(`postern[ -]agent register --server (\S+) --code (\S+) --id (\S+) --ca-pin (\S+)`)
	nodeRE := regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`)
	var agents []*proc
	nodes := map[string]bool{}
	defer func() {
		for _, a := range agents {
			a.stop(5 * time.Second)
		}
	}()
	for i := range cfg.agents {
		out, err := runQuick(ctx, reg, "postern activations create", p.cli("activations", "create", "--expires", "1h", "--description", "bench agent"), 30*time.Second)
		if err != nil {
			return err
		}
		m := registerRE.FindStringSubmatch(out)
		if m == nil {
			return fmt.Errorf("postern activations create printed no postern-agent register command:\n%s", out)
		}
		dir := filepath.Join(tmp, "agents", strconv.Itoa(i))
		register := exec.Command(agentBin, "register", "--dir", dir, "--server", m[1], "--code", m[2], "--id", m[3], "--ca-pin", m[4], "--name", fmt.Sprintf("bench-agent-%d", i))
		register.Env = p.env
		out, err = runQuick(ctx, reg, "postern-agent register", register, 30*time.Second)
		if err != nil {
			return err
		}
		n := nodeRE.FindStringSubmatch(out)
		if n == nil {
			return fmt.Errorf("postern-agent register printed no node id:\n%s", out)
		}
		nodes[n[1]] = true
		log, err := os.Create(filepath.Join(tmp, fmt.Sprintf("agent-%d.log", i)))
		if err != nil {
			return err
		}
		run := exec.Command(agentBin, "run", "--dir", dir)
		run.Env, run.Stderr = p.env, log
		a, err := reg.start("postern-agent run", run)
		log.Close() // the child has its own copy
		if err != nil {
			return err
		}
		agents = append(agents, a)
	}
	if err := awaitOnline(ctx, p, nodes, agents, 60*time.Second); err != nil {
		return err
	}

	// One idle ssh connection, for the per-connection sshd processes.
	conn, err := reg.start("ssh -N (idle)", ssh.sshWith([]string{"-N"}))
	if err != nil {
		return err
	}
	defer conn.stop(5 * time.Second)
	connPIDs, err := awaitConnection(ctx, ssh.serverPID(), conn, 15*time.Second)
	if err != nil {
		return err
	}

	// Past start-up (registration, the first GC cycles), then the window.
	settle := min(10*time.Second, cfg.agentIdle)
	logf("agents: all %d online; settling %v, then idle for %v", cfg.agents, settle, cfg.agentIdle)
	if err := sleepCtx(ctx, settle); err != nil {
		return err
	}
	ar.PerAgent = make([]procMemCPU, len(agents))
	for i, a := range agents {
		ar.PerAgent[i].PIDs = []int{a.cmd.Process.Pid}
	}
	ar.SSHD.PIDs, ar.SSHConn.PIDs = []int{ssh.serverPID()}, connPIDs
	groups := []*procMemCPU{&ar.SSHD, &ar.SSHConn}
	for i := range ar.PerAgent {
		groups = append(groups, &ar.PerAgent[i])
	}
	start := time.Now()
	for _, g := range groups {
		if g.cpu, err = cpuNanos(g.PIDs); err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, cfg.agentIdle); err != nil {
		return err
	}
	window := time.Since(start)
	for _, g := range groups {
		end, err := cpuNanos(g.PIDs)
		if err != nil {
			return err
		}
		g.CPUSecPerHour = float64(end-g.cpu) / 1e9 / window.Hours()
		if err := g.readMemory(); err != nil {
			return err
		}
	}
	ar.IdleSeconds = window.Seconds()
	var rss, priv, idleCPU []float64
	for _, a := range ar.PerAgent {
		rss, priv, idleCPU = append(rss, a.RSSMiB), append(priv, a.PrivateMiB), append(idleCPU, a.CPUSecPerHour)
	}
	ar.RSSMiB, ar.PrivateMiB, ar.CPUSecPerHour = median(rss), median(priv), median(idleCPU)
	logf("agents: RSS %.1f MiB, private %.1f MiB, CPU %.2f s/hour (medians); sshd listener RSS %.1f MiB, private %.1f MiB",
		ar.RSSMiB, ar.PrivateMiB, ar.CPUSecPerHour, ar.SSHD.RSSMiB, ar.SSHD.PrivateMiB)

	logf("start: postern --version, postern-agent --version and ssh -V, %d runs each, alternating", cfg.versionRuns)
	var wall, cpu [3][]time.Duration
	for range cfg.versionRuns {
		for i, cmd := range []*exec.Cmd{p.cli("--version"), exec.Command(agentBin, "--version"), exec.Command("ssh", "-V")} {
			w, c, err := timeRun(ctx, cmd)
			if err != nil {
				return err
			}
			wall[i], cpu[i] = append(wall[i], w), append(cpu[i], c)
		}
	}
	ar.PosternVersion, ar.AgentVersion, ar.SSHVersion = summarize(wall[0]), summarize(wall[1]), summarize(wall[2])
	ar.PosternCPU, ar.AgentCPU, ar.SSHCPU = summarize(cpu[0]), summarize(cpu[1]), summarize(cpu[2])
	return nil
}

// awaitOnline waits until postern lists every node in want as online.
func awaitOnline(ctx context.Context, p *posternSide, want map[string]bool, agents []*proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, a := range agents {
			if a.exited() {
				return fmt.Errorf("postern-agent run exited: %s", a.describe(a.err))
			}
		}
		out, err := runQuick(ctx, p.reg, "postern nodes", p.cli("nodes", "-o", "json"), 30*time.Second)
		if err != nil {
			return err
		}
		var ns []api.Node
		if err := json.Unmarshal([]byte(out), &ns); err != nil {
			return fmt.Errorf("postern nodes -o json: %w", err)
		}
		online := 0
		for _, n := range ns {
			if want[n.ID] && n.Online {
				online++
			}
		}
		if online == len(want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents online after %v", online, len(want), timeout)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// awaitConnection waits for the sshd processes serving a new connection:
// the listener's children and their descendants.
func awaitConnection(ctx context.Context, sshd int, client *proc, timeout time.Duration) ([]int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if client.exited() {
			return nil, fmt.Errorf("ssh -N exited: %s", client.describe(client.err))
		}
		var pids []int
		var walk func(int)
		walk = func(pid int) {
			for _, c := range children(pid) {
				pids = append(pids, c)
				walk(c)
			}
		}
		walk(sshd)
		// Authenticated: the connection's process has the user's name in
		// its title, without a tag ("sshd: root"; before: "sshd: root
		// [preauth]", "[net]" or "[accepted]"; for other users the
		// privileged monitor is "sshd: USER [priv]" and its child "sshd:
		// USER").
		for _, pid := range pids {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			title := strings.TrimRight(string(b), "\x00 ")
			if err == nil && strings.HasPrefix(title, "sshd: ") && !strings.Contains(title, "[") {
				return pids, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no authenticated sshd process for ssh -N after %v (listener's descendants: %v)", timeout, pids)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// cpuNanos is the CPU time the processes' threads have used, in
// nanoseconds, from /proc/PID/task/TID/schedstat: clock ticks (10 ms) are
// too coarse for an idle process's few milliseconds.
func cpuNanos(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue // the thread exited
			}
			f := strings.Fields(string(b))
			if len(f) < 1 {
				return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: %q", pid, t.Name(), b)
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: %w", pid, t.Name(), err)
			}
			total += ns
		}
	}
	return total, nil
}

// readMemory sums the processes' /proc/PID/smaps_rollup.
func (g *procMemCPU) readMemory() error {
	g.RSSMiB, g.PssMiB, g.PrivateMiB, g.AnonMiB = 0, 0, 0, 0
	for _, pid := range g.PIDs {
		m, err := smapsRollup(pid)
		if err != nil {
			return err
		}
		g.RSSMiB += float64(m["Rss"]) / 1024
		g.PssMiB += float64(m["Pss"]) / 1024
		g.PrivateMiB += float64(m["Private_Clean"]+m["Private_Dirty"]) / 1024
		g.AnonMiB += float64(m["Anonymous"]) / 1024
	}
	return nil
}

// smapsRollup returns the kB fields of /proc/PID/smaps_rollup.
func smapsRollup(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		f := strings.Fields(v)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	if _, ok := m["Rss"]; !ok {
		return nil, fmt.Errorf("/proc/%d/smaps_rollup has no Rss", pid)
	}
	return m, nil
}

// timeRun runs cmd to completion and returns how long it took and the CPU
// time it used.
func timeRun(ctx context.Context, cmd *exec.Cmd) (wall, cpu time.Duration, err error) {
	cmd.Stdout, cmd.Stderr = nil, nil // /dev/null
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	wall = time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// rows are the agent's lines of the table.
func (a *agentResult) rows() []row {
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "NO"
	}
	ratio := func(x, y float64) string {
		if y == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", x/y)
	}
	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v) }
	return []row{
		{fmt.Sprintf("idle agent RSS (median of %d) / sshd", a.Agents), mib(a.RSSMiB), mib(a.SSHD.RSSMiB), ratio(a.RSSMiB, a.SSHD.RSSMiB), "<= 12 MiB", yes(a.RSSMiB <= 12)},
		{"idle agent private memory / sshd", mib(a.PrivateMiB), mib(a.SSHD.PrivateMiB), ratio(a.PrivateMiB, a.SSHD.PrivateMiB), "(info)", ""},
		{"idle agent CPU per hour (heartbeats)", fmt.Sprintf("%.2f s", a.CPUSecPerHour), fmt.Sprintf("%.2f s", a.SSHD.CPUSecPerHour+a.SSHConn.CPUSecPerHour), ratio(a.CPUSecPerHour, a.SSHD.CPUSecPerHour+a.SSHConn.CPUSecPerHour), "(info)", ""},
		{"postern --version / ssh -V (best)", fmtDur(us(a.PosternVersion.Min)), fmtDur(us(a.SSHVersion.Min)), ratio(a.PosternVersion.Min, a.SSHVersion.Min), "(info)", ""},
		{"postern --version CPU / ssh -V (median)", fmtDur(us(a.PosternCPU.P50)), fmtDur(us(a.SSHCPU.P50)), ratio(a.PosternCPU.P50, a.SSHCPU.P50), "(info)", ""},
		{"postern-agent --version / ssh -V (best)", fmtDur(us(a.AgentVersion.Min)), fmtDur(us(a.SSHVersion.Min)), ratio(a.AgentVersion.Min, a.SSHVersion.Min), "(info)", ""},
	}
}

// note explains the agent rows.
func (a *agentResult) note() string {
	var rss []float64
	for _, p := range a.PerAgent {
		rss = append(rss, p.RSSMiB)
	}
	lo, hi := 0.0, 0.0
	if len(rss) > 0 {
		lo, hi = slices.Min(rss), slices.Max(rss)
	}
	var anon []float64
	for _, p := range a.PerAgent {
		anon = append(anon, p.AnonMiB)
	}
	return fmt.Sprintf("agents: %d `postern-agent run` processes, each registered with its own activation and identity directory against the benchmark's postern dev, idle (no session) for %.0f s after all were online and settled; memory from /proc/PID/smaps_rollup at the end: RSS %.1f-%.1f MiB across agents, private = Private_Clean + Private_Dirty (the binary's pages, which the agents share, are not private here; a node runs one agent, whose binary pages are its own but clean and reclaimable), anonymous %.1f MiB (median); CPU from the threads' schedstat over the window, as seconds per hour; openssh: the sshd listener (RSS %.1f MiB, private %.1f MiB), and one idle `ssh -N` connection's sshd processes besides (RSS %.1f MiB, private %.1f MiB, %.2f s/hour). version: %d runs of each alternating; wall time from start to exit, medians %s (postern), %s (postern-agent), %s (ssh -V); CPU time (user + system) medians %s, %s, %s.",
		a.Agents, a.IdleSeconds, lo, hi, median(anon), a.SSHD.RSSMiB, a.SSHD.PrivateMiB, a.SSHConn.RSSMiB, a.SSHConn.PrivateMiB, a.SSHConn.CPUSecPerHour,
		a.VersionRuns, fmtDur(us(a.PosternVersion.P50)), fmtDur(us(a.AgentVersion.P50)), fmtDur(us(a.SSHVersion.P50)),
		fmtDur(us(a.PosternCPU.P50)), fmtDur(us(a.AgentCPU.P50)), fmtDur(us(a.SSHCPU.P50)))
}
