package packet

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/ipproto"
)

func TestDecrementTTL(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		ok    bool
	}{
		{"ipv4", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(5000, 53), payload(10)), true},
		{"ipv6", serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(5000, 53), payload(10)), true},
		{"ipv4-ttl1", func() []byte {
			ip := ip4L(layers.IPProtocolUDP)
			ip.TTL = 1
			return serialize(t, ethL(layers.EthernetTypeIPv4), ip, udpL(5000, 53), payload(10))
		}(), false},
		{"ipv6-hop0", func() []byte {
			ip := ip6L(layers.IPProtocolUDP)
			ip.HopLimit = 0
			return serialize(t, ethL(layers.EthernetTypeIPv6), ip, udpL(5000, 53), payload(10))
		}(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.frame)
			before := append([]byte(nil), c.frame...)
			ttl := p.TTL
			if got := p.DecrementTTL(); got != c.ok {
				t.Fatalf("DecrementTTL = %v, want %v", got, c.ok)
			}
			if !c.ok {
				if !bytes.Equal(before, c.frame) {
					t.Fatal("a refused decrement changed the frame")
				}
				return
			}
			var q Parsed
			q.Decode(c.frame)
			eq(t, "TTL", q.TTL, ttl-1)
			eq(t, "p.TTL", p.TTL, ttl-1)
			eq(t, "checksums", q.CheckChecksums(true), ChecksumOK)
			// Nothing else changed: the TTL byte and the IPv4 checksum.
			onlyTTLChanged(t, p.IPVersion, before, c.frame)
		})
	}
	// RFC 1624's case: a checksum that becomes 0xffff-equivalent stays
	// valid after every decrement from 255 down to 1.
	frame := serialize(t, ethL(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 255, Protocol: 17, SrcIP: v4A.AsSlice(), DstIP: v4B.AsSlice()}, udpL(1, 2))
	for ttl := 255; ttl > 1; ttl-- {
		if !DecrementTTL(frame[14:]) || Checksum(frame[14:34], 0) != 0 {
			t.Fatalf("at TTL %d the header checksum is wrong", ttl)
		}
	}
	if DecrementTTL(frame[14:]) {
		t.Error("decremented TTL 1")
	}
}

// onlyTTLChanged fails t unless after differs from before in the TTL and,
// for IPv4, the header checksum only (and in something).
func onlyTTLChanged(t *testing.T, version uint8, before, after []byte) {
	t.Helper()
	diff := 0
	for i := range before {
		if before[i] != after[i] {
			diff++
		}
	}
	if max := map[uint8]int{4: 3, 6: 1}[version]; diff > max || diff == 0 {
		t.Errorf("%d bytes changed", diff)
	}
}

func TestSetTTL(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		ttl   uint8
	}{
		{"ipv4-raise", serialize(t, ethL(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 1, Protocol: 17, SrcIP: v4A.AsSlice(), DstIP: v4B.AsSlice()}, udpL(1, 2), payload(10)), 64},
		{"ipv4-max", serialize(t, ethL(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 0, Protocol: 17, SrcIP: v4A.AsSlice(), DstIP: v4B.AsSlice()}, udpL(1, 2)), 255},
		{"ipv6-raise", serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(5000, 53), payload(10)), 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.frame)
			before := append([]byte(nil), c.frame...)
			if !p.SetTTL(c.ttl) {
				t.Fatal("SetTTL refused")
			}
			var q Parsed
			q.Decode(c.frame)
			eq(t, "TTL", q.TTL, c.ttl)
			eq(t, "p.TTL", p.TTL, c.ttl)
			eq(t, "checksums", q.CheckChecksums(true), ChecksumOK)
			// The header checksum, recomputed from nothing, is the one
			// the incremental update wrote.
			if p.IPVersion == 4 {
				h := append([]byte(nil), c.frame[14:34]...)
				h[10], h[11] = 0, 0
				want := Checksum(h, 0)
				eq(t, "header checksum", uint16(c.frame[24])<<8|uint16(c.frame[25]), want)
			}
			onlyTTLChanged(t, p.IPVersion, before, c.frame)
		})
	}
	if SetTTL(make([]byte, 19), 64) || SetTTL([]byte{0x45}, 64) || SetTTL(nil, 64) || SetTTL(make([]byte, 39), 64) {
		t.Error("SetTTL took a short header")
	}
	var none Parsed
	if none.SetTTL(64) {
		t.Error("SetTTL on an undecoded packet")
	}
}

