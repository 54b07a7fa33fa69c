package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/ipproto"
)

func drawAddr(rt *rapid.T, v6 bool, label string) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(rt, label)))
	}
	return netip.AddrFrom4([4]byte(rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(rt, label)))
}

// drawPacket builds a random TCP, UDP or ICMP echo packet with gopacket.
func drawPacket(rt *rapid.T) []byte {
	v6 := rapid.Bool().Draw(rt, "v6")
	src, dst := drawAddr(rt, v6, "src"), drawAddr(rt, v6, "dst")
	kind := rapid.SampledFrom([]string{"tcp", "udp", "icmp-echo"}).Draw(rt, "kind")
	sport := layers.TCPPort(rapid.Uint16().Draw(rt, "sport"))
	dport := layers.TCPPort(rapid.Uint16().Draw(rt, "dport"))
	pl := gopacket.Payload(rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(rt, "payload"))

	var net gopacket.SerializableLayer
	var l4 []gopacket.SerializableLayer
	proto := map[string]layers.IPProtocol{"tcp": layers.IPProtocolTCP, "udp": layers.IPProtocolUDP, "icmp-echo": layers.IPProtocolICMPv4}[kind]
	if v6 && kind == "icmp-echo" {
		proto = layers.IPProtocolICMPv6
	}
	link := ethL(layers.EthernetTypeIPv4)
	if v6 {
		ip := ip6L(proto)
		ip.SrcIP, ip.DstIP = src.AsSlice(), dst.AsSlice()
		net = ip
		link.EthernetType = layers.EthernetTypeIPv6
	} else {
		ip := ip4L(proto)
		ip.SrcIP, ip.DstIP = src.AsSlice(), dst.AsSlice()
		net = ip
	}
	switch kind {
	case "tcp":
		l4 = []gopacket.SerializableLayer{&layers.TCP{SrcPort: sport, DstPort: dport, Seq: rapid.Uint32().Draw(rt, "seq"), ACK: true, Window: 100}}
	case "udp":
		l4 = []gopacket.SerializableLayer{&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}}
	case "icmp-echo":
		if v6 {
			l4 = []gopacket.SerializableLayer{icmp6(128, 0), &layers.ICMPv6Echo{Identifier: uint16(sport), SeqNumber: 1}}
		} else {
			l4 = []gopacket.SerializableLayer{&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: uint16(sport), Seq: 1}}
		}
	}
	ls := append([]gopacket.SerializableLayer{link, net}, l4...)
	return serialize(rt, append(ls, pl)...)
}

// checkFullChecksums recomputes every checksum of the decoded p from
// scratch and requires the stored values to be exactly those.
func checkFullChecksums(rt *rapid.T, p *Parsed) {
	b := p.Buf
	if p.IPVersion == 4 {
		h := append([]byte(nil), b[p.L3Off:p.L3Off+p.IPHeaderLen]...)
		stored := binary.BigEndian.Uint16(h[10:])
		h[10], h[11] = 0, 0
		if full := Checksum(h, 0); full != stored {
			rt.Fatalf("IPv4 header checksum %#04x, full recomputation %#04x", stored, full)
		}
	}
	seg := append([]byte(nil), b[p.L4Off:]...)
	var off int
	var initial uint32
	switch p.Proto {
	case ipproto.TCP:
		off, initial = 16, p.pseudoHeader(ipproto.TCP, len(seg))
	case ipproto.UDP:
		off, initial = 6, p.pseudoHeader(ipproto.UDP, len(seg))
	case ipproto.ICMP:
		off = 2
	case ipproto.ICMPv6:
		off, initial = 2, p.pseudoHeader(ipproto.ICMPv6, len(seg))
	default:
		return
	}
	stored := binary.BigEndian.Uint16(seg[off:])
	seg[off], seg[off+1] = 0, 0
	full := Checksum(seg, initial)
	if full == 0 && p.Proto == ipproto.UDP {
		full = 0xffff
	}
	if full != stored {
		rt.Fatalf("proto %d checksum %#04x, full recomputation %#04x", p.Proto, stored, full)
	}
}

