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
			if w, h, err := term.GetSize(fd); err == nil {
				select {
				case ch <- Size{Cols: w, Rows: h}:
				default: // the consumer has an older size pending; it will catch up
				}
			}
		}
	}()
	return ch
}
