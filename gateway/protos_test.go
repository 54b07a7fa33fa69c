package gateway

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// The tests here (issue 15, item 5 and the "also" list) run crafted SCTP,
// DCCP, UDP-Lite, neighbour discovery, redirect and segment routing frames
// through a Worker with datapath.Replay, as `rampart inspect` and the live
// bridge do, and assert on the frames forwarded.

// ipFrame builds an Ethernet frame from src to dst (ports, where proto
// has them, written into the first four bytes of l4) with hop limit or
// TTL ttl; for IPv6, ext is an extension header chain that ends in proto
// and next the type of its first header. The transport checksum is
// filled.
func ipFrame(t testing.TB, src, dst string, proto ipproto.Proto, ttl uint8, next ipproto.Proto, ext, l4 []byte) []byte {
	t.Helper()
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	l4 = append([]byte(nil), l4...)
	if proto.HasPorts() {
		binary.BigEndian.PutUint16(l4[0:], s.Port())
		binary.BigEndian.PutUint16(l4[2:], d.Port())
	}
	f := make([]byte, 14)
	f[0], f[6] = 2, 2
	if s.Addr().Is4() {
		binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv4)
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, ttl, byte(proto)
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		copy(ip[12:], s.Addr().AsSlice())
		copy(ip[16:], d.Addr().AsSlice())
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip, 0))
		f = append(append(f, ip...), l4...)
	} else {
		binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv6)
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, byte(proto), ttl
		if len(ext) > 0 {
			ip[6] = byte(next)
		}
		copy(ip[8:], s.Addr().AsSlice())
		copy(ip[24:], d.Addr().AsSlice())
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
		f = append(append(append(f, ip...), ext...), l4...)
	}
	var p packet.Parsed
	p.Decode(f)
	if p.Invalid != packet.Valid {
		t.Fatalf("built an invalid frame: %v", p.Err())
	}
	p.FillChecksum()
	return f
}

// SCTP chunk types and the T flag, as on the wire.
const (
	chData, chInit, chInitAck, chCookieEcho, chCookieAck = 0, 1, 2, 10, 11
)

// sctpSeg is an SCTP common header (ports filled by ipFrame) with tag
// vtag, then the chunks.
func sctpSeg(vtag uint32, chunks ...[]byte) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b[4:], vtag)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b
}

// chunk is one SCTP chunk of type typ with body, padded.
func chunk(typ uint8, body []byte) []byte {
	c := append([]byte{typ, 0, 0, 0}, body...)
	binary.BigEndian.PutUint16(c[2:], uint16(4+len(body)))
	for len(c)%4 != 0 {
		c = append(c, 0)
	}
	return c
}

// initChunk is an INIT or INIT ACK announcing Initiate Tag tag.
func initChunk(typ uint8, tag uint32) []byte {
	body := make([]byte, 16)
	binary.BigEndian.PutUint32(body, tag)
	binary.BigEndian.PutUint32(body[4:], 1<<16)
	binary.BigEndian.PutUint16(body[8:], 1)
	binary.BigEndian.PutUint16(body[10:], 1)
	binary.BigEndian.PutUint32(body[12:], 42)
	return chunk(typ, body)
}

// expect runs frames arriving on in through w and checks that exactly
// the ones marked pass come out of the other port, unchanged.
type expectStep struct {
	name  string
	frame []byte
	in    datapath.Side
	pass  bool
}

func expect(t *testing.T, e *Engine, w *Worker, steps []expectStep) {
	t.Helper()
	for _, s := range steps {
		lan, wan := bridge(t, w, sided{s.frame, s.in})
		out, back := wan, lan
		if s.in == datapath.WAN {
			out, back = lan, wan
		}
		if len(back) != 0 {
			t.Fatalf("%s: %d frames sent back", s.name, len(back))
		}
		switch {
		case s.pass && len(out) != 1:
			t.Fatalf("%s: dropped, want forwarded (%v)", s.name, e.Counts())
		case s.pass && !bytes.Equal(out[0], s.frame):
			t.Fatalf("%s: forwarded changed", s.name)
		case !s.pass && len(out) != 0:
			t.Fatalf("%s: forwarded, want dropped (%v)", s.name, e.Counts())
		}
	}
}

const (
	sctpHost = "10.10.0.5"
	sctpPeer = "198.51.100.7:9899"
)

