package packet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

// testFrame is a well-formed input with the expectations gopacket cannot
// express.
type testFrame struct {
	name      string
	raw       bool // decode with DecodeIP
	b         []byte
	anomalies Anomaly
	check     func(t *testing.T, p *Parsed)
}

func icmp4(typ, code uint8) *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
}

func icmp6(typ, code uint8) *layers.ICMPv6 {
	return &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
}

// reply4 and reply6 are headers of a packet from B back to A, as an ICMP
// error about a packet from A to B travels.
func reply4(proto layers.IPProtocol) *layers.IPv4 {
	ip := ip4L(proto)
	ip.SrcIP, ip.DstIP = v4B.AsSlice(), v4A.AsSlice()
	return ip
}

func reply6(proto layers.IPProtocol) *layers.IPv6 {
	ip := ip6L(proto)
	ip.SrcIP, ip.DstIP = v6B.AsSlice(), v6A.AsSlice()
	return ip
}

func destOpts(next layers.IPProtocol) *layers.IPv6Destination {
	d := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: []byte{0, 0, 0, 0}}}}
	d.NextHeader = next
	return d
}

func hopByHop(next layers.IPProtocol) *layers.IPv6HopByHop {
	h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 0x1e, OptionData: []byte{0, 0, 0, 0}}}}
	h.NextHeader = next
	return h
}

// rawExt is an IPv6 extension header of the common format with n 8-byte
// units.
func rawExt(next ipproto.Proto, n int) []byte {
	b := make([]byte, 8*n)
	b[0] = byte(next)
	b[1] = uint8(n - 1)
	b[2], b[3] = 1, byte(8*n-4) // one PadN option filling the rest
	return b
}

