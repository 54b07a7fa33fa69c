package router

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

var (
	lanMAC    = [6]byte{0x02, 0, 0, 0, 0x01, 0x01}
	wanMAC    = [6]byte{0x02, 0, 0, 0, 0x02, 0x01}
	clientMAC = [6]byte{0x02, 0, 0, 0, 0x01, 0x11}
	upMAC     = [6]byte{0x02, 0, 0, 0, 0x02, 0xfe} // the wan's next hop, 203.0.113.254
	webMAC    = [6]byte{0x02, 0, 0, 0, 0x02, 0x80}
	otherMAC  = [6]byte{0x02, 0, 0, 0, 0x09, 0x09}

	lanAddr  = netip.MustParseAddr("10.10.0.1")
	lanAddr6 = netip.MustParseAddr("fd00:10::1")
	wanAddr  = netip.MustParseAddr("203.0.113.1")
	wanAddr6 = netip.MustParseAddr("2001:db8:113::1")
	client   = netip.MustParseAddr("10.10.0.11")
	client6  = netip.MustParseAddr("fd00:10::11")
	web      = netip.MustParseAddr("203.0.113.80")
	web6     = netip.MustParseAddr("2001:db8:113::80")
	up       = netip.MustParseAddr("203.0.113.254")
	far      = netip.MustParseAddr("198.51.100.66")
)

func testConfig() Config {
	return Config{
		LAN: Interface{Name: "lan", MAC: lanMAC, MTU: 1500, Addrs: []netip.Prefix{netip.MustParsePrefix("10.10.0.1/24"), netip.MustParsePrefix("fd00:10::1/64")}},
		WAN: Interface{Name: "wan", MAC: wanMAC, MTU: 1500, Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24"), netip.MustParsePrefix("2001:db8:113::1/64")}},
		Routes: []Route{
			{To: netip.MustParsePrefix("0.0.0.0/0"), Via: up},
		},
	}
}

func newTestRouter(t testing.TB, mod func(*Config)) (*Router, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	cfg := testConfig()
	cfg.Clock = clk
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

// sent is one frame a Forwarder sent.
type sent struct {
	to    datapath.Side
	frame []byte
}

// recorder keeps copies of what is sent, as the datapath copies frames
// built in a handler's buffer.
type recorder struct{ out []sent }

func (r *recorder) Send(to datapath.Side, frame []byte) error {
	r.out = append(r.out, sent{to, bytes.Clone(frame)})
	return nil
}

func (s sent) String() string { return fmt.Sprintf("%s:%x", s.to, s.frame) }

func (r *recorder) take() []sent {
	o := r.out
	r.out = nil
	return o
}

func mac(m [6]byte) net.HardwareAddr { return net.HardwareAddr(m[:]) }

// ipFrame builds an Ethernet frame from ethSrc to ethDst carrying an IP
// packet from src to dst with the given TTL, layers on top, and DF for
// IPv4 when df.
func ipFrame(t testing.TB, ethSrc, ethDst [6]byte, src, dst netip.Addr, ttl uint8, df bool, top ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: mac(ethSrc), DstMAC: mac(ethDst)}
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: ttl, Id: 0x1234, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if df {
			ip.Flags = layers.IPv4DontFragment
		}
		ls, nl = append(ls, eth, ip), ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls, nl = append(ls, eth, ip), ip
	}
	for _, l := range top {
		switch l := l.(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(nl)
			setProto(nl, layers.IPProtocolTCP)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(nl)
			setProto(nl, layers.IPProtocolUDP)
		case *layers.ICMPv4:
			setProto(nl, layers.IPProtocolICMPv4)
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(nl)
			setProto(nl, layers.IPProtocolICMPv6)
		}
		ls = append(ls, l)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func setProto(nl gopacket.NetworkLayer, p layers.IPProtocol) {
	switch ip := nl.(type) {
	case *layers.IPv4:
		ip.Protocol = p
	case *layers.IPv6:
		ip.NextHeader = p
	}
}

func tcpSYN(sport, dport uint16, payload int) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Seq: 1000, Window: 64240}, gopacket.Payload(make([]byte, payload))}
}

func udp(sport, dport uint16, payload int) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(bytes.Repeat([]byte{0xab}, payload))}
}

func arpFrame(ethSrc, ethDst [6]byte, op uint16, senderHW [6]byte, senderIP netip.Addr, targetHW [6]byte, targetIP netip.Addr) []byte {
	a := packet.ARP{Op: op, SenderHW: senderHW, SenderIP: senderIP, TargetHW: targetHW, TargetIP: targetIP}
	b := packet.AppendARP(nil, ethDst, &a)
	copy(b[6:12], ethSrc[:])
	return b
}

// step runs frame through Ingress and, when it is routed, Forward, as the
// gateway does for a packet its pipeline lets through.
func step(t testing.TB, f *Forwarder, frame []byte, in datapath.Side, out *recorder) Event {
	t.Helper()
	var p packet.Parsed
	p.Decode(bytes.Clone(frame))
	h, ok := f.Ingress(&p, in, out)
	if !ok {
		return numEvents
	}
	if h.Local {
		f.Deliver(&p, in, out)
		return EventLocal
	}
	return f.Forward(&p, in, h, Frame{}, out)
}