// TestSCTPTrackedWithPorts (issue 15, item 5): after one outgoing SCTP
// INIT from 10.10.0.5:5000, the peer reaches that association only, and
// only with the tag 10.10.0.5 announced; not port 22.
func TestSCTPTrackedWithPorts(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	const tagA, tagB = 0x1a2b3c4d, 0x5e6f7a8b
	out := func(vtag uint32, chunks ...[]byte) []byte {
		return ipFrame(t, sctpHost+":5000", sctpPeer, ipproto.SCTP, 64, 0, nil, sctpSeg(vtag, chunks...))
	}
	in := func(dst string, vtag uint32, chunks ...[]byte) []byte {
		return ipFrame(t, sctpPeer, dst, ipproto.SCTP, 64, 0, nil, sctpSeg(vtag, chunks...))
	}
	data := chunk(chData, make([]byte, 12+20))
	expect(t, e, w, []expectStep{
		{"INIT out", out(0, initChunk(chInit, tagA)), datapath.LAN, true},
		{"the peer's INIT to port 22", in(sctpHost+":22", 0, initChunk(chInit, tagB)), datapath.WAN, false},
		{"the peer's DATA to port 22 with the announced tag", in(sctpHost+":22", tagA, data), datapath.WAN, false},
		{"INIT ACK with another tag", in(sctpHost+":5000", tagA^1, initChunk(chInitAck, tagB)), datapath.WAN, false},
		{"INIT ACK bundled with DATA", in(sctpHost+":5000", tagA, initChunk(chInitAck, tagB), data), datapath.WAN, false},
		{"INIT ACK", in(sctpHost+":5000", tagA, initChunk(chInitAck, tagB)), datapath.WAN, true},
		{"COOKIE ECHO", out(tagB, chunk(chCookieEcho, make([]byte, 24))), datapath.LAN, true},
		{"COOKIE ACK", in(sctpHost+":5000", tagA, chunk(chCookieAck, nil)), datapath.WAN, true},
		{"DATA in", in(sctpHost+":5000", tagA, data), datapath.WAN, true},
		{"DATA in with the tag of the other direction", in(sctpHost+":5000", tagB, data), datapath.WAN, false},
		{"DATA out", out(tagB, data), datapath.LAN, true},
	})
	c := e.Counts()
	if c["drop/invalid"] != 4 || c["drop/default"] != 1 {
		t.Errorf("counts %v: want 4 invalid (no association, tags, bundling) and 1 refused by the default", c)
	}
	if n := e.Conntrack().Stats().Invalid; n[conntrack.ReasonNoEntry] != 1 || n[conntrack.ReasonSCTPVTag] != 2 || n[conntrack.ReasonSCTPChunks] != 1 {
		t.Errorf("conntrack invalid counts %v", n)
	}

	// A policy that opens one SCTP port opens that one.
	e, _ = newEngine(t, testPolicy+"allow in on wan to 10.10.0.5 port 9899 proto sctp\n")
	w = e.NewWorker()
	expect(t, e, w, []expectStep{
		{"INIT to the allowed port", ipFrame(t, "198.51.100.7:40000", sctpHost+":9899", ipproto.SCTP, 64, 0, nil, sctpSeg(0, initChunk(chInit, tagB))), datapath.WAN, true},
		{"INIT to the next port", ipFrame(t, "198.51.100.7:40000", sctpHost+":9898", ipproto.SCTP, 64, 0, nil, sctpSeg(0, initChunk(chInit, tagB))), datapath.WAN, false},
		{"INIT ACK back", ipFrame(t, sctpHost+":9899", "198.51.100.7:40000", ipproto.SCTP, 64, 0, nil, sctpSeg(tagB, initChunk(chInitAck, tagA))), datapath.LAN, true},
	})
}

// udpLiteSeg is a UDP-Lite header with checksum coverage cov and n bytes
// of data.
func udpLiteSeg(cov uint16, n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint16(b[4:], cov)
	return b
}

