package agent

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
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
	// The address is checked as dialled, after name resolution, so a DNS
	// name cannot smuggle in a metadata address.
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if why := wire.ForbiddenTarget(net.ParseIP(host)); why != "" && !fw.AllowLinkLocal {
			return fmt.Errorf("forwarding to %s (%s) is refused: it can hand out the node's credentials; a port document must set properties.allowLinkLocal to reach it", host, why)
		}
		return nil
	}}
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
