package gateway

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/packet"
)

// sent is a frame a Worker sent, and where.
type sent struct {
	to    datapath.Side
	frame []byte
}

type recorder struct{ frames []sent }

func (r *recorder) Send(to datapath.Side, frame []byte) error {
	r.frames = append(r.frames, sent{to, append([]byte(nil), frame...)})
	return nil
}

// tsSeg is a TCP segment with a Linux client's options.
type tsSeg struct {
	src, dst     string
	flags        packet.TCPFlags
	seq, ack     uint32
	win          uint16
	syn          bool // SYN options: MSS 1460, SACK-permitted, window scale 7
	tsval, tsecr uint32
	payload      int
}

func tsFrame(t testing.TB, s tsSeg) []byte {
	t.Helper()
	src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: s.seq, Ack: s.ack, Window: s.win,
		SYN: s.flags&packet.TCPSYN != 0, ACK: s.flags&packet.TCPACK != 0, PSH: s.flags&packet.TCPPSH != 0, RST: s.flags&packet.TCPRST != 0}
	if s.syn {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
	}
	ts := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, s.tsval), s.tsecr)
	tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: ts})
	if s.syn {
		tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop}, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}})
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(make([]byte, s.payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	pxClient = "198.51.100.9:40000"
	pxServer = "10.10.0.80:80"
)

func proxyEngine(t *testing.T, mode guard.ProxyMode) (*Engine, *recorder, func([]byte, datapath.Side) []sent) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	e, err := New(mustPolicy(t, "default deny incoming\ndefault allow outgoing\nallow http\n"), Config{Clock: clk, Guard: guard.Config{
		AntiSpoof: true,
		Inside:    []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		SYNProxy:  guard.SYNProxyConfig{Mode: mode, Destinations: []netip.Prefix{netip.MustParsePrefix("10.10.0.80/32")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	rec := &recorder{}
	run := func(frame []byte, in datapath.Side) []sent {
		rec.frames = rec.frames[:0]
		w.p.Decode(frame)
		w.handle(frame, nil, in, rec)
		return rec.frames
	}
	return e, rec, run
}

// decodeSent decodes a frame the worker sent, checking its checksums.
func decodeSent(t *testing.T, s sent, to datapath.Side) *packet.Parsed {
	t.Helper()
	if s.to != to {
		t.Fatalf("frame sent to %v, want %v", s.to, to)
	}
	p := new(packet.Parsed)
	p.Decode(s.frame)
	if p.Invalid != packet.Valid || p.CheckChecksums(true) != packet.ChecksumOK {
		t.Fatalf("frame sent is invalid or its checksum wrong: % x", s.frame)
	}
	return p
}

// TestSYNProxyBridge runs a proxied connection through a bridge worker on
// bytes: the SYN answered with a cookie and nothing tracked, a forged ACK
// that opens nothing, the real ACK that opens the server's side, the
// server's SYN/ACK completed by the proxy, and data both ways translated;
// then a flood of spoofed SYNs that leaves the table as it was.
func TestSYNProxyBridge(t *testing.T) {
	e, _, run := proxyEngine(t, guard.ProxyAlways)
	out := run(tsFrame(t, tsSeg{src: pxClient, dst: pxServer, flags: packet.TCPSYN, seq: 1000, win: 64240, syn: true, tsval: 111}), datapath.WAN)
	if len(out) != 1 {
		t.Fatalf("SYN: %d frames sent, want the SYN/ACK alone", len(out))
	}
	sa := decodeSent(t, out[0], datapath.WAN)
	if sa.TCPFlags != packet.TCPSYN|packet.TCPACK || sa.TCPAck != 1001 || sa.Src.String() != pxServer || sa.TCPOpts.TSecr != 111 {
		t.Fatalf("SYN/ACK %v from %v ack %d", sa.TCPFlags, sa.Src, sa.TCPAck)
	}
	cookie, proxyTS := sa.TCPSeq, sa.TCPOpts.TSval
	if n := e.Conntrack().Len(); n != 0 {
		t.Fatalf("the SYN left %d entries", n)
	}

	forged := tsFrame(t, tsSeg{src: pxClient, dst: pxServer, flags: packet.TCPACK, seq: 1001, ack: cookie + 2, win: 502, tsval: 112, tsecr: proxyTS})
	if out := run(forged, datapath.WAN); len(out) != 0 || e.Conntrack().Len() != 0 {
		t.Fatalf("a forged ACK sent %d frames, left %d entries", len(out), e.Conntrack().Len())
	}
	if e.Guard().Drops()[guard.ReasonBadCookie] != 1 {
		t.Error("the forged ACK is not counted as a bad cookie")
	}

	out = run(tsFrame(t, tsSeg{src: pxClient, dst: pxServer, flags: packet.TCPACK, seq: 1001, ack: cookie + 1, win: 502, tsval: 112, tsecr: proxyTS}), datapath.WAN)
	if len(out) != 1 {
		t.Fatalf("valid ACK: %d frames, want the server's SYN", len(out))
	}
	ssyn := decodeSent(t, out[0], datapath.LAN)
	if ssyn.TCPFlags != packet.TCPSYN || ssyn.TCPSeq != 1000 || ssyn.Src.String() != pxClient || ssyn.Dst.String() != pxServer ||
		ssyn.TCPOpts.WScale != 7 || ssyn.TCPOpts.MSS != 1460 || ssyn.TCPOpts.TSval != 112 {
		t.Fatalf("server SYN %v seq %d %v->%v %+v", ssyn.TCPFlags, ssyn.TCPSeq, ssyn.Src, ssyn.Dst, ssyn.TCPOpts)
	}
	if n := e.Conntrack().Len(); n != 1 {
		t.Fatalf("%d entries after the valid ACK, want 1", n)
	}

	const serverISN, serverTS = 5000, 777000
	out = run(tsFrame(t, tsSeg{src: pxServer, dst: pxClient, flags: packet.TCPSYN | packet.TCPACK, seq: serverISN, ack: 1001, win: 65160, syn: true, tsval: serverTS, tsecr: 112}), datapath.LAN)
	if len(out) != 2 {
		t.Fatalf("server SYN/ACK: %d frames, want the ACK and the window update", len(out))
	}
	a := decodeSent(t, out[0], datapath.LAN)
	if a.TCPFlags != packet.TCPACK || a.TCPSeq != 1001 || a.TCPAck != serverISN+1 || a.Src.String() != pxClient {
		t.Fatalf("ACK to the server %v seq %d ack %d", a.TCPFlags, a.TCPSeq, a.TCPAck)
	}
	u := decodeSent(t, out[1], datapath.WAN)
	if u.TCPSeq != cookie+1 || u.TCPAck != 1001 || u.TCPWindow != (65160+127)/128 || u.TCPOpts.TSval != proxyTS {
		t.Fatalf("window update seq %d ack %d win %d ts %d", u.TCPSeq, u.TCPAck, u.TCPWindow, u.TCPOpts.TSval)
	}

	out = run(tsFrame(t, tsSeg{src: pxClient, dst: pxServer, flags: packet.TCPACK | packet.TCPPSH, seq: 1001, ack: cookie + 1, win: 502, tsval: 113, tsecr: proxyTS, payload: 10}), datapath.WAN)
	if len(out) != 1 {
		t.Fatalf("client data: %d frames", len(out))
	}
	if c := decodeSent(t, out[0], datapath.LAN); c.TCPSeq != 1001 || c.TCPAck != serverISN+1 || c.TCPOpts.TSecr != serverTS || c.PayloadLen != 10 {
		t.Fatalf("client data as the server sees it: seq %d ack %d tsecr %d", c.TCPSeq, c.TCPAck, c.TCPOpts.TSecr)
	}
	out = run(tsFrame(t, tsSeg{src: pxServer, dst: pxClient, flags: packet.TCPACK | packet.TCPPSH, seq: serverISN + 1, ack: 1011, win: 500, tsval: serverTS + 5, tsecr: 113, payload: 100}), datapath.WAN^1)
	if len(out) != 1 {
		t.Fatalf("server data: %d frames", len(out))
	}
	s := decodeSent(t, out[0], datapath.WAN)
	if s.TCPSeq != cookie+1 || s.TCPAck != 1011 || s.TCPOpts.TSval != proxyTS+5 || s.TCPWindow != 500*128>>7 {
		t.Fatalf("server data as the client sees it: seq %d ack %d tsval %d win %d", s.TCPSeq, s.TCPAck, s.TCPOpts.TSval, s.TCPWindow)
	}
	// An ICMP error from the client's side about that segment reaches the
	// server quoting it in the server's numbers.
	icmp := packet.AppendICMPUnreachable(nil, s, packet.UnreachablePort)
	out = run(icmp, datapath.WAN)
	if len(out) != 1 {
		t.Fatalf("ICMP error: %d frames", len(out))
	}
	if q := decodeSent(t, out[0], datapath.LAN); q.Quote.TCPSeq != serverISN+1 {
		t.Fatalf("the error quotes seq %d, want the server's %d", q.Quote.TCPSeq, serverISN+1)
	}

	// The server's next segment in two IP fragments: the translation
	// reaches the fragments that go out.
	whole := tsFrame(t, tsSeg{src: pxServer, dst: pxClient, flags: packet.TCPACK | packet.TCPPSH, seq: serverISN + 101, ack: 1011, win: 500, tsval: serverTS + 6, tsecr: 113, payload: 100})
	frags := fragment4(t, whole, 77, 88)
	if len(frags) != 2 {
		t.Fatalf("%d fragments", len(frags))
	}
	if out := run(frags[0], datapath.LAN); len(out) != 0 {
		t.Fatalf("first fragment: %d frames sent before the datagram is whole", len(out))
	}
	out = run(frags[1], datapath.LAN)
	if len(out) != 2 || out[0].to != datapath.WAN || out[1].to != datapath.WAN {
		t.Fatalf("fragments: %d frames", len(out))
	}
	var first packet.Parsed
	first.Decode(out[0].frame)
	l4 := append(append([]byte(nil), out[0].frame[34:]...), out[1].frame[34:]...)
	if first.TCPSeq != cookie+101 || first.TCPOpts.TSval != proxyTS+6 ||
		packet.Checksum(l4, packet.PseudoHeaderChecksum(6, first.Src.Addr(), first.Dst.Addr(), uint16(len(l4)))) != 0 {
		t.Fatalf("fragmented server data as the client gets it: seq %d tsval %d, checksum of the whole wrong?", first.TCPSeq, first.TCPOpts.TSval)
	}

	// A spoofed flood: every SYN answered, nothing tracked.
	for i := range 2000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), uint16(1024+i))
		out := run(tsFrame(t, tsSeg{src: src.String(), dst: pxServer, flags: packet.TCPSYN, seq: uint32(i), win: 1024, syn: true, tsval: 1}), datapath.WAN)
		if len(out) != 1 || out[0].to != datapath.WAN {
			t.Fatalf("flood SYN %d: %d frames", i, len(out))
		}
	}
	if n := e.Conntrack().Len(); n != 1 {
		t.Fatalf("the flood left %d entries, want the one real connection", n)
	}
	if c := e.Counts(); c["proxy/synproxy"] != 2003 || c["drop/guard"] != 1 || c["forward/related"] != 1 {
		t.Errorf("counts %v", c)
	}
}

// TestSYNProxyOff: without the proxy the SYN goes to the server and is
// tracked, and a spoofed inside source from outside is dropped by the
// guard all the same.
func TestSYNProxyOff(t *testing.T) {
	e, _, run := proxyEngine(t, guard.ProxyOff)
	out := run(tsFrame(t, tsSeg{src: pxClient, dst: pxServer, flags: packet.TCPSYN, seq: 1000, win: 64240, syn: true, tsval: 111}), datapath.WAN)
	if len(out) != 1 || out[0].to != datapath.LAN || e.Conntrack().Len() != 1 {
		t.Fatalf("SYN: %d frames, %d entries", len(out), e.Conntrack().Len())
	}
	if out := run(tsFrame(t, tsSeg{src: "10.10.0.5:1", dst: pxServer, flags: packet.TCPSYN, seq: 1, win: 1, syn: true}), datapath.WAN); len(out) != 0 {
		t.Fatal("a spoofed inside source crossed")
	}
	if e.Guard().Drops()[guard.ReasonInsideSource] != 1 {
		t.Error("the spoofed source is not counted")
	}
}

// TestSYNProxyAuto: in auto mode SYNs reach the server until its
// half-open connections pass the threshold; after the next sweep the
// proxy answers them, and the metrics say so.
func TestSYNProxyAuto(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	e, err := New(mustPolicy(t, "default deny incoming\ndefault allow outgoing\nallow http\n"), Config{Clock: clk, Guard: guard.Config{
		SYNProxy: guard.SYNProxyConfig{Mode: guard.ProxyAuto, AutoThreshold: 5, Destinations: []netip.Prefix{netip.MustParsePrefix("10.10.0.80/32")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	rec := &recorder{}
	syn := func(i int) []sent {
		rec.frames = rec.frames[:0]
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 4000)
		frame := tsFrame(t, tsSeg{src: src.String(), dst: pxServer, flags: packet.TCPSYN, seq: 1, win: 1024, syn: true, tsval: 1})
		w.p.Decode(frame)
		w.handle(frame, nil, datapath.WAN, rec)
		return rec.frames
	}
	for i := range 6 {
		if out := syn(i); len(out) != 1 || out[0].to != datapath.LAN {
			t.Fatalf("SYN %d before engagement: %d frames", i, len(out))
		}
	}
	e.Sweep()
	if out := syn(100); len(out) != 1 || out[0].to != datapath.WAN {
		t.Fatalf("after the sweep the proxy does not answer: %d frames", len(out))
	}
	if n := e.Conntrack().Len(); n != 6 {
		t.Errorf("%d entries, want the 6 from before", n)
	}
	got := gather(t, e)
	if got["rampart_gateway_synproxy_engaged_destinations"] != 1 || got["rampart_gateway_synproxy_events_total,synack"] != 1 {
		t.Errorf("metrics: engaged %v, synack %v", got["rampart_gateway_synproxy_engaged_destinations"], got["rampart_gateway_synproxy_events_total,synack"])
	}
}