func TestSetEthernet(t *testing.T) {
	frame := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(1, 2))
	var p Parsed
	p.Decode(frame)
	dst, src := [6]byte{2, 0, 0, 0, 0, 9}, [6]byte{2, 0, 0, 0, 0, 8}
	p.SetEthernet(dst, src)
	var q Parsed
	q.Decode(frame)
	eq(t, "EthDst", q.EthDst, dst)
	eq(t, "EthSrc", q.EthSrc, src)
	eq(t, "p.EthDst", p.EthDst, dst)
}

func TestAppendARP(t *testing.T) {
	a := ARP{Op: ARPRequest, SenderHW: [6]byte{2, 0, 0, 0, 0, 1}, SenderIP: netip.MustParseAddr("10.10.0.1"), TargetIP: netip.MustParseAddr("10.10.0.11")}
	b := AppendARP([]byte("keep"), BroadcastMAC, &a)
	if string(b[:4]) != "keep" {
		t.Fatal("prefix overwritten")
	}
	var p Parsed
	p.Decode(b[4:])
	if p.Invalid != Valid || p.EtherType != EtherTypeARP {
		t.Fatalf("decoded %v, ethertype %#x", p.Invalid, p.EtherType)
	}
	compareGopacket(t, b[4:], &p, false)
	eq(t, "ARP", p.ARP, a)
	eq(t, "EthDst", p.EthDst, BroadcastMAC)
	eq(t, "EthSrc", p.EthSrc, a.SenderHW)
	eq(t, "len", len(b)-4, 42)
	if a.IsGratuitous() {
		t.Error("a request for another address is not gratuitous")
	}
	g := ARP{Op: ARPReply, SenderIP: a.SenderIP, TargetIP: a.SenderIP}
	if !g.IsGratuitous() {
		t.Error("an announcement is gratuitous")
	}
	if got := AppendARP(nil, BroadcastMAC, &ARP{SenderIP: v6A, TargetIP: v4A}); len(got) != 0 {
		t.Error("built ARP for IPv6")
	}
}

// ndFrame builds an ND message with gopacket: typ 135 or 136, the given
// hop limit, code, flags byte, target and options.
func ndFrame(t *testing.T, src, dst netip.Addr, hop, typ, code, flags uint8, target netip.Addr, opts []byte) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	body := make([]byte, 20)
	body[0] = flags
	copy(body[4:], target.AsSlice())
	return serialize(t, ethL(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(append(body, opts...)))
}

