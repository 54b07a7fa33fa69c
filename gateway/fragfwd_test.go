package gateway

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/router"
)

// The tests here are of gateway.fragments.forward: reassembled
// (Config.FragmentForward): what leaves for a fragmented datagram that
// passes is the datagram judged, whole or cut again, never its original
// fragments.

// newReassemblingEngine is the test policy's bridge with reassembled
// forwarding, the overlap policy pol and the links' MTUs mtu.
func newReassemblingEngine(t *testing.T, pol defrag.Policy, mtu [2]int) *Engine {
	t.Helper()
	e, err := New(mustPolicy(t, testPolicy), Config{
		Clock:           clock.NewFake(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)),
		Fragments:       defrag.Config{Policies: defrag.NewHostPolicies(pol)},
		FragmentForward: ForwardReassembled,
		MTU:             mtu,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reassemble puts frames together with a defragmenter under pol and
// returns the reassembled frame, or nil when they do not make one.
func reassemble(t *testing.T, pol defrag.Policy, frames [][]byte) []byte {
	t.Helper()
	d, err := defrag.New(defrag.Config{Policies: defrag.NewHostPolicies(pol)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	for _, f := range frames {
		r := d.Add(f, 14, 0, now)
		if r.Status == defrag.Complete {
			b, err := r.Datagram.AppendPacket(nil)
			d.Release(r.Datagram)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	return nil
}

// validFragments checks that every frame is an IP fragment with a right
// IPv4 header checksum, no larger than mtu bytes of IP packet, and
// returns their reassembly, whose transport checksum must be right too.
func validFragments(t *testing.T, frames [][]byte, mtu int) []byte {
	t.Helper()
	if len(frames) < 2 {
		t.Fatalf("%d frames, want fragments", len(frames))
	}
	for i, f := range frames {
		var p packet.Parsed
		p.Decode(f)
		if p.Invalid != packet.Valid || !p.IsFragment {
			t.Fatalf("frame %d: not a valid fragment (%v)", i, p.Err())
		}
		if p.CheckChecksums(false) != packet.ChecksumOK {
			t.Fatalf("frame %d: bad IPv4 header checksum", i)
		}
		if n := len(f) - 14; n > mtu {
			t.Fatalf("frame %d: %d bytes of IP, over the MTU %d", i, n, mtu)
		}
	}
	whole := reassemble(t, defrag.Drop, frames)
	if whole == nil {
		t.Fatal("the fragments do not reassemble")
	}
	var p packet.Parsed
	p.Decode(whole)
	if p.Invalid != packet.Valid || p.CheckChecksums(true) != packet.ChecksumOK {
		t.Fatalf("reassembled: invalid or bad checksum (%v)", p.Err())
	}
	return whole
}

// TestReassembledOverlapsLeaveOnce: overlapping fragments of a datagram
// from the inside leave as one datagram, the bytes the overlap policy
// chose, whatever the host behind would have chosen. The overlapping
// bytes differ by two 16-bit words swapped, so that either choice keeps
// the UDP checksum right and passes.
func TestReassembledOverlapsLeaveOnce(t *testing.T) {
	orig := udpFrame(t, client, web, 64, false) // 72 bytes of IP payload
	frags := fragment4(t, orig, 0x1234, 48)     // [0,48) MF, [48,72)
	// Over [24,48): the same bytes with the words at 24 and 26 swapped.
	over := fragment4(t, orig, 0x1234, 24)[1] // [24,48) MF
	d := over[14+20:]
	copy(d[0:4], []byte{d[2], d[3], d[0], d[1]})
	// A Novak-like shape too: the overlap at the first fragment's offset.
	same := fragment4(t, orig, 0x1234, 24)[0] // [0,24) MF
	d = same[14+20:]
	copy(d[8:12], []byte{d[10], d[11], d[8], d[9]})
	for _, c := range []struct {
		name   string
		frames [][]byte
	}{
		{"overlap inside", [][]byte{frags[0], over, frags[1]}},
		{"overlap inside, later first", [][]byte{over, frags[1], frags[0]}},
		{"same offset", [][]byte{frags[0], same, frags[1]}},
		{"same offset, later first", [][]byte{same, frags[1], frags[0]}},
	} {
		got := map[defrag.Policy][]byte{}
		for _, pol := range []defrag.Policy{defrag.First, defrag.Last, defrag.BSD, defrag.BSDRight, defrag.Linux} {
			e := newReassemblingEngine(t, pol, [2]int{})
			_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, c.frames...)...)
			want := reassemble(t, pol, c.frames)
			if len(wan) != 1 || !bytes.Equal(wan[0], want) {
				t.Fatalf("%s, %v: %d frames out, want the one reassembly\n got %x\nwant %x", c.name, pol, len(wan), wan, want)
			}
			var p packet.Parsed
			p.Decode(wan[0])
			if p.IsFragment || p.CheckChecksums(true) != packet.ChecksumOK || binary.BigEndian.Uint16(wan[0][14+4:]) != 0x1234 {
				t.Fatalf("%s, %v: what left is a fragment, has a bad checksum or lost its identification", c.name, pol)
			}
			got[pol] = wan[0]
		}
		if bytes.Equal(got[defrag.First], got[defrag.Last]) {
			t.Fatalf("%s: first and last chose the same bytes: the overlap decides nothing", c.name)
		}
	}
	// Under the default policy (RFC 5722) nothing of them leaves.
	e, _ := newEngine(t, testPolicy)
	if lan, wan := bridge(t, e.NewWorker(), from(datapath.LAN, frags[0], over, frags[1])...); len(lan)+len(wan) != 0 {
		t.Fatalf("drop policy: %d frames left", len(lan)+len(wan))
	}
}

// TestReassembledBridgeWhole: a datagram that fits the link leaves whole,
// identification kept, DF as its first fragment had it, the IPv4 header
// checksum recomputed.
func TestReassembledBridgeWhole(t *testing.T) {
	orig := udpFrame(t, client, web, 1200, false)
	frags := fragment4(t, orig, 0x4242, 512)
	e := newReassemblingEngine(t, defrag.Drop, [2]int{})
	_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, frags...)...)
	want := bytes.Clone(orig)
	binary.BigEndian.PutUint16(want[14+4:], 0x4242)
	fixIPv4Checksum(want)
	if len(wan) != 1 || !bytes.Equal(wan[0], want) {
		t.Fatalf("%d frames out %x\nwant the whole datagram %x", len(wan), wan, want)
	}
}

// TestReassembledBridgeRefragmented: a datagram larger than the link it
// leaves by is cut to its MTU, IPv4 as a router cuts it; IPv6 is cut as
// its source cut it, never larger, with the source's identification.
func TestReassembledBridgeRefragmented(t *testing.T) {
	t.Run("ipv4", func(t *testing.T) {
		orig := udpFrame(t, client, web, 3000, false)
		frags := fragment4(t, orig, 0x4243, 1480)
		e := newReassemblingEngine(t, defrag.Drop, [2]int{datapath.WAN: 1000})
		_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, frags...)...)
		whole := validFragments(t, wan, 1000)
		want := bytes.Clone(orig)
		binary.BigEndian.PutUint16(want[14+4:], 0x4243)
		fixIPv4Checksum(want)
		if !bytes.Equal(whole, want) {
			t.Fatalf("the fragments reassemble to %x\nwant %x", whole, want)
		}
		sameFrames(t, "cut to 1000", wan, fragment4(t, want, 0x4243, 976))
	})
	t.Run("ipv6", func(t *testing.T) {
		orig := udpFrame(t, "[fd00:10::11]:40000", "[2001:db8::80]:53", 3000, false)
		for _, c := range []struct {
			name string
			size int // the source's fragments' payload
			mtu  int // the link's
			cut  int // the fragments' payload out
		}{
			{"as the source cut it", 1400, 0, 1400},
			{"at most the link's MTU", 1400, 1280, 1232},
			{"never below the minimum MTU", 256, 0, 1232},
		} {
			frags := fragment6(t, orig, 0xfeed, c.size)
			e := newReassemblingEngine(t, defrag.Drop, [2]int{datapath.WAN: c.mtu})
			_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, frags...)...)
			if whole := validFragments(t, wan, max(c.mtu, 1280, c.size+48)); !bytes.Equal(whole, orig) {
				t.Fatalf("%s: the fragments reassemble to %x\nwant %x", c.name, whole, orig)
			}
			sameFrames(t, c.name, wan, fragment6(t, orig, 0xfeed, c.cut))
		}
	})
}