// TestUDPLiteTrackedWithPorts: UDP-Lite is tracked as UDP is, on its
// ports; a checksum coverage RFC 3828 forbids is dropped.
func TestUDPLiteTrackedWithPorts(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	lite := func(src, dst string, cov uint16, n int) []byte {
		if cov != 0 && cov < 8 || int(cov) > 8+n {
			// Malformed: built whole, then given the coverage.
			f := ipFrame(t, src, dst, ipproto.UDPLite, 64, 0, nil, udpLiteSeg(0, n))
			binary.BigEndian.PutUint16(f[14+20+4:], cov)
			return f
		}
		return ipFrame(t, src, dst, ipproto.UDPLite, 64, 0, nil, udpLiteSeg(cov, n))
	}
	expect(t, e, w, []expectStep{
		{"out", lite(sctpHost+":7000", "198.51.100.7:7001", 8, 20), datapath.LAN, true},
		{"reply", lite("198.51.100.7:7001", sctpHost+":7000", 0, 20), datapath.WAN, true},
		{"to another port", lite("198.51.100.7:7001", sctpHost+":7002", 0, 20), datapath.WAN, false},
		{"from another port", lite("198.51.100.7:7003", sctpHost+":7000", 0, 20), datapath.WAN, false},
		{"coverage 4", lite("198.51.100.7:7001", sctpHost+":7000", 4, 20), datapath.WAN, false},
		{"coverage beyond the datagram", lite("198.51.100.7:7001", sctpHost+":7000", 29, 20), datapath.WAN, false},
	})
	if c := e.Counts(); c["drop/malformed"] != 2 || c["drop/default"] != 2 {
		t.Errorf("counts %v", c)
	}
}

// dccpSeg is a DCCP packet of type typ with 48-bit sequence numbers.
func dccpSeg(typ uint8, seq, ack uint64) []byte {
	hl := 16
	if typ != packet.DCCPRequest && typ != packet.DCCPData {
		hl += 8
	}
	if typ == packet.DCCPRequest || typ == packet.DCCPResponse || typ == packet.DCCPReset {
		hl += 4
	}
	b := make([]byte, hl)
	b[4] = uint8(hl / 4)
	b[8] = typ<<1 | 1
	binary.BigEndian.PutUint16(b[10:], uint16(seq>>32))
	binary.BigEndian.PutUint32(b[12:], uint32(seq))
	if hl >= 24 {
		binary.BigEndian.PutUint16(b[18:], uint16(ack>>32))
		binary.BigEndian.PutUint32(b[20:], uint32(ack))
	}
	return b
}

// TestDCCPHandshake: a Request, Response and Ack handshake opens the
// connection on its ports; the server's packets to another port, and a
// Response nobody asked for, are dropped.
func TestDCCPHandshake(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	const client, srv = sctpHost + ":6000", "198.51.100.7:5001"
	d := func(src, dst string, typ uint8, seq, ack uint64) []byte {
		return ipFrame(t, src, dst, ipproto.DCCP, 64, 0, nil, dccpSeg(typ, seq, ack))
	}
	expect(t, e, w, []expectStep{
		{"Request", d(client, srv, packet.DCCPRequest, 100, 0), datapath.LAN, true},
		{"Response to another port", d(srv, sctpHost+":6001", packet.DCCPResponse, 900, 100), datapath.WAN, false},
		{"Data before the handshake", d(srv, client, packet.DCCPData, 900, 0), datapath.WAN, false},
		{"Response", d(srv, client, packet.DCCPResponse, 900, 100), datapath.WAN, true},
		{"Ack", d(client, srv, packet.DCCPAck, 101, 900), datapath.LAN, true},
		{"DataAck from the server", d(srv, client, packet.DCCPDataAck, 901, 101), datapath.WAN, true},
		{"CloseReq from the client", d(client, srv, packet.DCCPCloseReq, 102, 901), datapath.LAN, false},
		{"a Response nobody asked for", d("198.51.100.8:5001", client, packet.DCCPResponse, 900, 100), datapath.WAN, false},
	})
	var found bool
	e.Conntrack().Range(func(en conntrack.Entry) bool {
		found = en.DCCP == conntrack.DCCPOpen && en.Assured && en.Orig.Flow.Dst.Port() == 5001
		return !found
	})
	if !found {
		t.Error("no assured DCCP connection in OPEN")
	}
}

// ndMessage is an ICMPv6 neighbour discovery message of type typ (its
// 8-byte header and a target address).
func ndMessage(typ uint8) []byte {
	b := make([]byte, 8+16)
	b[0] = typ
	copy(b[8:], netip.MustParseAddr("fd00:10::1").AsSlice())
	return b
}