func TestND(t *testing.T) {
	us, host := netip.MustParseAddr("fd00:10::1"), netip.MustParseAddr("fd00:10::11")
	ll := netip.MustParseAddr("fe80::11")
	mac := [6]byte{2, 0, 0, 0, 0, 0x11}
	slla := append([]byte{1, 1}, mac[:]...)
	tlla := append([]byte{2, 1}, mac[:]...)
	snode := SolicitedNode(us)
	const ns, na = NDNeighborSolicitation, NDNeighborAdvertisement
	for _, c := range []struct {
		name     string
		frame    []byte
		ok       bool
		linkAddr bool
		flags    NAFlags
	}{
		{"ns to solicited-node", ndFrame(t, host, snode, 255, ns, 0, 0, us, slla), true, true, 0},
		{"ns from link-local, unicast", ndFrame(t, ll, us, 255, ns, 0, 0, us, slla), true, true, 0},
		{"ns without option", ndFrame(t, host, us, 255, ns, 0, 0, us, nil), true, false, 0},
		{"ns with an unknown option first", ndFrame(t, host, snode, 255, ns, 0, 0, us, append([]byte{14, 1, 0, 0, 0, 0, 0, 0}, slla...)), true, true, 0},
		{"dad probe", ndFrame(t, netip.IPv6Unspecified(), snode, 255, ns, 0, 0, us, nil), true, false, 0},
		{"na solicited", ndFrame(t, host, us, 255, na, 0, 0x60, host, tlla), true, true, NASolicited | NAOverride},
		{"na unsolicited to all nodes", ndFrame(t, host, AllNodes, 255, na, 0, 0x20, host, tlla), true, true, NAOverride},
		{"ns hop limit 254", ndFrame(t, host, snode, 254, ns, 0, 0, us, slla), false, false, 0},
		{"ns code 1", ndFrame(t, host, snode, 255, ns, 1, 0, us, slla), false, false, 0},
		{"ns multicast target", ndFrame(t, host, snode, 255, ns, 0, 0, snode, slla), false, false, 0},
		{"ns option length 0", ndFrame(t, host, snode, 255, ns, 0, 0, us, []byte{1, 0, 0, 0, 0, 0, 0, 0}), false, false, 0},
		{"ns option past the end", ndFrame(t, host, snode, 255, ns, 0, 0, us, []byte{1, 2, 0, 0, 0, 0, 0, 0}), false, false, 0},
		{"ns option cut short", ndFrame(t, host, snode, 255, ns, 0, 0, us, []byte{1}), false, false, 0},
		{"dad probe with source link address", ndFrame(t, netip.IPv6Unspecified(), snode, 255, ns, 0, 0, us, slla), false, false, 0},
		{"dad probe to a unicast address", ndFrame(t, netip.IPv6Unspecified(), us, 255, ns, 0, 0, us, nil), false, false, 0},
		{"na to multicast, solicited", ndFrame(t, host, AllNodes, 255, na, 0, 0x40, host, tlla), false, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.frame)
			if p.Invalid != Valid || !p.VerifyChecksums() {
				t.Fatalf("test frame: %v", p.Invalid)
			}
			nd, ok := p.ND()
			if ok != c.ok {
				t.Fatalf("ND() ok = %v, want %v (%+v)", ok, c.ok, nd)
			}
			if !ok {
				return
			}
			eq(t, "HasLinkAddr", nd.HasLinkAddr, c.linkAddr)
			if c.linkAddr {
				eq(t, "LinkAddr", nd.LinkAddr, mac)
			}
			eq(t, "Flags", nd.Flags, c.flags)
			eq(t, "Type", nd.Type, p.ICMPType)
		})
	}
	// Not neighbour discovery.
	var p Parsed
	p.Decode(serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(1, 2)))
	if _, ok := p.ND(); ok {
		t.Error("UDP read as ND")
	}
}

func TestSolicitedNode(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1:2345:6789")
	sn := SolicitedNode(a)
	eq(t, "SolicitedNode", sn, netip.MustParseAddr("ff02::1:ff45:6789"))
	eq(t, "IsSolicitedNode", IsSolicitedNode(sn), true)
	eq(t, "IsSolicitedNode(all nodes)", IsSolicitedNode(AllNodes), false)
	eq(t, "IsSolicitedNode(v4)", IsSolicitedNode(v4A), false)
	eq(t, "MulticastMAC", MulticastMAC(sn), [6]byte{0x33, 0x33, 0xff, 0x45, 0x67, 0x89})
}

