package packet

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

// sctpChunk builds one chunk with its length, padded to 4 bytes.
func sctpChunk(typ, flags uint8, body []byte) []byte {
	b := []byte{typ, flags, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(4+len(body)))
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// sctpInitBody is the fixed part of an INIT or INIT ACK with Initiate Tag
// tag.
func sctpInitBody(tag uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], tag)
	binary.BigEndian.PutUint32(b[4:], 65536) // a_rwnd
	binary.BigEndian.PutUint16(b[8:], 10)    // outbound streams
	binary.BigEndian.PutUint16(b[10:], 10)   // inbound streams
	binary.BigEndian.PutUint32(b[12:], 1)    // initial TSN
	return b
}

// sctpPacket builds an SCTP packet from port 5000 to 9899 with a zero
// checksum (FillChecksum computes it once the IP header exists).
func sctpPacket(vtag uint32, chunks ...[]byte) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], 5000)
	binary.BigEndian.PutUint16(b[2:], 9899)
	binary.BigEndian.PutUint32(b[4:], vtag)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b
}

// udpLitePacket builds a UDP-Lite datagram from 7000 to 7001 with
// coverage cov and n bytes of payload.
func udpLitePacket(cov uint16, n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint16(b[0:], 7000)
	binary.BigEndian.PutUint16(b[2:], 7001)
	binary.BigEndian.PutUint16(b[4:], cov)
	for i := range n {
		b[8+i] = byte(i)
	}
	return b
}

// dccpPacket builds a DCCP packet from 6000 to 5001 of type typ with
// 48-bit (x) or 24-bit sequence numbers, cscov, and n bytes of data.
func dccpPacket(typ uint8, x bool, seq, ack uint64, cscov uint8, n int) []byte {
	hl := dccpHeaderLen(typ, x)
	b := make([]byte, hl+n)
	binary.BigEndian.PutUint16(b[0:], 6000)
	binary.BigEndian.PutUint16(b[2:], 5001)
	b[4] = uint8(hl / 4)
	b[5] = cscov
	b[8] = typ << 1
	if x {
		b[8] |= 1
		binary.BigEndian.PutUint16(b[10:], uint16(seq>>32))
		binary.BigEndian.PutUint32(b[12:], uint32(seq))
		if typ != DCCPRequest && typ != DCCPData {
			binary.BigEndian.PutUint16(b[18:], uint16(ack>>32))
			binary.BigEndian.PutUint32(b[20:], uint32(ack))
		}
	} else {
		b[9], b[10], b[11] = byte(seq>>16), byte(seq>>8), byte(seq)
		if typ != DCCPRequest && typ != DCCPData {
			b[13], b[14], b[15] = byte(ack>>16), byte(ack>>8), byte(ack)
		}
	}
	for i := range n {
		b[hl+i] = byte(i)
	}
	return b
}

// withChecksum decodes frame and fills its transport checksum.
func withChecksum(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	var p Parsed
	p.Decode(frame)
	if p.Invalid != Valid {
		tb.Fatalf("building a frame: %v at %d", p.Invalid, p.InvalidOff)
	}
	p.FillChecksum()
	return frame
}

func l4Frame(tb testing.TB, v6 bool, proto ipproto.Proto, seg []byte) []byte {
	tb.Helper()
	if v6 {
		return withChecksum(tb, serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocol(proto)), gopacket.Payload(seg)))
	}
	return withChecksum(tb, serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocol(proto)), gopacket.Payload(seg)))
}

// srhFrame is an IPv6 UDP datagram behind a segment routing header
// (RFC 8754) whose segment list is v6C then v6B, with segments left sl:
// the final segment is listed first and the outer destination is the
// active one.
func srhFrame(tb testing.TB, sl uint8) []byte {
	tb.Helper()
	srh := make([]byte, 8+2*16)
	srh[0] = byte(ipproto.UDP)
	srh[1] = 4 // (8 + 32) / 8 - 1
	srh[2], srh[3] = 4, sl
	srh[4] = 1 // last entry
	copy(srh[8:], v6C.AsSlice())
	copy(srh[24:], v6B.AsSlice())
	ip := ip6L(layers.IPProtocolIPv6Routing)
	if sl == 0 {
		ip.DstIP = v6C.AsSlice()
	}
	udp := make([]byte, 8+len(dnsQuery))
	binary.BigEndian.PutUint16(udp[0:], 5000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], dnsQuery)
	return withChecksum(tb, serialize(tb, ethL(layers.EthernetTypeIPv6), ip, cat(srh, udp)))
}

