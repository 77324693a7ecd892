//go:build linux

package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

const (
	fAppend = "github.com/postern/postern/recording.(*Journal).Append"
	fSync   = "github.com/postern/postern/recording.(*Journal).Sync"
	fClose  = "github.com/postern/postern/recording.(*Journal).Close"
	fRender = "github.com/postern/postern/recording.RenderJournal"
)

// stack is one sample of a synthetic profile: its count, and its frames
// leaf first; a frame "a|b" is one location where a was inlined into b.
type stack struct {
	n      int64
	frames []string
}

// synthProfile builds a CPU profile as runtime/pprof writes one (samples/count
// and cpu/nanoseconds, 10 ms period) and puts it through its encoding, as
// the benchmark gets it.
func synthProfile(t *testing.T, stacks []stack) *profile.Profile {
	t.Helper()
	const period = 10_000_000
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     period,
	}
	funcs := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f, ok := funcs[name]; ok {
			return f
		}
		f := &profile.Function{ID: uint64(len(funcs) + 1), Name: name, SystemName: name}
		funcs[name] = f
		p.Function = append(p.Function, f)
		return f
	}
	for _, s := range stacks {
		smp := &profile.Sample{Value: []int64{s.n, s.n * period}}
		for _, fr := range s.frames {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Address: uint64(0x1000 + len(p.Location))}
			for _, name := range strings.Split(fr, "|") {
				loc.Line = append(loc.Line, profile.Line{Function: fn(name), Line: 1})
			}
			p.Location = append(p.Location, loc)
			smp.Location = append(smp.Location, loc)
		}
		p.Sample = append(p.Sample, smp)
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestAttribute(t *testing.T) {
	relay := []string{"github.com/postern/postern/server.(*relay).record", "github.com/postern/postern/server.(*relay).readAgent", "runtime.goexit"}
	with := func(leaf ...string) []string { return append(leaf, relay...) }
	for _, c := range []struct {
		name      string
		stacks    []stack
		samples   int64
		recording int64
		byFunc    map[string]int64 // samples
	}{
		{name: "empty"},
		{
			name:    "relaying only",
			stacks:  []stack{{5, []string{"syscall.Syscall", "github.com/postern/postern/wire.(*Reader).Read", "runtime.goexit"}}, {2, []string{"runtime.gcBgMarkWorker"}}},
			samples: 7,
		},
		{
			name: "each recording function",
			stacks: []stack{
				{3, with("bufio.(*Writer).Write", fAppend)},
				{2, []string{"syscall.Syscall", "os.(*File).Sync", fSync, "github.com/postern/postern/server.(*relay).commit"}},
				{1, []string{"os.(*File).Sync", "github.com/postern/postern/recording.(*Journal).syncLocked", fClose, "github.com/postern/postern/server.(*relay).closeJournal"}},
				{4, []string{"github.com/postern/postern/recording.(*TextRenderer).Write", fRender, "github.com/postern/postern/server.(*Server).handleLogs"}},
				{10, with("github.com/postern/postern/server.(*outputRing).write")},
			},
			samples: 20, recording: 10,
			byFunc: map[string]int64{fAppend: 3, fSync: 2, fClose: 1, fRender: 4},
		},
		{
			name:    "the recording function is the leaf",
			stacks:  []stack{{2, with(fAppend)}},
			samples: 2, recording: 2, byFunc: map[string]int64{fAppend: 2},
		},
		{
			name:    "inlined into the relay",
			stacks:  []stack{{3, []string{"bufio.(*Writer).Write", fAppend + "|github.com/postern/postern/server.(*relay).record", "runtime.goexit"}}},
			samples: 3, recording: 3, byFunc: map[string]int64{fAppend: 3},
		},
		{
			name: "near misses are relaying",
			stacks: []stack{
				{1, []string{"github.com/postern/postern/recording.(*JournalReader).Next", "github.com/postern/postern/server.(*client).replay"}},
				{1, with("github.com/postern/postern/recording.(*Journal).LastSeq")},
				{1, with("github.com/postern/postern/recording.(*Journal).AppendFrame")},
				{1, []string{"github.com/postern/postern/recording.Render", "github.com/postern/postern/server.(*relay).render"}},
				{1, []string{"example.com/other/recording.(*Journal).Append"}},
			},
			samples: 5,
		},
		{
			name:    "nested: counted once, for the outermost",
			stacks:  []stack{{2, []string{"os.(*File).Sync", fSync, fRender, "runtime.goexit"}}},
			samples: 2, recording: 2, byFunc: map[string]int64{fRender: 2},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := attribute(synthProfile(t, c.stacks), recordingFuncs)
			if err != nil {
				t.Fatal(err)
			}
			if s.Samples != c.samples || s.RecordingSamples != c.recording {
				t.Errorf("samples %d, recording %d; want %d, %d", s.Samples, s.RecordingSamples, c.samples, c.recording)
			}
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
			if s.Period != 0.01 || !near(s.ProfiledCPU, float64(c.samples)*0.01) || !near(s.RecordingCPU, float64(c.recording)*0.01) {
				t.Errorf("period %v, CPU %v, recording CPU %v; want 0.01, %v, %v", s.Period, s.ProfiledCPU, s.RecordingCPU, float64(c.samples)*0.01, float64(c.recording)*0.01)
			}
			if len(s.ByFunction) != len(c.byFunc) {
				t.Errorf("by function %v, want samples %v", s.ByFunction, c.byFunc)
			}
			for f, n := range c.byFunc {
				if !near(s.ByFunction[f], float64(n)*0.01) {
					t.Errorf("%s: %vs, want %vs", f, s.ByFunction[f], float64(n)*0.01)
				}
			}
		})
	}
}

func TestAttributeNotCPU(t *testing.T) {
	heap := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"}},
		PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:     512 << 10,
	}
	if _, err := attribute(heap, recordingFuncs); err == nil {
		t.Error("a heap profile was taken for a CPU profile")
	}
	noPeriod := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}}}
	if _, err := attribute(noPeriod, recordingFuncs); err == nil {
		t.Error("a profile without a sampling period was accepted")
	}
}

func TestNewRecordingCPU(t *testing.T) {
	s := cpuSplit{Period: 0.01, RecordingSamples: 100, RecordingCPU: 1}
	r, err := newRecordingCPU(s, 5, 11)
	if err != nil {
		t.Fatal(err)
	}
	// 1 s of recording over 10 s of the rest; sqrt(100) samples of 10 ms.
	if math.Abs(r.Overhead-0.1) > 1e-9 || math.Abs(r.OverheadError-0.01) > 1e-9 || r.ProcessCPU != 5 {
		t.Errorf("overhead %v ± %v, process CPU %v; want 0.1 ± 0.01, 5", r.Overhead, r.OverheadError, r.ProcessCPU)
	}
	if _, err := newRecordingCPU(s, 5, 1); err == nil {
		t.Error("recording CPU as large as the total was accepted")
	}
}
