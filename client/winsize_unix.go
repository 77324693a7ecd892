//go:build unix

package client

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// WatchSize reports the terminal's size whenever it changes (SIGWINCH),
// until ctx is done.
func WatchSize(ctx context.Context, fd int) <-chan Size {
	ch := make(chan Size, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(sig)
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			}
			w, h, err := term.GetSize(fd)
			if err != nil {
				continue
			}
			// Only the newest size matters: replace one the consumer
			// has not taken yet rather than drop this one.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- Size{Cols: w, Rows: h}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}