func cat(bs ...[]byte) gopacket.Payload {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func testFrames(tb testing.TB) []testFrame {
	vlan := &layers.Dot1Q{Priority: 5, VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}
	sTag := &layers.Dot1Q{VLANIdentifier: 200, DropEligible: true, Type: layers.EthernetTypeDot1Q}
	cTag := &layers.Dot1Q{Priority: 3, VLANIdentifier: 100, Type: layers.EthernetTypeIPv6}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: v4B.AsSlice(),
	}
	arpEth := ethL(layers.EthernetTypeARP)
	arpEth.DstMAC = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	frag4 := func(mf bool, off uint16) *layers.IPv4 {
		ip := ip4L(layers.IPProtocolTCP)
		ip.Flags = 0
		if mf {
			ip.Flags = layers.IPv4MoreFragments
		}
		ip.FragOffset = off
		return ip
	}
	frag6 := func(next layers.IPProtocol, mf bool, off uint16) *layers.IPv6Fragment {
		return &layers.IPv6Fragment{NextHeader: next, MoreFragments: mf, FragmentOffset: off, Identification: 0xdeadbeef}
	}

	udpQuery4 := serialize(tb, ip4L(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery))
	tcpQuery4 := serialize(tb, ip4L(layers.IPProtocolTCP), tcpSYN())[:28]
	tcpQuery6 := serialize(tb, ip6L(layers.IPProtocolTCP), tcpSYN())
	udpQuery6 := serialize(tb, ip6L(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery))
	echo4 := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 0x4242, Seq: 7}
	unreachAboutUnreach := serialize(tb, ip4L(layers.IPProtocolICMPv4), icmp4(3, 1), gopacket.Payload(udpQuery4[:28]))

	var rh0 []byte
	{
		// The transport checksum covers the final destination (RFC 8200
		// 8.1): build with it as destination, then put the waypoint in.
		ip := ip6L(layers.IPProtocolIPv6Routing)
		ip.DstIP = v6C.AsSlice()
		rt := &layers.IPv6Routing{RoutingType: 0, SegmentsLeft: 1, Reserved: make([]byte, 4), SourceRoutingIPs: []net.IP{v6C.AsSlice()}}
		rt.NextHeader = layers.IPProtocolUDP
		rh0 = serialize(tb, ethL(layers.EthernetTypeIPv6), ip, rt, udpL(5000, 6000), gopacket.Payload(dnsQuery))
		copy(rh0[14+24:], v6B.AsSlice())
	}

	udpSurplus := serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(5353, 5353), payload(40))
	binary.BigEndian.PutUint16(udpSurplus[34+4:], 8+32)
	binary.BigEndian.PutUint16(udpSurplus[34+6:], 0)

	land := ip4L(layers.IPProtocolTCP)
	land.DstIP = land.SrcIP
	evil := ip4L(layers.IPProtocolUDP)
	evil.Flags = layers.IPv4EvilBit

	ipOpts := func(typ uint8) *layers.IPv4 {
		ip := ip4L(layers.IPProtocolUDP)
		ip.Options = []layers.IPv4Option{{OptionType: typ, OptionLength: 7, OptionData: append([]byte{4}, v4C.AsSlice()...)}}
		return ip
	}

	return append(transportFrames(tb), []testFrame{
		{name: "ipv4/tcp-syn", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpSYN()),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Has", p.TCPOpts.Has, TCPOptMSS|TCPOptSACKPermitted|TCPOptTimestamps|TCPOptWScale)
				eq(t, "L4Off", p.L4Off, 34)
				eq(t, "PayloadLen", p.PayloadLen, 0)
			}},
		{name: "ipv4/tcp-data-sack", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpData(), payload(100)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "NumSACK", p.TCPOpts.NumSACK, 2)
				eq(t, "PayloadLen", p.PayloadLen, 100)
			}},
		{name: "ipv4/udp-dns", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery))},
		{name: "ipv4/udp-padded", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(1, 2), payload(2)),
			check: func(t *testing.T, p *Parsed) { eq(t, "len(Buf)", len(p.Buf), 14+20+8+2) }},
		{name: "ipv6/tcp-syn", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP), tcpSYN())},
		{name: "ipv6/udp-dns", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery))},
		{name: "ipv6/ext-chain", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6HopByHop),
			hopByHop(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolTCP), tcpData(), payload(10)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Proto", p.Proto, ipproto.TCP)
				eq(t, "IPHeaderLen", p.IPHeaderLen, 56)
				eq(t, "IPOptions", p.IPOptions, true)
			}},
		{name: "ipv6/routing-type0", b: rh0, anomalies: AnomalySourceRoute,
			check: func(t *testing.T, p *Parsed) {
				eq(t, "pseudoDst", p.pseudoDst(), v6C)
				eq(t, "Dst", p.Dst, netip.AddrPortFrom(v6B, 6000))
			}},
		{name: "ipv6/atomic-fragment", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6Fragment),
			frag6(layers.IPProtocolUDP, false, 0), udpL(7, 9), payload(12)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "IsFragment", p.IsFragment, false)
				eq(t, "FragID", p.FragID, 0xdeadbeef)
				eq(t, "HasL4", p.HasL4, true)
			}},
		{name: "ipv6/fragment-first", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6Fragment),
			frag6(layers.IPProtocolUDP, true, 0), udpL(7, 9), payload(40)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "IsFirstFragment", p.IsFirstFragment, true)
				eq(t, "HasL4", p.HasL4, true)
				eq(t, "Src", p.Src, netip.AddrPortFrom(v6A, 7))
				eq(t, "UDPLen", p.UDPLen, 48)
				eq(t, "PayloadLen", p.PayloadLen, 40)
			}},
		{name: "ipv6/fragment-later", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6Fragment),
			frag6(layers.IPProtocolUDP, false, 181), payload(100)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "IsFragment", p.IsFragment, true)
				eq(t, "IsFirstFragment", p.IsFirstFragment, false)
				eq(t, "Proto", p.Proto, ipproto.UDP)
				eq(t, "PayloadLen", p.PayloadLen, 100)
				eq(t, "Src.Port", p.Src.Port(), 0)
			}},
		{name: "ipv4/fragment-first", b: serialize(tb, ethL(layers.EthernetTypeIPv4), frag4(true, 0),
			&layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 9, ACK: true, Ack: 10}, payload(4)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "IsFirstFragment", p.IsFirstFragment, true)
				eq(t, "HasL4", p.HasL4, true)
				eq(t, "Dst", p.Dst, netip.AddrPortFrom(v4B, 80))
				eq(t, "TCPAck", p.TCPAck, 10)
			}},
		{name: "ipv4/fragment-later", b: serialize(tb, ethL(layers.EthernetTypeIPv4), frag4(false, 185), payload(50)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "FragOff", p.FragOff, 1480)
				eq(t, "HasL4", p.HasL4, false)
				eq(t, "PayloadLen", p.PayloadLen, 50)
			}},
		{name: "ipv4/tcp-frag-offset-1", b: serialize(tb, ethL(layers.EthernetTypeIPv4), frag4(false, 1), payload(16)), anomalies: AnomalyTCPFragOffset1},
		{name: "vlan/ipv4-udp", b: serialize(tb, ethL(layers.EthernetTypeDot1Q), vlan, ip4L(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery)),
			check: func(t *testing.T, p *Parsed) { eq(t, "L3Off", p.L3Off, 18) }},
		{name: "qinq/ipv6-tcp", b: serialize(tb, ethL(layers.EthernetTypeQinQ), sTag, cTag, ip6L(layers.IPProtocolTCP), tcpSYN()),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "VLAN[0]", p.VLAN[0], VLANTag{TPID: EtherTypeQinQ, TCI: 0x1000 | 200})
				eq(t, "VLAN[1]", p.VLAN[1], VLANTag{TPID: EtherTypeVLAN, TCI: 3<<13 | 100})
			}},
		{name: "arp/request", b: serialize(tb, arpEth, arp),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "len(Buf)", len(p.Buf), 42)
				eq(t, "IPVersion", p.IPVersion, 0)
				eq(t, "Flow", p.Flow(), flow.Key{})
			}},
		{name: "ipv4/icmp-echo", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), echo4, payload(56)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Src", p.Src, netip.AddrPortFrom(v4A, 0x4242))
				eq(t, "Dst", p.Dst, netip.AddrPortFrom(v4B, 0x4242))
			}},
		{name: "ipv4/icmp-unreach-udp", b: serialize(tb, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), icmp4(3, 3), gopacket.Payload(udpQuery4)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "IsICMPError", p.IsICMPError(), true)
				eq(t, "Quote.Flow", p.Quote.Flow(), flow.Key{Src: netip.AddrPortFrom(v4A, 40000), Dst: netip.AddrPortFrom(v4B, 53), Proto: ipproto.UDP})
				eq(t, "Quote.L3Off", p.Quote.L3Off, 42)
				eq(t, "Quote.L4Off", p.Quote.L4Off, 62)
			}},
		{name: "ipv4/icmp-time-exceeded-tcp8", b: serialize(tb, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), icmp4(11, 0), gopacket.Payload(tcpQuery4)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Quote.HasL4", p.Quote.HasL4, true)
				eq(t, "Quote.TCPSeq", p.Quote.TCPSeq, 0x01020304)
				eq(t, "Quote.Dst", p.Quote.Dst, netip.AddrPortFrom(v4B, 443))
			}},
		{name: "ipv4/icmp-unreach-quote-short", b: serialize(tb, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), icmp4(3, 13), gopacket.Payload(udpQuery4[:24])),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Quote.HasL4", p.Quote.HasL4, false)
				eq(t, "Quote.Src", p.Quote.Src, netip.AddrPortFrom(v4A, 0))
			}},
		{name: "ipv4/icmp-error-about-error", b: serialize(tb, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), icmp4(3, 3), gopacket.Payload(unreachAboutUnreach[:28])),
			anomalies: AnomalyICMPErrorAboutError,
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Quote.ICMPType", p.Quote.ICMPType, 3)
				eq(t, "Quote.Proto", p.Quote.Proto, ipproto.ICMP)
			}},
		{name: "ipv6/icmp-echo", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolICMPv6), icmp6(128, 0),
			&layers.ICMPv6Echo{Identifier: 0x77, SeqNumber: 3}, payload(32)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Src", p.Src, netip.AddrPortFrom(v6A, 0x77))
				eq(t, "ICMPSeq", p.ICMPSeq, 3)
			}},
		{name: "ipv6/icmp-packet-too-big-tcp", b: serialize(tb, ethL(layers.EthernetTypeIPv6), reply6(layers.IPProtocolICMPv6), icmp6(2, 0),
			cat([]byte{0, 0, 0x05, 0x00}, tcpQuery6)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "ICMPRest", p.ICMPRest, 1280)
				eq(t, "Quote.Flow", p.Quote.Flow(), flow.Key{Src: netip.AddrPortFrom(v6A, 40000), Dst: netip.AddrPortFrom(v6B, 443), Proto: ipproto.TCP})
			}},
		{name: "ipv6/icmp-unreach-ext-udp", b: serialize(tb, ethL(layers.EthernetTypeIPv6), reply6(layers.IPProtocolICMPv6), icmp6(1, 4),
			cat([]byte{0, 0, 0, 0}, udpQuery6)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Quote.Proto", p.Quote.Proto, ipproto.UDP)
				eq(t, "Quote.Dst", p.Quote.Dst, netip.AddrPortFrom(v6B, 53))
				eq(t, "Quote.L4Off", p.Quote.L4Off, 14+40+8+40+8)
			}},
		{name: "ipv4/options-record-route", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ipOpts(7), udpL(1000, 2000), payload(8)),
			check: func(t *testing.T, p *Parsed) { eq(t, "IPHeaderLen", p.IPHeaderLen, 28) }},
		{name: "ipv4/options-lsrr", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ipOpts(131), udpL(1000, 2000), payload(8)), anomalies: AnomalySourceRoute,
			check: func(t *testing.T, p *Parsed) { eq(t, "pseudoDst", p.pseudoDst(), v4C) }},
		{name: "raw/ipv4-udp", raw: true, b: serialize(tb, ip4L(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "HasEthernet", p.HasEthernet, false)
				eq(t, "L3Off", p.L3Off, 0)
				eq(t, "L4Off", p.L4Off, 20)
			}},
		{name: "raw/ipv6-tcp", raw: true, b: serialize(tb, ip6L(layers.IPProtocolTCP), tcpData(), payload(30))},
		{name: "lldp/unknown-ethertype", b: serialize(tb, ethL(0x88cc), payload(50)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "IPVersion", p.IPVersion, 0)
				eq(t, "PayloadLen", p.PayloadLen, 50)
			}},
		{name: "anomaly/syn-fin", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, FIN: true}),
			anomalies: AnomalySYNFIN | AnomalyFINNoACK},
		{name: "anomaly/syn-rst", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, RST: true}),
			anomalies: AnomalySYNRST},
		{name: "anomaly/null", b: serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 2, ECE: true}),
			anomalies: AnomalyNullScan},
		{name: "anomaly/xmas", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 2, FIN: true, PSH: true, URG: true}),
			anomalies: AnomalyXmas | AnomalyFINNoACK},
		{name: "anomaly/fin-no-ack", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 2, FIN: true}),
			anomalies: AnomalyFINNoACK},
		{name: "anomaly/land", b: serialize(tb, ethL(layers.EthernetTypeIPv4), land, &layers.TCP{SrcPort: 139, DstPort: 139, SYN: true}),
			anomalies: AnomalyLAND},
		{name: "anomaly/port-zero", b: serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(1234, 0), payload(4)),
			anomalies: AnomalyPortZero},
		{name: "anomaly/evil-bit", b: serialize(tb, ethL(layers.EthernetTypeIPv4), evil, udpL(1234, 53), payload(4)),
			anomalies: AnomalyIPv4EvilBit},
		{name: "anomaly/udp-surplus", b: udpSurplus, anomalies: AnomalyUDPSurplus,
			check: func(t *testing.T, p *Parsed) {
				eq(t, "PayloadLen", p.PayloadLen, 32)
				eq(t, "VerifyChecksums", p.VerifyChecksums(), true)
			}},
	}...)
}