// TestReassembledBridgeUncuttable: a link whose MTU is below what the
// datagram's IP version may be cut to (IPv6 on a 1,000-byte link) gets
// the original fragments, which the sender sized: delivered as in
// original mode, not lost.
func TestReassembledBridgeUncuttable(t *testing.T) {
	orig := udpFrame(t, "[fd00:10::11]:40000", "[2001:db8::80]:53", 3000, false)
	frags := fragment6(t, orig, 0xbeef, 256)
	e := newReassemblingEngine(t, defrag.Drop, [2]int{datapath.WAN: 1000})
	_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, frags...)...)
	sameFrames(t, "the original fragments", wan, frags)
}

// newReassemblingNAT is newRouterEngine's router translating the inside
// (10.10.0.0/24) to its wan address, with reassembled forwarding.
func newReassemblingNAT(t *testing.T) (*Engine, *router.Router) {
	t.Helper()
	r, clk := newTestRouter(t)
	tr, err := nat.New(nat.Config{
		Masquerade: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		Public:     []netip.Addr{netip.MustParseAddr("203.0.113.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(mustPolicy(t, testPolicy), Config{Clock: clk, Router: r, NAT: tr, FragmentForward: ForwardReassembled})
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}

// TestReassembledRouterNAT: in router mode a fragmented datagram from the
// inside is translated whole and leaves through the router, which cuts it
// to the wan link's MTU: the fragments carry the translated datagram,
// TTL one less, identification kept, every checksum right.
func TestReassembledRouterNAT(t *testing.T) {
	e, r := newReassemblingNAT(t)
	const id = 0x4244
	orig := routed(udpFrame(t, "10.10.0.11:5000", "203.0.113.80:53", 3000, false), clientMAC, gwLAN)
	frames := from(datapath.LAN, fragment4(t, orig, id, 1024)...)
	frames = append(frames, sided{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, netip.MustParseAddr("203.0.113.1")), datapath.WAN})
	_, wan := routeAll(t, e.NewWorker(), frames...)
	if len(wan) == 0 || !bytes.Equal(wan[0], arpRequest(gwWAN, netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.80"))) {
		t.Fatalf("no ARP request first: %x", wan)
	}
	wan = wan[1:]
	want := udpFrame(t, "203.0.113.1:5000", "203.0.113.80:53", 3000, false)
	binary.BigEndian.PutUint16(want[14+4:], id)
	want = hopped(want, gwWAN, webMAC)
	if whole := validFragments(t, wan, 1500); !bytes.Equal(whole, want) {
		t.Fatalf("the fragments reassemble to %x\nwant the translated datagram %x", whole, want)
	}
	sameFrames(t, "translated and cut to 1500", wan, fragment4(t, want, id, 1480))
	if n := r.Count(router.EventFragmented); n != 1 {
		t.Errorf("router counted %d datagrams fragmented, want 1", n)
	}
}

// TestReassembledRouterIPv6: in router mode a fragmented IPv6 datagram,
// which no router may cut, leaves cut again as its source cut it (with
// its identification and the hop limit one less; no smaller than the
// IPv6 minimum MTU), not answered with packet too big although it is
// larger than the link.
func TestReassembledRouterIPv6(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC))
	gw6, web6 := netip.MustParseAddr("2001:db8:113::1"), netip.MustParseAddr("2001:db8:113::80")
	r, err := router.New(router.Config{
		LAN:   router.Interface{Name: "lan", MAC: gwLAN, MTU: 1500, Addrs: []netip.Prefix{netip.MustParsePrefix("fd00:10::1/64")}},
		WAN:   router.Interface{Name: "wan", MAC: gwWAN, MTU: 1500, Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8:113::1/64")}},
		Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(mustPolicy(t, testPolicy), Config{Clock: clk, Router: r, FragmentForward: ForwardReassembled})
	if err != nil {
		t.Fatal(err)
	}
	const id = 0xfeed
	orig := routed(udpFrame(t, "[fd00:10::11]:5000", "[2001:db8:113::80]:53", 3000, false), clientMAC, gwLAN)
	// Small fragments: they leave in fragments of the IPv6 minimum MTU,
	// as Linux cuts them (its frag_max_size raised to 1280).
	frames := from(datapath.LAN, fragment6(t, orig, id, 616)...)
	frames = append(frames, sided{packet.AppendNeighborAdvertisement(nil, webMAC, web6, packet.NASolicited|packet.NAOverride, gwWAN, gw6), datapath.WAN})
	_, wan := routeAll(t, e.NewWorker(), frames...)
	var p packet.Parsed
	if len(wan) > 0 {
		p.Decode(wan[0])
	}
	if p.ICMPType != 135 {
		t.Fatalf("no neighbour solicitation first: %x", wan)
	}
	wan = wan[1:]
	want := hopped(orig, gwWAN, webMAC)
	if whole := validFragments(t, wan, 1280); !bytes.Equal(whole, want) {
		t.Fatalf("the fragments reassemble to %x\nwant %x", whole, want)
	}
	sameFrames(t, "cut as the source cut it", wan, fragment6(t, want, id, 1232))
	if n := r.Count(router.EventTooBig); n != 0 {
		t.Errorf("router answered %d packets too big", n)
	}
}

// discard is a sender that drops what it is given.
type discard struct{ n int }

func (d *discard) Send(datapath.Side, []byte) error { d.n++; return nil }

// reassembledRun returns a function that hands frags, from the inside, to
// a Worker of e, and what they left as.
func reassembledRun(w *Worker, frags [][]byte, out *discard) func() {
	return func() {
		for _, f := range frags {
			decode(&w.p, f, nil)
			w.handle(f, nil, datapath.LAN, out)
		}
	}
}

// TestReassembledAllocatesNothing: reassembling, judging, translating
// and cutting again use the Worker's buffers only.
func TestReassembledAllocatesNothing(t *testing.T) {
	routerEngine, _ := newReassemblingNAT(t)
	for _, c := range []struct {
		name   string
		e      *Engine
		frags  [][]byte
		frames int // what leaves per datagram
	}{
		{"bridge ipv4 whole", newReassemblingEngine(t, defrag.Drop, [2]int{}), fragment4(t, udpFrame(t, client, web, 1200, false), 7, 512), 1},
		{"bridge ipv4 cut", newReassemblingEngine(t, defrag.Drop, [2]int{datapath.WAN: 1000}), fragment4(t, udpFrame(t, client, web, 3000, false), 7, 1480), 4},
		{"bridge ipv6 cut", newReassemblingEngine(t, defrag.Drop, [2]int{}), fragment6(t, udpFrame(t, "[fd00:10::11]:40000", "[2001:db8::80]:53", 3000, false), 7, 616), 3},
		{"router nat ipv4 cut", routerEngine, fragment4(t, routed(udpFrame(t, client, web, 3000, false), clientMAC, gwLAN), 7, 1024), 3},
	} {
		w := c.e.NewWorker()
		out := &discard{}
		run := reassembledRun(w, c.frags, out)
		if c.e == routerEngine {
			// The next hop resolved first: its answer comes on the wan.
			run()
			arp := arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, netip.MustParseAddr("203.0.113.1"))
			decode(&w.p, arp, nil)
			w.handle(arp, nil, datapath.WAN, out)
		}
		run()
		out.n = 0
		if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
			t.Errorf("%s: %.1f allocations per datagram", c.name, allocs)
		}
		if out.n != 101*c.frames {
			t.Errorf("%s: %d frames left for 101 datagrams, want %d each", c.name, out.n, c.frames)
		}
	}
}

// BenchmarkWorkerReassembled is a 3000-byte UDP datagram in two
// fragments, reassembled, judged and cut again for a 1500-byte link.
func BenchmarkWorkerReassembled(b *testing.B) {
	e, err := New(mustPolicy(b, testPolicy), Config{FragmentForward: ForwardReassembled})
	if err != nil {
		b.Fatal(err)
	}
	frags := fragment4(b, udpFrame(b, client, web, 2900, false), 7, 1480)
	w := e.NewWorker()
	run := reassembledRun(w, frags, &discard{})
	run()
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
}

// TestReassembledNormalised: in prevention mode the IDS normalises the
// reassembled segment (here its TCP reserved bits); forwarded as its
// original fragments the host never sees that, forwarded reassembled it
// does.
func TestReassembledNormalised(t *testing.T) {
	const id = 99
	data := tcpFrame(t, seg{client, web, "PA", 1001, 5001, 2000})
	data[14+20+12] |= 0x0e
	var p packet.Parsed
	p.Decode(data)
	p.FillChecksum()
	frags := fragment4(t, data, id, 1024)
	want := tcpFrame(t, seg{client, web, "PA", 1001, 5001, 2000})
	binary.BigEndian.PutUint16(want[14+4:], id)
	fixIPv4Checksum(want)
	for _, fwd := range []FragmentForward{ForwardOriginal, ForwardReassembled} {
		e, err := New(mustPolicy(t, testPolicy), Config{IDS: mustIDS(t, ids.Config{Mode: ids.Prevent}), FragmentForward: fwd})
		if err != nil {
			t.Fatal(err)
		}
		frames := []sided{
			{tcpFrame(t, seg{client, web, "S", 1000, 0, 0}), datapath.LAN},
			{tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), datapath.WAN},
			{tcpFrame(t, seg{client, web, "A", 1001, 5001, 0}), datapath.LAN},
		}
		frames = append(frames, from(datapath.LAN, frags...)...)
		_, wan := bridge(t, e.NewWorker(), frames...)
		if len(wan) < 2 {
			t.Fatalf("%v: %d frames forwarded", fwd, len(wan))
		}
		wan = wan[2:] // the SYN and the ACK
		if fwd == ForwardOriginal {
			sameFrames(t, "original fragments", wan, frags)
			continue
		}
		if whole := validFragments(t, wan, 1500); !bytes.Equal(whole, want) {
			t.Fatalf("reassembled: the fragments reassemble to %x\nwant the normalised segment %x", whole, want)
		}
		sameFrames(t, "normalised and cut", wan, fragment4(t, want, id, 1480))
		if n := gather(t, e)["rampart_ids_normalised_packets_total,tcp_reserved"]; n != 1 {
			t.Errorf("tcp_reserved normalised %v times, want 1", n)
		}
	}
}

// sllSource replays frames with a Linux cooked header, as captures on
// "any" have them, all from the inside.
type sllSource struct {
	frames [][]byte
	i      int
}

func (s *sllSource) Next() ([]byte, datapath.CaptureInfo, error) {
	if s.i >= len(s.frames) {
		return nil, datapath.CaptureInfo{}, errEOF
	}
	f := s.frames[s.i]
	s.i++
	return f, datapath.CaptureInfo{CaptureLength: len(f), Length: len(f), LinkType: datapath.LinkTypeLinuxSLL}, nil
}

// cooked replaces an Ethernet frame's header with a Linux cooked one.
func cooked(frame []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], frame[6:12])
	copy(h[14:], frame[12:14])
	return append(h, frame[14:]...)
}