// wantFrame decrements the TTL of frame in a copy and sets its Ethernet
// addresses, recomputing the checksum from scratch: what a router must
// send, to compare byte for byte with the incremental update.
func wantFrame(t testing.TB, frame []byte, dst, src [6]byte) []byte {
	t.Helper()
	b := bytes.Clone(frame)
	if b[14]>>4 == 4 {
		b = b[:14+int(binary.BigEndian.Uint16(b[14+2:]))]
	} else {
		b = b[:14+40+int(binary.BigEndian.Uint16(b[14+4:]))]
	}
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	ip := b[14:]
	if ip[0]>>4 == 4 {
		ip[8]--
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip[:int(ip[0]&0xf)*4], 0))
	} else {
		ip[7]--
	}
	return b
}

func TestARPRequestAnswered(t *testing.T) {
	r, _ := newTestRouter(t, nil)
	f := r.NewForwarder()
	var out recorder
	req := arpFrame(clientMAC, packet.BroadcastMAC, packet.ARPRequest, clientMAC, client, [6]byte{}, lanAddr)
	step(t, f, req, datapath.LAN, &out)
	got := out.take()
	want := arpFrame(lanMAC, clientMAC, packet.ARPReply, lanMAC, lanAddr, clientMAC, client)
	if len(got) != 1 || got[0].to != datapath.LAN || !bytes.Equal(got[0].frame, want) {
		t.Fatalf("answer to a request for 10.10.0.1: %x, want one frame on lan %x", got, want)
	}
	// The router's wan address is not on the lan's link: no answer.
	step(t, f, arpFrame(clientMAC, packet.BroadcastMAC, packet.ARPRequest, clientMAC, client, [6]byte{}, wanAddr), datapath.LAN, &out)
	if got := out.take(); len(got) != 0 {
		t.Errorf("answered a request for the wan address on lan: %v", got)
	}
	// The request's sender fields are not learnt.
	if n := r.Neighbours(); len(n) != 0 {
		t.Errorf("a request filled the cache: %+v", n)
	}
}

// TestForwardResolvesNextHop follows a packet from lan to the default
// route: it waits while the router asks for 203.0.113.254, leaves when the
// answer comes with its TTL decremented and its checksum updated, and the
// next one goes at once.
func TestForwardResolvesNextHop(t *testing.T) {
	r, _ := newTestRouter(t, nil)
	f := r.NewForwarder()
	var out recorder
	pkt := ipFrame(t, clientMAC, lanMAC, client, far, 64, true, tcpSYN(40000, 80, 0)...)
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventQueued {
		t.Fatalf("first packet: %s, want queued", ev)
	}
	got := out.take()
	wantReq := arpFrame(wanMAC, packet.BroadcastMAC, packet.ARPRequest, wanMAC, wanAddr, [6]byte{}, up)
	if len(got) != 1 || got[0].to != datapath.WAN || !bytes.Equal(got[0].frame, wantReq) {
		t.Fatalf("sent %x, want the ARP request %x on wan", got, wantReq)
	}
	// A reply from the wrong side changes nothing.
	reply := arpFrame(upMAC, wanMAC, packet.ARPReply, upMAC, up, wanMAC, wanAddr)
	step(t, f, reply, datapath.LAN, &out)
	if got := out.take(); len(got) != 0 {
		t.Fatalf("a reply on lan released %v", got)
	}
	step(t, f, reply, datapath.WAN, &out)
	got = out.take()
	want := wantFrame(t, pkt, upMAC, wanMAC)
	if len(got) != 1 || got[0].to != datapath.WAN || !bytes.Equal(got[0].frame, want) {
		t.Fatalf("after the reply: %x, want on wan %x", got, want)
	}
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventForwarded {
		t.Fatalf("second packet: %s", ev)
	}
	if got := out.take(); len(got) != 1 || !bytes.Equal(got[0].frame, want) {
		t.Fatalf("second packet sent %x, want %x", got, want)
	}
	n := r.Neighbours()
	if len(n) != 1 || n[0].Addr != up || n[0].MAC != upMAC || n[0].State != StateReachable {
		t.Errorf("cache %+v", n)
	}
}