func TestDecodeMatchesGopacket(t *testing.T) {
	var p Parsed
	for _, tf := range testFrames(t) {
		t.Run(tf.name, func(t *testing.T) {
			if tf.raw {
				p.DecodeIP(tf.b)
			} else {
				p.Decode(tf.b)
			}
			if p.Invalid != Valid {
				t.Fatalf("Invalid = %v at %d", p.Invalid, p.InvalidOff)
			}
			if p.Err() != nil {
				t.Errorf("Err() = %v", p.Err())
			}
			eq(t, "Anomalies", p.Anomalies, tf.anomalies)
			if !p.VerifyChecksums() {
				t.Errorf("VerifyChecksums = false for a gopacket-built frame")
			}
			compareGopacket(t, tf.b, &p, tf.raw)
			if tf.check != nil {
				tf.check(t, &p)
			}
			checkInvariants(t, tf.b, &p)
		})
	}
}

// checkInvariants holds for every decode, valid or not.
func checkInvariants(t testing.TB, in []byte, p *Parsed) {
	t.Helper()
	n := len(p.Buf)
	if n > len(in) || (n > 0 && &p.Buf[0] != &in[0]) {
		t.Fatalf("Buf is not a prefix of the input")
	}
	for _, o := range []struct {
		name string
		v    int
	}{{"L3Off", p.L3Off}, {"L4Off", p.L4Off}, {"PayloadOff", p.PayloadOff}, {"PayloadEnd", p.PayloadOff + p.PayloadLen},
		{"Quote.L3Off", p.Quote.L3Off}, {"Quote.L4Off", p.Quote.L4Off}, {"pseudoDstEnd", p.pseudoDstOff + addrLen(p.IPVersion)*boolInt(p.pseudoDstOff != 0)}} {
		if o.v < 0 || o.v > n {
			t.Fatalf("%s = %d outside Buf of %d bytes (%v at %d)", o.name, o.v, n, p.Invalid, p.InvalidOff)
		}
	}
	if p.PayloadLen < 0 || p.InvalidOff < 0 || p.InvalidOff > len(in) {
		t.Fatalf("PayloadLen %d, InvalidOff %d", p.PayloadLen, p.InvalidOff)
	}
	if p.Invalid != Valid {
		return
	}
	if p.IPVersion != 0 {
		if p.L3Off+p.IPLen != n {
			t.Fatalf("L3Off %d + IPLen %d != len(Buf) %d", p.L3Off, p.IPLen, n)
		}
		if p.L4Off != p.L3Off+p.IPHeaderLen || p.L4Off > p.PayloadOff {
			t.Fatalf("L4Off %d, L3Off %d, IPHeaderLen %d, PayloadOff %d", p.L4Off, p.L3Off, p.IPHeaderLen, p.PayloadOff)
		}
	}
	if p.Quote.L3Off != 0 && (p.Quote.L3Off < p.L4Off || p.Quote.L4Off < p.Quote.L3Off) {
		t.Fatalf("quote offsets %d %d outside the ICMP message at %d", p.Quote.L3Off, p.Quote.L4Off, p.L4Off)
	}
}

