//go:build linux

package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// results is everything a run found; it is also the JSON written by -o
// json.
type results struct {
	Date     string                 `json:"date"`
	Machine  machine                `json:"machine"`
	Command  string                 `json:"command"`
	Settings settings               `json:"settings"`
	Sides    map[string]*sideResult `json:"results"`
	Noise    *noise                 `json:"noise,omitempty"`
	// LogStore is the log store measurement (Postern only).
	LogStore *logStoreResult `json:"log_store,omitempty"`
	// Agent is the idle agent and CLI start measurement.
	Agent *agentResult `json:"agent,omitempty"`
	// Measured names the measurements that ran (-only may skip some).
	Measured []string `json:"measured"`
	Table    []row    `json:"table"`
	Warnings []string `json:"warnings,omitempty"`
}

type settings struct {
	SizeBytes   int64 `json:"bulk_file_bytes"`
	EchoSamples int   `json:"echo_samples"`
	EchoWarmup  int   `json:"echo_warmup"`
	Starts      int   `json:"session_start_samples"`
	BulkRuns    int   `json:"bulk_runs"`
	// ForwardBytes is what each transfer through a forwarded port
	// carried; ForwardRuns how many there were each way per side.
	ForwardBytes int64  `json:"forward_bytes"`
	ForwardRuns  int    `json:"forward_runs_per_direction"`
	ClockTicks   int64  `json:"clock_ticks_per_s"`
	TempDir      string `json:"temp_dir"`
	Postern      string `json:"postern"` // which postern was measured
}

// sideResult is what was measured of one side.
type sideResult struct {
	EchoIdle Summary `json:"echo_idle"`
	EchoBusy Summary `json:"echo_while_bulk"`
	// EchoBusyBulkMBps is the rate the other session streamed at while
	// EchoBusy was measured.
	EchoBusyBulkMBps float64   `json:"bulk_mb_per_s_during_echo"`
	Bulk             []bulkRun `json:"bulk_runs"`
	BulkBestMBps     float64   `json:"bulk_best_mb_per_s"`
	BulkMedianMBps   float64   `json:"bulk_median_mb_per_s"`
	CPUPerGiB        float64   `json:"cpu_s_per_gib_median"`
	Start            Summary   `json:"session_start"`
	// TerminalBulk are the rates of the bulk file through a terminal
	// (terminal.go), MB/s of terminal output per run.
	TerminalBulk     []float64 `json:"terminal_bulk_mb_per_s"`
	TerminalBestMBps float64   `json:"terminal_bulk_best_mb_per_s"`
	// WatchCatchupMBps is how fast a late watcher caught up (Postern
	// only).
	WatchCatchupMBps float64 `json:"late_watch_mb_per_s,omitempty"`
	// StreamLatency is from a line's output on the node to the log
	// destination accepting its streamed event (Postern only).
	StreamLatency Summary `json:"stream_event_latency"`
	// TailLatency is from a line's output on the node to `postern logs
	// tail -f` printing it (Postern only).
	TailLatency Summary           `json:"live_tail_latency"`
	Recordings  []*recordingCheck `json:"recordings,omitempty"`
	// Forward holds the transfers through a forwarded port, both ways;
	// the aggregates are over the downloads (the node to the client) and
	// the uploads separately, and CPU per GiB over the downloads.
	Forward               []forwardRun `json:"forward_runs"`
	ForwardDownBestMBps   float64      `json:"forward_download_best_mb_per_s"`
	ForwardDownMedianMBps float64      `json:"forward_download_median_mb_per_s"`
	ForwardUpBestMBps     float64      `json:"forward_upload_best_mb_per_s"`
	ForwardUpMedianMBps   float64      `json:"forward_upload_median_mb_per_s"`
	ForwardCPUPerGiB      float64      `json:"forward_download_cpu_s_per_gib_median"`
	// RecordingOverhead is the median of the bulk runs' recording
	// overhead (bulkRun.Recording.Overhead); nil for a side that does not
	// record, or when no run had a profile.
	RecordingOverhead *float64 `json:"recording_cpu_overhead_median,omitempty"`
}