func TestRewriteMatchesFullRecomputation(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := drawPacket(rt)
		var p Parsed
		p.Decode(b)
		if p.Invalid != Valid {
			rt.Fatalf("gopacket-built packet invalid: %v at %d", p.Invalid, p.InvalidOff)
		}
		ops := rapid.IntRange(1, 3).Draw(rt, "ops")
		for i := 0; i < ops; i++ {
			src := rapid.Bool().Draw(rt, "src")
			cur := p.Dst
			if src {
				cur = p.Src
			}
			a := cur.Addr()
			if rapid.Bool().Draw(rt, "newAddr") {
				a = drawAddr(rt, p.IPVersion == 6, "addr")
			}
			port := cur.Port()
			if rapid.Bool().Draw(rt, "newPort") {
				port = rapid.Uint16().Draw(rt, "port")
			}
			ap := netip.AddrPortFrom(a, port)
			var err error
			if src {
				err = p.SetSrc(ap)
			} else {
				err = p.SetDst(ap)
			}
			if err != nil {
				rt.Fatalf("rewrite: %v", err)
			}
		}
		want := p.Flow()
		var q Parsed
		q.Decode(b)
		if q.Flow() != want {
			rt.Fatalf("re-decoded %v, rewritten fields say %v", q.Flow(), want)
		}
		if !q.VerifyChecksums() {
			rt.Fatalf("checksums do not verify after rewrite")
		}
		checkFullChecksums(rt, &q)
	})
}

// drawICMPError builds an ICMP error from B to A about a complete packet
// from A to B, so that the quoted checksums can be verified too.
func drawICMPError(rt *rapid.T) []byte {
	inner := drawPacket(rt)
	var p Parsed
	p.Decode(inner)
	quote := p.Buf[p.L3Off:]
	if rapid.Bool().Draw(rt, "truncate") {
		n := 28
		if p.IPVersion == 6 {
			n = 48
		}
		quote = quote[:min(len(quote), n)]
	}
	if p.IPVersion == 6 {
		ip := ip6L(layers.IPProtocolICMPv6)
		ip.SrcIP, ip.DstIP = p.Dst.Addr().AsSlice(), p.Src.Addr().AsSlice()
		return serialize(rt, ethL(layers.EthernetTypeIPv6), ip, icmp6(1, 4), cat([]byte{0, 0, 0, 0}, quote))
	}
	ip := ip4L(layers.IPProtocolICMPv4)
	ip.SrcIP, ip.DstIP = p.Dst.Addr().AsSlice(), p.Src.Addr().AsSlice()
	return serialize(rt, ethL(layers.EthernetTypeIPv4), ip, icmp4(3, 3), gopacket.Payload(quote))
}

func TestRewriteQuoteMatchesFullRecomputation(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := drawICMPError(rt)
		var p Parsed
		p.Decode(b)
		if p.Invalid != Valid || p.Quote.L3Off == 0 {
			rt.Fatalf("gopacket-built ICMP error: %v at %d", p.Invalid, p.InvalidOff)
		}
		complete := p.Quote.L3Off+p.Quote.IPLen == len(p.Buf)
		for i := rapid.IntRange(1, 3).Draw(rt, "ops"); i > 0; i-- {
			src := rapid.Bool().Draw(rt, "src")
			cur := p.Quote.Dst
			if src {
				cur = p.Quote.Src
			}
			a := cur.Addr()
			if rapid.Bool().Draw(rt, "newAddr") {
				a = drawAddr(rt, p.IPVersion == 6, "addr")
			}
			port := cur.Port()
			if p.Quote.HasL4 && rapid.Bool().Draw(rt, "newPort") {
				port = rapid.Uint16().Draw(rt, "port")
			}
			var err error
			if src {
				err = p.SetQuoteSrc(netip.AddrPortFrom(a, port))
			} else {
				err = p.SetQuoteDst(netip.AddrPortFrom(a, port))
			}
			if err != nil {
				rt.Fatalf("rewrite: %v", err)
			}
		}
		want := p.Quote.Flow()
		var q Parsed
		q.Decode(b)
		if q.Quote.Flow() != want {
			rt.Fatalf("re-decoded quote %v, rewritten fields say %v", q.Quote.Flow(), want)
		}
		if !q.VerifyChecksums() {
			rt.Fatalf("outer checksums do not verify after quote rewrite")
		}
		checkFullChecksums(rt, &q)
		if q.IPVersion == 4 && Checksum(q.Buf[q.Quote.L3Off:q.Quote.L4Off], 0) != 0 {
			rt.Fatalf("quoted IPv4 header checksum wrong")
		}
		if complete {
			var inner Parsed
			inner.DecodeIP(q.Buf[q.Quote.L3Off:])
			if !inner.VerifyChecksums() {
				rt.Fatalf("quoted packet checksums do not verify after rewrite")
			}
		}
	})
}

