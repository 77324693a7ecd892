// Package clientaddr names the source that per-client limits count: a
// caller's IP address, or for IPv6 its /64, since one host is commonly
// given a whole /64 and could otherwise spray fresh addresses at every
// limit.
package clientaddr

import "net/netip"

// Prefix returns the source of addr (host:port, or a bare host): the IP
// as a /32, or an IPv6 address's /64. An address that does not parse (a
// unix socket, a test's recorder) is the zero Prefix, which is not valid.
func Prefix(addr string) netip.Prefix {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(addr); err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}
