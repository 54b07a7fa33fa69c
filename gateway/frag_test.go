package gateway

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// The tests here run crafted frames through a Worker with datapath.Replay,
// the path of `rampart inspect` and of the live bridge, and assert on the
// frames that come out of each port.

// sided is a frame and the port it arrives on.
type sided struct {
	frame []byte
	in    datapath.Side
}

type sidedSource struct {
	frames []sided
	i      int
}

func (s *sidedSource) Next() ([]byte, datapath.CaptureInfo, error) {
	if s.i >= len(s.frames) {
		return nil, datapath.CaptureInfo{}, errEOF
	}
	f := s.frames[s.i]
	s.i++
	return f.frame, datapath.CaptureInfo{CaptureLength: len(f.frame), Length: len(f.frame), LinkType: datapath.LinkTypeEthernet, InterfaceIndex: int(f.in)}, nil
}

// bridge runs frames through w and returns what left by each port.
func bridge(t *testing.T, w *Worker, frames ...sided) (lan, wan [][]byte) {
	t.Helper()
	_, err := datapath.Replay(t.Context(), &sidedSource{frames: frames}, w, datapath.ReplayConfig{
		Side: func(_ []byte, ci *datapath.CaptureInfo) datapath.Side { return datapath.Side(ci.InterfaceIndex) },
		LAN:  sinkFunc(func(b []byte) error { lan = append(lan, append([]byte(nil), b...)); return nil }),
		WAN:  sinkFunc(func(b []byte) error { wan = append(wan, append([]byte(nil), b...)); return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	return lan, wan
}

func from(in datapath.Side, frames ...[]byte) []sided {
	var out []sided
	for _, f := range frames {
		out = append(out, sided{f, in})
	}
	return out
}

// fragment4 splits an Ethernet/IPv4 frame into fragments carrying size
// bytes of the IP payload each (the last one the rest), with
// identification id.
func fragment4(t testing.TB, frame []byte, id uint16, size int) [][]byte {
	t.Helper()
	if size%8 != 0 {
		t.Fatal("fragment size not a multiple of 8")
	}
	ihl := int(frame[14]&0x0f) * 4
	hdr, payload := frame[:14+ihl], frame[14+ihl:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append(append([]byte(nil), hdr...), payload[off:end]...)
		ip := f[14:]
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl+end-off))
		binary.BigEndian.PutUint16(ip[4:], id)
		ff := uint16(off / 8)
		if end < len(payload) {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], ff)
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip[:ihl], 0))
		out = append(out, f)
	}
	return out
}

// fragment6 splits an Ethernet/IPv6 frame (no extension header that must
// stay unfragmentable) into fragments of size bytes of its payload, with
// a Fragment header whose next header is the original first one.
func fragment6(t *testing.T, frame []byte, id uint32, size int) [][]byte {
	t.Helper()
	hdr, payload := frame[:14+40], frame[14+40:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append([]byte(nil), hdr...)
		f[14+6] = byte(ipproto.Fragment)
		fo := uint16(off)
		if end < len(payload) {
			fo |= 1
		}
		fh := make([]byte, 8)
		fh[0] = frame[14+6]
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		f = append(append(f, fh...), payload[off:end]...)
		binary.BigEndian.PutUint16(f[14+4:], uint16(len(f)-14-40))
		out = append(out, f)
	}
	return out
}

// udpFrame builds an Ethernet frame with a UDP datagram of n payload
// bytes (a counting pattern) from src to dst; for IPv6, destOpts puts an
// 8-byte Destination Options header before the UDP header.
func udpFrame(t testing.TB, src, dst string, n int, destOpts bool) []byte {
	t.Helper()
	udp := make([]byte, 8+n)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n))
	for i := range n {
		udp[8+i] = byte(i)
	}
	var ext []byte
	if destOpts {
		ext = []byte{byte(ipproto.UDP), 0, 1, 4, 0, 0, 0, 0} // PadN
	}
	return ipFrame(t, src, dst, ipproto.UDP, 64, ipproto.DestOpts, ext, udp)
}

func sameFrames(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: frame %d differs from the original fragment", what, i)
		}
	}
}

