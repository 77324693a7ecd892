package server_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/server"
)

// slowTerminal takes output slower than a session prints it, as a
// terminal that renders does.
type slowTerminal struct {
	mu     sync.Mutex // guards b and writes
	b      bytes.Buffer
	writes int
}

func (s *slowTerminal) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	for i := 0; i < len(p); i += 4 << 10 {
		time.Sleep(500 * time.Microsecond)
		s.mu.Lock()
		s.b.Write(p[i:min(len(p), i+4<<10)])
		s.mu.Unlock()
	}
	return len(p), nil
}

func (s *slowTerminal) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *slowTerminal) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// TestSlowTerminalAcrossCuts: the client reads the session's next
// messages off the connection while its terminal is still taking the
// previous one. With a terminal slower than the session and the
// connection cut again and again, output read ahead but not yet shown when
// a connection breaks is shown before the client resumes, where it left
// off: every byte once, in order, then the exit.
func TestSlowTerminalAcrossCuts(t *testing.T) {
	ts := startServerWith(t, func(c *server.Config) { c.OutputMemory = smallOutputMemory })
	node := runAgent(t, ts, nil)
	proxy, err := netfault.New(strings.TrimPrefix(ts.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const lines = 600000
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", fmt.Sprintf("seq 1 %d; exit 6", lines)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: "https://" + proxy.Addr(), CA: string(ts.srv.CA().CertPEM), Token: ts.adminToken})
	if err != nil {
		t.Fatal(err)
	}

	out := &slowTerminal{}
	stop := make(chan struct{})
	cutsDone := make(chan int)
	go func() {
		// Cut each time the terminal has shown another 64 KiB, so that
		// the session goes on between cuts (a first attachment that
		// fails is not retried: not before output flows).
		cuts, shown := 0, 0
		for {
			select {
			case <-stop:
				cutsDone <- cuts
				return
			case <-time.After(time.Millisecond):
			}
			if n := out.Len(); n > 0 && n >= shown+64<<10 {
				if c := proxy.Cut(); c > 0 {
					cuts += c
					shown = n
				}
			}
		}
	}()
	var notices syncBuffer
	exit, err := c.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: out, Notices: &notices},
		client.ResumeOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	close(stop)
	cuts := <-cutsDone
	if err != nil || exit.Code != 6 {
		t.Fatalf("RunTerminal = %+v, %v; want exit 6\nnotices: %s", exit, err, notices.Bytes())
	}
	if cuts < 3 {
		t.Errorf("only %d connections were cut; the test did not exercise resuming", cuts)
	}
	want := seqOutput(1, lines)
	if got := out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("the terminal shows %d bytes, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}
	t.Logf("%d connections cut, %d writes to the terminal", cuts, out.writes)
}