// TestChecksumPending: a frame whose transport checksum the kernel was to
// complete on the way out gets it computed when it must wait for its
// neighbour, since the copy that waits leaves without the kernel's help.
func TestChecksumPending(t *testing.T) {
	r, _ := newTestRouter(t, nil)
	f := r.NewForwarder()
	var out recorder
	frame := ipFrame(t, clientMAC, lanMAC, client, web, 64, true, tcpSYN(40000, 80, 0)...)
	want := wantFrame(t, frame, webMAC, wanMAC)
	frame[14+20+16], frame[14+20+17] = 0x12, 0x34 // what a sender with offload leaves
	var p packet.Parsed
	p.Decode(frame)
	h, ok := f.Ingress(&p, datapath.LAN, &out)
	if !ok {
		t.Fatal("not routed")
	}
	if ev := f.Forward(&p, datapath.LAN, h, Frame{ChecksumPending: true}, &out); ev != EventQueued {
		t.Fatalf("%s, want queued", ev)
	}
	out.take()
	step(t, f, arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	if got := out.take(); len(got) != 1 || !bytes.Equal(got[0].frame, want) {
		t.Fatalf("released %v, want %x", got, want)
	}
}

func TestUnsolicitedARPNotLearnt(t *testing.T) {
	r, _ := newTestRouter(t, nil)
	f := r.NewForwarder()
	var out recorder
	for _, fr := range [][]byte{
		arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr),                       // nobody asked
		arpFrame(webMAC, packet.BroadcastMAC, packet.ARPReply, webMAC, web, packet.BroadcastMAC, web), // gratuitous reply
		arpFrame(webMAC, packet.BroadcastMAC, packet.ARPRequest, webMAC, web, [6]byte{}, web),         // gratuitous request
		arpFrame(webMAC, packet.BroadcastMAC, packet.ARPRequest, webMAC, web, [6]byte{}, wanAddr),     // a request's sender
		arpFrame(otherMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr),                     // Ethernet source differs
	} {
		step(t, f, fr, datapath.WAN, &out)
	}
	out.take()
	if n := r.Neighbours(); len(n) != 0 {
		t.Fatalf("unsolicited ARP entered the cache: %+v", n)
	}
	// A packet to web must still be resolved by a request of the router's.
	pkt := ipFrame(t, clientMAC, lanMAC, client, web, 64, true, udp(5000, 53, 10)...)
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventQueued {
		t.Fatalf("packet to web: %s, want queued", ev)
	}
	got := out.take()
	if len(got) != 1 || !bytes.Equal(got[0].frame, arpFrame(wanMAC, packet.BroadcastMAC, packet.ARPRequest, wanMAC, wanAddr, [6]byte{}, web)) {
		t.Fatalf("sent %v, want an ARP request for web", got)
	}
	// A forger answering in web's place after the real answer makes the
	// router check with a unicast probe to the address it holds, and
	// the cache keeps that address.
	step(t, f, arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	out.take()
	step(t, f, arpFrame(otherMAC, wanMAC, packet.ARPReply, otherMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	got = out.take()
	probe := arpFrame(wanMAC, webMAC, packet.ARPRequest, wanMAC, wanAddr, [6]byte{}, web)
	if len(got) != 1 || !bytes.Equal(got[0].frame, probe) {
		t.Fatalf("after a contradicting reply: %x, want the unicast probe %x", got, probe)
	}
	if n := r.Neighbours(); len(n) != 1 || n[0].MAC != webMAC {
		t.Fatalf("cache after a forged reply: %+v", n)
	}
	// While the probe waits, the forger's second reply is no answer to
	// it; the real neighbour's is.
	step(t, f, arpFrame(otherMAC, wanMAC, packet.ARPReply, otherMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	if got := out.take(); len(got) != 0 {
		t.Fatalf("a second forged reply sent %v", got)
	}
	if n := r.Neighbours(); len(n) != 1 || n[0].MAC != webMAC || n[0].State != StateProbe {
		t.Fatalf("cache after a second forged reply: %+v", n)
	}
	step(t, f, arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	if n := r.Neighbours(); len(n) != 1 || n[0].MAC != webMAC || n[0].State != StateReachable {
		t.Fatalf("cache after web's answer to the probe: %+v", n)
	}
	// Four claims before the answer (the request for wanAddr was answered,
	// not counted), and the forger's two.
	if r.Count(EventUnsolicited) != 6 {
		t.Errorf("unsolicited counted %d, want 6", r.Count(EventUnsolicited))
	}
}

func TestQueueBound(t *testing.T) {
	r, _ := newTestRouter(t, func(c *Config) { c.Neighbours.QueueLen = 2 })
	f := r.NewForwarder()
	var out recorder
	var pkts [][]byte
	for i := range 4 {
		pkts = append(pkts, ipFrame(t, clientMAC, lanMAC, client, web, 64, true, udp(5000+uint16(i), 53, 10)...))
		step(t, f, pkts[i], datapath.LAN, &out)
	}
	if got := out.take(); len(got) != 1 {
		t.Fatalf("sent %d frames while resolving, want the one request", len(got))
	}
	step(t, f, arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	got := out.take()
	if len(got) != 2 || !bytes.Equal(got[0].frame, wantFrame(t, pkts[2], webMAC, wanMAC)) || !bytes.Equal(got[1].frame, wantFrame(t, pkts[3], webMAC, wanMAC)) {
		t.Fatalf("released %d frames, want the newest two", len(got))
	}
}

func TestResolveFailsAndRateLimit(t *testing.T) {
	var tx recorder
	r, clk := newTestRouter(t, func(c *Config) {
		c.Neighbours.ResolveRate = 2
		c.Transmit = tx.Send
	})
	f := r.NewForwarder()
	var out recorder
	learn(t, r, clk, datapath.LAN, client, clientMAC)
	pkt := ipFrame(t, clientMAC, lanMAC, client, web, 64, true, udp(5000, 53, 10)...)
	step(t, f, pkt, datapath.LAN, &out)
	out.take()
	// Nobody answers: the request is repeated each second, three in all,
	// then what waited is answered with host unreachable.
	for range 3 {
		clk.Advance(time.Second)
		r.Sweep()
	}
	got := tx.take()
	req := arpFrame(wanMAC, packet.BroadcastMAC, packet.ARPRequest, wanMAC, wanAddr, [6]byte{}, web)
	if len(got) != 3 || !bytes.Equal(got[0].frame, req) || !bytes.Equal(got[1].frame, req) {
		t.Fatalf("sweeps sent %v, want 2 requests and 1 unreachable", got)
	}
	var p packet.Parsed
	p.Decode(got[2].frame)
	if got[2].to != datapath.LAN || p.Proto != 1 || p.ICMPType != 3 || p.ICMPCode != 1 || p.Src.Addr() != lanAddr || p.Dst.Addr() != client || p.EthDst != clientMAC || p.EthSrc != lanMAC {
		t.Errorf("host unreachable: %x", got[2].frame)
	}
	if r.Count(EventNeighbourFailed) != 1 {
		t.Errorf("neighbour_failed %d, want 1", r.Count(EventNeighbourFailed))
	}
	// Resolutions are bounded: at 2 per second, a scan of the wan prefix
	// starts two and drops the rest.
	clk.Advance(10 * time.Second)
	for i := range 10 {
		dst := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)})
		step(t, f, ipFrame(t, clientMAC, lanMAC, client, dst, 64, true, udp(5000, 53, 1)...), datapath.LAN, &out)
	}
	if n := len(out.take()); n != 2 {
		t.Errorf("a scan sent %d requests, want 2", n)
	}
	if n := r.Count(EventResolveLimited); n != 8 {
		t.Errorf("resolve_limited %d, want 8", n)
	}
}

// resolved returns a router that knows client (lan), web and up (wan),
// the cache filled by answers to its own requests.
func resolved(t testing.TB, mod func(*Config)) (*Router, *Forwarder, *clock.Fake) {
	t.Helper()
	r, clk := newTestRouter(t, mod)
	for _, n := range []struct {
		side datapath.Side
		addr netip.Addr
		mac  [6]byte
	}{{datapath.LAN, client, clientMAC}, {datapath.WAN, web, webMAC}, {datapath.WAN, up, upMAC}, {datapath.LAN, client6, clientMAC}, {datapath.WAN, web6, webMAC}} {
		learn(t, r, clk, n.side, n.addr, n.mac)
	}
	return r, r.NewForwarder(), clk
}

// learn puts addr at mac on side s into r's cache as an answer to the
// router's own request does.
func learn(t testing.TB, r *Router, clk *clock.Fake, s datapath.Side, addr netip.Addr, mac [6]byte) {
	t.Helper()
	k := neighKey{addr, s}
	if res := r.neigh.resolve(k, clk.Now().UnixNano(), nil); res.req.kind != reqBroadcast {
		t.Fatalf("resolving %s: %+v", addr, res)
	}
	if _, ok := r.neigh.confirm(k, mac, clk.Now().UnixNano()); !ok {
		t.Fatalf("confirming %s", addr)
	}
}

func TestTTLExceeded(t *testing.T) {
	r, f, _ := resolved(t, nil)
	var out recorder
	for _, c := range []struct {
		name     string
		pkt      []byte
		from     netip.Addr
		typ, cod uint8
	}{
		{"IPv4", ipFrame(t, clientMAC, lanMAC, client, far, 1, true, udp(33434, 33434, 20)...), lanAddr, 11, 0},
		{"IPv6", ipFrame(t, clientMAC, lanMAC, client6, web6, 1, false, udp(33434, 33434, 20)...), lanAddr6, 3, 0},
	} {
		if ev := step(t, f, c.pkt, datapath.LAN, &out); ev != EventTTLExceeded {
			t.Errorf("%s: %s", c.name, ev)
			continue
		}
		got := out.take()
		if len(got) != 1 || got[0].to != datapath.LAN {
			t.Fatalf("%s: sent %d frames", c.name, len(got))
		}
		var p packet.Parsed
		p.Decode(got[0].frame)
		if p.Src.Addr() != c.from || p.ICMPType != c.typ || p.ICMPCode != c.cod || p.EthDst != clientMAC || p.EthSrc != lanMAC {
			t.Errorf("%s: %x", c.name, got[0].frame)
		}
		if p.CheckChecksums(true) != packet.ChecksumOK {
			t.Errorf("%s: bad checksum", c.name)
		}
		// The quote is the packet as it arrived.
		if q := c.pkt[14:]; !bytes.Contains(got[0].frame, q) {
			t.Errorf("%s: the quote is not the packet as it came", c.name)
		}
	}
	// TTL 2 leaves with 1.
	pkt := ipFrame(t, clientMAC, lanMAC, client, far, 2, true, udp(33434, 33434, 20)...)
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventForwarded {
		t.Fatalf("TTL 2: %s", ev)
	}
	if got := out.take(); len(got) != 1 || !bytes.Equal(got[0].frame, wantFrame(t, pkt, upMAC, wanMAC)) {
		t.Errorf("TTL 2 sent %v", got)
	}
	_ = r
}

func TestTooBigAndFragmentation(t *testing.T) {
	_, f, _ := resolved(t, func(c *Config) { c.WAN.MTU = 1280 })
	var out recorder
	// DF over the wan's MTU: fragmentation needed with the MTU.
	big := ipFrame(t, clientMAC, lanMAC, client, web, 64, true, udp(5000, 5001, 1400)...)
	if ev := step(t, f, big, datapath.LAN, &out); ev != EventTooBig {
		t.Fatalf("DF packet: %s", ev)
	}
	got := out.take()
	var p packet.Parsed
	if len(got) == 1 {
		p.Decode(got[0].frame)
	}
	if len(got) != 1 || p.ICMPType != 3 || p.ICMPCode != 4 || binary.BigEndian.Uint16(got[0].frame[14+20+6:]) != 1280 || p.Src.Addr() != lanAddr {
		t.Fatalf("frag needed: %v", got)
	}
	// IPv6: packet too big, never fragmented.
	big6 := ipFrame(t, clientMAC, lanMAC, client6, web6, 64, false, udp(5000, 5001, 1400)...)
	if ev := step(t, f, big6, datapath.LAN, &out); ev != EventTooBig {
		t.Fatalf("IPv6 packet: %s", ev)
	}
	got = out.take()
	if len(got) == 1 {
		p.Decode(got[0].frame)
	}
	if len(got) != 1 || p.ICMPType != 2 || binary.BigEndian.Uint32(got[0].frame[14+40+4:]) != 1280 || p.Src.Addr() != lanAddr6 {
		t.Fatalf("packet too big: %v", got)
	}
	// Without DF the packet is cut, and the fragments put back together
	// are the packet with its TTL one less.
	frag := ipFrame(t, clientMAC, lanMAC, client, web, 64, false, udp(5000, 5001, 1400)...)
	if ev := step(t, f, frag, datapath.LAN, &out); ev != EventFragmented {
		t.Fatalf("packet without DF: %s", ev)
	}
	got = out.take()
	if len(got) != 2 {
		t.Fatalf("%d fragments, want 2", len(got))
	}
	var payload []byte
	for i, g := range got {
		if len(g.frame)-14 > 1280 || g.to != datapath.WAN || !bytes.Equal(g.frame[0:6], webMAC[:]) || g.frame[14+8] != 63 {
			t.Fatalf("fragment %d: %x", i, g.frame)
		}
		ip := g.frame[14:]
		if packet.Checksum(ip[:20], 0) != 0 {
			t.Errorf("fragment %d: bad header checksum", i)
		}
		off := int(binary.BigEndian.Uint16(ip[6:])&0x1fff) * 8
		if off != len(payload) {
			t.Fatalf("fragment %d at %d, want %d", i, off, len(payload))
		}
		payload = append(payload, ip[20:binary.BigEndian.Uint16(ip[2:])]...)
	}
	if !bytes.Equal(payload, frag[14+20:]) {
		t.Errorf("reassembled payload differs")
	}
}

func TestPingRouter(t *testing.T) {
	_, f, _ := resolved(t, nil)
	var out recorder
	for _, c := range []struct {
		name     string
		src, dst netip.Addr
		in       datapath.Side
		ethSrc   [6]byte
		ethDst   [6]byte
		echo     gopacket.SerializableLayer
	}{
		{"lan address from lan", client, lanAddr, datapath.LAN, clientMAC, lanMAC, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}},
		{"wan address from lan", client, wanAddr, datapath.LAN, clientMAC, lanMAC, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 2}},
		{"wan address from wan", web, wanAddr, datapath.WAN, webMAC, wanMAC, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 3}},
		{"IPv6 lan address", client6, lanAddr6, datapath.LAN, clientMAC, lanMAC, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}},
		{"IPv6 link-local", client6, r0LL(), datapath.LAN, clientMAC, lanMAC, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}},
	} {
		pkt := ipFrame(t, c.ethSrc, c.ethDst, c.src, c.dst, 64, false, c.echo, gopacket.Payload("ping data"))
		step(t, f, pkt, c.in, &out)
		got := out.take()
		if len(got) != 1 || got[0].to != c.in {
			t.Errorf("%s: sent %d frames", c.name, len(got))
			continue
		}
		var p packet.Parsed
		p.Decode(got[0].frame)
		typ := uint8(0)
		if c.src.Is6() {
			typ = 129
		}
		if p.Src.Addr() != c.dst || p.Dst.Addr() != c.src || p.ICMPType != typ || p.EthDst != c.ethSrc || p.EthSrc != c.ethDst || p.CheckChecksums(true) != packet.ChecksumOK || !bytes.HasSuffix(got[0].frame, []byte("ping data")) {
			t.Errorf("%s: %x", c.name, got[0].frame)
		}
	}
	// A TCP SYN to the router gets a reset; UDP port unreachable.
	step(t, f, ipFrame(t, webMAC, wanMAC, web, wanAddr, 64, true, tcpSYN(4000, 22, 0)...), datapath.WAN, &out)
	step(t, f, ipFrame(t, webMAC, wanMAC, web, wanAddr, 64, true, udp(4000, 53, 5)...), datapath.WAN, &out)
	got := out.take()
	if len(got) != 2 {
		t.Fatalf("answers to TCP and UDP for the router: %d", len(got))
	}
	var p packet.Parsed
	p.Decode(got[0].frame)
	if p.Proto != 6 || p.TCPFlags&packet.TCPRST == 0 || p.Src.Addr() != wanAddr {
		t.Errorf("TCP answer %x", got[0].frame)
	}
	p.Decode(got[1].frame)
	if p.ICMPType != 3 || p.ICMPCode != 3 || p.Src.Addr() != wanAddr {
		t.Errorf("UDP answer %x", got[1].frame)
	}
}

