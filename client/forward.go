package client

import (
	"context"
	"net"
	"sync"

	"github.com/postern/postern/wire"
)

// ServeForward accepts connections on ln and forwards each through the
// port session until ctx ends; then it closes ln and every connection.
// onConn, if set, is told about each accepted connection and each failure.
func (c *Client) ServeForward(ctx context.Context, sessionID string, ln net.Listener, onConn func(remote string, err error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			up, err := c.DialForward(ctx, sessionID)
			if onConn != nil {
				onConn(conn.RemoteAddr().String(), err)
			}
			if err != nil {
				return
			}
			stop := context.AfterFunc(ctx, func() { conn.Close(); up.Close() })
			defer stop()
			wire.Pipe(conn, up)
		}()
	}
}