// row is one line of the table.
type row struct {
	Metric  string `json:"metric"`
	Postern string `json:"postern"`
	OpenSSH string `json:"openssh"`
	Ratio   string `json:"ratio"`
	Target  string `json:"target"`
	Met     string `json:"met"`
}

// finish derives the bulk aggregates and the table.
func (r *results) finish() {
	for _, sr := range r.Sides {
		var rates, cpus, overheads []float64
		for _, b := range sr.Bulk {
			rates = append(rates, b.MBps)
			cpus = append(cpus, b.CPUPerGiB)
			if b.Recording != nil {
				overheads = append(overheads, b.Recording.Overhead)
			}
		}
		if len(sr.TerminalBulk) > 0 {
			sr.TerminalBestMBps = slices.Max(sr.TerminalBulk)
		}
		if len(rates) > 0 {
			sr.BulkBestMBps = slices.Max(rates)
			sr.BulkMedianMBps = median(rates)
			sr.CPUPerGiB = median(cpus)
		}
		if len(overheads) > 0 {
			m := median(overheads)
			sr.RecordingOverhead = &m
		}
		var down, up, fcpus []float64
		for _, f := range sr.Forward {
			if f.Direction == dirDownload {
				down = append(down, f.MBps)
				fcpus = append(fcpus, f.CPUPerGiB)
			} else {
				up = append(up, f.MBps)
			}
		}
		if len(down) > 0 {
			sr.ForwardDownBestMBps, sr.ForwardDownMedianMBps = slices.Max(down), median(down)
			sr.ForwardCPUPerGiB = median(fcpus)
		}
		if len(up) > 0 {
			sr.ForwardUpBestMBps, sr.ForwardUpMedianMBps = slices.Max(up), median(up)
		}
	}
	p, o := r.Sides["postern"], r.Sides["openssh"]
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "NO"
	}
	ratio := func(a, b float64) (float64, string) {
		if b == 0 {
			return math.NaN(), "-"
		}
		return a / b, fmt.Sprintf("%.2fx", a/b)
	}
	var rows []row
	ran := r.ran
	if ran("echo") {
		// Echo p50 is compared with OpenSSH's: the same machine, the same
		// terminal, so the ratio is what Postern's path adds.
		x, xs := ratio(p.EchoIdle.P50, o.EchoIdle.P50)
		rows = append(rows, row{"echo round trip p50 (1-byte writes)", fmtDur(us(p.EchoIdle.P50)), fmtDur(us(o.EchoIdle.P50)), xs, "<= 3x openssh", yes(x <= 3)})
		_, xs = ratio(p.EchoIdle.P99, o.EchoIdle.P99)
		rows = append(rows, row{"echo round trip p99", fmtDur(us(p.EchoIdle.P99)), fmtDur(us(o.EchoIdle.P99)), xs, "<= 2 ms", yes(us(p.EchoIdle.P99) <= 2*time.Millisecond)})
		_, xs = ratio(p.EchoBusy.P99, o.EchoBusy.P99)
		rows = append(rows, row{"echo p99 while another session bulks", fmtDur(us(p.EchoBusy.P99)), fmtDur(us(o.EchoBusy.P99)), xs, "<= 10 ms", yes(us(p.EchoBusy.P99) <= 10*time.Millisecond)})
	}
	if ran("bulk") {
		x, xs := ratio(p.BulkBestMBps, o.BulkBestMBps)
		rows = append(rows, row{fmt.Sprintf("recorded bulk output (cat %s)", fmtBytes(r.Settings.SizeBytes)), fmtRate(p.BulkBestMBps), fmtRate(o.BulkBestMBps), xs, ">= 0.9x openssh", yes(x >= 0.9)})
	}
	if ran("terminal") {
		x, xs := ratio(p.TerminalBestMBps, o.TerminalBestMBps)
		rows = append(rows, row{fmt.Sprintf("bulk through a terminal (cat %s, PTY)", fmtBytes(r.Settings.SizeBytes)), fmtRate(p.TerminalBestMBps), fmtRate(o.TerminalBestMBps), xs, ">= 0.9x ssh -tt", yes(x >= 0.9)})
	}
	if ran("watch") {
		rows = append(rows, row{fmt.Sprintf("late watcher catch-up (%s printed)", fmtBytes(2*r.Settings.SizeBytes)), fmtRate(p.WatchCatchupMBps), "—", "", ">= 100 MB/s", yes(p.WatchCatchupMBps >= 100)})
	}
	if ran("forward") {
		// Port forwarding: the node's port to the client (download) is the
		// target; the other way is for information.
		x, xs := ratio(p.ForwardDownBestMBps, o.ForwardDownBestMBps)
		rows = append(rows, row{fmt.Sprintf("port forward throughput (%s)", fmtBytes(r.Settings.ForwardBytes)), fmtRate(p.ForwardDownBestMBps), fmtRate(o.ForwardDownBestMBps), xs, ">= 0.8x ssh -L", yes(x >= 0.8)})
		_, xs = ratio(p.ForwardUpBestMBps, o.ForwardUpBestMBps)
		rows = append(rows, row{fmt.Sprintf("port forward upload (%s)", fmtBytes(r.Settings.ForwardBytes)), fmtRate(p.ForwardUpBestMBps), fmtRate(o.ForwardUpBestMBps), xs, "(info)", ""})
	}
	if ran("start") {
		x, xs := ratio(p.Start.P50, o.Start.P50)
		rows = append(rows, row{"session start (command to first byte)", fmtDur(us(p.Start.P50)), fmtDur(us(o.Start.P50)), xs, "<= openssh", yes(x <= 1)})
	}
	if ran("logstore") && r.LogStore != nil {
		ls := r.LogStore
		rows = append(rows, row{"log store ingestion (events/s)", fmt.Sprintf("%.0f", ls.IngestPerSec), "—", "", ">= 50000", yes(ls.IngestPerSec >= 50000)})
		rows = append(rows, row{"selective query over 1M events", fmt.Sprintf("%.0f ms", ls.SelectiveMS), "—", "", "<= 300 ms", yes(ls.SelectiveMS <= 300)})
		rows = append(rows, row{"regex query, index-narrowed, 1M events", fmt.Sprintf("%.0f ms", ls.RegexMS), "—", "", "<= 2 s", yes(ls.RegexMS <= 2000)})
		rows = append(rows, row{"regex query, no literal: reads all 1M", fmt.Sprintf("%.0f ms", ls.FullScanMS), "—", "", "<= 2 s", yes(ls.FullScanMS <= 2000)})
		rows = append(rows, row{"ingestion and indexing (events/s)", fmt.Sprintf("%.0f", ls.IndexedPerSec), "—", "", "(info)", ""})
	}
	if ran("agent") && r.Agent != nil {
		rows = append(rows, r.Agent.rows()...)
	}
	if ran("stream") {
		rows = append(rows, row{"stream event latency p50", fmtDur(us(p.StreamLatency.P50)), "—", "", "(info)", ""})
		rows = append(rows, row{"stream event latency p99", fmtDur(us(p.StreamLatency.P99)), "—", "", "<= 1 s", yes(us(p.StreamLatency.P99) <= time.Second)})
		rows = append(rows, row{"live tail latency p99 (logs tail -f)", fmtDur(us(p.TailLatency.P99)), "—", "", "<= 1 s", yes(us(p.TailLatency.P99) <= time.Second)})
	}
	if ran("bulk") {
		// What recording costs, from CPU profiles of postern dev; OpenSSH
		// records nothing to compare with.
		if m := p.RecordingOverhead; m != nil {
			rows = append(rows, row{"recording CPU over unrecorded relay", fmt.Sprintf("%.1f%%", *m*100), "—", "", "<= 10%", yes(*m <= 0.10)})
		} else {
			rows = append(rows, row{"recording CPU over unrecorded relay", "n/a", "—", "", "<= 10%", ""})
		}
		_, xs := ratio(p.CPUPerGiB, o.CPUPerGiB)
		rows = append(rows, row{"CPU per GiB of output (all processes)", fmt.Sprintf("%.2f s", p.CPUPerGiB), fmt.Sprintf("%.2f s", o.CPUPerGiB), xs, "(info)", ""})
	}
	r.Table = rows
}