func r0LL() netip.Addr { return LinkLocal(lanMAC) }

func TestDropped(t *testing.T) {
	r, f, _ := resolved(t, nil)
	var out recorder
	for _, c := range []struct {
		name string
		pkt  []byte
		in   datapath.Side
		ev   Event
		icmp bool
	}{
		{"another host's frame", ipFrame(t, clientMAC, otherMAC, client, web, 64, true, udp(1, 2, 3)...), datapath.LAN, EventOtherHost, false},
		{"source is the router", ipFrame(t, clientMAC, lanMAC, lanAddr, web, 64, true, udp(1, 2, 3)...), datapath.LAN, EventMartian, false},
		{"loopback destination", ipFrame(t, clientMAC, lanMAC, client, netip.MustParseAddr("127.0.0.1"), 64, true, udp(1, 2, 3)...), datapath.LAN, EventMartian, false},
		{"subnet broadcast", ipFrame(t, clientMAC, lanMAC, client, netip.MustParseAddr("203.0.113.255"), 64, true, udp(1, 2, 3)...), datapath.LAN, EventMartian, false},
		{"multicast", ipFrame(t, clientMAC, [6]byte{1, 0, 0x5e, 0, 0, 0xfb}, client, netip.MustParseAddr("224.0.0.251"), 1, true, udp(5353, 5353, 3)...), datapath.LAN, EventLinkLocal, false},
		{"link-local source", ipFrame(t, clientMAC, lanMAC, netip.MustParseAddr("fe80::11"), web6, 64, false, udp(1, 2, 3)...), datapath.LAN, EventLinkLocal, false},
		{"no IPv6 default route", ipFrame(t, clientMAC, lanMAC, client6, netip.MustParseAddr("2001:db8:99::1"), 64, false, udp(1, 2, 3)...), datapath.LAN, EventNoRoute, true},
		{"back out of lan", ipFrame(t, clientMAC, lanMAC, netip.MustParseAddr("10.10.0.12"), client, 64, true, udp(1, 2, 3)...), datapath.LAN, EventSameSide, false},
	} {
		before := r.Count(c.ev)
		step(t, f, c.pkt, c.in, &out)
		got := out.take()
		if r.Count(c.ev) != before+1 {
			t.Errorf("%s: %s not counted (%v)", c.name, c.ev, r.Counts())
		}
		if c.icmp != (len(got) == 1) || len(got) > 1 {
			t.Errorf("%s: sent %v", c.name, got)
		}
	}
}