// TestNeighbourDiscoveryHopLimit: RFC 4861 has a node discard neighbour
// discovery that a router could have forwarded (hop limit below 255).
// With 255, the policy's implicit rules let it across the bridge, as
// before; redirects go nowhere, whatever their hop limit.
func TestNeighbourDiscoveryHopLimit(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	const outside, inside = "fe80::1:0", "fe80::2:0"
	nd := func(src, dst string, typ, hl uint8) []byte {
		return ipFrame(t, "["+src+"]:0", "["+dst+"]:0", ipproto.ICMPv6, hl, 0, nil, ndMessage(typ))
	}
	expect(t, e, w, []expectStep{
		{"neighbour solicitation in, hop limit 255", nd(outside, "ff02::1:ff00:1", 135, 255), datapath.WAN, true},
		{"neighbour solicitation in, hop limit 64", nd(outside, "ff02::1:ff00:1", 135, 64), datapath.WAN, false},
		{"neighbour advertisement out, hop limit 254", nd(inside, outside, 136, 254), datapath.LAN, false},
		{"neighbour advertisement out, hop limit 255", nd(inside, outside, 136, 255), datapath.LAN, true},
		{"router advertisement in, hop limit 255", nd(outside, "ff02::1", 134, 255), datapath.WAN, true},
		{"router advertisement in, hop limit 1", nd(outside, "ff02::1", 134, 1), datapath.WAN, false},
		{"router solicitation out, hop limit 64", nd(inside, "ff02::2", 133, 64), datapath.LAN, false},
		{"redirect in, hop limit 255", nd(outside, inside, 137, 255), datapath.WAN, false},
	})
	c := e.Counts()
	if c["drop/nd_hop_limit"] != 4 || c["drop/icmp_redirect"] != 1 || c["forward/rule"]+c["forward/untracked"] != 3 {
		t.Errorf("counts %v", c)
	}

	// The implicit rules follow the file's: a policy may still refuse
	// well-formed neighbour discovery.
	e, _ = newEngine(t, testPolicy+"deny in on wan proto icmpv6 type 135\n")
	w = e.NewWorker()
	expect(t, e, w, []expectStep{
		{"neighbour solicitation in, refused by the policy", nd(outside, "ff02::1:ff00:1", 135, 255), datapath.WAN, false},
		{"neighbour advertisement in", nd(outside, inside, 136, 255), datapath.WAN, true},
	})
}

// TestRedirectAndSourceQuenchDropped: ICMP redirects and source quench
// quoting a tracked connection used to pass as related; they are dropped,
// each counted, while an unreachable about the same connection passes.
func TestRedirectAndSourceQuenchDropped(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	syn := tcpFrame(t, seg{client, web, "S", 1000, 0, 0})
	expect(t, e, w, []expectStep{
		{"SYN", syn, datapath.LAN, true},
		{"SYN/ACK", tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), datapath.WAN, true},
	})
	quote := syn[14 : 14+20+8]
	const router, inside = "203.0.113.1", "10.10.0.11"
	gateway := make([]byte, 4)
	copy(gateway, netip.MustParseAddr("198.51.100.66").AsSlice())
	icmp := func(typ, code uint8, rest []byte) []byte {
		b := append(append([]byte{typ, code, 0, 0}, rest...), quote...)
		return ipFrame(t, router+":0", inside+":0", ipproto.ICMP, 64, 0, nil, b)
	}
	expect(t, e, w, []expectStep{
		{"redirect for host", icmp(5, 1, gateway), datapath.WAN, false},
		{"source quench", icmp(4, 0, make([]byte, 4)), datapath.WAN, false},
		{"port unreachable", icmp(3, 3, make([]byte, 4)), datapath.WAN, true},
	})
	c := e.Counts()
	if c["drop/icmp_redirect"] != 1 || c["drop/source_quench"] != 1 || c["forward/related"] != 1 {
		t.Errorf("counts %v", c)
	}
}

// udpSeg is a UDP header with its length, and n bytes of data.
func udpSeg(n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint16(b[4:], uint16(8+n))
	return b
}

// routingHeader is an IPv6 routing header of type typ with segments left
// sl, next header UDP, listing segs.
func routingHeader(typ, sl uint8, segs ...string) []byte {
	h := make([]byte, 8, 8+16*len(segs))
	h[0], h[1], h[2], h[3] = byte(ipproto.UDP), uint8(2*len(segs)), typ, sl
	if typ == 4 {
		h[4] = uint8(len(segs) - 1) // last entry
	}
	for _, s := range segs {
		h = append(h, netip.MustParseAddr(s).AsSlice()...)
	}
	return h
}

