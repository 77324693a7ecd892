package relay

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// TestDesktopIdleIsInput: a desktop session's idle clock runs on the
// user's input (Touch) only: bytes its forwarded connection carries (a
// desktop's screen updates) do not keep it alive, input does, and with
// none for the idle timeout it ends as IdleTimeout. The server's records
// (Record) land in the journal.
func TestDesktopIdleIsInput(t *testing.T) {
	f := newRelayFixture(t)
	f.agent = &Link{} // online: a port session ends when its node goes
	f.sess.Settings = store.SessionSettings{Type: "Desktop", Desktop: &store.DesktopSettings{}, Port: &store.PortTarget{Port: 3389}, IdleTimeout: time.Minute}
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	release := r.Hold() // the desktop engine, as the server holds it
	defer release()

	if err := r.Record(recording.KindDisplay, []byte("4.sync,1.1;")); err != nil {
		t.Fatal(err)
	}
	// A journal that cannot keep up (its disk full) refuses more than
	// MaxPendingRecords waiting, rather than growing memory.
	r.mu.Lock()
	stuck := recording.Record{Seq: r.journal.LastSeq() + 1000, Kind: recording.KindDisplay, Data: make([]byte, MaxPendingRecords)}
	r.marks = append(r.marks, stuck) // not durable, and not going to be
	r.mu.Unlock()
	if err := r.Record(recording.KindDisplay, []byte("x")); err != ErrRecordingBehind {
		t.Errorf("Record with %d bytes waiting: %v, want ErrRecordingBehind", MaxPendingRecords, err)
	}
	r.mu.Lock()
	r.marks = r.marks[:len(r.marks)-1]
	r.mu.Unlock()
	// Screen updates through the forwarded connection: not activity.
	screen := activityConn{r: r, ReadWriteCloser: nopRWC{strings.NewReader("screen update")}}
	f.clk.Advance(50 * time.Second)
	io.ReadAll(screen)
	f.clk.Advance(5 * time.Second)
	r.Touch() // a key at 55 s
	f.clk.Advance(50 * time.Second)
	if r.Check(f.clk.Now()); r.Ending() {
		t.Fatal("ended 50 s after the user's last input, within the idle timeout")
	}
	io.ReadAll(activityConn{r: r, ReadWriteCloser: nopRWC{strings.NewReader("more screen")}})
	f.clk.Advance(11 * time.Second)
	r.Check(f.clk.Now())
	select {
	case final := <-f.ended:
		if final.Status != store.StatusTerminated || final.StatusReason != "IdleTimeout" {
			t.Errorf("ended %s (%s); want Terminated (IdleTimeout)", final.Status, final.StatusReason)
		}
	case <-time.After(time.Minute):
		t.Fatal("screen updates kept an idle desktop alive")
	}
	var display []byte
	jr, err := recording.ReadJournal(f.jpath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	for rec, err := range jr.All() {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == recording.KindDisplay {
			display = append(display, rec.Data...)
		}
	}
	if !bytes.Equal(display, []byte("4.sync,1.1;")) {
		t.Errorf("journal's display records = %q", display)
	}
}

type nopRWC struct{ io.Reader }

func (nopRWC) Write(p []byte) (int, error) { return len(p), nil }
func (nopRWC) Close() error                { return nil }
