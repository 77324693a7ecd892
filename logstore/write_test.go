package logstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/logstore"
)

// TestBatchedWritesKeepTheirStreams: writes committed together (several
// groups with streams of the same name, as a session's stream is named in
// every group it goes to), with readers alongside, each land in their own
// stream, once.
func TestBatchedWritesKeepTheirStreams(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	groups := []string{"/a", "/b", "/c", "/d"}
	for _, g := range groups {
		mustCreate(t, s, logstore.Group{Account: acct, Name: g, RetentionDays: 1})
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		for st := range 3 {
			wg.Go(func() {
				for b := range 40 {
					wctx, cancel := context.WithCancel(ctx)
					if err := s.PutEvents(wctx, acct, g, fmt.Sprint("s", st), []logstore.Event{ev(c.Now(), fmt.Sprint(g, " ", b, "x")), ev(c.Now(), fmt.Sprint(g, " ", b, "y"))}); err != nil {
						t.Error(err)
					}
					cancel()
				}
			})
		}
	}
	wg.Go(func() {
		for range 50 {
			s.Events(ctx, acct, "/a", "s0", 0, 0)
			s.GroupEvents(ctx, acct, "/b", 0, 0)
		}
	})
	wg.Wait()
	for _, g := range groups {
		for st := range 3 {
			es := mustEvents(t, s, acct, g, fmt.Sprint("s", st))
			if len(es) != 80 {
				t.Errorf("%s/s%d: %d events, want 80", g, st, len(es))
			}
			for _, e := range es {
				if !strings.HasPrefix(e.Message, g+" ") {
					t.Errorf("%s/s%d holds %q", g, st, e.Message)
					break
				}
			}
		}
	}
}
