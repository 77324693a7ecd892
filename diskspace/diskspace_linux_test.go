package diskspace_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/postern/postern/diskspace"
	"github.com/postern/postern/diskspace/disktest"
)

// TestMonitorOnATmpfs fills a real filesystem: the monitor goes low when
// a write fails (before it looks) and when it looks, and comes back once
// the space is free again.
func TestMonitorOnATmpfs(t *testing.T) {
	dir := disktest.Small(t, 4<<20)
	m := diskspace.New(dir, 1<<20, nil)
	if st := m.State(); st.Low || st.Total == 0 || st.Free < 3<<20 {
		t.Fatalf("empty 4 MiB filesystem: %+v", st)
	}
	changed := m.Changed()
	free := disktest.Fill(t, dir, 0)
	err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 8192), 0o600)
	if !m.Report(err) {
		t.Fatalf("Report(%v) = false, want a lack of space", err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed when the monitor went low")
	}
	if !m.Low() {
		t.Fatal("not low after a write failed for lack of space")
	}
	if st := m.Check(); !st.Low || st.Free >= 1<<20 {
		t.Fatalf("full filesystem: %+v", st)
	}
	if msg := m.State().Error().Error(); msg == "" {
		t.Fatal("no message")
	}
	changed = m.Changed()
	free()
	if st := m.Check(); st.Low {
		t.Fatalf("low after the space came back: %+v", st)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed when the monitor came back")
	}
}