func TestAppendNeighborMessages(t *testing.T) {
	us, host := netip.MustParseAddr("fd00:10::1"), netip.MustParseAddr("fd00:10::11")
	ourMAC, hostMAC := [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 0x11}
	sn := SolicitedNode(host)
	for _, c := range []struct {
		name           string
		b              []byte
		ethDst         [6]byte
		src, dst, targ netip.Addr
		typ            uint8
		flags          NAFlags
	}{
		{"solicitation", AppendNeighborSolicitation(nil, ourMAC, us, host, MulticastMAC(sn), sn), MulticastMAC(sn), us, sn, host, NDNeighborSolicitation, 0},
		{"probe", AppendNeighborSolicitation(nil, ourMAC, us, host, hostMAC, host), hostMAC, us, host, host, NDNeighborSolicitation, 0},
		{"advertisement", AppendNeighborAdvertisement(nil, ourMAC, us, NARouter|NASolicited|NAOverride, hostMAC, host), hostMAC, us, host, us, NDNeighborAdvertisement, NARouter | NASolicited | NAOverride},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.b)
			if p.Invalid != Valid || !p.VerifyChecksums() {
				t.Fatalf("built %v, checksums %v", p.Invalid, p.CheckChecksums(true))
			}
			compareGopacket(t, c.b, &p, false)
			gopacketChecksumsOK(t, c.b, false)
			eq(t, "EthDst", p.EthDst, c.ethDst)
			eq(t, "EthSrc", p.EthSrc, ourMAC)
			eq(t, "Src", p.Src.Addr(), c.src)
			eq(t, "Dst", p.Dst.Addr(), c.dst)
			eq(t, "hop limit", p.TTL, 255)
			nd, ok := p.ND()
			if !ok {
				t.Fatal("our own message fails RFC 4861's checks")
			}
			eq(t, "Type", nd.Type, c.typ)
			eq(t, "Target", nd.Target, c.targ)
			eq(t, "Flags", nd.Flags, c.flags)
			eq(t, "LinkAddr", nd.LinkAddr, ourMAC)
			eq(t, "HasLinkAddr", nd.HasLinkAddr, true)
		})
	}
	if b := AppendNeighborSolicitation(nil, ourMAC, v4A, host, hostMAC, host); len(b) != 0 {
		t.Error("built a solicitation from an IPv4 address")
	}
}

// quoteOf returns the bytes an ICMP error b quotes.
func quoteOf(t *testing.T, b []byte) (*Parsed, []byte) {
	t.Helper()
	var r Parsed
	r.Decode(b)
	if r.Invalid != Valid || !r.VerifyChecksums() {
		t.Fatalf("built error invalid (%v) or checksums wrong", r.Invalid)
	}
	return &r, b[r.L4Off+8:]
}