// transportFrames are the well-formed frames of the protocols gopacket
// decodes only in part (SCTP, UDP-Lite) or not at all (DCCP, segment
// routing); testFrames includes them.
func transportFrames(tb testing.TB) []testFrame {
	initPkt := sctpPacket(0, sctpChunk(SCTPInit, 0, sctpInitBody(0xa1b2c3d4)))
	bundle := sctpPacket(0x11223344, sctpChunk(SCTPCookieEcho, 0, make([]byte, 21)), sctpChunk(SCTPData, 3, make([]byte, 13)), sctpChunk(SCTPData, 3, make([]byte, 4)))
	sctpQuote := serialize(tb, ip4L(layers.IPProtocolSCTP), gopacket.Payload(initPkt))
	return []testFrame{
		{name: "ipv4/sctp-init", b: l4Frame(tb, false, ipproto.SCTP, initPkt),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Flow", p.Flow(), flow.Key{Src: netip.AddrPortFrom(v4A, 5000), Dst: netip.AddrPortFrom(v4B, 9899), Proto: ipproto.SCTP})
				eq(t, "SCTP", p.SCTP(), SCTPInfo{InitTag: 0xa1b2c3d4, NumChunks: 1, Types: 1 << SCTPInit, First: SCTPInit,
					NumControl: 1, Control: [MaxSCTPControl]SCTPChunk{{Type: SCTPInit}}})
				eq(t, "PayloadOff", p.PayloadOff, 34+12)
			}},
		{name: "ipv6/sctp-cookie-echo-data", b: l4Frame(tb, true, ipproto.SCTP, bundle),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "VTag", p.SCTP().VTag, 0x11223344)
				eq(t, "NumChunks", p.SCTP().NumChunks, 3)
				eq(t, "First", p.SCTP().First, SCTPCookieEcho)
				eq(t, "NumControl", p.SCTP().NumControl, 1)
				eq(t, "Has(Data)", p.SCTP().Has(SCTPData), true)
				eq(t, "Has(SACK)", p.SCTP().Has(SCTPSACK), false)
			}},
		{name: "ipv4/sctp-abort-t", b: l4Frame(tb, false, ipproto.SCTP, sctpPacket(0x55, sctpChunk(SCTPAbort, SCTPFlagT, nil))),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Control[0]", p.SCTP().Control[0], SCTPChunk{Type: SCTPAbort, Flags: SCTPFlagT})
			}},
		{name: "ipv4/udplite-partial", b: l4Frame(tb, false, ipproto.UDPLite, udpLitePacket(12, 20)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Dst", p.Dst, netip.AddrPortFrom(v4B, 7001))
				eq(t, "UDPLiteCoverage", p.UDPLiteCoverage(), 12)
				eq(t, "PayloadLen", p.PayloadLen, 20)
			}},
		{name: "ipv6/udplite-whole", b: l4Frame(tb, true, ipproto.UDPLite, udpLitePacket(0, 9)),
			check: func(t *testing.T, p *Parsed) { eq(t, "UDPLiteCoverage", p.UDPLiteCoverage(), 17) }},
		{name: "ipv4/dccp-request", b: l4Frame(tb, false, ipproto.DCCP, dccpPacket(DCCPRequest, true, 0x0000a0b0c0d0, 0, 0, 0)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Flow", p.Flow(), flow.Key{Src: netip.AddrPortFrom(v4A, 6000), Dst: netip.AddrPortFrom(v4B, 5001), Proto: ipproto.DCCP})
				eq(t, "DCCP", p.DCCP(), DCCPInfo{Type: DCCPRequest, Extended: true, Seq: 0xa0b0c0d0})
				eq(t, "PayloadOff", p.PayloadOff, 34+20)
			}},
		{name: "ipv4/dccp-response-partial-coverage", b: l4Frame(tb, false, ipproto.DCCP, dccpPacket(DCCPResponse, true, 0xffff00000001, 0x0000a0b0c0d0, 2, 12)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "DCCP", p.DCCP(), DCCPInfo{Type: DCCPResponse, Extended: true, HasAck: true, CsCov: 2, Seq: 0xffff00000001, Ack: 0xa0b0c0d0})
				eq(t, "PayloadLen", p.PayloadLen, 12)
			}},
		{name: "ipv6/dccp-ack-short-seq", b: l4Frame(tb, true, ipproto.DCCP, dccpPacket(DCCPAck, false, 0x123456, 0xabcdef, 0, 0)),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "DCCP", p.DCCP(), DCCPInfo{Type: DCCPAck, HasAck: true, Seq: 0x123456, Ack: 0xabcdef})
			}},
		{name: "ipv6/routing-srh-segments-left", b: srhFrame(tb, 1), anomalies: AnomalySegmentRouting,
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Dst", p.Dst, netip.AddrPortFrom(v6B, 53))
				eq(t, "pseudoDst", p.pseudoDst(), v6C)
			}},
		{name: "ipv6/routing-srh-done", b: srhFrame(tb, 0),
			check: func(t *testing.T, p *Parsed) { eq(t, "Dst", p.Dst, netip.AddrPortFrom(v6C, 53)) }},
		{name: "ipv4/icmp-unreach-sctp", b: serialize(tb, ethL(layers.EthernetTypeIPv4), reply4(layers.IPProtocolICMPv4), icmp4(3, 3), gopacket.Payload(sctpQuote[:28])),
			check: func(t *testing.T, p *Parsed) {
				eq(t, "Quote.Flow", p.Quote.Flow(), flow.Key{Src: netip.AddrPortFrom(v4A, 5000), Dst: netip.AddrPortFrom(v4B, 9899), Proto: ipproto.SCTP})
			}},
	}
}

