// Package netfault is a TCP proxy for tests that injects network faults
// between two real endpoints on loopback: it cuts connections, stalls
// traffic, and refuses new connections on command.
package netfault

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy forwards connections accepted on its own loopback address to a
// target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex // guards the fields below
	cond    *sync.Cond // broadcast when stalled changes or the proxy closes
	conns   map[*pair]struct{}
	refuse  bool
	stalled bool
	// stalledBack holds only what the target sends back.
	stalledBack bool
	closed      bool
	cuts        int
	wg          sync.WaitGroup // accept loop and copiers
}

type pair struct{ a, b net.Conn }

// New starts a proxy to target on 127.0.0.1. Close it when done.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*pair]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{a: c, b: up}
		p.mu.Lock()
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.copy(pr, up, c, false)
		go p.copy(pr, c, up, true)
	}
}

// copy forwards src to dst, holding data while the proxy is stalled; back
// marks the direction from the target.
func (p *Proxy) copy(pr *pair, dst, src net.Conn, back bool) {
	defer p.wg.Done()
	defer p.drop(pr)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for (p.stalled || back && p.stalledBack) && !p.closed {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

func (p *Proxy) drop(pr *pair) {
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
	pr.a.Close()
	pr.b.Close()
}

// Cut closes every open connection abruptly (both sides see a reset or
// EOF), as when a NAT drops its state or a laptop changes networks. It
// returns how many it cut.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	var ps []*pair
	for pr := range p.conns {
		ps = append(ps, pr)
	}
	p.cuts += len(ps)
	p.mu.Unlock()
	for _, pr := range ps {
		if tc, ok := pr.a.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not a graceful FIN
		}
		pr.a.Close()
		pr.b.Close()
	}
	return len(ps)
}

// Stall holds (true) or releases (false) all traffic without closing
// anything, as a congested or black-holed link.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

// StallBack holds (true) or releases (false) only what the target sends
// to the connecting side, as a link that lost one direction: the
// connecting side's messages still arrive, nothing reaches it.
func (p *Proxy) StallBack(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalledBack = on
	p.cond.Broadcast()
}

// Refuse makes the proxy close new connections at once (true) or accept
// them again (false), as a server that is down.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// Conns returns how many connections are open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}
