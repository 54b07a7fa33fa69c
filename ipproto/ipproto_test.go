package ipproto

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		p    Proto
		name string
	}{
		{HopByHop, "hopopt"},
		{ICMP, "icmp"},
		{TCP, "tcp"},
		{UDP, "udp"},
		{DCCP, "dccp"},
		{IPv6, "ipv6"},
		{Routing, "ipv6-route"},
		{Fragment, "ipv6-frag"},
		{GRE, "gre"},
		{ESP, "esp"},
		{AH, "ah"},
		{ICMPv6, "icmpv6"},
		{NoNext, "ipv6-nonxt"},
		{DestOpts, "ipv6-opts"},
		{SCTP, "sctp"},
		{Mobility, "mobility-header"},
		{UDPLite, "udplite"},
		{HIP, "hip"},
		{Shim6, "shim6"},
		// Unnamed numbers print as numbers.
		{2, "2"},
		{99, "99"},
		{253, "253"},
		{Reserved, "255"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.name {
			t.Errorf("Proto(%d).String() = %q, want %q", uint8(tt.p), got, tt.name)
		}
		got, err := Parse(tt.name)
		if err != nil || got != tt.p {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.name, got, err, tt.p)
		}
	}
}

// Every number survives String and Parse, named or not.
func TestRoundTrip(t *testing.T) {
	seen := map[string]Proto{}
	for i := range 256 {
		p := Proto(i)
		s := p.String()
		if q, dup := seen[s]; dup {
			t.Fatalf("%d and %d both print %q", q, p, s)
		}
		seen[s] = p
		got, err := Parse(s)
		if err != nil || got != p {
			t.Errorf("Parse(%d.String() = %q) = %d, %v", i, s, got, err)
		}
		b, err := p.MarshalText()
		if err != nil || string(b) != s {
			t.Errorf("MarshalText(%d) = %q, %v", i, b, err)
		}
		var u Proto
		if err := u.UnmarshalText(b); err != nil || u != p {
			t.Errorf("UnmarshalText(%q) = %d, %v", b, u, err)
		}
		if _, named := Lookup(s); named != p.Named() {
			t.Errorf("Lookup(%q) found %v, Named() = %v", s, named, p.Named())
		}
	}
}

func TestParseAliasesAndErrors(t *testing.T) {
	for s, want := range map[string]Proto{"ipv6-icmp": ICMPv6, "udp-lite": UDPLite, "6": TCP, "0": HopByHop, "255": Reserved, "132": SCTP} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "TCP", "tcp ", "256", "-1", "+6", "0x06", "any", "icmp6"} {
		p, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) = %d, want an error", s, p)
			continue
		}
		if !errors.Is(err, ErrUnknown) {
			t.Errorf("Parse(%q): error %v does not wrap ErrUnknown", s, err)
		}
	}
	if _, err := Parse("shh"); err == nil || err.Error() != `"shh": unknown IP protocol` {
		t.Errorf("Parse(shh) error = %v", err)
	}
	if _, ok := Lookup("6"); ok {
		t.Error("Lookup accepted a number")
	}
}

func TestHasPorts(t *testing.T) {
	for i := range 256 {
		p := Proto(i)
		want := p == TCP || p == UDP || p == UDPLite || p == SCTP || p == DCCP
		if p.HasPorts() != want {
			t.Errorf("%v.HasPorts() = %v", p, !want)
		}
	}
}

func TestJSON(t *testing.T) {
	b, err := json.Marshal(map[string]Proto{"p": SCTP, "q": 200})
	if err != nil || string(b) != `{"p":"sctp","q":"200"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ P, Q Proto }
	if err := json.Unmarshal([]byte(`{"P":"ipv6-icmp","Q":"47"}`), &v); err != nil || v.P != ICMPv6 || v.Q != GRE {
		t.Fatalf("Unmarshal = %+v, %v", v, err)
	}
	if err := json.Unmarshal([]byte(`{"P":"tcpp"}`), &v); err == nil {
		t.Fatal("Unmarshal accepted tcpp")
	}
}

func TestStringDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		for i := range 256 {
			_ = Proto(i).String()
		}
	})
	if n != 0 {
		t.Fatalf("String allocates %v times per 256 calls", n)
	}
}
