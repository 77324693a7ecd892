//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// recordingFuncs are the functions whose CPU is the recording's: the
// journal on the relay's path (each record's append, the group commit's
// fsync, the close at the end) and any rendering of the .cast and .log
// from the journal while the run is measured (the server renders them
// only when they are read, after the run, but counts it if it did). A
// CPU sample whose stack
// holds any of them counts as recording; every other sample of the process
// is relaying (the agent, the wire, TLS, the ring for clients, the API,
// the garbage collector's background work).
var recordingFuncs = []string{
	"github.com/postern/postern/recording.(*Journal).Append",
	"github.com/postern/postern/recording.(*Journal).Sync",
	"github.com/postern/postern/recording.(*Journal).Close",
	"github.com/postern/postern/recording.RenderJournal",
}

// cpuSplit is a CPU profile's samples split into those of recording and
// the rest.
type cpuSplit struct {
	Period  float64 `json:"sample_period_s"`
	Samples int64   `json:"profile_samples"`
	// ProfiledCPU is the CPU of every sample: samples x period.
	ProfiledCPU      float64 `json:"profiled_cpu_s"`
	RecordingSamples int64   `json:"recording_samples"`
	RecordingCPU     float64 `json:"recording_cpu_s"`
	// ByFunction splits RecordingCPU by the outermost of the recording
	// functions on each sample's stack.
	ByFunction map[string]float64 `json:"recording_cpu_s_by_function"`
}

// attribute splits a CPU profile's samples: a sample counts as recording
// when any frame of its stack, inlined ones included, is one of funcs. CPU
// is samples times the sampling period.
func attribute(p *profile.Profile, funcs []string) (cpuSplit, error) {
	var s cpuSplit
	count := -1
	for i, st := range p.SampleType {
		if st.Type == "samples" && st.Unit == "count" {
			count = i
		}
	}
	if count < 0 {
		return s, fmt.Errorf("not a CPU profile: no samples/count value among %v", sampleTypes(p))
	}
	if p.PeriodType == nil || p.PeriodType.Unit != "nanoseconds" || p.Period <= 0 {
		return s, fmt.Errorf("not a CPU profile: sampling period %d %v", p.Period, p.PeriodType)
	}
	s.Period = float64(p.Period) / 1e9
	s.ByFunction = map[string]float64{}
	want := map[string]bool{}
	for _, f := range funcs {
		want[f] = true
	}
	for _, smp := range p.Sample {
		n := smp.Value[count]
		s.Samples += n
		// Leaf first: the last match is the outermost.
		outer := ""
		for _, loc := range smp.Location {
			for _, l := range loc.Line {
				if l.Function != nil && want[l.Function.Name] {
					outer = l.Function.Name
				}
			}
		}
		if outer != "" {
			s.RecordingSamples += n
			s.ByFunction[outer] += float64(n) * s.Period
		}
	}
	s.ProfiledCPU = float64(s.Samples) * s.Period
	s.RecordingCPU = float64(s.RecordingSamples) * s.Period
	return s, nil
}

func sampleTypes(p *profile.Profile) []string {
	var ts []string
	for _, st := range p.SampleType {
		ts = append(ts, st.Type+"/"+st.Unit)
	}
	return ts
}

// recordingCPU is what recording cost in one bulk run.
type recordingCPU struct {
	cpuSplit
	// ProcessCPU is postern dev's own CPU time over the same window per
	// /proc (without the remote cat), to compare with ProfiledCPU.
	ProcessCPU float64 `json:"process_cpu_s"`
	// Overhead is RecordingCPU / (the run's total CPU - RecordingCPU):
	// how much recording adds to relaying the same bytes unrecorded.
	Overhead float64 `json:"overhead"`
	// OverheadError is Overhead's 1-sigma sampling error, taking the
	// number of recording samples as Poisson.
	OverheadError float64 `json:"overhead_sampling_error"`
}

// newRecordingCPU relates a profile's split to the run's total CPU (server
// side with the remote cat, plus client).
func newRecordingCPU(s cpuSplit, processCPU, totalCPU float64) (*recordingCPU, error) {
	relay := totalCPU - s.RecordingCPU
	if relay <= 0 {
		return nil, fmt.Errorf("the profile's recording CPU (%.2fs) is not less than the run's total CPU (%.2fs)", s.RecordingCPU, totalCPU)
	}
	return &recordingCPU{
		cpuSplit:      s,
		ProcessCPU:    processCPU,
		Overhead:      s.RecordingCPU / relay,
		OverheadError: math.Sqrt(float64(s.RecordingSamples)) * s.Period / relay,
	}, nil
}

// funcBreakdown is ByFunction for a progress line, in recordingFuncs'
// order, with package paths dropped.
func (r *recordingCPU) funcBreakdown() string {
	var parts []string
	for _, f := range recordingFuncs {
		short := f[strings.LastIndexByte(f, '/')+1:]
		parts = append(parts, fmt.Sprintf("%s %.2fs", short, r.ByFunction[f]))
	}
	return strings.Join(parts, ", ")
}

// ---- the profiler of postern dev (cmd/postern/debug.go) ----

// Names of the kept profiles: NAME-N.pprof in the temp dir.
const (
	bulkProfile    = "postern-cpu"
	forwardProfile = "postern-forward-cpu"
)

// debugPost sends an empty POST to postern dev's debug listener and returns
// the answer's body.
func (s *posternSide) debugPost(ctx context.Context, path string) ([]byte, error) {
	if s.debugAddr == "" {
		return nil, fmt.Errorf("this postern dev runs without a profiler (%s)", s.noProfiler)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.debugAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

func (s *posternSide) startCPUProfile(ctx context.Context) error {
	_, err := s.debugPost(ctx, "/debug/postern/cpuprofile/start")
	return err
}

// stopCPUProfile also keeps the profile in the temp dir as NAME-N.pprof,
// for -keep and `go tool pprof`.
func (s *posternSide) stopCPUProfile(ctx context.Context, name string) (*profile.Profile, error) {
	b, err := s.debugPost(ctx, "/debug/postern/cpuprofile/stop")
	if err != nil {
		return nil, err
	}
	if s.profiles == nil {
		s.profiles = map[string]int{}
	}
	s.profiles[name]++
	os.WriteFile(filepath.Join(filepath.Dir(s.data), fmt.Sprintf("%s-%d.pprof", name, s.profiles[name])), b, 0o600)
	p, err := profile.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse the CPU profile: %w", err)
	}
	return p, nil
}