func addrLen(v uint8) int {
	if v == 4 {
		return 4
	}
	return 16
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDecodeInvalid(t *testing.T) {
	tcp4 := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpSYN())
	tcp6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP), tcpSYN())
	udp4 := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(1, 2), payload(30))
	vlan := serialize(t, ethL(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip4L(layers.IPProtocolUDP), udpL(1, 2), payload(30))
	arp := serialize(t, ethL(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 2, SourceHwAddress: macA, SourceProtAddress: v4A.AsSlice(), DstHwAddress: macB, DstProtAddress: v4B.AsSlice(),
	})
	ext6 := func(ext []byte, first ipproto.Proto, l4 ...gopacket.SerializableLayer) []byte {
		ip := ip6L(layers.IPProtocol(first))
		return serialize(t, append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv6), ip, gopacket.Payload(ext)}, l4...)...)
	}
	frag4 := func(mf bool, off uint16, proto layers.IPProtocol, n int) []byte {
		ip := ip4L(proto)
		ip.Flags = 0
		if mf {
			ip.Flags = layers.IPv4MoreFragments
		}
		ip.FragOffset = off
		return serialize(t, ethL(layers.EthernetTypeIPv4), ip, payload(n))
	}
	fragHdr := func(next ipproto.Proto, off uint16, mf bool) []byte {
		b := make([]byte, 8)
		b[0] = byte(next)
		v := off << 3
		if mf {
			v |= 1
		}
		binary.BigEndian.PutUint16(b[2:], v)
		return b
	}
	icmpQuote := func(q []byte) []byte {
		return serialize(t, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), icmp4(3, 3), gopacket.Payload(q))
	}
	udpQuery := serialize(t, ip4L(layers.IPProtocolUDP), udpL(40000, 53), gopacket.Payload(dnsQuery))
	many := make([]byte, 0, 9*8)
	for i := 0; i < 9; i++ {
		next := ipproto.DestOpts
		if i == 8 {
			next = ipproto.NoNext
		}
		many = append(many, rawExt(next, 1)...)
	}

	set := func(b []byte, off int, v ...byte) []byte {
		b = append([]byte(nil), b...)
		copy(b[off:], v)
		return b
	}
	cut := func(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }
	// withOpts turns the first 4 bytes of tcp4's TCP header into IPv4
	// options.
	withOpts := func(opt ...byte) []byte {
		b := set(tcp4, 14, 0x46)
		b = set(b, 16, 0, 44)
		return set(b, 34, opt...)
	}

	cases := []struct {
		name string
		b    []byte
		raw  bool
		want Invalid
		off  int
	}{
		{"ethernet-truncated", cut(tcp4, 13), false, InvalidEthernetTruncated, 0},
		{"vlan-truncated", cut(vlan, 16), false, InvalidVLANTruncated, 14},
		{"vlan-too-many", set(vlan, 12, 0x81, 0x00, 0, 1, 0x81, 0x00, 0, 2, 0x88, 0xa8, 0, 3, 0x08, 0x00), false, InvalidVLANTooMany, 20},
		{"arp-truncated", cut(arp, 14+27), false, InvalidARPTruncated, 14},
		{"arp-format", set(arp, 14+4, 8), false, InvalidARPFormat, 14},
		{"ip-version-mismatch", set(tcp4, 14, 0x65), false, InvalidIPVersion, 14},
		{"ipv4-truncated", cut(tcp4, 14+19), false, InvalidIPv4Truncated, 14},
		{"ipv4-ihl-4", set(tcp4, 14, 0x44), false, InvalidIPv4HeaderLen, 14},
		{"ipv4-ihl-beyond", cut(set(tcp4, 14, 0x4f), 14+40), false, InvalidIPv4HeaderLen, 14},
		{"ipv4-options-zero-length", withOpts(0x44, 0, 0, 0), false, InvalidIPv4Options, 34},
		{"ipv4-options-past-header", withOpts(1, 1, 7, 3), false, InvalidIPv4Options, 36},
		{"ipv4-options-type-without-length", withOpts(1, 1, 1, 7), false, InvalidIPv4Options, 37},
		{"ipv4-total-length-below-header", set(tcp4, 16, 0, 19), false, InvalidIPTotalLen, 16},
		{"ipv4-truncated-packet", cut(tcp4, len(tcp4)-1), false, InvalidIPTruncated, 16},
		{"ipv6-truncated", cut(tcp6, 14+39), false, InvalidIPv6Truncated, 14},
		{"ipv6-truncated-packet", cut(tcp6, len(tcp6)-1), false, InvalidIPTruncated, 18},
		{"ipv6-version-mismatch", set(tcp6, 14, 0x40), false, InvalidIPVersion, 14},
		{"ipv6-ext-truncated", ext6(set(rawExt(ipproto.UDP, 1), 1, 9), ipproto.DestOpts, udpL(1, 2)), false, InvalidIPv6ExtTruncated, 54},
		{"ipv6-ext-too-many", ext6(many, ipproto.DestOpts), false, InvalidIPv6ExtTooMany, 54 + 8*8},
		{"ipv6-hop-by-hop-not-first", ext6(cat(rawExt(ipproto.HopByHop, 1), rawExt(ipproto.UDP, 1)), ipproto.DestOpts, udpL(1, 2)), false, InvalidIPv6ExtOrder, 62},
		{"ipv6-two-fragment-headers", ext6(cat(fragHdr(ipproto.Fragment, 0, true), fragHdr(ipproto.UDP, 0, true)), ipproto.Fragment, udpL(1, 2), payload(8)), false, InvalidIPv6ExtOrder, 62},
		{"ipv6-two-routing-headers", ext6(cat(rawExt(ipproto.Routing, 1), rawExt(ipproto.UDP, 1)), ipproto.Routing, udpL(1, 2)), false, InvalidIPv6ExtOrder, 62},
		{"ipv6-fragment-overflow", ext6(fragHdr(ipproto.UDP, 8190, false), ipproto.Fragment, payload(24)), false, InvalidFragmentOverflow, 56},
		{"ipv6-fragment-size", ext6(fragHdr(ipproto.UDP, 0, true), ipproto.Fragment, udpL(1, 2), payload(5)), false, InvalidFragmentSize, 18},
		{"ipv6-tiny-fragment-chain", ext6(cat(fragHdr(ipproto.DestOpts, 0, true), rawExt(ipproto.TCP, 2)[:8]), ipproto.Fragment), false, InvalidTinyFragment, 62},
		{"ipv6-tiny-fragment-tcp", ext6(fragHdr(ipproto.TCP, 0, true), ipproto.Fragment, payload(8)), false, InvalidTinyFragment, 62},
		{"ipv4-fragment-overflow", frag4(false, 8189, layers.IPProtocolUDP, 16), false, InvalidFragmentOverflow, 20},
		{"ipv4-fragment-size", frag4(true, 0, layers.IPProtocolUDP, 12), false, InvalidFragmentSize, 16},
		{"ipv4-tiny-fragment", frag4(true, 0, layers.IPProtocolTCP, 16), false, InvalidTinyFragment, 34},
		{"tcp-truncated", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), payload(10)), false, InvalidTCPTruncated, 34},
		{"tcp-data-offset-4", set(tcp4, 46, 0x40), false, InvalidTCPDataOffset, 46},
		{"tcp-data-offset-beyond", set(tcp4, 46, 0xf0), false, InvalidTCPDataOffset, 46},
		{"tcp-option-length-0", set(tcp4, 55, 0), false, InvalidTCPOptions, 54},
		{"tcp-option-length-1", set(tcp4, 55, 1), false, InvalidTCPOptions, 54},
		{"tcp-option-mss-length-3", set(tcp4, 55, 3), false, InvalidTCPOptions, 54},
		{"tcp-option-past-header", set(tcp4, 61, 30), false, InvalidTCPOptions, 60},
		{"tcp-option-kind-without-length", set(tcp4, 54, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3), false, InvalidTCPOptions, 73},
		{"udp-truncated", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), payload(4)), false, InvalidUDPTruncated, 34},
		{"udp-length-7", set(udp4, 38, 0, 7), false, InvalidUDPLength, 38},
		{"udp-length-beyond", set(udp4, 38, 0, 200), false, InvalidUDPLength, 38},
		{"icmp-truncated", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), payload(4)), false, InvalidICMPTruncated, 34},
		{"icmp-quote-wrong-version", icmpQuote(set(udpQuery, 0, 0x65)), false, InvalidICMPQuote, 42},
		{"icmp-quote-short", icmpQuote(udpQuery[:12]), false, InvalidICMPQuote, 42},
		{"icmp-quote-ihl-beyond", icmpQuote(set(udpQuery[:28], 0, 0x4f)), false, InvalidICMPQuote, 42},
		{"icmpv6-quote-ext-truncated", serialize(t, ethL(layers.EthernetTypeIPv6), reply6(layers.IPProtocolICMPv6), icmp6(1, 4),
			cat([]byte{0, 0, 0, 0}, set(serialize(t, ip6L(layers.IPProtocolIPv6Destination), destOpts(layers.IPProtocolUDP), udpL(1, 2)), 41, 200))), false, InvalidICMPQuote, 102},
		{"raw-empty", nil, true, InvalidIPv4Truncated, 0},
		{"raw-version-5", []byte{0x50, 0, 0, 0}, true, InvalidIPVersion, 0},
		{"raw-ipv4-truncated", cut(tcp4[14:], 10), true, InvalidIPv4Truncated, 0},
	}
	var p Parsed
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.raw {
				p.DecodeIP(c.b)
			} else {
				p.Decode(c.b)
			}
			if p.Invalid != c.want || p.InvalidOff != c.off {
				t.Fatalf("got %v at %d, want %v at %d", p.Invalid, p.InvalidOff, c.want, c.off)
			}
			err := p.Err()
			if err == nil || !strings.Contains(err.Error(), c.want.String()) {
				t.Errorf("Err() = %v", err)
			}
			if p.VerifyChecksums() {
				t.Errorf("VerifyChecksums = true for an invalid packet")
			}
			checkInvariants(t, c.b, &p)
		})
	}
}

