//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine is what the numbers were measured on.
type machine struct {
	NProc   int    `json:"nproc"`
	CPU     string `json:"cpu"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	OpenSSH string `json:"openssh"`
}

func machineInfo(ctx context.Context) machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		// The toolchain that builds postern (go run builds the benchmark
		// with the same one).
		m.Go = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	// ssh -V prints its version on stderr.
	if out, err := exec.CommandContext(ctx, "ssh", "-V").CombinedOutput(); err == nil {
		m.OpenSSH = strings.TrimSpace(string(out))
	}
	return m
}

func (m machine) line() string {
	cpu := ""
	if m.CPU != "" {
		cpu = " (" + m.CPU + ")"
	}
	return fmt.Sprintf("machine: nproc %d%s, %s, %s, %s", m.NProc, cpu, m.Kernel, m.Go, m.OpenSSH)
}

// makeBulkFile writes size bytes of random base64 in 76-character lines
// (the last one shorter) and returns the number of lines. Plain text keeps
// the terminal's output processing (LF to CR LF) identical for both sides
// and never trips a control character; random data defeats any
// compression along the way.
func makeBulkFile(path string, size int64) (lines int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.NewChaCha8([32]byte{'p', 'o', 's', 't', 'e', 'r', 'n'})
	var raw [57]byte
	var line [77]byte
	for written := int64(0); written < size; {
		rng.Read(raw[:])
		base64.StdEncoding.Encode(line[:76], raw[:])
		n := min(int64(len(line)), size-written)
		line[n-1] = '\n'
		if _, err := w.Write(line[:n]); err != nil {
			return 0, err
		}
		written += n
		lines++
	}
	return lines, w.Flush()
}

// systemTicks returns, from /proc/stat, the CPU time all CPUs spent on
// anything but idling and waiting for I/O (user, nice, system, irq,
// softirq), and the time a hypervisor ran something else while this
// machine wanted to run (steal), in clock ticks.
func systemTicks() (busy, steal int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// cpu user nice system idle iowait irq softirq steal ...
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i == 8 {
			steal = v
		} else {
			busy += v
		}
	}
	return busy, steal, nil
}

// loadAverage is the 1-minute load average.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// noise tells how busy the machine was with other work during the run,
// since other tenants' load skews latencies most.
type noise struct {
	LoadAtStart float64 `json:"load_average_at_start"`
	// OtherCPU is the CPU time of everything but the benchmark's own
	// processes (other processes, and kernel threads, some of them
	// writing back what the benchmark wrote), and OtherShare its share of
	// the machine's capacity over the run.
	OtherCPU   float64 `json:"other_cpu_s"`
	OtherShare float64 `json:"other_cpu_share"`
	// Steal is CPU time the hypervisor gave to other virtual machines
	// while this one had work to run.
	Steal float64 `json:"steal_cpu_s"`

	start                           time.Time
	busyStart, stealStart, ourStart int64
}

// startNoise takes the first reading.
func startNoise() *noise {
	n := &noise{LoadAtStart: loadAverage(), start: time.Now()}
	n.busyStart, n.stealStart, _ = systemTicks()
	n.ourStart, _ = treeTicks(os.Getpid())
	return n
}

// finish takes the second reading. servers are the long-running processes
// the benchmark started and has not reaped yet.
func (n *noise) finish(hz int64, servers ...int) {
	busy, steal, err := systemTicks()
	if err != nil || n.busyStart == 0 {
		return
	}
	n.Steal = float64(steal-n.stealStart) / float64(hz)
	ours, _ := treeTicks(os.Getpid()) // itself and every client it reaped
	for _, pid := range servers {
		t, _ := treeTicks(pid)
		ours += t
	}
	other := max(0, (busy-n.busyStart)-(ours-n.ourStart))
	n.OtherCPU = float64(other) / float64(hz)
	n.OtherShare = n.OtherCPU / (time.Since(n.start).Seconds() * float64(runtime.NumCPU()))
}
