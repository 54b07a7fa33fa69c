package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// udp6Packet is an IPv6 UDP datagram from [2001:db8::1]:5353 to
// [2001:db8::2]:53 with a 12-byte payload, without a link-layer header.
func udp6Packet(t *testing.T) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload([]byte("dns-question"))); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// sllHeader is Linux's cooked header (LINKTYPE_LINUX_SLL): an incoming
// packet (0) from an Ethernet device (ARPHRD 1) with a 6-byte address.
func sllHeader(et uint16) []byte {
	h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 11, 0, 0}
	return binary.BigEndian.AppendUint16(h, et)
}

// sll2Header is LINKTYPE_LINUX_SLL2's: protocol, reserved, ifindex 3,
// ARPHRD 1, packet type 4 (outgoing), address length 6, 8 address bytes.
func sll2Header(et uint16) []byte {
	h := binary.BigEndian.AppendUint16(nil, et)
	h = append(h, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6)
	return append(h, 2, 0, 0, 0, 0, 11, 0, 0)
}

// TestLinkTypes reads a hand-built capture of each link type and decodes
// its frames: the IPv4 TCP request of tcpFrames and an IPv6 UDP datagram
// behind each kind of link-layer header.
func TestLinkTypes(t *testing.T) {
	v4 := tcpFrames(t)[3][14:] // the 100-byte request, without Ethernet
	v6 := udp6Packet(t)
	type frame struct {
		hdr []byte
		ip  []byte
	}
	cases := []struct {
		name   string
		link   LinkType
		frames []frame
	}{
		{"ethernet", LinkTypeEthernet, []frame{{tcpFrames(t)[3][:14], v4}}},
		{"raw-101", LinkTypeRaw, []frame{{nil, v4}, {nil, v6}}},
		{"raw-dlt12", LinkTypeRawDLT12, []frame{{nil, v4}, {nil, v6}}},
		{"raw-dlt14", LinkTypeRawDLT14, []frame{{nil, v4}, {nil, v6}}},
		{"ipv4", LinkTypeIPv4, []frame{{nil, v4}}},
		{"ipv6", LinkTypeIPv6, []frame{{nil, v6}}},
		// NULL in the writer's order: little-endian (x86) and big-endian
		// (old SPARC, PowerPC) hosts, and each BSD's AF_INET6.
		{"null-le", LinkTypeNull, []frame{{le32(2), v4}, {le32(24), v6}, {le32(28), v6}, {le32(30), v6}}},
		{"null-be", LinkTypeNull, []frame{{be32(2), v4}, {be32(30), v6}}},
		{"loop", LinkTypeLoop, []frame{{be32(2), v4}, {be32(24), v6}}},
		{"ppp", LinkTypePPP, []frame{{[]byte{0xff, 0x03, 0x00, 0x21}, v4}, {[]byte{0x00, 0x57}, v6}, {[]byte{0x21}, v4}}},
		{"ppp-hdlc", LinkTypePPPHDLC, []frame{{[]byte{0xff, 0x03, 0x00, 0x21}, v4}, {[]byte{0xff, 0x03, 0x00, 0x57}, v6}}},
		{"cisco-hdlc", LinkTypeCiscoHDLC, []frame{{[]byte{0x0f, 0x00, 0x08, 0x00}, v4}, {[]byte{0x8f, 0x00, 0x86, 0xdd}, v6}}},
		{"linux-sll", LinkTypeLinuxSLL, []frame{{sllHeader(0x0800), v4}, {sllHeader(0x86dd), v6}}},
		{"linux-sll2", LinkTypeLinuxSLL2, []frame{{sll2Header(0x0800), v4}, {sll2Header(0x86dd), v6}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var recs []pcapRecord
			for _, f := range tc.frames {
				recs = append(recs, pcapRecord{data: append(bytes.Clone(f.hdr), f.ip...), caplen: -1})
			}
			for _, big := range []bool{false, true} {
				r, err := NewCaptureReader(bytes.NewReader(buildPcap(big, false, uint32(tc.link), 65535, recs...)), tc.name)
				if err != nil {
					t.Fatal(err)
				}
				for i, f := range tc.frames {
					data, ci, err := r.Next()
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if ci.LinkType != tc.link {
						t.Errorf("frame %d: link type %v, want %v", i, ci.LinkType, tc.link)
					}
					checkDecoded(t, data, ci.LinkType, f.ip, v4)
				}
			}
		})
	}
}