// TestFragmentedSegmentTracked (issue 15, item 2): a TCP segment sent as
// IPv4 fragments is tracked with its whole length: its fragments pass
// unchanged and in order, the server's ACK for the whole segment passes,
// and the connection lives on.
func TestFragmentedSegmentTracked(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	_, wan := bridge(t, w, from(datapath.LAN, tcpFrame(t, seg{client, web, "S", 1000, 0, 0}))...)
	lan, _ := bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}))...)
	if len(wan) != 1 || len(lan) != 1 {
		t.Fatal("handshake did not pass")
	}
	bridge(t, w, from(datapath.LAN, tcpFrame(t, seg{client, web, "A", 1001, 5001, 0}))...)
	// 3,000 bytes of data in fragments of 1,480.
	frags := fragment4(t, tcpFrame(t, seg{client, web, "PA", 1001, 5001, 3000}), 4242, 1480)
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	_, wan = bridge(t, w, from(datapath.LAN, frags...)...)
	sameFrames(t, "fragments forwarded", wan, frags)
	lan, _ = bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{web, client, "A", 5001, 4001, 0}))...)
	if len(lan) != 1 {
		t.Fatalf("the server's ACK for the whole segment was dropped (%v)", e.Counts())
	}
	_, wan = bridge(t, w, from(datapath.LAN, tcpFrame(t, seg{client, web, "PA", 4001, 5001, 100}))...)
	if len(wan) != 1 {
		t.Fatalf("the connection died after the fragmented segment (%v)", e.Counts())
	}
	// Data in later fragments is window-checked too: a fragmented segment
	// far outside the window goes nowhere, none of its fragments.
	bad := fragment4(t, tcpFrame(t, seg{client, web, "PA", 4101 + 1<<30, 5001, 3000}), 4243, 1480)
	if _, wan = bridge(t, w, from(datapath.LAN, bad...)...); len(wan) != 0 {
		t.Fatalf("%d fragments of an out-of-window segment forwarded", len(wan))
	}
}

// TestOverlappingFragmentsDropped (issue 15, item 3): an IPv6 first
// fragment to an allowed port, then a fragment that overlaps it with a TCP
// header to a denied port; a host that accepts overlaps would reassemble
// the second. Nothing passes, in either order.
func TestOverlappingFragmentsDropped(t *testing.T) {
	const pol = "default deny incoming\ndefault allow outgoing\nallow proto tcp from any to any port 80\n"
	attacker, target := netip.MustParseAddr("2001:db8:66::1"), netip.MustParseAddr("fd00:10::80")
	tcpHdr := func(dport uint16) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], 40000)
		binary.BigEndian.PutUint16(h[2:], dport)
		binary.BigEndian.PutUint32(h[4:], 1)
		h[12], h[13] = 5<<4, byte(packet.TCPSYN)
		return h
	}
	frag := func(next ipproto.Proto, off uint16, more bool, data []byte) []byte {
		f := make([]byte, 14+40+8)
		binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv6)
		ip := f[14:]
		ip[0], ip[6], ip[7] = 0x60, byte(ipproto.Fragment), 64
		copy(ip[8:], attacker.AsSlice())
		copy(ip[24:], target.AsSlice())
		ip[40] = byte(next)
		fo := off
		if more {
			fo |= 1
		}
		binary.BigEndian.PutUint16(ip[42:], fo)
		binary.BigEndian.PutUint32(ip[44:], 0xbad)
		f = append(f, data...)
		binary.BigEndian.PutUint16(f[14+4:], uint16(len(f)-14-40))
		return f
	}
	// First fragment: Destination Options, then a SYN to port 80 (and 4
	// bytes to keep the length a multiple of 8).
	first := frag(ipproto.DestOpts, 0, true, append(append([]byte{byte(ipproto.TCP), 0, 1, 4, 0, 0, 0, 0}, tcpHdr(80)...), 0, 0, 0, 0))
	// Second: at offset 8, over the TCP header, says TCP and carries a SYN
	// to port 22; it ends the datagram where the first fragment does.
	second := frag(ipproto.TCP, 8, false, append(tcpHdr(22), 0, 0, 0, 0))
	for _, order := range [][]sided{
		{{first, datapath.WAN}, {second, datapath.WAN}},
		{{second, datapath.WAN}, {first, datapath.WAN}},
	} {
		e, _ := newEngine(t, pol)
		lan, wan := bridge(t, e.NewWorker(), order...)
		if len(lan)+len(wan) != 0 {
			t.Fatalf("%d frames forwarded to the inside, %d back out", len(lan), len(wan))
		}
		if n := e.Defragmenter().Stats().Events[defrag.KindOverlap]; n != 1 {
			t.Errorf("overlaps counted %d, want 1", n)
		}
	}
}

// TestOneSourceCannotEvictAnother (issue 15, item 4): 65,536 first
// fragments from one source, each allowed, do not evict a legitimate
// datagram from another source.
func TestOneSourceCannotEvictAnother(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	legit := fragment4(t, udpFrame(t, "10.10.0.11:5353", "203.0.113.53:53", 2000, false), 1, 1480)
	if _, wan := bridge(t, w, from(datapath.LAN, legit[0])...); len(wan) != 0 {
		t.Fatal("a first fragment left before its datagram was complete")
	}
	flood := make([]sided, 0, 65536)
	one := udpFrame(t, "10.10.0.66:5353", "203.0.113.53:53", 2000, false)
	for id := range 65536 {
		flood = append(flood, sided{fragment4(t, one, uint16(id), 1480)[0], datapath.LAN})
	}
	bridge(t, w, flood...)
	_, wan := bridge(t, w, from(datapath.LAN, legit[1])...)
	sameFrames(t, "legitimate datagram", wan, legit)
	s := e.Defragmenter().Stats()
	if s.Memory > 64<<20 || s.Datagrams > 256 {
		t.Errorf("the flood holds %d bytes in %d datagrams", s.Memory, s.Datagrams)
	}
}