// TestReassembledCookedCapture: offline (rampart inspect), a datagram cut
// again keeps the capture's link-layer header in every fragment.
func TestReassembledCookedCapture(t *testing.T) {
	orig := udpFrame(t, client, web, 3000, false)
	var in [][]byte
	for _, f := range fragment4(t, orig, 0x4245, 1480) {
		in = append(in, cooked(f))
	}
	e := newReassemblingEngine(t, defrag.Drop, [2]int{datapath.WAN: 1000})
	var wan [][]byte
	_, err := datapath.Replay(t.Context(), &sllSource{frames: in}, e.NewWorker(), datapath.ReplayConfig{
		Side: func([]byte, *datapath.CaptureInfo) datapath.Side { return datapath.LAN },
		LAN:  sinkFunc(func([]byte) error { t.Error("a frame back to the inside"); return nil }),
		WAN:  sinkFunc(func(b []byte) error { wan = append(wan, bytes.Clone(b)); return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(orig)
	binary.BigEndian.PutUint16(want[14+4:], 0x4245)
	fixIPv4Checksum(want)
	var wantCooked [][]byte
	for _, f := range fragment4(t, want, 0x4245, 976) {
		wantCooked = append(wantCooked, cooked(f))
	}
	sameFrames(t, "cooked fragments", wan, wantCooked)
}
