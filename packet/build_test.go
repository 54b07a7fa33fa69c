package packet

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

// gopacketChecksumsOK verifies every checksum of b with gopacket.
func gopacketChecksumsOK(t *testing.T, b []byte, raw bool) {
	t.Helper()
	pkt := decodeGopacket(b, raw)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode the built packet: %v", el.Error())
	}
	for _, l := range pkt.Layers() {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			mustNil(t, c.SetNetworkLayerForChecksum(pkt.NetworkLayer()))
		}
	}
	err, bad := pkt.VerifyChecksums()
	mustNil(t, err)
	if len(bad) > 0 {
		t.Errorf("gopacket finds bad checksums: %+v", bad)
	}
}

func TestAppendTCPReset(t *testing.T) {
	cases := []struct {
		name      string
		frame     string
		wantSeq   uint32
		wantAck   uint32
		wantFlags TCPFlags
	}{
		// A SYN without ACK: RST|ACK acknowledging the SYN.
		{"syn-ipv4", "ipv4/tcp-syn", 0, 0x01020304 + 1, TCPRST | TCPACK},
		// A segment with ACK: RST whose sequence is that acknowledgement.
		{"data-ipv4", "ipv4/tcp-data-sack", 2000, 0, TCPRST},
		{"syn-ipv6-qinq", "qinq/ipv6-tcp", 0, 0x01020304 + 1, TCPRST | TCPACK},
		{"data-ipv6-raw", "raw/ipv6-tcp", 2000, 0, TCPRST},
		{"fin-no-ack", "anomaly/fin-no-ack", 0, 1, TCPRST | TCPACK},
		{"first-fragment", "ipv4/fragment-first", 10, 0, TCPRST},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := findFrame(t, c.frame)
			var p, r Parsed
			decodeFrame(&p, tf)
			prefix := []byte("keep")
			out := AppendTCPReset(append([]byte(nil), prefix...), &p)
			if string(out[:4]) != "keep" {
				t.Fatalf("prefix overwritten")
			}
			b := out[4:]
			if len(b) == 0 {
				t.Fatalf("no reset built")
			}
			decodeFrame(&r, testFrame{raw: tf.raw, b: b})
			if r.Invalid != Valid || !r.VerifyChecksums() {
				t.Fatalf("reset invalid (%v) or checksums wrong", r.Invalid)
			}
			compareGopacket(t, b, &r, tf.raw)
			gopacketChecksumsOK(t, b, tf.raw)
			eq(t, "Flow", r.Flow(), p.Flow().Reverse())
			eq(t, "TCPFlags", r.TCPFlags, c.wantFlags)
			eq(t, "TCPSeq", r.TCPSeq, c.wantSeq)
			eq(t, "TCPAck", r.TCPAck, c.wantAck)
			eq(t, "TCPWindow", r.TCPWindow, 0)
			eq(t, "TTL", r.TTL, replyTTL)
			eq(t, "PayloadLen", r.PayloadLen, 0)
			eq(t, "HasEthernet", r.HasEthernet, p.HasEthernet)
			eq(t, "EthDst", r.EthDst, p.EthSrc)
			eq(t, "EthSrc", r.EthSrc, p.EthDst)
			eq(t, "VLAN", r.VLAN, p.VLAN)
			eq(t, "DontFragment", r.DontFragment, r.IPVersion == 4)
		})
	}
}