func TestNeighbourDiscovery(t *testing.T) {
	r, _ := newTestRouter(t, nil)
	f := r.NewForwarder()
	var out recorder
	// A solicitation for the router's lan address is answered.
	ns := packet.AppendNeighborSolicitation(nil, clientMAC, client6, lanAddr6, packet.MulticastMAC(packet.SolicitedNode(lanAddr6)), packet.SolicitedNode(lanAddr6))
	step(t, f, ns, datapath.LAN, &out)
	got := out.take()
	want := packet.AppendNeighborAdvertisement(nil, lanMAC, lanAddr6, packet.NARouter|packet.NASolicited|packet.NAOverride, clientMAC, client6)
	if len(got) != 1 || got[0].to != datapath.LAN || !bytes.Equal(got[0].frame, want) {
		t.Fatalf("advertisement %x, want %x", got, want)
	}
	// One that crossed a router (hop limit below 255) is not.
	bad := bytes.Clone(ns)
	bad[14+7] = 64
	step(t, f, bad, datapath.LAN, &out)
	if got := out.take(); len(got) != 0 || r.Count(EventNDInvalid) != 1 {
		t.Fatalf("answered a solicitation with hop limit 64: %v", got)
	}
	// A packet to web6 waits for the router's solicitation to be answered.
	pkt := ipFrame(t, clientMAC, lanMAC, client6, web6, 64, false, tcpSYN(40000, 443, 0)...)
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventQueued {
		t.Fatalf("IPv6 packet: %s", ev)
	}
	got = out.take()
	g := packet.SolicitedNode(web6)
	wantNS := packet.AppendNeighborSolicitation(nil, wanMAC, wanAddr6, web6, packet.MulticastMAC(g), g)
	if len(got) != 1 || !bytes.Equal(got[0].frame, wantNS) {
		t.Fatalf("solicitation %x, want %x", got, wantNS)
	}
	// An unsolicited advertisement changes nothing; the solicited one
	// releases the packet.
	step(t, f, packet.AppendNeighborAdvertisement(nil, otherMAC, web6, packet.NAOverride, packet.MulticastMAC(packet.AllNodes), packet.AllNodes), datapath.WAN, &out)
	if got := out.take(); len(got) != 0 {
		t.Fatalf("an unsolicited advertisement released %v", got)
	}
	step(t, f, packet.AppendNeighborAdvertisement(nil, webMAC, web6, packet.NASolicited|packet.NAOverride, wanMAC, wanAddr6), datapath.WAN, &out)
	got = out.take()
	if len(got) != 1 || !bytes.Equal(got[0].frame, wantFrame(t, pkt, webMAC, wanMAC)) {
		t.Fatalf("after the advertisement: %v", got)
	}
}

