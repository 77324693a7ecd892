package clientaddr

import "testing"

func TestPrefix(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.7:443", "192.0.2.7/32"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
	} {
		if got := Prefix(tt.addr); got.String() != tt.want {
			t.Errorf("Prefix(%q) = %v, want %s", tt.addr, got, tt.want)
		}
	}
	for _, bad := range []string{"", "@", "host:1", "not an address"} {
		if p := Prefix(bad); p.IsValid() {
			t.Errorf("Prefix(%q) = %v, want the zero Prefix", bad, p)
		}
	}
}