func TestRouterICMPErrors(t *testing.T) {
	gw4, gw6 := netip.MustParseAddr("10.10.0.1"), netip.MustParseAddr("fd00:10::1")
	big4 := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(4000, 53), payload(1400))
	big6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(4000, 53), payload(1400))
	gre6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolGRE), payload(20))
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolGRE
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	ext6 := func() []byte {
		ip := ip6L(layers.IPProtocolIPv6HopByHop)
		return serialize(t, ethL(layers.EthernetTypeIPv6), ip, hbh, payload(20))
	}()
	cases := []struct {
		name        string
		frame       []byte
		build       func(dst []byte, p *Parsed) []byte
		from        netip.Addr
		typ, code   uint8
		rest        uint32
		quoteLen    int
		wantVersion uint8
	}{
		{"time exceeded v4", big4, func(d []byte, p *Parsed) []byte { return AppendICMPTimeExceeded(d, p, gw4) }, gw4, 11, 0, 0, 576 - 28, 4},
		{"time exceeded v6", big6, func(d []byte, p *Parsed) []byte { return AppendICMPTimeExceeded(d, p, gw6) }, gw6, 3, 0, 0, 1280 - 48, 6},
		{"frag needed", big4, func(d []byte, p *Parsed) []byte { return AppendICMPTooBig(d, p, gw4, 1400) }, gw4, 3, 4, 1400, 576 - 28, 4},
		{"packet too big", big6, func(d []byte, p *Parsed) []byte { return AppendICMPTooBig(d, p, gw6, 1280) }, gw6, 2, 0, 1280, 1280 - 48, 6},
		{"host unreachable from the router", big4, func(d []byte, p *Parsed) []byte { return AppendICMPUnreachableFrom(d, p, gw4, UnreachableHost) }, gw4, 3, 1, 0, 576 - 28, 4},
		{"address unreachable v6", big6, func(d []byte, p *Parsed) []byte { return AppendICMPUnreachableFrom(d, p, gw6, UnreachableHost) }, gw6, 1, 3, 0, 1280 - 48, 6},
		{"protocol unreachable v4", big4, func(d []byte, p *Parsed) []byte {
			return AppendICMPUnreachableFrom(d, p, gw4, UnreachableProtocol)
		}, gw4, 3, 2, 0, 576 - 28, 4},
		{"unknown next header v6", gre6, func(d []byte, p *Parsed) []byte {
			return AppendICMPUnreachableFrom(d, p, gw6, UnreachableProtocol)
		}, gw6, 4, 1, 6, 60, 6},
		{"unknown next header after hop-by-hop", ext6, func(d []byte, p *Parsed) []byte {
			return AppendICMPUnreachableFrom(d, p, gw6, UnreachableProtocol)
		}, gw6, 4, 1, 40, 68, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.frame)
			b := c.build(nil, &p)
			if len(b) == 0 {
				t.Fatal("nothing built")
			}
			r, q := quoteOf(t, b)
			gopacketChecksumsOK(t, b, false)
			eq(t, "IPVersion", r.IPVersion, c.wantVersion)
			eq(t, "Src", r.Src.Addr(), c.from)
			eq(t, "Dst", r.Dst.Addr(), p.Src.Addr())
			eq(t, "EthDst", r.EthDst, p.EthSrc)
			eq(t, "EthSrc", r.EthSrc, p.EthDst)
			eq(t, "type", r.ICMPType, c.typ)
			eq(t, "code", r.ICMPCode, c.code)
			eq(t, "rest", r.ICMPRest, c.rest)
			eq(t, "quote length", len(q), c.quoteLen)
			if !bytes.Equal(q, c.frame[14:14+c.quoteLen]) {
				t.Error("the quote is not the packet as it arrived")
			}
			eq(t, "Quote.Flow", r.Quote.Flow(), p.Flow())
		})
	}
	// Refusals: from an address of the other family, about an ICMP error,
	// to a broadcast.
	var p Parsed
	p.Decode(big4)
	if b := AppendICMPTimeExceeded(nil, &p, gw6); len(b) != 0 {
		t.Error("an IPv4 error from an IPv6 address")
	}
	te := AppendICMPTimeExceeded(nil, &p, gw4)
	var e Parsed
	e.Decode(te)
	if b := AppendICMPTimeExceeded(nil, &e, gw4); len(b) != 0 {
		t.Error("an error about an error")
	}
	bc := serialize(t, ethL(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 1, Protocol: 17, SrcIP: v4A.AsSlice(), DstIP: net.IPv4bcast}, udpL(1, 2))
	p.Decode(bc)
	if b := AppendICMPTimeExceeded(nil, &p, gw4); len(b) != 0 {
		t.Error("an error about a broadcast")
	}
}

