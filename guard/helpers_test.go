package guard

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/packet"
)

var (
	clientMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	serverMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// tcpSpec is a TCP segment for tcpFrame.
type tcpSpec struct {
	src, dst     string // addr:port
	flags        packet.TCPFlags
	seq, ack     uint32
	win          uint16
	mss          uint16 // 0: no option
	wscale       int    // -1: no option
	sackPerm     bool
	ts           bool
	tsval, tsecr uint32
	sack         [][2]uint32
	payload      int
}

// tcpFrame builds an Ethernet frame with s, its checksums right.
func tcpFrame(t testing.TB, s tcpSpec) []byte {
	t.Helper()
	src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
	eth := &layers.Ethernet{SrcMAC: clientMAC, DstMAC: serverMAC, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if src.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		ip, nl = v4, v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		ip, nl = v6, v6
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: s.seq, Ack: s.ack, Window: s.win,
		FIN: s.flags&packet.TCPFIN != 0, SYN: s.flags&packet.TCPSYN != 0, RST: s.flags&packet.TCPRST != 0, PSH: s.flags&packet.TCPPSH != 0,
		ACK: s.flags&packet.TCPACK != 0, URG: s.flags&packet.TCPURG != 0, ECE: s.flags&packet.TCPECE != 0, CWR: s.flags&packet.TCPCWR != 0}
	if s.mss != 0 {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, s.mss)})
	}
	if s.sackPerm {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
	}
	if s.ts {
		d := binary.BigEndian.AppendUint32(nil, s.tsval)
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: binary.BigEndian.AppendUint32(d, s.tsecr)})
	}
	if len(s.sack) > 0 {
		var d []byte
		for _, b := range s.sack {
			d = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(d, b[0]), b[1])
		}
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop}, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(d)), OptionData: d})
	}
	if s.wscale >= 0 {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop}, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(s.wscale)}})
	}
	tcp.SetNetworkLayerForChecksum(nl)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(make([]byte, s.payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decoded decodes frame, which must be valid with right checksums.
func decoded(t testing.TB, frame []byte) *packet.Parsed {
	t.Helper()
	p := new(packet.Parsed)
	p.Decode(frame)
	if p.Invalid != packet.Valid {
		t.Fatalf("frame does not decode: %v", p.Invalid)
	}
	if p.CheckChecksums(true) != packet.ChecksumOK {
		t.Fatalf("frame has a wrong checksum: % x", frame)
	}
	return p
}

var epoch = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func newGuard(t testing.TB, cfg Config) (*Guard, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	cfg.Clock = clk
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, clk
}