func TestAppendICMPUnreachable(t *testing.T) {
	big4 := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP), udpL(1, 2), payload(1400))
	big6 := serialize(t, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP), udpL(1, 2), payload(1400))
	cases := []struct {
		name     string
		tf       testFrame
		code     Unreachable
		wantType uint8
		wantCode uint8
		wantLen  int // IP packet length of the error
	}{
		{"udp-port-ipv4", findFrame(t, "ipv4/udp-dns"), UnreachablePort, 3, 3, 20 + 8 + 20 + 8 + len(dnsQuery)},
		{"tcp-admin-ipv4", findFrame(t, "ipv4/tcp-syn"), UnreachableAdmin, 3, 13, 20 + 8 + 60},
		{"net-ipv4-vlan", findFrame(t, "vlan/ipv4-udp"), UnreachableNet, 3, 0, 20 + 8 + 20 + 8 + len(dnsQuery)},
		{"host-ipv4-raw", findFrame(t, "raw/ipv4-udp"), UnreachableHost, 3, 1, 20 + 8 + 20 + 8 + len(dnsQuery)},
		{"echo-ipv4", findFrame(t, "ipv4/icmp-echo"), UnreachableHost, 3, 1, 20 + 8 + 20 + 8 + 56},
		{"big-ipv4", testFrame{b: big4}, UnreachablePort, 3, 3, 576},
		{"udp-port-ipv6", findFrame(t, "ipv6/udp-dns"), UnreachablePort, 1, 4, 40 + 8 + 40 + 8 + len(dnsQuery)},
		{"tcp-admin-ipv6", findFrame(t, "ipv6/tcp-syn"), UnreachableAdmin, 1, 1, 40 + 8 + 80},
		{"net-ipv6", findFrame(t, "ipv6/ext-chain"), UnreachableNet, 1, 0, 40 + 8 + 40 + 16 + 40 + 10},
		{"host-ipv6", findFrame(t, "ipv6/udp-dns"), UnreachableHost, 1, 3, 40 + 8 + 40 + 8 + len(dnsQuery)},
		{"big-ipv6", testFrame{b: big6}, UnreachablePort, 1, 4, 1280},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p, r Parsed
			decodeFrame(&p, c.tf)
			b := AppendICMPUnreachable(nil, &p, c.code)
			if len(b) == 0 {
				t.Fatalf("no error built")
			}
			decodeFrame(&r, testFrame{raw: c.tf.raw, b: b})
			if r.Invalid != Valid || !r.VerifyChecksums() {
				t.Fatalf("error invalid (%v at %d) or checksums wrong", r.Invalid, r.InvalidOff)
			}
			compareGopacket(t, b, &r, c.tf.raw)
			gopacketChecksumsOK(t, b, c.tf.raw)
			eq(t, "IsICMPError", r.IsICMPError(), true)
			eq(t, "ICMPType", r.ICMPType, c.wantType)
			eq(t, "ICMPCode", r.ICMPCode, c.wantCode)
			eq(t, "IPLen", r.IPLen, c.wantLen)
			eq(t, "Src", r.Src.Addr(), p.Dst.Addr())
			eq(t, "Dst", r.Dst.Addr(), p.Src.Addr())
			eq(t, "Quote.Flow", r.Quote.Flow(), p.Flow())
			q := r.Buf[r.Quote.L3Off:]
			eq(t, "quote", hexOf(q), hexOf(p.Buf[p.L3Off:p.L3Off+len(q)]))
		})
	}
}

