package agent

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/wire"
)

// forward serves one forwarded connection of a port session: it dials the
// target from the node and copies bytes both ways until either side closes.
// Each connection is its own stream, so its flow control is its own.
func (a *Agent) forward(ctx context.Context, st *yamux.Stream, w *wire.Writer, fw wire.Forward) {
	host := fw.Host
	if host == "" {
		host = "localhost"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(fw.Port))
	if fw.Port < 1 || fw.Port > 65535 {
		w.WriteJSON(wire.TOpenResult, wire.OpenResult{Error: fmt.Sprintf("port %d is out of range 1–65535", fw.Port)})
		return
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		w.WriteJSON(wire.TOpenResult, wire.OpenResult{Error: fmt.Sprintf("the node could not connect to %s: %v", addr, err)})
		return
	}
	defer conn.Close()
	if err := w.WriteJSON(wire.TOpenResult, wire.OpenResult{OK: true}); err != nil {
		return
	}
	wire.Pipe(st, conn)
}
