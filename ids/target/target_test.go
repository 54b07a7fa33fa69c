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
	n := 0
	for pfx, pol := range tb.All() {
		if tb.Lookup(pfx.Addr()) != pol {
			t.Errorf("All: %s has %s, Lookup says %s", pfx, pol, tb.Lookup(pfx.Addr()))
		}
		n++
	}
	if n != 5 {
		t.Errorf("All yielded %d prefixes, want 5", n)
	}
	if tb.Default() != "bsd" {
		t.Errorf("default %s", tb.Default())
	}
	var none *Table[string]
	if got := none.Lookup(netip.MustParseAddr("10.10.7.10")); got != "" {
		t.Errorf("nil table: %q", got)
	}
}

func TestNames(t *testing.T) {
	type pol uint8
	n := NewNames[pol]("test policy", "first", "last", "bsd")
	if n.String(2) != "bsd" || n.String(7) != "policy(7)" {
		t.Errorf("String: %s, %s", n.String(2), n.String(7))
	}
	if p, err := n.Parse("last"); p != 1 || err != nil {
		t.Errorf("Parse(last) = %d, %v", p, err)
	}
	if _, err := n.Parse("vista"); err == nil || err.Error() != `unknown test policy "vista" (want first, last or bsd)` {
		t.Errorf("Parse(vista): %v", err)
	}
	if b, err := n.Marshal(0); string(b) != "first" || err != nil {
		t.Errorf("Marshal(0) = %q, %v", b, err)
	}
	if _, err := n.Marshal(3); err == nil {
		t.Error("Marshal(3) gave no error")
	}
	var p pol
	if err := n.Unmarshal([]byte("bsd"), &p); p != 2 || err != nil {
		t.Errorf("Unmarshal(bsd) = %d, %v", p, err)
	}
	if err := n.Unmarshal([]byte("x"), &p); p != 2 || err == nil {
		t.Errorf("Unmarshal(x) = %d, %v", p, err)
	}
}
