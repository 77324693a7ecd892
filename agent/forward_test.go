package agent

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/wire"
)

// openForward asks the agent for a forwarded connection as the server
// does, and returns its answer and the stream.
func openForward(t *testing.T, a *Agent, fw wire.Forward) (wire.OpenResult, net.Conn) {
	t.Helper()
	st := serverStream(t, a)
	if fw.Grant == nil {
		fw.Grant = trustOf(t, a).grant(t, fw.Request())
	}
	if err := wire.NewWriter(st).WriteJSON(wire.TForward, fw); err != nil {
		t.Fatal(err)
	}
	f, err := wire.NewReader(st).Read()
	if err != nil {
		t.Fatal(err)
	}
	var res wire.OpenResult
	if err := wire.DecodeJSON(f, &res); err != nil {
		t.Fatal(err)
	}
	return res, st
}

// serverStream connects the agent to a multiplexed connection as the
// server's end of it would be, and opens a stream to the agent.
func serverStream(t *testing.T, a *Agent) *yamux.Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c1, c2 := net.Pipe()
	am, err := wire.AgentMux(c1, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := wire.ServerMux(c2, t.Logf, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); sm.Close(); am.Close() })
	go func() {
		for {
			st, err := am.AcceptStream()
			if err != nil {
				return
			}
			go a.serveStream(ctx, st)
		}
	}()
	st, err := sm.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestForwardRefusesMetadataAddresses checks the agent's own refusal of
// link-local and metadata targets, which holds whatever the server sent:
// the server can only refuse addresses, the agent sees what names resolve
// to.
func TestForwardRefusesMetadataAddresses(t *testing.T) {
	a := newTestAgent(t, &testClock{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from the target")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, tt := range []struct {
		name, host string
		refused    string // "" when allowed
	}{
		{"loopback", "127.0.0.1", ""},
		{"localhost by name", "", ""},
		{"EC2 metadata", "169.254.169.254", "link-local"},
		{"mapped into IPv6", "::ffff:169.254.169.254", "link-local"},
		{"IPv6 link-local", "fe80::1", "link-local"},
		{"EC2 metadata over IPv6", "fd00:ec2::254", "AWS instance metadata"},
		{"Alibaba metadata", "100.100.100.200", "Alibaba"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, st := openForward(t, a, wire.Forward{SessionID: "s", Host: tt.host, Port: port})
			if tt.refused == "" {
				if !res.OK {
					t.Fatalf("refused: %s", res.Error)
				}
				b, _ := io.ReadAll(st)
				if string(b) != "hello from the target" {
					t.Errorf("read %q", b)
				}
				return
			}
			if res.OK || !strings.Contains(res.Error, "refused") || !strings.Contains(res.Error, tt.refused) || !strings.Contains(res.Error, "allowLinkLocal") {
				t.Errorf("forward to %s = %+v, want refused (%s)", net.JoinHostPort(tt.host, strconv.Itoa(port)), res, tt.refused)
			}
		})
	}
}