func TestAppendEchoReply(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		typ   uint8
	}{
		{"v4", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 3}, payload(56)), 0},
		{"v6", func() []byte {
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			return serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolICMPv6), ic, &layers.ICMPv6Echo{Identifier: 77, SeqNumber: 3}, payload(56))
		}(), 129},
		{"v4 large", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, payload(3000)), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p, r Parsed
			p.Decode(c.frame)
			b := AppendEchoReply(nil, &p)
			r.Decode(b)
			if r.Invalid != Valid || !r.VerifyChecksums() {
				t.Fatalf("reply %v, checksums %v", r.Invalid, r.CheckChecksums(true))
			}
			gopacketChecksumsOK(t, b, false)
			eq(t, "type", r.ICMPType, c.typ)
			eq(t, "ICMPID", r.ICMPID, p.ICMPID)
			eq(t, "Flow", r.Flow(), p.Flow().Reverse())
			eq(t, "ICMPSeq", r.ICMPSeq, p.ICMPSeq)
			eq(t, "EthDst", r.EthDst, p.EthSrc)
			if !bytes.Equal(b[r.PayloadOff:], c.frame[p.PayloadOff:]) {
				t.Error("the reply's data is not the request's")
			}
		})
	}
	// Not a request; a reply to a broadcast.
	var p Parsed
	p.Decode(serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0)}))
	if b := AppendEchoReply(nil, &p); len(b) != 0 {
		t.Error("answered an echo reply")
	}
	bc := &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}
	p.Decode(serialize(t, bc, ip4L(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}))
	if b := AppendEchoReply(nil, &p); len(b) != 0 {
		t.Error("answered an echo request sent to the Ethernet broadcast")
	}
}

// reassemble puts fragments back together by their offsets and returns
// the payload, checking that they tile it without gaps.
func reassemble(t *testing.T, frags [][]byte) (payload []byte, more bool) {
	t.Helper()
	var out []byte
	end := 0
	for i, f := range frags {
		var p Parsed
		p.Decode(f)
		if p.Invalid != Valid || p.CheckChecksums(false) != ChecksumOK {
			t.Fatalf("fragment %d: %v, checksum %v", i, p.Invalid, p.CheckChecksums(false))
		}
		if int(p.FragOff) != end {
			t.Fatalf("fragment %d at offset %d, want %d", i, p.FragOff, end)
		}
		data := p.Buf[p.L3Off+p.IPHeaderLen:]
		if p.IPVersion == 6 {
			data = p.Buf[p.L3Off+48:]
		}
		out = append(out, data...)
		end += len(data)
		more = p.MoreFragments
		if i < len(frags)-1 && !more {
			t.Fatalf("fragment %d is the last but not last", i)
		}
	}
	return out, more
}