// TestReroute: a pipeline that rewrites the destination (NAT) gets the
// route of the new one.
func TestReroute(t *testing.T) {
	_, f, _ := resolved(t, nil)
	var out recorder
	frame := ipFrame(t, webMAC, wanMAC, web, wanAddr, 64, true, tcpSYN(4000, 2222, 0)...)
	var p packet.Parsed
	p.Decode(frame)
	h, ok := f.r.Route(netip.MustParseAddr("198.51.100.1"))
	if !ok || h.Out != datapath.WAN || h.NextHop != up {
		t.Fatalf("route of 198.51.100.1: %+v", h)
	}
	// As a port forward to 10.10.0.11 would: the destination rewritten
	// (checksums are NAT's business).
	copy(p.Buf[14+16:], client.AsSlice())
	p.Dst = netip.AddrPortFrom(client, 2222)
	if ev := f.Forward(&p, datapath.WAN, h, Frame{}, &out); ev != EventForwarded {
		t.Fatalf("rerouted: %s", ev)
	}
	got := out.take()
	if len(got) != 1 || got[0].to != datapath.LAN || !bytes.Equal(got[0].frame[0:6], clientMAC[:]) {
		t.Fatalf("sent %v", got)
	}
}

// TestBadSource holds table.badSource to what a lookup of the source in
// the table says: its own, broadcast, multicast and martian entries.
func TestBadSource(t *testing.T) {
	r, _ := newTestRouter(t, nil)
	addrs := []string{"0.0.0.0", "0.1.2.3", "10.10.0.0", "10.10.0.1", "10.10.0.11", "10.10.0.255", "127.0.0.1", "169.254.1.1",
		"198.51.100.66", "203.0.113.1", "203.0.113.255", "224.0.0.1", "239.1.1.1", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:10.10.0.11", "fe80::1", LinkLocal(lanMAC).String(), LinkLocal(wanMAC).String(), "fd00:10::1", "fd00:10::11",
		"2001:db8:113::1", "2001:db8:99::1", "ff02::1", "ff0e::1"}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		e, ok := r.table.lookup(a)
		want := ok && (e.kind == kindLocal || e.kind == kindMartian || e.kind == kindMulticast || e.kind == kindBroadcast)
		if got := r.table.badSource(a); got != want {
			t.Errorf("badSource(%s) = %v, the table says %v (%+v)", a, got, want, e)
		}
	}
}

