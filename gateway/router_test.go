package gateway

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/router"
)

var (
	gwLAN     = [6]byte{0x02, 0, 0, 0, 0x01, 0x01}
	gwWAN     = [6]byte{0x02, 0, 0, 0, 0x02, 0x01}
	clientMAC = [6]byte{0x02, 0, 0, 0, 0x01, 0x11}
	serverMAC = [6]byte{0x02, 0, 0, 0, 0x01, 0x20}
	webMAC    = [6]byte{0x02, 0, 0, 0, 0x02, 0x80}
	upMAC     = [6]byte{0x02, 0, 0, 0, 0x02, 0xfe}
)

// newRouterEngine is the test policy's engine in router mode: lan
// 10.10.0.1/24, wan 203.0.113.1/24, the rest of the world via
// 203.0.113.254.
func newRouterEngine(t testing.TB) *Engine {
	t.Helper()
	r, clk := newTestRouter(t)
	e, err := New(mustPolicy(t, testPolicy), Config{Clock: clk, Router: r})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newTestRouter is the router of newRouterEngine, on a fake clock.
func newTestRouter(t testing.TB) (*router.Router, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	r, err := router.New(router.Config{
		LAN:    router.Interface{Name: "lan", MAC: gwLAN, MTU: 1500, Addrs: []netip.Prefix{netip.MustParsePrefix("10.10.0.1/24")}},
		WAN:    router.Interface{Name: "wan", MAC: gwWAN, MTU: 1500, Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}},
		Routes: []router.Route{{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("203.0.113.254")}},
		Clock:  clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

// routed returns frame (from tcpFrame) sent from ethSrc to ethDst.
func routed(frame []byte, ethSrc, ethDst [6]byte) []byte {
	copy(frame[0:6], ethDst[:])
	copy(frame[6:12], ethSrc[:])
	return frame
}

// hopped is frame as the router sends it on: TTL one less (the header
// checksum computed afresh, to check the incremental update), Ethernet
// from the router's side to the next hop.
func hopped(frame []byte, ethSrc, ethDst [6]byte) []byte {
	b := routed(bytes.Clone(frame), ethSrc, ethDst)
	ip := b[14:]
	if ip[0]>>4 == 4 {
		b = b[:14+int(binary.BigEndian.Uint16(ip[2:]))]
		ip[8]--
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip[:20], 0))
	} else {
		b = b[:14+40+int(binary.BigEndian.Uint16(ip[4:]))]
		ip[7]--
	}
	return b
}

func arpReply(mac [6]byte, ip netip.Addr, gwMAC [6]byte, gwIP netip.Addr) []byte {
	return packet.AppendARP(nil, gwMAC, &packet.ARP{Op: packet.ARPReply, SenderHW: mac, SenderIP: ip, TargetHW: gwMAC, TargetIP: gwIP})
}

func arpRequest(gwMAC [6]byte, gwIP, target netip.Addr) []byte {
	return packet.AppendARP(nil, packet.BroadcastMAC, &packet.ARP{Op: packet.ARPRequest, SenderHW: gwMAC, SenderIP: gwIP, TargetIP: target})
}

// TestRouterMode runs the gateway's pipeline in router mode: connection
// tracking and the policy judge routed packets as they judge bridged
// ones, and what passes leaves through the router.
func TestRouterMode(t *testing.T) {
	e := newRouterEngine(t)
	w := e.NewWorker()
	gwLANIP, gwWANIP := netip.MustParseAddr("10.10.0.1"), netip.MustParseAddr("203.0.113.1")
	up := netip.MustParseAddr("203.0.113.254")

	syn := routed(tcpFrame(t, seg{client, web, "S", 1000, 0, 0}), clientMAC, gwLAN)
	synAck := routed(tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), webMAC, gwWAN)
	lan, wan := routeAll(t, w,
		sided{syn, datapath.LAN},
		sided{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, gwWANIP), datapath.WAN},
		sided{synAck, datapath.WAN},
		sided{arpReply(clientMAC, netip.MustParseAddr("10.10.0.11"), gwLAN, gwLANIP), datapath.LAN},
	)
	wantWAN := [][]byte{arpRequest(gwWAN, gwWANIP, netip.MustParseAddr("203.0.113.80")), hopped(syn, gwWAN, webMAC)}
	wantLAN := [][]byte{arpRequest(gwLAN, gwLANIP, netip.MustParseAddr("10.10.0.11")), hopped(synAck, gwLAN, clientMAC)}
	if !equalFrames(wan, wantWAN) || !equalFrames(lan, wantLAN) {
		t.Fatalf("handshake routed:\nwan %x\nwant %x\nlan %x\nwant %x", wan, wantWAN, lan, wantLAN)
	}

	// The policy denies incoming telnet: nothing reaches lan, not even a
	// request for the server's address. It allows ssh, whose SYN makes
	// the router ask for 10.10.0.20.
	telnet := routed(tcpFrame(t, seg{remote, "10.10.0.20:23", "S", 77, 0, 0}), upMAC, gwWAN)
	ssh := routed(tcpFrame(t, seg{remote, server, "S", 77, 0, 0}), upMAC, gwWAN)
	lan, wan = routeAll(t, w, sided{telnet, datapath.WAN}, sided{ssh, datapath.WAN})
	if len(wan) != 0 || !equalFrames(lan, [][]byte{arpRequest(gwLAN, gwLANIP, netip.MustParseAddr("10.10.0.20"))}) {
		t.Fatalf("telnet and ssh in: lan %x, wan %x", lan, wan)
	}
	lan, _ = routeAll(t, w, sided{arpReply(serverMAC, netip.MustParseAddr("10.10.0.20"), gwLAN, gwLANIP), datapath.LAN})
	if !equalFrames(lan, [][]byte{hopped(ssh, gwLAN, serverMAC)}) {
		t.Fatalf("ssh SYN after the server's answer: %x", lan)
	}

	// A reject rule answers from the destination's name, back to the
	// neighbour the packet came from.
	rej := routed(tcpFrame(t, seg{remote, "10.10.0.20:8080", "S", 9, 0, 0}), upMAC, gwWAN)
	_, wan = routeAll(t, w, sided{rej, datapath.WAN})
	var p packet.Parsed
	if len(wan) == 1 {
		p.Decode(wan[0])
	}
	if len(wan) != 1 || p.TCPFlags&packet.TCPRST == 0 || p.EthDst != upMAC || p.EthSrc != gwWAN || p.Src.Addr() != netip.MustParseAddr("10.10.0.20") {
		t.Fatalf("reject: %x", wan)
	}

	// TTL runs out: an outgoing packet the policy allows gets time
	// exceeded from the router's lan address; an incoming one the policy
	// denies gets nothing.
	out := routed(tcpFrame(t, seg{client, "203.0.113.80:443", "S", 1, 0, 0}), clientMAC, gwLAN)
	out[14+8] = 1
	fixIPv4Checksum(out)
	in := routed(tcpFrame(t, seg{remote, "10.10.0.20:23", "S", 1, 0, 0}), upMAC, gwWAN)
	in[14+8] = 1
	fixIPv4Checksum(in)
	lan, wan = routeAll(t, w, sided{out, datapath.LAN}, sided{in, datapath.WAN})
	if len(lan) == 1 {
		p.Decode(lan[0])
	}
	if len(wan) != 0 || len(lan) != 1 || p.ICMPType != 11 || p.Src.Addr() != gwLANIP || p.EthDst != clientMAC {
		t.Fatalf("TTL 1: lan %x, wan %x", lan, wan)
	}
	if n := e.Router().Count(router.EventTTLExceeded); n != 1 {
		t.Errorf("ttl_exceeded %d", n)
	}
	if got := e.Counts()["drop/default"]; got != 2 {
		t.Errorf("drop/default %d, want 2 (telnet twice): %v", got, e.Counts())
	}
	_ = up
}