// TestRoutingHeaders: a segment routing header with segments left names
// a final destination other than the outer one the policy judges; it is
// dropped, as Linux does unless seg6 is enabled. Once used up (segments
// left 0) the outer destination is the final one, judged as usual. Type
// 0 (RFC 5095) is dropped whatever its segments left.
func TestRoutingHeaders(t *testing.T) {
	e, _ := newEngine(t, "default deny incoming\ndefault allow outgoing\nallow in on wan to fd00:10::53 port 53 proto udp\n")
	w := e.NewWorker()
	const dns, ssh, outside = "fd00:10::53", "fd00:10::22", "[2001:db8::66]:5000"
	udp := func(dst string, rh []byte) []byte {
		return ipFrame(t, outside, "["+dst+"]:53", ipproto.UDP, 64, ipproto.Routing, rh, udpSeg(12))
	}
	expect(t, e, w, []expectStep{
		// The final segment is listed first; the outer destination is
		// the active one, here the allowed DNS server.
		{"SRH, segments left 1, via the allowed host", udp(dns, routingHeader(4, 1, ssh, dns)), datapath.WAN, false},
		{"SRH used up, to the allowed host", udp(dns, routingHeader(4, 0, dns, "2001:db8::1")), datapath.WAN, true},
		{"SRH used up, to a host the policy refuses", udp(ssh, routingHeader(4, 0, ssh, dns)), datapath.WAN, false},
		{"type 0, segments left 1", udp(dns, routingHeader(0, 1, ssh)), datapath.WAN, false},
		{"type 0, used up", udp(dns, routingHeader(0, 0, dns)), datapath.WAN, false},
		{"no routing header", ipFrame(t, outside, "["+dns+"]:53", ipproto.UDP, 64, 0, nil, udpSeg(12)), datapath.WAN, true},
	})
	c := e.Counts()
	if c["drop/anomaly"] != 3 || c["drop/default"] != 1 || c["forward/rule"] != 1 {
		t.Errorf("counts %v", c)
	}
}

// TestTransportsAllocateNothing: established SCTP, DCCP and UDP-Lite
// packets cost no allocation, as TCP's do.
func TestTransportsAllocateNothing(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	const tagA, tagB = 7, 9
	client, srv := sctpHost+":5000", sctpPeer
	data := chunk(chData, make([]byte, 12+20))
	for _, f := range []struct {
		frame []byte
		in    datapath.Side
	}{
		{ipFrame(t, client, srv, ipproto.SCTP, 64, 0, nil, sctpSeg(0, initChunk(chInit, tagA))), datapath.LAN},
		{ipFrame(t, srv, client, ipproto.SCTP, 64, 0, nil, sctpSeg(tagA, initChunk(chInitAck, tagB))), datapath.WAN},
		{ipFrame(t, client, srv, ipproto.DCCP, 64, 0, nil, dccpSeg(packet.DCCPRequest, 1, 0)), datapath.LAN},
		{ipFrame(t, srv, client, ipproto.DCCP, 64, 0, nil, dccpSeg(packet.DCCPResponse, 9, 1)), datapath.WAN},
		{ipFrame(t, client, srv, ipproto.DCCP, 64, 0, nil, dccpSeg(packet.DCCPAck, 2, 9)), datapath.LAN},
		{ipFrame(t, client, srv, ipproto.UDPLite, 64, 0, nil, udpLiteSeg(8, 20)), datapath.LAN},
	} {
		if d := process(t, e, f.frame, f.in); d.Verdict != Forward {
			t.Fatalf("setting up: %v/%v", d.Verdict, d.Reason)
		}
	}
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"sctp", ipFrame(t, client, srv, ipproto.SCTP, 64, 0, nil, sctpSeg(tagB, data))},
		{"dccp", ipFrame(t, client, srv, ipproto.DCCP, 64, 0, nil, dccpSeg(packet.DCCPDataAck, 3, 9))},
		{"udplite", ipFrame(t, client, srv, ipproto.UDPLite, 64, 0, nil, udpLiteSeg(8, 20))},
	} {
		var p packet.Parsed
		allocs := testing.AllocsPerRun(1000, func() {
			p.Decode(c.frame)
			if d := e.Process(&p, datapath.LAN); d.Verdict != Forward {
				t.Fatalf("%s: %v/%v", c.name, d.Verdict, d.Reason)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per packet", c.name, allocs)
		}
	}
}