func TestRewriteErrors(t *testing.T) {
	tcp4 := findFrame(t, "ipv4/tcp-syn")
	later := findFrame(t, "ipv4/fragment-later")
	gre := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolGRE), payload(8))
	sctpIP := ip4L(layers.IPProtocolSCTP)
	sctpIP.Flags = layers.IPv4MoreFragments
	sctpFirst := serialize(t, ethL(layers.EthernetTypeIPv4), sctpIP, gopacket.Payload(sctpPacket(0x1234, sctpChunk(SCTPData, 3, make([]byte, 16)))))
	cases := []struct {
		name  string
		b     []byte
		apply func(p *Parsed) error
		want  error
	}{
		{"family", tcp4.b, func(p *Parsed) error { return p.SetSrc(netip.AddrPortFrom(v6A, 1)) }, ErrFamily},
		{"zero-addr", tcp4.b, func(p *Parsed) error { return p.SetDst(netip.AddrPort{}) }, ErrFamily},
		{"invalid", tcp4.b[:20], func(p *Parsed) error { return p.SetSrc(netip.AddrPortFrom(v4C, 1)) }, ErrInvalid},
		{"gre-port", gre, func(p *Parsed) error { return p.SetSrc(netip.AddrPortFrom(v4C, 1)) }, ErrNoPorts},
		{"gre-addr", gre, func(p *Parsed) error { return p.SetSrc(netip.AddrPortFrom(v4C, 0)) }, nil},
		{"fragment-port", later.b, func(p *Parsed) error { return p.SetDst(netip.AddrPortFrom(v4C, 80)) }, ErrNoPorts},
		{"fragment-addr", later.b, func(p *Parsed) error { return p.SetDst(netip.AddrPortFrom(v4C, 0)) }, nil},
		// The CRC32c of a fragmented SCTP packet covers data this
		// fragment does not hold; an address is not covered.
		{"sctp-fragment-port", sctpFirst, func(p *Parsed) error { return p.SetSrc(netip.AddrPortFrom(p.Src.Addr(), 1)) }, ErrChecksum},
		{"sctp-fragment-addr", sctpFirst, func(p *Parsed) error { return p.SetSrc(netip.AddrPortFrom(v4C, p.Src.Port())) }, nil},
		{"no-quote", tcp4.b, func(p *Parsed) error { return p.SetQuoteSrc(netip.AddrPortFrom(v4C, 0)) }, ErrNoQuote},
		{"quote-family", findFrame(t, "ipv4/icmp-unreach-udp").b, func(p *Parsed) error { return p.SetQuoteSrc(netip.AddrPortFrom(v6C, 0)) }, ErrFamily},
		{"quote-no-ports", findFrame(t, "ipv4/icmp-unreach-quote-short").b, func(p *Parsed) error { return p.SetQuoteSrc(netip.AddrPortFrom(v4C, 9)) }, ErrNoPorts},
		{"zoned-addr", tcp4.b, func(p *Parsed) error {
			if err := p.SetSrc(netip.AddrPortFrom(v6A.WithZone("eth0"), 1)); err != ErrFamily {
				return errors.New("zoned IPv6 accepted for IPv4")
			}
			return nil
		}, nil},
	}
	var p Parsed
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), c.b...)
			p.Decode(b)
			if err := c.apply(&p); err != c.want {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == nil && p.Invalid == Valid && !p.VerifyChecksums() {
				t.Errorf("checksums broken by the rewrite")
			}
		})
	}
}

