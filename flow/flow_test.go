package flow

import (
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/ipproto"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestReverse(t *testing.T) {
	k := Key{Src: ap("10.0.0.1:40000"), Dst: ap("192.0.2.53:53"), Proto: ipproto.UDP}
	want := Key{Src: ap("192.0.2.53:53"), Dst: ap("10.0.0.1:40000"), Proto: ipproto.UDP}
	if got := k.Reverse(); got != want {
		t.Fatalf("Reverse = %v, want %v", got, want)
	}
	if k.Reverse().Reverse() != k {
		t.Fatal("Reverse is not an involution")
	}
	if (Key{}).Reverse() != (Key{}) {
		t.Fatal("zero key reversed is not zero")
	}
}

func TestMapKey(t *testing.T) {
	a := Key{Src: ap("[2001:db8::1]:443"), Dst: ap("[2001:db8::2]:50000"), Proto: ipproto.TCP}
	m := map[Key]int{a: 1, a.Reverse(): 2}
	// A key built separately from equal parts finds the same entry.
	b := Key{Src: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 443), Dst: ap("[2001:db8::2]:50000"), Proto: ipproto.TCP}
	if m[b] != 1 || m[b.Reverse()] != 2 || len(m) != 2 {
		t.Fatalf("map lookups: %v", m)
	}
	// Keys differing only in protocol, or only in family, are different flows.
	c := b
	c.Proto = ipproto.UDP
	if _, ok := m[c]; ok {
		t.Fatal("udp key found the tcp flow")
	}
	v4 := Key{Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), Proto: ipproto.TCP}
	mapped := Key{Src: ap("[::ffff:10.0.0.1]:1"), Dst: ap("[::ffff:10.0.0.2]:2"), Proto: ipproto.TCP}
	if v4 == mapped {
		t.Fatal("IPv4 and IPv4-mapped keys compare equal")
	}
}

// The ICMP convention: a request and its reply carry the identifier in
// both ports, so the reply's key is the request's Reverse.
func TestICMPQueryConvention(t *testing.T) {
	for _, tt := range []struct {
		proto    ipproto.Proto
		src, dst string
	}{
		{ipproto.ICMP, "10.0.0.1", "192.0.2.1"},
		{ipproto.ICMPv6, "2001:db8::1", "2001:db8::2"},
	} {
		s, d := netip.MustParseAddr(tt.src), netip.MustParseAddr(tt.dst)
		const id = 4242
		request := Key{Src: netip.AddrPortFrom(s, id), Dst: netip.AddrPortFrom(d, id), Proto: tt.proto}
		reply := Key{Src: netip.AddrPortFrom(d, id), Dst: netip.AddrPortFrom(s, id), Proto: tt.proto}
		if request.Reverse() != reply {
			t.Errorf("%v: reply %v is not the request's Reverse %v", tt.proto, reply, request.Reverse())
		}
		if !request.IsICMP() {
			t.Errorf("%v: IsICMP false", request)
		}
		other := request
		other.Src = netip.AddrPortFrom(s, id+1)
		other.Dst = netip.AddrPortFrom(d, id+1)
		if other == request || other.Reverse() == reply {
			t.Errorf("%v: another identifier is the same flow", tt.proto)
		}
	}
	// ICMP over IPv6 and ICMPv6 over IPv4 are not ICMP flows of their family.
	if (Key{Src: ap("[2001:db8::1]:0"), Dst: ap("[2001:db8::2]:0"), Proto: ipproto.ICMP}).IsICMP() {
		t.Error("ICMP over IPv6 counted as ICMP")
	}
	if (Key{Src: ap("10.0.0.1:0"), Dst: ap("10.0.0.2:0"), Proto: ipproto.ICMPv6}).IsICMP() {
		t.Error("ICMPv6 over IPv4 counted as ICMP")
	}
}

func TestString(t *testing.T) {
	for _, tt := range []struct {
		k    Key
		want string
	}{
		{Key{Src: ap("198.51.100.66:4444"), Dst: ap("10.10.0.11:22"), Proto: ipproto.TCP}, "tcp 198.51.100.66:4444 -> 10.10.0.11:22"},
		{Key{Src: ap("[2001:db8::1]:5353"), Dst: ap("[ff02::fb]:5353"), Proto: ipproto.UDP}, "udp [2001:db8::1]:5353 -> [ff02::fb]:5353"},
		{Key{Src: ap("10.0.0.1:36412"), Dst: ap("10.0.0.2:5060"), Proto: ipproto.SCTP}, "sctp 10.0.0.1:36412 -> 10.0.0.2:5060"},
		{Key{Src: ap("10.0.0.1:7"), Dst: ap("192.0.2.1:7"), Proto: ipproto.ICMP}, "icmp 10.0.0.1 -> 192.0.2.1 id 7"},
		{Key{Src: ap("[2001:db8::1]:9"), Dst: ap("[2001:db8::2]:9"), Proto: ipproto.ICMPv6}, "icmpv6 2001:db8::1 -> 2001:db8::2 id 9"},
		{Key{Src: ap("192.0.2.1:0"), Dst: ap("10.0.0.1:0"), Proto: ipproto.ICMP}, "icmp 192.0.2.1 -> 10.0.0.1"},
		{Key{Src: ap("10.0.0.1:0"), Dst: ap("10.0.0.2:0"), Proto: ipproto.GRE}, "gre 10.0.0.1 -> 10.0.0.2"},
		{Key{Src: ap("10.0.0.1:0"), Dst: ap("10.0.0.2:0"), Proto: 253}, "proto 253 10.0.0.1 -> 10.0.0.2"},
		{Key{}, "invalid flow"},
		{Key{Src: ap("10.0.0.1:1"), Dst: ap("[2001:db8::1]:1"), Proto: ipproto.TCP}, "invalid flow"},
	} {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}