func TestFragmenter(t *testing.T) {
	withOpts := ip4L(layers.IPProtocolUDP)
	withOpts.Flags = 0
	// Security (130, copied) and record route (7, not copied).
	withOpts.Options = []layers.IPv4Option{
		{OptionType: 130, OptionLength: 11, OptionData: make([]byte, 9)},
		{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}},
	}
	noDF := ip4L(layers.IPProtocolUDP)
	noDF.Flags = 0
	v4 := serialize(t, ethL(layers.EthernetTypeIPv4), noDF, udpL(4000, 53), payload(3000))
	v4opts := serialize(t, ethL(layers.EthernetTypeIPv4), withOpts, udpL(4000, 53), payload(1500))
	v6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(4000, 53), payload(3000))
	for _, c := range []struct {
		name  string
		frame []byte
		mtu   int
		n     int
	}{
		{"v4 into 1500", v4, 1500, 3},
		{"v4 into 576", v4, 576, 6},
		{"v4 with options", v4opts, 600, 3},
		{"v6 into 1280", v6, 1280, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.frame)
			var f Fragmenter
			if err := f.Reset(&p, c.mtu, 0xdeadbeef); err != nil {
				t.Fatal(err)
			}
			var frags [][]byte
			for {
				b, ok := f.Next(nil)
				if !ok {
					break
				}
				frags = append(frags, b)
				var q Parsed
				q.Decode(b)
				if q.IPLen > c.mtu {
					t.Errorf("fragment %d is %d bytes, over the MTU %d", len(frags), q.IPLen, c.mtu)
				}
				eq(t, "EthDst", q.EthDst, p.EthDst)
				eq(t, "Src", q.Src.Addr(), p.Src.Addr())
				eq(t, "Dst", q.Dst.Addr(), p.Dst.Addr())
				eq(t, "TTL", q.TTL, p.TTL)
				if q.IPVersion == 4 {
					eq(t, "IPID", q.IPID, p.IPID)
					if len(frags) > 1 && c.frame[14+20] == 130 {
						// Only the copied option follows the first fragment.
						eq(t, "IPHeaderLen", q.IPHeaderLen, 32)
						eq(t, "option", q.Buf[q.L3Off+20], byte(130))
					}
				} else {
					eq(t, "FragID", q.FragID, 0xdeadbeef)
					eq(t, "Proto", q.Proto, ipproto.UDP)
				}
			}
			if len(frags) != c.n {
				t.Errorf("%d fragments, want %d", len(frags), c.n)
			}
			got, more := reassemble(t, frags)
			if more {
				t.Error("the last fragment says more follow")
			}
			if !bytes.Equal(got, c.frame[p.L3Off+p.IPHeaderLen:]) {
				t.Error("the fragments do not hold the packet's payload")
			}
		})
	}
	t.Run("a fragment cut again", func(t *testing.T) {
		var p Parsed
		p.Decode(v4)
		var f Fragmenter
		mustNil(t, f.Reset(&p, 1500, 0))
		first, _ := f.Next(nil)
		var fp Parsed
		fp.Decode(first)
		var g Fragmenter
		mustNil(t, g.Reset(&fp, 600, 0))
		var frags [][]byte
		for b, ok := g.Next(nil); ok; b, ok = g.Next(nil) {
			frags = append(frags, b)
		}
		second, _ := f.Next(nil)
		third, _ := f.Next(nil)
		frags = append(frags, second, third)
		got, more := reassemble(t, frags)
		if more || !bytes.Equal(got, v4[34:]) {
			t.Errorf("re-fragmented pieces do not rebuild the packet (more %v)", more)
		}
	})
	var p Parsed
	p.Decode(serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(4000, 53), payload(3000)))
	var f Fragmenter
	if err := f.Reset(&p, 1500, 0); err != ErrDontFragment {
		t.Errorf("DF packet: %v", err)
	}
	p.Decode(v6)
	if err := f.Reset(&p, 1000, 0); err != ErrFragmentMTU {
		t.Errorf("IPv6 below 1280: %v", err)
	}
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolUDP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	p.Decode(serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6HopByHop), hbh, udpL(1, 2), payload(2000)))
	if err := f.Reset(&p, 1280, 0); err != ErrFragmentExt {
		t.Errorf("IPv6 with extension headers: %v", err)
	}
}

func TestRouterBuildersAllocateNothing(t *testing.T) {
	frame := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(4000, 53), payload(100))
	var p Parsed
	p.Decode(frame)
	buf := make([]byte, 0, 2048)
	gw := netip.MustParseAddr("192.0.2.254")
	a := ARP{Op: ARPRequest, SenderIP: gw, TargetIP: v4B}
	noDF := serialize(t, ethL(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 9, Protocol: 17, SrcIP: v4A.AsSlice(), DstIP: v4B.AsSlice()}, udpL(1, 2), payload(3000))
	var big Parsed
	big.Decode(noDF)
	var f Fragmenter
	allocs := testing.AllocsPerRun(100, func() {
		_ = AppendICMPTimeExceeded(buf[:0], &p, gw)
		_ = AppendICMPTooBig(buf[:0], &p, gw, 1280)
		_ = AppendARP(buf[:0], BroadcastMAC, &a)
		_ = AppendNeighborSolicitation(buf[:0], a.SenderHW, v6A, v6B, BroadcastMAC, v6B)
		p.DecrementTTL()
		_ = f.Reset(&big, 1500, 0)
		for b, ok := f.Next(buf[:0]); ok; b, ok = f.Next(buf[:0]) {
			_ = b
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}
