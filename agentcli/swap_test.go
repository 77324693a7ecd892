package agentcli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSwapAgent: the Windows upgrade's steps. The new agent takes the
// installed one's place with the service stopped around it; a new agent
// that does not start is replaced by the previous one, started again; a
// service that does not stop changes nothing.
func TestSwapAgent(t *testing.T) {
	type run struct {
		stopErr  error
		startErr []error // by start, in order; missing: nil
	}
	for _, c := range []struct {
		name          string
		run           run
		want          string // in the error; "" for none
		installed     string // what exe holds after
		starts, stops int
	}{
		{"upgraded", run{}, "", "new", 1, 1},
		{"the new one does not start", run{startErr: []error{errors.New("exit 1")}}, "the new agent did not start: exit 1; the previous agent is back in place and running", "old", 2, 2},
		{"neither starts", run{startErr: []error{errors.New("exit 1"), errors.New("exit 2")}}, "the previous agent is back in place but did not start: exit 2", "old", 2, 2},
		{"the service does not stop", run{stopErr: errors.New("busy")}, "stop the service: busy; nothing was changed", "old", 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			exe, newExe := filepath.Join(dir, "Postern", "postern-agent.exe"), filepath.Join(dir, "download.exe")
			os.Mkdir(filepath.Dir(exe), 0o755)
			os.WriteFile(exe, []byte("old"), 0o755)
			os.WriteFile(newExe, []byte("new"), 0o755)
			starts, stops := 0, 0
			var running []string // what exe held at each start
			start := func() error {
				b, _ := os.ReadFile(exe)
				running = append(running, string(b))
				starts++
				if starts <= len(c.run.startErr) {
					return c.run.startErr[starts-1]
				}
				return nil
			}
			stop := func() error { stops++; return c.run.stopErr }
			var warned []string
			err := swapAgent(exe, newExe, stop, start, func(f string, a ...any) { warned = append(warned, f) })
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if b, _ := os.ReadFile(exe); string(b) != c.installed {
				t.Errorf("installed %q, want %q", b, c.installed)
			}
			if starts != c.starts || stops != c.stops {
				t.Errorf("%d starts, %d stops; want %d, %d (ran %q)", starts, stops, c.starts, c.stops, running)
			}
			if c.installed == "old" && starts > 0 && running[len(running)-1] != "old" {
				t.Errorf("the last start ran %q, not the previous agent", running[len(running)-1])
			}
			des, _ := os.ReadDir(filepath.Dir(exe))
			if len(des) != 1 || len(warned) != 0 {
				t.Errorf("left %d files beside the agent (want it alone), warnings %q", len(des), warned)
			}
		})
	}
}

// TestSwapAgentAfterACutShortUpgrade: an upgrade killed after it set the
// agent aside left it only at .old; the next upgrade puts it back first
// and goes on, rather than removing the only agent there is.
func TestSwapAgentAfterACutShortUpgrade(t *testing.T) {
	dir := t.TempDir()
	exe, newExe := filepath.Join(dir, "postern-agent.exe"), filepath.Join(dir, "download.exe")
	os.WriteFile(exe+".old", []byte("old"), 0o755)
	os.WriteFile(newExe, []byte("new"), 0o755)
	var warned []string
	fail := errors.New("exit 1")
	err := swapAgent(exe, newExe, func() error { return nil }, func() error {
		if b, _ := os.ReadFile(exe); string(b) == "new" {
			return fail // the new one does not start: the old must be there to go back to
		}
		return nil
	}, func(f string, a ...any) { warned = append(warned, f) })
	if err == nil || !strings.Contains(err.Error(), "the previous agent is back in place and running") {
		t.Errorf("error %v", err)
	}
	if b, _ := os.ReadFile(exe); string(b) != "old" || len(warned) != 1 {
		t.Errorf("installed %q, warnings %q", b, warned)
	}
}