func TestDecodeTransportInvalid(t *testing.T) {
	v4 := func(proto ipproto.Proto, seg []byte) []byte {
		return serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocol(proto)), gopacket.Payload(seg))
	}
	first := func(proto ipproto.Proto, seg []byte) []byte {
		ip := ip4L(layers.IPProtocol(proto))
		ip.Flags = layers.IPv4MoreFragments
		return serialize(t, ethL(layers.EthernetTypeIPv4), ip, gopacket.Payload(seg))
	}
	data := sctpChunk(SCTPData, 3, make([]byte, 12))
	badLen := func(l uint16) []byte {
		c := append([]byte(nil), data...)
		binary.BigEndian.PutUint16(c[2:], l)
		return c
	}
	initShort := []byte{SCTPInit, 0, 0, 16}
	initShort = append(initShort, make([]byte, 12)...)
	dccpType := func(typ uint8, x bool) []byte {
		b := dccpPacket(DCCPData, true, 1, 0, 0, 8)
		b[8] = typ << 1
		if x {
			b[8] |= 1
		}
		return b
	}
	dccpDoff := func(doff uint8) []byte {
		b := dccpPacket(DCCPAck, true, 1, 1, 0, 8)
		b[4] = doff
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want Invalid
		off  int
	}{
		{"sctp-truncated", v4(ipproto.SCTP, sctpPacket(0)[:11]), InvalidSCTPTruncated, 34},
		{"sctp-no-chunk", v4(ipproto.SCTP, sctpPacket(0)), InvalidSCTPChunk, 34 + 12},
		{"sctp-chunk-header-cut", v4(ipproto.SCTP, sctpPacket(0, data, []byte{0, 0})), InvalidSCTPChunk, 34 + 12 + 16},
		{"sctp-chunk-length-3", v4(ipproto.SCTP, sctpPacket(0, badLen(3))), InvalidSCTPChunk, 34 + 12},
		{"sctp-chunk-past-packet", v4(ipproto.SCTP, sctpPacket(0, badLen(17))), InvalidSCTPChunk, 34 + 12},
		{"sctp-init-short", v4(ipproto.SCTP, sctpPacket(0, initShort)), InvalidSCTPChunk, 34 + 12},
		{"sctp-tiny-fragment", first(ipproto.SCTP, make([]byte, 8)), InvalidTinyFragment, 34},
		{"udplite-truncated", v4(ipproto.UDPLite, udpLitePacket(0, 0)[:7]), InvalidUDPTruncated, 34},
		{"udplite-coverage-7", v4(ipproto.UDPLite, udpLitePacket(7, 8)), InvalidUDPLiteCoverage, 38},
		{"udplite-coverage-beyond", v4(ipproto.UDPLite, udpLitePacket(17, 8)), InvalidUDPLiteCoverage, 38},
		{"dccp-truncated", v4(ipproto.DCCP, make([]byte, 11)), InvalidDCCPTruncated, 34},
		{"dccp-ack-subheader-cut", v4(ipproto.DCCP, dccpPacket(DCCPAck, true, 1, 1, 0, 0)[:20]), InvalidDCCPTruncated, 34},
		{"dccp-reserved-type", v4(ipproto.DCCP, dccpType(10, true)), InvalidDCCPHeader, 42},
		{"dccp-request-short-seq", v4(ipproto.DCCP, dccpType(DCCPRequest, false)), InvalidDCCPHeader, 42},
		{"dccp-data-offset-in-header", v4(ipproto.DCCP, dccpDoff(5)), InvalidDCCPHeader, 38},
		{"dccp-data-offset-beyond", v4(ipproto.DCCP, dccpDoff(9)), InvalidDCCPHeader, 38},
		{"dccp-coverage-beyond", v4(ipproto.DCCP, dccpPacket(DCCPData, true, 1, 0, 4, 8)), InvalidDCCPHeader, 39},
		{"dccp-tiny-fragment", first(ipproto.DCCP, make([]byte, 8)), InvalidTinyFragment, 34},
	}
	var p Parsed
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.Decode(c.b)
			if p.Invalid != c.want || p.InvalidOff != c.off {
				t.Fatalf("got %v at %d, want %v at %d", p.Invalid, p.InvalidOff, c.want, c.off)
			}
			checkInvariants(t, c.b, &p)
		})
	}
}