// ran reports whether the measurement named m ran.
func (r *results) ran(m string) bool { return slices.Contains(r.Measured, m) }

// print writes the table, the notes and the machine line.
func (r *results) print(w io.Writer) {
	line := func(cols ...any) {
		s := fmt.Sprintf("%-40s %-12s %-12s %-7s %-16s %s", cols...)
		fmt.Fprintln(w, strings.TrimRight(s, " "))
	}
	fmt.Fprintln(w)
	line("metric", "postern", "openssh", "ratio", "target", "met")
	for _, x := range r.Table {
		line(x.Metric, x.Postern, x.OpenSSH, x.Ratio, x.Target, x.Met)
	}
	p, o := r.Sides["postern"], r.Sides["openssh"]
	fmt.Fprintln(w)
	if r.ran("echo") {
		fmt.Fprintf(w, "echo: %d samples per side and row after %d warm-up, idle ones alternating sides in blocks of %d; in the loaded row the other session streamed %.0f MB/s (postern) and %.0f MB/s (openssh).\n",
			r.Settings.EchoSamples, r.Settings.EchoWarmup, echoBlock, p.EchoBusyBulkMBps, o.EchoBusyBulkMBps)
	}
	if r.ran("bulk") {
		fmt.Fprintf(w, "bulk: best of %d runs (median %s vs %s); output is the file with LF as CR LF; MB = 10^6 bytes.\n",
			r.Settings.BulkRuns, fmtRate(p.BulkMedianMBps), fmtRate(o.BulkMedianMBps))
		fmt.Fprintf(w, "CPU: median of the runs; server side (postern dev, resp. every sshd process) including the remote cat, plus the client; %d ticks/s.\n", r.Settings.ClockTicks)
		fmt.Fprintln(w, r.recordingNote())
	}
	if r.ran("terminal") {
		fmt.Fprintf(w, "terminal: `postern connect` and `ssh -tt` with a pseudo-terminal of the benchmark's as their terminal, read %d KiB at a time as a terminal emulator reads; `cat FILE` typed at the login shell, timed from Enter to the line echoed after it; best of %d runs (median %s vs %s).\n",
			termReadBuf>>10, r.Settings.BulkRuns, fmtRate(median(p.TerminalBulk)), fmtRate(median(o.TerminalBulk)))
	}
	if r.ran("watch") {
		fmt.Fprintln(w, "late watcher: `postern sessions watch` of a live session once it has printed the bulk file twice, from starting the watcher to its last byte; all but the relay's last 8 MiB come from the recording.")
	}
	if r.ran("forward") {
		fmt.Fprintf(w, "forward: one connection per run from the benchmark through `postern forward` (default port document) or `ssh -N -L` to a TCP server of the benchmark's on 127.0.0.1, which sends (throughput row) or receives (upload row) %s of random bytes; first byte to end of file at the receiving end, exact count; best of %d runs each way, alternating sides (medians %s vs %s, upload %s vs %s); CPU per GiB downloaded (server side and forwarder, median): %.2f s vs %.2f s.\n",
			fmtBytes(r.Settings.ForwardBytes), r.Settings.ForwardRuns, fmtRate(p.ForwardDownMedianMBps), fmtRate(o.ForwardDownMedianMBps),
			fmtRate(p.ForwardUpMedianMBps), fmtRate(o.ForwardUpMedianMBps), p.ForwardCPUPerGiB, o.ForwardCPUPerGiB)
	}
	if r.ran("start") {
		fmt.Fprintf(w, "session start: median of %d per side (p90 %s vs %s), interactive login shells.\n",
			r.Settings.Starts, fmtDur(us(p.Start.P90)), fmtDur(us(o.Start.P90)))
	}
	if r.ran("logstore") && r.LogStore != nil {
		fmt.Fprintf(w, "log store: %d generated events (a quarter command events, the rest Session Manager's) of %d sessions put in batches of %d into package logstore's SQLite in this process, sealed (AES-256-GCM, a group key from package keys) as a server keeps them; full-text index caught up %.0f ms after the last write and holds %s for %s of messages; queries by package logquery over the group's events as ReadGroup hands them over, best of 3: %q (%d rows), %q (%d rows), %q (%d rows).\n",
			r.LogStore.Events, r.LogStore.Sessions, storeBatch, r.LogStore.IndexLagMS, fmtBytes(r.LogStore.IndexBytes), fmtBytes(r.LogStore.StoredBytes), selectiveQuery, r.LogStore.SelectiveRows, regexQuery, r.LogStore.RegexRows, fullScanQuery, r.LogStore.FullScanRows)
	}
	if r.ran("agent") && r.Agent != nil {
		fmt.Fprintln(w, r.Agent.note())
	}
	if r.ran("stream") {
		fmt.Fprintf(w, "stream: %d lines, one every %s s, in a session whose preferences stream to a CloudWatch Logs log group (cloudWatchStreamingEnabled) served by cwlogstest's fake in the benchmark's process; from the line's time on the node (date +%%s%%N in the line) to the fake accepting its event (ms resolution); max %s.\n",
			p.StreamLatency.N, streamGap, fmtDur(us(p.StreamLatency.Max)))
		fmt.Fprintf(w, "live tail: the same lines, from their time on the node to `postern logs tail -f -o json` (Postern's own log group, which every session streams to) printing them to the benchmark; p50 %s, max %s.\n",
			fmtDur(us(p.TailLatency.P50)), fmtDur(us(p.TailLatency.Max)))
	}
	if n := r.Noise; n != nil {
		fmt.Fprintf(w, "other load: load average %.2f at the start; other processes and kernel threads used %.1f s of CPU during the run (%.0f%% of the machine); hypervisor steal %.1f s.\n",
			n.LoadAtStart, n.OtherCPU, 100*n.OtherShare, n.Steal)
	}
	fmt.Fprintf(w, "date: %s\n%s\npostern: %s\ncommand: %s\n", r.Date, r.Machine.line(), r.Settings.Postern, r.Command)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

// recordingNote explains the recording CPU row.
func (r *results) recordingNote() string {
	const method = "recording CPU: from a CPU profile of postern dev over each bulk run (client start to exit), the samples whose stack holds recording.(*Journal).Append/Sync/Close or recording.RenderJournal, over the rest of the run's CPU (every other sample of postern dev, the remote cat, the client): what an unrecorded relay of the same bytes would cost"
	p := r.Sides["postern"]
	// The run whose overhead is the median (the lower middle one for an
	// even count) stands for the sampling error.
	var runs []*recordingCPU
	for _, b := range p.Bulk {
		if b.Recording != nil {
			runs = append(runs, b.Recording)
		}
	}
	if len(runs) == 0 {
		return method + "; no run had a profile (see the warnings)."
	}
	slices.SortFunc(runs, func(a, b *recordingCPU) int { return cmp.Compare(a.Overhead, b.Overhead) })
	m := runs[(len(runs)-1)/2]
	return fmt.Sprintf("%s; median of %d runs; its sampling error is about ±%.1f points (1 sigma: %d recording samples at %.0f Hz); CPU off the process's stacks (kernel writeback threads) is not counted.",
		method, len(runs), 100*m.OverheadError, m.RecordingSamples, 1/m.Period)
}

// warn adds a warning once.
func (r *results) warn(msg string) {
	if !slices.Contains(r.Warnings, msg) {
		r.Warnings = append(r.Warnings, msg)
	}
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// fmtDur prints a latency with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func fmtRate(mbps float64) string {
	if mbps < 100 {
		return fmt.Sprintf("%.1f MB/s", mbps)
	}
	return fmt.Sprintf("%.0f MB/s", mbps)
}

// fmtBytes prints a size in binary units.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
