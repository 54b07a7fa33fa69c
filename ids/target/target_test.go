package target

import (
	"net/netip"
	"testing"
)

func TestLookup(t *testing.T) {
	tb := New("bsd")
	tb.Set(netip.MustParsePrefix("10.10.0.0/16"), "linux")
	tb.Set(netip.MustParsePrefix("10.10.7.10/32"), "windows")
	tb.Set(netip.MustParsePrefix("10.10.7.0/24"), "solaris") // set after a longer one
	tb.Set(netip.MustParsePrefix("2001:db8::/32"), "macos")
	tb.Set(netip.MustParsePrefix("192.0.2.77/24"), "first") // not masked
	for _, tc := range []struct{ addr, want string }{
		{"10.10.7.10", "windows"},
		{"10.10.7.11", "solaris"},
		{"10.10.8.1", "linux"},
		{"10.11.0.1", "bsd"},
		{"::ffff:10.10.7.10", "windows"},
		{"2001:db8::1", "macos"},
		{"2001:db9::1", "bsd"},
		{"192.0.2.1", "first"},
	} {
		if got := tb.Lookup(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.addr, got, tc.want)
		}
	}
	if tb.Default() != "bsd" {
		t.Errorf("default %s", tb.Default())
	}
	var none *Table[string]
	if got := none.Lookup(netip.MustParseAddr("10.10.7.10")); got != "" {
		t.Errorf("nil table: %q", got)
	}
}