func TestCheck(t *testing.T) {
	pf := netip.MustParsePrefix
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want []Problem
	}{
		{"good", func(*Config) {}, nil},
		{"no lan address", func(c *Config) { c.LAN.Addrs = nil }, []Problem{{Where{Kind: WhereAddrs, Side: datapath.LAN}, "router mode needs addresses on lan (addresses.lan)"}}},
		{"network address", func(c *Config) { c.LAN.Addrs[0] = pf("10.10.0.0/24") }, []Problem{{Where{Kind: WhereAddr, Side: datapath.LAN}, "10.10.0.0 is the network address of 10.10.0.0/24"}}},
		{"overlap", func(c *Config) { c.WAN.Addrs[0] = pf("10.10.0.2/16") }, []Problem{{Where{Kind: WhereAddr, Side: datapath.WAN}, "prefix 10.10.0.0/16 overlaps 10.10.0.0/24 of lan: the two sides need prefixes of their own"}}},
		{"loopback", func(c *Config) { c.WAN.Addrs[0] = pf("127.0.0.2/8") }, []Problem{{Where{Kind: WhereAddr, Side: datapath.WAN}, "127.0.0.2 lies in 127.0.0.0/8, which is never routed"}}},
		{"via off-link", func(c *Config) { c.Routes[0].Via = netip.MustParseAddr("192.0.2.1") }, []Problem{{Where{Kind: WhereRouteVia}, "next hop 192.0.2.1 is in no connected prefix (lan: 10.10.0.0/24, fd00:10::/64; wan: 203.0.113.0/24, 2001:db8:113::/64)"}}},
		{"via family", func(c *Config) { c.Routes[0].Via = netip.MustParseAddr("2001:db8:113::fe") }, []Problem{{Where{Kind: WhereRouteVia}, "next hop 2001:db8:113::fe is not of the family of 0.0.0.0/0"}}},
		{"host bits", func(c *Config) { c.Routes[0].To = pf("198.51.100.1/24") }, []Problem{{Where{Kind: WhereRouteTo}, "destination 198.51.100.1/24 has host bits set (did you mean 198.51.100.0/24?)"}}},
		{"via self", func(c *Config) { c.Routes[0].Via = wanAddr }, []Problem{{Where{Kind: WhereRouteVia}, "next hop 203.0.113.1 is the router's own address on wan"}}},
		{"duplicate", func(c *Config) { c.Routes = append(c.Routes, Route{To: pf("0.0.0.0/0"), Via: up}) }, []Problem{{Where{Kind: WhereRouteTo, Index: 1}, "a second route to 0.0.0.0/0 (the first is routes[0])"}}},
	} {
		cfg := testConfig()
		c.mod(&cfg)
		got := Check(&cfg)
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %+v, want %+v", c.name, got[i], c.want[i])
			}
		}
	}
}