// TestTransportChecksums checks that what each checksum covers is
// verified, and what it leaves out is not.
func TestTransportChecksums(t *testing.T) {
	cases := []struct {
		name              string
		b                 []byte
		covered, uncovers int // offsets in the frame: one covered byte, and one left out (0: none)
	}{
		{"sctp", l4Frame(t, false, ipproto.SCTP, sctpPacket(9, sctpChunk(SCTPData, 3, make([]byte, 20)))), 34 + 30, 0},
		{"udplite-partial", l4Frame(t, false, ipproto.UDPLite, udpLitePacket(12, 20)), 34 + 11, 34 + 12},
		{"udplite-whole", l4Frame(t, true, ipproto.UDPLite, udpLitePacket(0, 20)), 54 + 27, 0},
		{"dccp-partial", l4Frame(t, false, ipproto.DCCP, dccpPacket(DCCPData, true, 7, 0, 2, 12)), 34 + 16 + 3, 34 + 16 + 4},
		{"dccp-whole", l4Frame(t, true, ipproto.DCCP, dccpPacket(DCCPDataAck, true, 7, 6, 0, 12)), 54 + 24 + 11, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.b)
			if !p.VerifyChecksums() {
				t.Fatal("a frame whose checksum was just filled fails")
			}
			bad := append([]byte(nil), c.b...)
			bad[c.covered] ^= 0x40
			p.Decode(bad)
			if p.VerifyChecksums() {
				t.Errorf("a change of covered byte %d passes", c.covered)
			}
			if c.uncovers != 0 {
				free := append([]byte(nil), c.b...)
				free[c.uncovers] ^= 0x40
				p.Decode(free)
				if !p.VerifyChecksums() {
					t.Errorf("a change of byte %d, outside the coverage, fails", c.uncovers)
				}
			}
		})
	}
	// UDP-Lite has no "no checksum" (RFC 3828 3.1).
	zero := l4Frame(t, false, ipproto.UDPLite, udpLitePacket(0, 4))
	zero[34+6], zero[34+7] = 0, 0
	var p Parsed
	p.Decode(zero)
	if p.VerifyChecksums() {
		t.Error("UDP-Lite with a zero checksum passes")
	}
}

// TestSCTPChecksumByteOrder pins the CRC32c to RFC 3720's test vector (32
// bytes of zeros, CRC 0x8a9136aa, sent as aa 36 91 8a) and to the field's
// byte order, which gopacket's SCTP layer reads too.
func TestSCTPChecksumByteOrder(t *testing.T) {
	if c := crc32.Checksum(make([]byte, 32), castagnoli); c != 0x8a9136aa {
		t.Fatalf("crc32c of 32 zeros = %#x", c)
	}
	b := l4Frame(t, false, ipproto.SCTP, sctpPacket(0, sctpChunk(SCTPInit, 0, sctpInitBody(7))))
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	s, ok := pkt.Layer(layers.LayerTypeSCTP).(*layers.SCTP)
	if !ok {
		t.Fatal("gopacket finds no SCTP layer")
	}
	if want := sctpChecksum(b[34:]); s.Checksum != binary.BigEndian.Uint32(binary.LittleEndian.AppendUint32(nil, want)) {
		t.Fatalf("checksum field %#x, CRC32c %#x", s.Checksum, want)
	}
}

func TestRewriteTransports(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"sctp", l4Frame(t, false, ipproto.SCTP, sctpPacket(9, sctpChunk(SCTPData, 3, make([]byte, 20))))},
		{"udplite", l4Frame(t, true, ipproto.UDPLite, udpLitePacket(12, 20))},
		{"dccp", l4Frame(t, false, ipproto.DCCP, dccpPacket(DCCPData, true, 7, 0, 2, 12))},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Parsed
			p.Decode(c.b)
			na := flipLast(p.Src.Addr())
			mustNil(t, p.SetSrc(netip.AddrPortFrom(na, 4444)))
			mustNil(t, p.SetDst(netip.AddrPortFrom(p.Dst.Addr(), 5555)))
			p.Decode(c.b)
			eq(t, "Src", p.Src, netip.AddrPortFrom(na, 4444))
			eq(t, "Dst.Port", p.Dst.Port(), 5555)
			if !p.VerifyChecksums() {
				t.Error("rewrite broke the checksum")
			}
			// A corrupt packet stays corrupt.
			c.b[p.PayloadOff] ^= 1
			p.Decode(c.b)
			mustNil(t, p.SetSrc(netip.AddrPortFrom(p.Src.Addr(), 4445)))
			p.Decode(c.b)
			if p.VerifyChecksums() {
				t.Error("rewrite made a corrupt packet's checksum good")
			}
		})
	}
}