// TestLaterFragmentFirst (issue 15, item 4): a later fragment that arrives
// before its first is held, and the datagram completes and passes.
func TestLaterFragmentFirst(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	frags := fragment4(t, udpFrame(t, "10.10.0.11:5353", "203.0.113.53:53", 3000, false), 77, 1480)
	if _, wan := bridge(t, w, from(datapath.LAN, frags[2], frags[1])...); len(wan) != 0 {
		t.Fatal("later fragments left before the first came")
	}
	_, wan := bridge(t, w, from(datapath.LAN, frags[0])...)
	sameFrames(t, "datagram", wan, [][]byte{frags[2], frags[1], frags[0]})
	if c := e.Counts(); c["hold/fragment"] != 2 || c["forward/default"] != 1 {
		t.Errorf("counts %v", c)
	}
}

// TestIPv6DestinationOptionsAfterFragment (issue 15, item 4): a legitimate
// IPv6 datagram whose Destination Options follow the Fragment header (so
// the Fragment header's next header is 60, not UDP) passes whole.
func TestIPv6DestinationOptionsAfterFragment(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	frags := fragment6(t, udpFrame(t, "[fd00:10::11]:5353", "[2001:db8:113::53]:53", 3000, true), 0x5eed, 1232)
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, frags...)...)
	sameFrames(t, "datagram", wan, frags)
}

// TestReloadRefusesHeldFragments (issue 15: "a reload leaves the fragment
// table in place"): fragments of a connection that a reload cuts do not
// pass, whether they came before the reload or after.
func TestReloadRefusesHeldFragments(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{remote, server, "S", 100, 0, 0}))...)
	bridge(t, w, from(datapath.LAN, tcpFrame(t, seg{server, remote, "SA", 900, 101, 0}))...)
	bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{remote, server, "A", 101, 901, 0}))...)
	frags := fragment4(t, tcpFrame(t, seg{remote, server, "PA", 101, 901, 3000}), 9, 1480)
	if lan, _ := bridge(t, w, from(datapath.WAN, frags[0])...); len(lan) != 0 {
		t.Fatal("a first fragment left before its datagram was complete")
	}
	if cut, err := e.Reload(mustPolicy(t, "default deny incoming\ndefault allow outgoing\nallow http\n")); err != nil || cut != 1 {
		t.Fatalf("reload: cut %d, %v", cut, err)
	}
	if lan, _ := bridge(t, w, from(datapath.WAN, frags[1:]...)...); len(lan) != 0 {
		t.Fatalf("%d fragments of a cut connection passed after the reload", len(lan))
	}
	// A whole new datagram of the cut connection fares no better.
	again := fragment4(t, tcpFrame(t, seg{remote, server, "PA", 101, 901, 3000}), 10, 1480)
	if lan, _ := bridge(t, w, from(datapath.WAN, again...)...); len(lan) != 0 {
		t.Fatalf("%d fragments of a cut connection passed", len(lan))
	}
}

// TestFragmentsTimeOut: a datagram that never completes is dropped at its
// time-out and counted; none of its fragments ever leaves.
func TestFragmentsTimeOut(t *testing.T) {
	e, clk := newEngine(t, testPolicy)
	w := e.NewWorker()
	frags := fragment4(t, udpFrame(t, "10.10.0.11:5353", "203.0.113.53:53", 3000, false), 5, 1480)
	bridge(t, w, from(datapath.LAN, frags[0], frags[1])...)
	clk.Advance(e.Defragmenter().Timeout())
	e.Sweep()
	if _, wan := bridge(t, w, from(datapath.LAN, frags[2])...); len(wan) != 0 {
		t.Fatal("fragments of a timed-out datagram left")
	}
	if n := e.Defragmenter().Stats().Events[defrag.KindTimeout]; n != 1 {
		t.Errorf("time-outs counted %d", n)
	}
}

// TestFragmentedReject: a rejected fragmented datagram is answered once,
// from the reassembled packet, and none of its fragments passes.
func TestFragmentedReject(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	frags := fragment4(t, tcpFrame(t, seg{remote, "10.10.0.20:8080", "S", 4242, 0, 1600}), 3, 1480)
	lan, wan := bridge(t, e.NewWorker(), from(datapath.WAN, frags...)...)
	if len(lan) != 0 || len(wan) != 1 {
		t.Fatalf("%d frames in, %d back; want only the RST back", len(lan), len(wan))
	}
	var p packet.Parsed
	p.Decode(wan[0])
	if p.TCPFlags&packet.TCPRST == 0 || p.Src.Port() != 8080 {
		t.Fatalf("answer is not the RST: %+v", p.TCPFlags)
	}
}