// TestRewriteSourceRouted checks that rewriting the destination of a
// packet still on its source route leaves the transport checksum alone:
// it covers the final destination, which does not change.
func TestRewriteSourceRouted(t *testing.T) {
	for _, name := range []string{"ipv6/routing-type0", "ipv4/options-lsrr"} {
		tf := findFrame(t, name)
		b := append([]byte(nil), tf.b...)
		var p Parsed
		p.Decode(b)
		next := v4C
		if p.IPVersion == 6 {
			next = v6C
		}
		mustNil(t, p.SetDst(netip.AddrPortFrom(next, p.Dst.Port())))
		mustNil(t, p.SetSrc(netip.AddrPortFrom(next, 999)))
		p.Decode(b)
		if !p.VerifyChecksums() {
			t.Errorf("%s: checksums broken by rewriting a source-routed packet", name)
		}
		eq(t, name+" Dst", p.Dst.Addr(), next)
	}
}

func TestRewriteKeepsZeroUDPChecksum(t *testing.T) {
	tf := findFrame(t, "ipv4/udp-dns")
	b := append([]byte(nil), tf.b...)
	var p Parsed
	p.Decode(b)
	binary.BigEndian.PutUint16(b[p.L4Off+6:], 0)
	mustNil(t, p.SetSrc(netip.AddrPortFrom(v4C, 1)))
	eq(t, "UDP checksum", binary.BigEndian.Uint16(b[p.L4Off+6:]), 0)
	eq(t, "VerifyChecksums", p.VerifyChecksums(), true)
}

// TestRewriteUDPChecksumZero picks the source port that makes the UDP
// checksum compute to 0, which RFC 768 requires to be sent as 0xffff: a
// case random rewrites reach once in 65536.
func TestRewriteUDPChecksumZero(t *testing.T) {
	for _, name := range []string{"ipv4/udp-dns", "ipv6/udp-dns"} {
		tf := findFrame(t, name)
		var p Parsed
		p.Decode(tf.b)
		seg := append([]byte(nil), p.Buf[p.L4Off:]...)
		seg[6], seg[7] = 0, 0
		initial := p.pseudoHeader(ipproto.UDP, len(seg))
		port := -1
		for x := 0; x < 1<<16; x++ {
			binary.BigEndian.PutUint16(seg, uint16(x))
			if Checksum(seg, initial) == 0 {
				port = x
				break
			}
		}
		if port < 0 {
			t.Fatalf("%s: no port gives a zero checksum", name)
		}
		b := append([]byte(nil), tf.b...)
		p.Decode(b)
		mustNil(t, p.SetSrc(netip.AddrPortFrom(p.Src.Addr(), uint16(port))))
		eq(t, name+" checksum", binary.BigEndian.Uint16(b[p.L4Off+6:]), 0xffff)
		eq(t, name+" verifies", p.VerifyChecksums(), true)
	}
}

func TestFillChecksum(t *testing.T) {
	frames := map[string][]byte{
		"tcp4":  serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpSYN(), payload(5)),
		"udp6":  serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(53, 5353), payload(1)),
		"icmp4": serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}),
	}
	for name, frame := range frames {
		var p Parsed
		p.Decode(frame)
		if !p.VerifyChecksums() {
			t.Fatalf("%s: built frame has a bad checksum", name)
		}
		// What a checksum-offloading sender leaves: a wrong value.
		p.Buf[p.L4Off+checksumOff(p.Proto)] ^= 0x5a
		if p.VerifyChecksums() {
			t.Fatalf("%s: corruption not seen", name)
		}
		p.FillChecksum()
		if !p.VerifyChecksums() {
			t.Errorf("%s: FillChecksum left a bad checksum", name)
		}
	}
}

func checksumOff(proto ipproto.Proto) int {
	switch proto {
	case ipproto.TCP:
		return 16
	case ipproto.UDP:
		return 6
	}
	return 2
}