// routeAll runs copies of frames through w (the router rewrites what it
// forwards in place) and returns what left by each port.
func routeAll(t *testing.T, w *Worker, frames ...sided) (lan, wan [][]byte) {
	t.Helper()
	cp := make([]sided, len(frames))
	for i, f := range frames {
		cp[i] = sided{bytes.Clone(f.frame), f.in}
	}
	return bridge(t, w, cp...)
}

func fixIPv4Checksum(frame []byte) {
	ip := frame[14:]
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip[:int(ip[0]&0xf)*4], 0))
}

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestRouterModeFragments: a fragmented datagram is judged whole and its
// fragments are routed one by one, each with its TTL decremented.
func TestRouterModeFragments(t *testing.T) {
	e := newRouterEngine(t)
	w := e.NewWorker()
	whole := routed(udpFrame(t, client, web, 3000, false), clientMAC, gwLAN)
	frags := fragment4(t, whole, 0x4242, 1480)
	frames := []sided{{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, netip.MustParseAddr("203.0.113.1")), datapath.WAN}}
	frames = append(frames, from(datapath.LAN, frags...)...)
	// The cache learns only answers to its own requests: the reply before
	// any request is ignored, and the fragments wait for the answer.
	frames = append(frames, sided{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, netip.MustParseAddr("203.0.113.1")), datapath.WAN})
	_, wan := routeAll(t, w, frames...)
	want := [][]byte{arpRequest(gwWAN, netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.80"))}
	for _, f := range frags {
		want = append(want, hopped(f, gwWAN, webMAC))
	}
	if !equalFrames(wan, want) {
		t.Fatalf("fragments routed: %d frames %x\nwant %d %x", len(wan), wan, len(want), want)
	}
}

// BenchmarkWorkerRouted is BenchmarkWorkerEstablished in router mode: the
// whole per-packet path of an established connection's packet, routed.
func BenchmarkWorkerRouted(b *testing.B) {
	e := newRouterEngine(b)
	w := e.NewWorker()
	var out datapath.Sender // no ports: sends go nowhere
	ci := datapath.CaptureInfo{LinkType: datapath.LinkTypeEthernet}
	hs := []sided{
		{routed(tcpFrame(b, seg{client, web, "S", 1000, 0, 0}), clientMAC, gwLAN), datapath.LAN},
		{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, netip.MustParseAddr("203.0.113.1")), datapath.WAN},
		{routed(tcpFrame(b, seg{web, client, "SA", 5000, 1001, 0}), webMAC, gwWAN), datapath.WAN},
		{arpReply(clientMAC, netip.MustParseAddr("10.10.0.11"), gwLAN, netip.MustParseAddr("10.10.0.1")), datapath.LAN},
		{routed(tcpFrame(b, seg{client, web, "A", 1001, 5001, 0}), clientMAC, gwLAN), datapath.LAN},
	}
	for _, s := range hs {
		w.Handle(s.frame, &ci, s.in, &out)
	}
	// A bare ACK, as BenchmarkWorkerEstablished sends: the difference is
	// what routing costs.
	data := routed(tcpFrame(b, seg{client, web, "A", 1001, 5001, 0}), clientMAC, gwLAN)
	orig := bytes.Clone(data)
	fwd := e.Router().Count(router.EventForwarded)
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		copy(data, orig)
		w.Handle(data, &ci, datapath.LAN, &out)
	}
	if e.Router().Count(router.EventForwarded)-fwd < uint64(b.N) {
		b.Fatalf("forwarded %d of %d", e.Router().Count(router.EventForwarded)-fwd, b.N)
	}
}