func TestRepliesRefused(t *testing.T) {
	mcast := ip4L(layers.IPProtocolUDP)
	mcast.DstIP = netip.MustParseAddr("224.0.0.251").AsSlice()
	bcast := ip4L(layers.IPProtocolTCP)
	bcast.DstIP = []byte{255, 255, 255, 255}
	loop := ip6L(layers.IPProtocolTCP)
	loop.SrcIP = netip.IPv6Loopback().AsSlice()
	unspec := ip4L(layers.IPProtocolTCP)
	unspec.SrcIP = []byte{0, 0, 0, 0}
	bcastEth := ethL(layers.EthernetTypeIPv4)
	bcastEth.DstMAC = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	rst := &layers.TCP{SrcPort: 1, DstPort: 2, RST: true, ACK: true}

	cases := []struct {
		name      string
		b         []byte
		rst, icmp bool // whether each is allowed
	}{
		{"reset", serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), rst), false, true},
		{"udp", findFrame(t, "ipv4/udp-dns").b, false, true},
		{"icmp-error", findFrame(t, "ipv4/icmp-unreach-udp").b, false, false},
		{"icmpv6-error", findFrame(t, "ipv6/icmp-packet-too-big-tcp").b, false, false},
		{"later-fragment", findFrame(t, "ipv4/fragment-later").b, false, false},
		{"multicast-dst", serialize(t, ethL(layers.EthernetTypeIPv4), mcast, udpL(5353, 5353), payload(8)), false, false},
		{"broadcast-dst", serialize(t, ethL(layers.EthernetTypeIPv4), bcast, tcpSYN()), false, false},
		{"broadcast-mac", serialize(t, bcastEth, ip4L(layers.IPProtocolTCP), tcpSYN()), false, false},
		{"loopback-src", serialize(t, ethL(layers.EthernetTypeIPv6), loop, tcpSYN()), false, false},
		{"unspecified-src", serialize(t, ethL(layers.EthernetTypeIPv4), unspec, tcpSYN()), false, false},
		{"source-routed", findFrame(t, "ipv6/routing-type0").b, false, false},
		{"invalid", findFrame(t, "ipv4/tcp-syn").b[:40], false, false},
		{"arp", findFrame(t, "arp/request").b, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.b)
			eq(t, "reset built", len(AppendTCPReset(nil, &p)) > 0, c.rst)
			eq(t, "icmp built", len(AppendICMPUnreachable(nil, &p, UnreachablePort)) > 0, c.icmp)
		})
	}
	var p Parsed
	p.Decode(findFrame(t, "ipv4/udp-dns").b)
	eq(t, "unknown code", len(AppendICMPUnreachable(nil, &p, numUnreachable)), 0)
}

func TestFlow(t *testing.T) {
	var p Parsed
	flows := map[flow.Key]string{}
	for _, tf := range testFrames(t) {
		decodeFrame(&p, tf)
		flows[p.Flow()] = tf.name
	}
	p.Decode(findFrame(t, "ipv4/udp-dns").b)
	want := flow.Key{Src: netip.AddrPortFrom(v4A, 40000), Dst: netip.AddrPortFrom(v4B, 53), Proto: ipproto.UDP}
	eq(t, "Flow", p.Flow(), want)
	eq(t, "Reverse", want.Reverse(), flow.Key{Src: netip.AddrPortFrom(v4B, 53), Dst: netip.AddrPortFrom(v4A, 40000), Proto: ipproto.UDP})
	eq(t, "Reverse twice", want.Reverse().Reverse(), want)
	if flows[want] == "" {
		t.Errorf("flow.Key is not usable as a map key")
	}

	// The error about a flow names that flow.
	p.Decode(findFrame(t, "ipv4/icmp-unreach-udp").b)
	eq(t, "quote flow", p.Quote.Flow(), want)
	var none Quoted
	eq(t, "no quote", none.Flow(), flow.Key{})

	// An echo reply is the reverse flow of its request.
	req := serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 99, Seq: 1})
	rep := serialize(t, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 99, Seq: 1})
	var q Parsed
	p.Decode(req)
	q.Decode(rep)
	eq(t, "echo reply", q.Flow(), p.Flow().Reverse())
}

func TestNoAllocations(t *testing.T) {
	frames := testFrames(t)
	var p Parsed
	buf := make([]byte, 0, 2048)
	for _, tf := range frames {
		b := append([]byte(nil), tf.b...)
		n := testing.AllocsPerRun(50, func() {
			decodeFrame(&p, testFrame{raw: tf.raw, b: b})
			p.VerifyChecksums()
			_ = p.Flow()
			_ = p.SetSrc(p.Src)
			_ = p.SetDst(netip.AddrPortFrom(p.Dst.Addr(), p.Dst.Port()+1))
			_ = p.SetQuoteSrc(p.Quote.Src)
			buf = AppendTCPReset(buf[:0], &p)
			buf = AppendICMPUnreachable(buf[:0], &p, UnreachableAdmin)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per packet", tf.name, n)
		}
	}
}
