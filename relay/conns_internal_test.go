package relay

import (
	"context"
	"errors"
	"io"
	"testing"
)

// A forwarded connection closed for the reason of the first side to end,
// or for its cancellation's, whatever the sides report after.
func TestConnEnds(t *testing.T) {
	broken := errors.New("connection reset by peer")
	for _, tt := range []struct {
		name         string
		cancel       error // the connection's cancellation, if any, before the sides end
		ends         []error
		sides        []string // "client" or "target", for each of ends
		reason, more string
	}{
		{name: "the client closes first", ends: []error{io.EOF, broken}, sides: []string{"client", "target"}, reason: closeClientClosed},
		{name: "the target closes first", ends: []error{io.EOF, io.EOF}, sides: []string{"target", "client"}, reason: closeTargetClosed},
		{name: "the client's link breaks", ends: []error{broken, io.EOF}, sides: []string{"client", "target"}, reason: closeClientLost, more: broken.Error()},
		{name: "the node's stream breaks", ends: []error{broken}, sides: []string{"target"}, reason: closeAgentLost, more: broken.Error()},
		{name: "the session ends", cancel: sessionEnding{"IdleTimeout"}, ends: []error{context.Canceled, io.EOF}, sides: []string{"client", "target"}, reason: closeSessionEnded, more: "the session ended: IdleTimeout"},
		{name: "the server stops", cancel: context.Canceled, ends: []error{broken}, sides: []string{"target"}, reason: closeServerStopped},
		{name: "no read ended", reason: closeClientLost, more: "the connection could not be written to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tt.cancel != nil {
				cancel(tt.cancel)
			}
			e := connEnds{ctx: ctx}
			for i, err := range tt.ends {
				if tt.sides[i] == "client" {
					e.note(closeClientClosed, closeClientLost, err)
				} else {
					e.note(closeTargetClosed, closeAgentLost, err)
				}
			}
			if reason, more := e.reason(); reason != tt.reason || more != tt.more {
				t.Errorf("reason() = %q, %q; want %q, %q", reason, more, tt.reason, tt.more)
			}
		})
	}
}