func TestDecodeResetsState(t *testing.T) {
	frames := testFrames(t)
	var p, fresh Parsed
	// Decoding into a used Parsed must give what a fresh one gives.
	for i, a := range frames {
		b := frames[(i+7)%len(frames)]
		decodeFrame(&p, a)
		decodeFrame(&p, b)
		decodeFrame(&fresh, b)
		if !reflect.DeepEqual(p, fresh) {
			t.Errorf("%s after %s differs from a fresh decode", b.name, a.name)
		}
	}
}

func decodeFrame(p *Parsed, tf testFrame) {
	if tf.raw {
		p.DecodeIP(tf.b)
	} else {
		p.Decode(tf.b)
	}
}

func TestStrings(t *testing.T) {
	for r := Valid; r < numInvalid; r++ {
		if s := r.String(); s == "" || strings.HasPrefix(s, "invalid(") {
			t.Errorf("Invalid(%d) has no name", r)
		}
	}
	eq(t, "Invalid(200)", Invalid(200).String(), "invalid(200)")
	eq(t, "Anomaly", (AnomalySYNFIN | AnomalyLAND).String(), "syn-fin|land")
	eq(t, "Anomaly(0)", Anomaly(0).String(), "none")
	eq(t, "Anomaly bit 15", Anomaly(1<<15).String(), "bit15")
	eq(t, "TCPFlags", (TCPSYN | TCPACK).String(), "SYN|ACK")
	eq(t, "TCPFlags all", TCPFlags(0xff).String(), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR")
	eq(t, "TCPFlags none", TCPFlags(0).String(), "none")
	eq(t, "DecodeError", DecodeError{InvalidTCPOptions, 54}.Error(), "packet: offset 54: tcp-options")
}