func TestForwardAllocatesNothing(t *testing.T) {
	_, f, _ := resolved(t, nil)
	frame := ipFrame(t, clientMAC, lanMAC, client, web, 64, true, tcpSYN(40000, 80, 0)...)
	var out discard
	var p packet.Parsed
	orig := bytes.Clone(frame)
	allocs := testing.AllocsPerRun(1000, func() {
		copy(frame, orig)
		p.Decode(frame)
		h, ok := f.Ingress(&p, datapath.LAN, out)
		if !ok {
			t.Fatalf("not routed: %v", f.r.Counts())
		}
		if ev := f.Forward(&p, datapath.LAN, h, Frame{}, out); ev != EventForwarded {
			t.Fatalf("not forwarded: %s", ev)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per routed packet", allocs)
	}
}

type discard struct{}

func (discard) Send(datapath.Side, []byte) error { return nil }

// BenchmarkRouted is the routed per-packet path without the gateway's
// pipeline: decode, Ingress (link-layer checks, route lookup), Forward
// (TTL and checksum, neighbour lookup, Ethernet rewrite).
func BenchmarkRouted(b *testing.B) {
	for _, c := range []struct {
		name     string
		src, dst netip.Addr
	}{{"v4-connected", client, web}, {"v4-default", client, far}, {"v6", client6, web6}} {
		b.Run(c.name, func(b *testing.B) {
			_, f, _ := resolved(b, nil)
			frame := ipFrame(b, clientMAC, lanMAC, c.src, c.dst, 64, true, tcpSYN(40000, 80, 0)...)
			ttl := 14 + 8
			if c.src.Is6() {
				ttl = 14 + 7
			}
			var out discard
			var p packet.Parsed
			b.ReportAllocs()
			orig := bytes.Clone(frame)
			defer benchcpu.Start(b)()
			for b.Loop() {
				copy(frame[:12], orig)
				frame[ttl] = 64
				p.Decode(frame)
				h, ok := f.Ingress(&p, datapath.LAN, out)
				if !ok || f.Forward(&p, datapath.LAN, h, Frame{}, out) != EventForwarded {
					b.Fatal("not forwarded")
				}
			}
		})
	}
}

// FuzzRouter feeds arbitrary frames through Ingress and, when routed,
// Forward, from either side: nothing may panic, and whatever the router
// sends must be a frame that decodes.
func FuzzRouter(f *testing.F) {
	f.Add(ipFrame(f, clientMAC, lanMAC, client, web, 64, true, tcpSYN(40000, 80, 0)...), false)
	f.Add(ipFrame(f, clientMAC, lanMAC, client6, web6, 1, false, udp(1, 2, 3)...), false)
	f.Add(arpFrame(clientMAC, packet.BroadcastMAC, packet.ARPRequest, clientMAC, client, [6]byte{}, lanAddr), false)
	f.Add(arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr), true)
	f.Add(packet.AppendNeighborSolicitation(nil, clientMAC, client6, lanAddr6, packet.MulticastMAC(packet.SolicitedNode(lanAddr6)), packet.SolicitedNode(lanAddr6)), false)
	f.Add(ipFrame(f, webMAC, wanMAC, web, wanAddr, 64, false, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload("x")), true)
	r, clk := newTestRouter(f, func(c *Config) { c.WAN.MTU = 1280 })
	learn(f, r, clk, datapath.WAN, web, webMAC)
	fw := r.NewForwarder()
	f.Fuzz(func(t *testing.T, frame []byte, fromWAN bool) {
		in := datapath.LAN
		if fromWAN {
			in = datapath.WAN
		}
		var out recorder
		var p packet.Parsed
		p.Decode(bytes.Clone(frame))
		if h, ok := fw.Ingress(&p, in, &out); ok && h.Local {
			fw.Deliver(&p, in, &out)
		} else if ok && p.Invalid == packet.Valid && !p.IsFragment {
			fw.Forward(&p, in, h, Frame{}, &out)
		}
		for _, s := range out.take() {
			var q packet.Parsed
			q.Decode(s.frame)
			if q.Invalid != packet.Valid {
				t.Fatalf("sent a frame that does not decode (%v): %x", q.Invalid, s.frame)
			}
		}
	})
}

// TestRefragmentIPv6: an IPv6 datagram its source fragmented, which the
// gateway reassembled (Frame.Refragment), leaves cut as the source cut it
// when those fragments fit the link, with the source's identification and
// the hop limit one less; fragments that did not fit get packet too big,
// as they would have.
func TestRefragmentIPv6(t *testing.T) {
	_, f, _ := resolved(t, func(c *Config) { c.WAN.MTU = 1400 })
	var out recorder
	big6 := ipFrame(t, clientMAC, lanMAC, client6, web6, 64, false, udp(5000, 5001, 3000)...)
	fwd := func(fr Frame) Event {
		var p packet.Parsed
		p.Decode(bytes.Clone(big6))
		h, ok := f.Ingress(&p, datapath.LAN, &out)
		if !ok {
			t.Fatal("not routed")
		}
		return f.Forward(&p, datapath.LAN, h, fr, &out)
	}
	if ev := fwd(Frame{Refragment: 1280, FragmentID: 0xfeed}); ev != EventFragmented {
		t.Fatalf("refragmented: %s", ev)
	}
	got := out.take()
	var payload []byte
	for i, g := range got {
		ip := g.frame[14:]
		if len(ip) > 1280 || g.to != datapath.WAN || !bytes.Equal(g.frame[0:6], webMAC[:]) || ip[7] != 63 || ip[6] != byte(ipproto.Fragment) {
			t.Fatalf("fragment %d: %x", i, g.frame[:14+48])
		}
		fh := ip[40:48]
		if fh[0] != byte(ipproto.UDP) || binary.BigEndian.Uint32(fh[4:]) != 0xfeed {
			t.Fatalf("fragment %d: Fragment header %x", i, fh)
		}
		off, more := int(binary.BigEndian.Uint16(fh[2:])&^7), fh[3]&1 == 1
		if off != len(payload) || more != (i < len(got)-1) {
			t.Fatalf("fragment %d at %d (more %v), want %d", i, off, more, len(payload))
		}
		payload = append(payload, ip[48:40+binary.BigEndian.Uint16(ip[4:])]...)
	}
	if len(got) != 3 || !bytes.Equal(payload, big6[14+40:]) {
		t.Fatalf("%d fragments; reassembled payload equal: %v", len(got), bytes.Equal(payload, big6[14+40:]))
	}
	// The source's fragments were larger than the link: packet too big.
	if ev := fwd(Frame{Refragment: 1500, FragmentID: 0xfeed}); ev != EventTooBig {
		t.Fatalf("fragments over the link: %s", ev)
	}
	if got := out.take(); len(got) != 1 || binary.BigEndian.Uint32(got[0].frame[14+40+4:]) != 1400 {
		t.Fatalf("packet too big: %v", got)
	}
	// Not fragmented by its source: packet too big, as ever.
	if ev := fwd(Frame{}); ev != EventTooBig {
		t.Fatalf("unfragmented: %s", ev)
	}
	out.take()
}
