package packet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/ipproto"
)

var (
	macA = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a}
	macB = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x0b}
	v4A  = netip.MustParseAddr("192.0.2.1")
	v4B  = netip.MustParseAddr("198.51.100.7")
	v4C  = netip.MustParseAddr("203.0.113.9")
	v6A  = netip.MustParseAddr("2001:db8::1")
	v6B  = netip.MustParseAddr("2001:db8:1::7")
	v6C  = netip.MustParseAddr("2001:db8:2::9")
)

// tester is what testing.TB and rapid.T have in common.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// serialize builds a packet from gopacket layers with lengths and
// checksums computed by gopacket, wiring every transport layer to the
// network layer before it.
func serialize(tb tester, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	var nl gopacket.NetworkLayer
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			nl = v
		case *layers.IPv6:
			nl = v
		case *layers.TCP:
			mustNil(tb, v.SetNetworkLayerForChecksum(nl))
		case *layers.UDP:
			mustNil(tb, v.SetNetworkLayerForChecksum(nl))
		case *layers.ICMPv6:
			mustNil(tb, v.SetNetworkLayerForChecksum(nl))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	mustNil(tb, gopacket.SerializeLayers(buf, opts, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

func mustNil(tb tester, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func ethL(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4L(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, TOS: 0x28, Id: 0x1234, Flags: layers.IPv4DontFragment, TTL: 61,
		Protocol: proto, SrcIP: v4A.AsSlice(), DstIP: v4B.AsSlice(),
	}
}

func ip6L(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, TrafficClass: 0x2e, FlowLabel: 0x12345, HopLimit: 57,
		NextHeader: next, SrcIP: v6A.AsSlice(), DstIP: v6B.AsSlice(),
	}
}

func tcpSYN() *layers.TCP {
	return &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 0x01020304, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x12, 0x34, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

func tcpData() *layers.TCP {
	return &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 501,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindSACK, OptionLength: 18, OptionData: []byte{0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x30, 0, 0, 0, 0x40, 0}},
		},
	}
}

func udpL(sport, dport layers.UDPPort) *layers.UDP {
	return &layers.UDP{SrcPort: sport, DstPort: dport}
}

// dnsQuery is a DNS query for example.com/A, the payload of the UDP cases.
var dnsQuery = []byte{
	0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, 0x00, 0x01,
}

func payload(n int) gopacket.Payload {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// decodeGopacket decodes b with gopacket, starting at Ethernet unless raw.
func decodeGopacket(b []byte, raw bool) gopacket.Packet {
	first := layers.LayerTypeEthernet
	if raw {
		switch b[0] >> 4 {
		case 4:
			first = layers.LayerTypeIPv4
		case 6:
			first = layers.LayerTypeIPv6
		}
	}
	return gopacket.NewPacket(b, first, gopacket.Default)
}

// compareGopacket checks every field p decoded from b against what gopacket
// decodes from the same bytes.
func compareGopacket(t *testing.T, b []byte, p *Parsed, raw bool) {
	t.Helper()
	pkt := decodeGopacket(b, raw)
	if el := pkt.Layer(layers.LayerTypeEthernet); el != nil {
		e := el.(*layers.Ethernet)
		eq(t, "EthSrc", net.HardwareAddr(p.EthSrc[:]).String(), e.SrcMAC.String())
		eq(t, "EthDst", net.HardwareAddr(p.EthDst[:]).String(), e.DstMAC.String())
		et := uint16(e.EthernetType)
		var tags []*layers.Dot1Q
		for _, l := range pkt.Layers() {
			if d, ok := l.(*layers.Dot1Q); ok {
				tags = append(tags, d)
			}
		}
		eq(t, "NumVLAN", int(p.NumVLAN), len(tags))
		for i, d := range tags {
			if i >= len(p.VLAN) {
				break
			}
			eq(t, "VLAN.TPID", p.VLAN[i].TPID, et)
			eq(t, "VLAN.ID", p.VLAN[i].ID(), d.VLANIdentifier)
			eq(t, "VLAN.Priority", p.VLAN[i].Priority(), d.Priority)
			eq(t, "VLAN.DropEligible", p.VLAN[i].DropEligible(), d.DropEligible)
			et = uint16(d.Type)
		}
		eq(t, "EtherType", p.EtherType, et)
		link := len(e.Contents)
		for _, d := range tags {
			link += len(d.Contents)
		}
		eq(t, "L3Off", p.L3Off, link)
	}
	if al := pkt.Layer(layers.LayerTypeARP); al != nil {
		a := al.(*layers.ARP)
		eq(t, "ARP.Op", p.ARP.Op, a.Operation)
		eq(t, "ARP.SenderHW", net.HardwareAddr(p.ARP.SenderHW[:]).String(), net.HardwareAddr(a.SourceHwAddress).String())
		eq(t, "ARP.TargetHW", net.HardwareAddr(p.ARP.TargetHW[:]).String(), net.HardwareAddr(a.DstHwAddress).String())
		eq(t, "ARP.SenderIP", p.ARP.SenderIP, addrOf(a.SourceProtAddress))
		eq(t, "ARP.TargetIP", p.ARP.TargetIP, addrOf(a.DstProtAddress))
	}
	if l := pkt.Layer(layers.LayerTypeIPv4); l != nil {
		ip := l.(*layers.IPv4)
		eq(t, "IPVersion", p.IPVersion, ip.Version)
		eq(t, "IPHeaderLen", p.IPHeaderLen, int(ip.IHL)*4)
		eq(t, "TOS", p.TOS, ip.TOS)
		eq(t, "IPLen", p.IPLen, int(ip.Length))
		eq(t, "IPID", p.IPID, ip.Id)
		eq(t, "DontFragment", p.DontFragment, ip.Flags&layers.IPv4DontFragment != 0)
		eq(t, "MoreFragments", p.MoreFragments, ip.Flags&layers.IPv4MoreFragments != 0)
		eq(t, "EvilBit", p.Anomalies.Has(AnomalyIPv4EvilBit), ip.Flags&layers.IPv4EvilBit != 0)
		eq(t, "FragOff", p.FragOff, ip.FragOffset*8)
		eq(t, "TTL", p.TTL, ip.TTL)
		eq(t, "Proto", p.Proto, ipproto.Proto(ip.Protocol))
		eq(t, "IPOptions", p.IPOptions, len(ip.Options) > 0)
		eq(t, "Src", p.Src.Addr(), addrOf(ip.SrcIP))
		eq(t, "Dst", p.Dst.Addr(), addrOf(ip.DstIP))
	}
	if l := pkt.Layer(layers.LayerTypeIPv6); l != nil {
		ip := l.(*layers.IPv6)
		eq(t, "IPVersion", p.IPVersion, ip.Version)
		eq(t, "TOS", p.TOS, ip.TrafficClass)
		eq(t, "FlowLabel", p.FlowLabel, ip.FlowLabel)
		eq(t, "IPLen", p.IPLen, 40+int(ip.Length))
		eq(t, "TTL", p.TTL, ip.HopLimit)
		eq(t, "Src", p.Src.Addr(), addrOf(ip.SrcIP))
		eq(t, "Dst", p.Dst.Addr(), addrOf(ip.DstIP))
		ext := 0
		for _, l := range pkt.Layers() {
			switch l.LayerType() {
			case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Fragment:
				ext++
			}
		}
		eq(t, "NumExt", int(p.NumExt), ext)
		if fl := pkt.Layer(layers.LayerTypeIPv6Fragment); fl != nil {
			f := fl.(*layers.IPv6Fragment)
			eq(t, "FragOff", p.FragOff, f.FragmentOffset*8)
			eq(t, "MoreFragments", p.MoreFragments, f.MoreFragments)
			eq(t, "FragID", p.FragID, f.Identification)
		}
	}
	// gopacket treats IPv6 atomic fragments as fragments; RFC 6946 says
	// they are not. First fragments are decoded further here.
	if fl := pkt.Layer(gopacket.LayerTypeFragment); fl != nil && p.IsFragment && !p.IsFirstFragment {
		eq(t, "HasL4", p.HasL4, false)
		eq(t, "fragment payload", hexOf(p.Buf[p.PayloadOff:p.PayloadOff+p.PayloadLen]), hexOf(fl.LayerContents()))
	}
	if l := pkt.Layer(layers.LayerTypeTCP); l != nil && !isQuoteLayer(pkt, l) {
		tc := l.(*layers.TCP)
		eq(t, "HasL4", p.HasL4, true)
		eq(t, "SrcPort", p.Src.Port(), uint16(tc.SrcPort))
		eq(t, "DstPort", p.Dst.Port(), uint16(tc.DstPort))
		eq(t, "TCPSeq", p.TCPSeq, tc.Seq)
		eq(t, "TCPAck", p.TCPAck, tc.Ack)
		eq(t, "TCPDataOff", p.TCPDataOff, tc.DataOffset)
		eq(t, "TCPWindow", p.TCPWindow, tc.Window)
		eq(t, "TCPUrgent", p.TCPUrgent, tc.Urgent)
		flags := []struct {
			f  TCPFlags
			gp bool
		}{{TCPFIN, tc.FIN}, {TCPSYN, tc.SYN}, {TCPRST, tc.RST}, {TCPPSH, tc.PSH}, {TCPACK, tc.ACK}, {TCPURG, tc.URG}, {TCPECE, tc.ECE}, {TCPCWR, tc.CWR}}
		for _, f := range flags {
			eq(t, "TCPFlags "+f.f.String(), p.TCPFlags&f.f != 0, f.gp)
		}
		var want TCPOptionSet
		for _, o := range tc.Options {
			switch o.OptionType {
			case layers.TCPOptionKindEndList, layers.TCPOptionKindNop:
			case layers.TCPOptionKindMSS:
				want |= TCPOptMSS
				eq(t, "MSS", p.TCPOpts.MSS, binary.BigEndian.Uint16(o.OptionData))
			case layers.TCPOptionKindWindowScale:
				want |= TCPOptWScale
				eq(t, "WScale", p.TCPOpts.WScale, o.OptionData[0])
			case layers.TCPOptionKindSACKPermitted:
				want |= TCPOptSACKPermitted
			case layers.TCPOptionKindSACK:
				want |= TCPOptSACK
				eq(t, "NumSACK", int(p.TCPOpts.NumSACK), len(o.OptionData)/8)
				for i := 0; i+8 <= len(o.OptionData); i += 8 {
					eq(t, "SACK", p.TCPOpts.SACK[i/8], SACKBlock{binary.BigEndian.Uint32(o.OptionData[i:]), binary.BigEndian.Uint32(o.OptionData[i+4:])})
				}
			case layers.TCPOptionKindTimestamps:
				want |= TCPOptTimestamps
				eq(t, "TSval", p.TCPOpts.TSval, binary.BigEndian.Uint32(o.OptionData))
				eq(t, "TSecr", p.TCPOpts.TSecr, binary.BigEndian.Uint32(o.OptionData[4:]))
			default:
				want |= TCPOptOther
			}
		}
		eq(t, "TCPOpts.Has", p.TCPOpts.Has, want)
		eq(t, "payload", hexOf(p.Buf[p.PayloadOff:p.PayloadOff+p.PayloadLen]), hexOf(tc.Payload))
		eq(t, "L4Off", p.L4Off, p.PayloadOff-len(tc.Contents))
	}
	if l := pkt.Layer(layers.LayerTypeUDP); l != nil && !isQuoteLayer(pkt, l) {
		u := l.(*layers.UDP)
		eq(t, "HasL4", p.HasL4, true)
		eq(t, "SrcPort", p.Src.Port(), uint16(u.SrcPort))
		eq(t, "DstPort", p.Dst.Port(), uint16(u.DstPort))
		eq(t, "UDPLen", p.UDPLen, u.Length)
		eq(t, "payload", hexOf(p.Buf[p.PayloadOff:p.PayloadOff+p.PayloadLen]), hexOf(u.Payload))
	}
	if l := pkt.Layer(layers.LayerTypeUDPLite); l != nil && !isQuoteLayer(pkt, l) {
		u := l.(*layers.UDPLite)
		eq(t, "SrcPort", p.Src.Port(), uint16(u.SrcPort))
		eq(t, "DstPort", p.Dst.Port(), uint16(u.DstPort))
		if u.ChecksumCoverage != 0 {
			eq(t, "UDPLiteCoverage", p.UDPLiteCoverage(), int(u.ChecksumCoverage))
		}
	}
	if l := pkt.Layer(layers.LayerTypeSCTP); l != nil && !isQuoteLayer(pkt, l) {
		s := l.(*layers.SCTP)
		eq(t, "SrcPort", p.Src.Port(), uint16(s.SrcPort))
		eq(t, "DstPort", p.Dst.Port(), uint16(s.DstPort))
		eq(t, "SCTP.VTag", p.SCTP().VTag, s.VerificationTag)
	}
	if l := pkt.Layer(layers.LayerTypeICMPv4); l != nil {
		ic := l.(*layers.ICMPv4)
		eq(t, "ICMPType", p.ICMPType, ic.TypeCode.Type())
		eq(t, "ICMPCode", p.ICMPCode, ic.TypeCode.Code())
		if icmpIsQuery(4, p.ICMPType) {
			eq(t, "ICMPID", p.ICMPID, ic.Id)
			eq(t, "ICMPSeq", p.ICMPSeq, ic.Seq)
		}
		eq(t, "ICMP payload", hexOf(p.Buf[p.PayloadOff:p.PayloadOff+p.PayloadLen]), hexOf(ic.Payload))
		if p.Quote.L3Off != 0 {
			compareQuote(t, p, ic.Payload)
		}
	}
	if l := pkt.Layer(layers.LayerTypeICMPv6); l != nil {
		ic := l.(*layers.ICMPv6)
		eq(t, "ICMPType", p.ICMPType, ic.TypeCode.Type())
		eq(t, "ICMPCode", p.ICMPCode, ic.TypeCode.Code())
		if el := pkt.Layer(layers.LayerTypeICMPv6Echo); el != nil {
			e := el.(*layers.ICMPv6Echo)
			eq(t, "ICMPID", p.ICMPID, e.Identifier)
			eq(t, "ICMPSeq", p.ICMPSeq, e.SeqNumber)
		}
		eq(t, "ICMPRest", p.ICMPRest, binary.BigEndian.Uint32(ic.Payload))
		if p.Quote.L3Off != 0 {
			compareQuote(t, p, ic.Payload[4:])
		}
	}
}

// isQuoteLayer reports whether l was decoded from inside an ICMP message.
func isQuoteLayer(pkt gopacket.Packet, l gopacket.Layer) bool {
	return pkt.Layer(layers.LayerTypeICMPv4) != nil || pkt.Layer(layers.LayerTypeICMPv6) != nil
}

// compareQuote decodes the quoted packet q with gopacket and compares it
// with p.Quote.
func compareQuote(t *testing.T, p *Parsed, q []byte) {
	t.Helper()
	eq(t, "Quote offset", hexOf(p.Buf[p.Quote.L3Off:]), hexOf(q))
	inner := decodeGopacket(q, true)
	var proto ipproto.Proto
	if l := inner.Layer(layers.LayerTypeIPv4); l != nil {
		ip := l.(*layers.IPv4)
		eq(t, "Quote.Src", p.Quote.Src.Addr(), addrOf(ip.SrcIP))
		eq(t, "Quote.Dst", p.Quote.Dst.Addr(), addrOf(ip.DstIP))
		eq(t, "Quote.IPLen", p.Quote.IPLen, int(binary.BigEndian.Uint16(q[2:])))
		proto = ipproto.Proto(ip.Protocol)
	} else if l := inner.Layer(layers.LayerTypeIPv6); l != nil {
		ip := l.(*layers.IPv6)
		eq(t, "Quote.Src", p.Quote.Src.Addr(), addrOf(ip.SrcIP))
		eq(t, "Quote.Dst", p.Quote.Dst.Addr(), addrOf(ip.DstIP))
		eq(t, "Quote.IPLen", p.Quote.IPLen, 40+int(ip.Length))
		proto = ipproto.Proto(ip.NextHeader)
		for _, l := range inner.Layers() {
			switch v := l.(type) {
			case *layers.IPv6Destination:
				proto = ipproto.Proto(v.NextHeader)
			case *layers.IPv6HopByHop:
				proto = ipproto.Proto(v.NextHeader)
			}
		}
	} else {
		t.Fatalf("gopacket cannot decode the quote %x", q)
	}
	eq(t, "Quote.Proto", p.Quote.Proto, proto)
	tr := p.Buf[p.Quote.L4Off:]
	if len(tr) >= 8 && (proto == ipproto.TCP || proto == ipproto.UDP) {
		eq(t, "Quote.SrcPort", p.Quote.Src.Port(), binary.BigEndian.Uint16(tr))
		eq(t, "Quote.DstPort", p.Quote.Dst.Port(), binary.BigEndian.Uint16(tr[2:]))
	}
	if l := inner.Layer(layers.LayerTypeTCP); l != nil && len(tr) >= 20 {
		tc := l.(*layers.TCP)
		eq(t, "Quote.SrcPort", p.Quote.Src.Port(), uint16(tc.SrcPort))
		eq(t, "Quote.TCPSeq", p.Quote.TCPSeq, tc.Seq)
	}
	if l := inner.Layer(layers.LayerTypeUDP); l != nil {
		eq(t, "Quote.DstPort", p.Quote.Dst.Port(), uint16(l.(*layers.UDP).DstPort))
	}
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, gopacket/expected %v", what, got, want)
	}
}
