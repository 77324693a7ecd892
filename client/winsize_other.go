//go:build !unix

package client

import (
	"context"
	"time"

	"golang.org/x/term"
)

// WatchSize reports the terminal's size whenever it changes, until ctx is
// done. Windows consoles have no resize signal, so it polls.
func WatchSize(ctx context.Context, fd int) <-chan Size {
	ch := make(chan Size, 1)
	go func() {
		defer close(ch)
		w0, h0, _ := term.GetSize(fd)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			w, h, err := term.GetSize(fd)
			if err != nil || w == w0 && h == h0 {
				continue
			}
			w0, h0 = w, h
			select {
			case ch <- Size{Cols: w, Rows: h}:
			default:
			}
		}
	}()
	return ch
}