// checkDecoded decodes data as link says and compares it with the IP
// packet ip, one of the two the test builds.
func checkDecoded(t *testing.T, data []byte, link LinkType, ip, v4 []byte) {
	t.Helper()
	var p packet.Parsed
	Decode(&p, data, link)
	if p.Invalid != packet.Valid {
		t.Fatalf("decode: %v", p.Err())
	}
	want := struct {
		src, dst string
		proto    ipproto.Proto
		payload  string
	}{"[2001:db8::1]:5353", "[2001:db8::2]:53", ipproto.UDP, "dns-question"}
	if bytes.Equal(ip, v4) {
		want.src, want.dst, want.proto, want.payload = "10.10.0.11:40000", "203.0.113.80:80", ipproto.TCP, string(bytes.Repeat([]byte("x"), 100))
	}
	if p.Src != netip.MustParseAddrPort(want.src) || p.Dst != netip.MustParseAddrPort(want.dst) || p.Proto != want.proto {
		t.Errorf("decoded %v -> %v %v, want %s -> %s %v", p.Src, p.Dst, p.Proto, want.src, want.dst, want.proto)
	}
	if got := string(p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen]); got != want.payload {
		t.Errorf("payload %q, want %q", got, want.payload)
	}
	// The IP header's offset in the frame, for a defragmenter that keeps
	// the link-layer header.
	if off := cap(data) - cap(p.Buf) + p.L3Off; off != len(data)-len(ip) {
		t.Errorf("IP header at %d, want %d", off, len(data)-len(ip))
	}
}

// TestLinkTypesPcapng reads one pcapng section with interfaces of
// different link types, each frame decoded by its interface's.
func TestLinkTypesPcapng(t *testing.T) {
	v4 := tcpFrames(t)[3][14:]
	v6 := udp6Packet(t)
	n := (&ngBuilder{}).shb().idb(1, 0).idb(uint16(LinkTypeLinuxSLL2), 0).idb(uint16(LinkTypeNull), 0).idb(uint16(LinkTypePPP), 0).idb(uint16(LinkTypeRaw), 0)
	frames := []struct {
		iface uint32
		data  []byte
		ip    []byte
	}{
		{0, tcpFrames(t)[3], v4},
		{1, append(sll2Header(0x86dd), v6...), v6},
		{2, append(le32(2), v4...), v4},
		{3, append([]byte{0xff, 0x03, 0x00, 0x57}, v6...), v6},
		{4, v4, v4},
		{1, append(sll2Header(0x0800), v4...), v4},
	}
	for i, f := range frames {
		n.epb(f.iface, uint64(1_700_000_000_000_000+i), f.data, 0)
	}
	r, err := NewCaptureReader(bytes.NewReader(n.bytes()), "multi-link.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	want := []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL2, LinkTypeNull, LinkTypePPP, LinkTypeRaw, LinkTypeLinuxSLL2}
	for i, f := range frames {
		data, ci, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if ci.LinkType != want[i] || ci.InterfaceIndex != int(f.iface) {
			t.Errorf("frame %d: interface %d link %v, want %d %v", i, ci.InterfaceIndex, ci.LinkType, f.iface, want[i])
		}
		checkDecoded(t, data, ci.LinkType, f.ip, v4)
	}
}

// TestLinkTypePcapgo reads a Linux SLL capture written by gopacket's
// pcapgo, as a third party writes it.
func TestLinkTypePcapgo(t *testing.T) {
	v4 := tcpFrames(t)[3][14:]
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeLinuxSLL); err != nil {
		t.Fatal(err)
	}
	data := append(sllHeader(0x0800), v4...)
	if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data)}, data); err != nil {
		t.Fatal(err)
	}
	r, err := NewCaptureReader(&buf, "sll.pcap")
	if err != nil {
		t.Fatal(err)
	}
	got, ci, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, got, ci.LinkType, v4, v4)
}

// TestNetworkOffsetRefuses lists frames that carry no IP or whose header
// is cut short: Decode leaves them as not IP.
func TestNetworkOffsetRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		link  LinkType
		frame []byte
	}{
		{"null-short", LinkTypeNull, []byte{2, 0, 0}},
		{"null-ipx", LinkTypeNull, le32(23)},
		{"loop-le", LinkTypeLoop, le32(2)}, // LOOP is always big-endian
		{"ppp-lcp", LinkTypePPP, []byte{0xc0, 0x21, 1, 2}},
		{"ppp-short", LinkTypePPP, []byte{0xff, 0x03, 0x00}},
		{"hdlc-slarp", LinkTypeCiscoHDLC, []byte{0x8f, 0, 0x80, 0x35}},
		{"sll-arp", LinkTypeLinuxSLL, sllHeader(0x0806)},
		{"sll-short", LinkTypeLinuxSLL, sllHeader(0x0800)[:15]},
		{"sll2-short", LinkTypeLinuxSLL2, sll2Header(0x0800)[:19]},
		{"raw-empty", LinkTypeRaw, nil},
		{"radiotap", 127, make([]byte, 40)},
	} {
		var p packet.Parsed
		p.Src = netip.MustParseAddrPort("192.0.2.1:1") // must be cleared
		Decode(&p, tc.frame, tc.link)
		if p.IPVersion != 0 || p.Src.IsValid() {
			t.Errorf("%s: decoded as IPv%d from %v", tc.name, p.IPVersion, p.Src)
		}
	}
}
