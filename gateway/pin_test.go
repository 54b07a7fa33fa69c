package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/packet"
)

// The tests here are the review's item 1 (the connection table pinned by
// packets no host accepts) and item 6 (bad checksums forwarded and
// changing state), and the VLAN item: crafted frames through a Worker
// with datapath.Replay (the live bridge's path) or gateway.Inspect, with
// assertions on the frames that leave each port and on the table.

// reviewPolicy is the perimeter policy the review ran its captures
// against.
const reviewPolicy = `default deny incoming
allow in on wan to 10.10.0.80 port 80 proto tcp
allow in on wan to 10.10.0.53 port 53 proto udp
`

const server80 = "10.10.0.80:80"

// badTCPChecksum returns frame (Ethernet, IPv4 or IPv6, TCP) with its TCP
// checksum wrong.
func badTCPChecksum(t testing.TB, frame []byte) []byte {
	t.Helper()
	var p packet.Parsed
	p.Decode(frame)
	if p.Invalid != packet.Valid || !p.HasL4 {
		t.Fatalf("not a TCP frame: %v", p.Invalid)
	}
	b := append([]byte(nil), frame...)
	b[p.L4Off+16] ^= 0x5a
	return b
}

// partialTCPChecksum returns frame with its TCP checksum field holding
// only the pseudo-header sum, as a sender with checksum offload hands it
// to a packet socket.
func partialTCPChecksum(t testing.TB, frame []byte) []byte {
	t.Helper()
	var p packet.Parsed
	p.Decode(frame)
	b := append([]byte(nil), frame...)
	seg := p.Buf[p.L4Off:]
	ph := packet.PseudoHeaderChecksum(p.Proto, p.Src.Addr(), p.Dst.Addr(), uint16(len(seg)))
	binary.BigEndian.PutUint16(b[p.L4Off+16:], uint16(ph))
	var q packet.Parsed
	q.Decode(b)
	if q.CheckChecksums(true) != packet.ChecksumPartial {
		t.Fatal("not a partial checksum")
	}
	return b
}

// spoofed is the i-th spoofed outside source of the review's capture.
func spoofed(i int) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(1024+i)).String()
}

// handshakeFrames is the review's forged handshake for source src: a SYN
// to the inside web server, a SYN/ACK "from" that server, and the ACK,
// all arriving from outside.
func handshakeFrames(t testing.TB, src string) [3][]byte {
	return [3][]byte{
		tcpFrame(t, seg{src, server80, "S", 100, 0, 0}),
		tcpFrame(t, seg{server80, src, "SA", 7000, 101, 0}),
		tcpFrame(t, seg{src, server80, "A", 101, 7001, 0}),
	}
}

func newReviewEngine(t *testing.T, cfg Config) (*Engine, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC))
	cfg.Clock = clk
	e, err := New(mustPolicy(t, reviewPolicy), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, clk
}

// TestPinningWithBadChecksums is the review's capture: for each spoofed
// source a SYN, a forged SYN/ACK from the server arriving on the wan side
// and an ACK, every one with a corrupt TCP checksum. No host would accept
// any of them: nothing may cross and no state may be created, on the live
// path and in `rampart inspect` alike.
func TestPinningWithBadChecksums(t *testing.T) {
	const sources = 512
	var frames []sided
	var capture [][]byte
	for i := range sources {
		for _, f := range handshakeFrames(t, spoofed(i)) {
			b := badTCPChecksum(t, f)
			frames = append(frames, sided{b, datapath.WAN})
			capture = append(capture, b)
		}
	}
	e, _ := newReviewEngine(t, Config{})
	lan, wan := bridge(t, e.NewWorker(), frames...)
	if len(lan) != 0 || len(wan) != 0 || e.Conntrack().Len() != 0 {
		t.Fatalf("%d frames to lan, %d to wan, %d connections tracked; want none", len(lan), len(wan), e.Conntrack().Len())
	}
	if n := e.Counts()["drop/bad_checksum"]; n != 3*sources {
		t.Errorf("drop/bad_checksum %d, want %d: %v", n, 3*sources, e.Counts())
	}

	res, err := Inspect(t.Context(), &sliceSource{frames: capture}, mustPolicy(t, reviewPolicy), InspectConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Forwarded != 0 || res.Counts["drop/bad_checksum"] != 3*sources {
		t.Errorf("inspect forwarded %d, counts %v", res.Forwarded, res.Counts)
	}
}

// TestForgedReplyOnTheWrongSide: the same handshake with correct
// checksums. The SYN is allowed and goes in; the SYN/ACK "from" the
// inside server arrives on the wan side, where no reply of that
// connection can come from, so it is no reply: it is dropped, the entry
// stays unanswered, and the ACK that would have made it established and
// assured is dropped too.
func TestForgedReplyOnTheWrongSide(t *testing.T) {
	e, _ := newReviewEngine(t, Config{})
	const sources = 64
	var frames []sided
	for i := range sources {
		f := handshakeFrames(t, spoofed(i))
		frames = append(frames, from(datapath.WAN, f[:]...)...)
	}
	lan, wan := bridge(t, e.NewWorker(), frames...)
	if len(lan) != sources || len(wan) != 0 {
		t.Fatalf("%d frames to lan, %d to wan; want only the %d SYNs in", len(lan), len(wan), sources)
	}
	for i, f := range lan {
		var p packet.Parsed
		p.Decode(f)
		if p.TCPFlags != packet.TCPSYN || p.Src.String() != spoofed(i) {
			t.Fatalf("frame %d to lan: %v %v", i, p.Flow(), p.TCPFlags)
		}
	}
	e.Conntrack().Range(func(en conntrack.Entry) bool {
		if en.TCP != conntrack.TCPSynSent || en.Replied || en.Assured || en.Side != conntrack.SideWAN {
			t.Errorf("entry %v: %v replied %v assured %v side %v", en.Orig.Flow, en.TCP, en.Replied, en.Assured, en.Side)
		}
		return true
	})
	if n := e.Counts()["drop/invalid"]; n != 2*sources {
		t.Errorf("drop/invalid %d, want %d", n, 2*sources)
	}
	// The server's real answer comes from the lan side and completes the
	// handshake.
	src := spoofed(0)
	lan, wan = bridge(t, e.NewWorker(),
		sided{tcpFrame(t, seg{server80, src, "SA", 7000, 101, 0}), datapath.LAN},
		sided{tcpFrame(t, seg{src, server80, "A", 101, 7001, 0}), datapath.WAN})
	if len(lan) != 1 || len(wan) != 1 {
		t.Fatalf("the real handshake: %d frames to lan, %d to wan", len(lan), len(wan))
	}
}

// TestBadChecksumRSTChangesNothing: an in-window RST with a bad checksum
// is dropped before connection tracking, so the entry keeps its state and
// its 5-day time-out; with a good checksum the same RST passes and (being
// in the window but not exact) shortens the time-out, as the receiver
// will answer it with a challenge ACK.
func TestBadChecksumRSTChangesNothing(t *testing.T) {
	e, clk := newReviewEngine(t, Config{})
	const src = "198.51.100.20:40000"
	_, _ = bridge(t, e.NewWorker(),
		sided{tcpFrame(t, seg{src, server80, "S", 100, 0, 0}), datapath.WAN},
		sided{tcpFrame(t, seg{server80, src, "SA", 7000, 101, 0}), datapath.LAN},
		sided{tcpFrame(t, seg{src, server80, "A", 101, 7001, 0}), datapath.WAN},
		sided{tcpFrame(t, seg{src, server80, "PA", 101, 7001, 100}), datapath.WAN},
		sided{tcpFrame(t, seg{server80, src, "A", 7001, 201, 0}), datapath.LAN})
	before := onlyEntry(t, e)
	if before.TCP != conntrack.TCPEstablished || !before.Assured {
		t.Fatalf("entry %+v", before)
	}
	clk.Advance(time.Second)
	// In the window, past what the server acknowledged, but not at its
	// edge.
	rst := tcpFrame(t, seg{src, server80, "R", 300, 0, 0})
	lan, wan := bridge(t, e.NewWorker(), sided{badTCPChecksum(t, rst), datapath.WAN})
	after := onlyEntry(t, e)
	if len(lan) != 0 || len(wan) != 0 || after.TCP != before.TCP || !after.Expires.Equal(before.Expires) || after.Packets != before.Packets {
		t.Fatalf("bad-checksum RST: %d frames out; entry before %+v, after %+v", len(lan)+len(wan), before, after)
	}
	lan, _ = bridge(t, e.NewWorker(), sided{rst, datapath.WAN})
	after = onlyEntry(t, e)
	if len(lan) != 1 || !after.Expires.Before(before.Expires.Add(-24*time.Hour)) {
		t.Fatalf("good RST: %d frames in, expires %v (was %v)", len(lan), after.Expires, before.Expires)
	}
}

func onlyEntry(t *testing.T, e *Engine) conntrack.Entry {
	t.Helper()
	var out []conntrack.Entry
	e.Conntrack().Range(func(en conntrack.Entry) bool { out = append(out, en); return true })
	if len(out) != 1 {
		t.Fatalf("%d entries, want 1", len(out))
	}
	return out[0]
}

// TestFullTableOfAssuredAdmitsNew: a table full of established, assured
// connections that have been idle for a day still admits a new
// legitimate connection: the connection idle longest makes room.
func TestFullTableOfAssuredAdmitsNew(t *testing.T) {
	const max = 64
	e, clk := newReviewEngine(t, Config{Conntrack: conntrack.Config{MaxEntries: max, Shards: 1}})
	var frames []sided
	for i := range max {
		src := spoofed(i)
		frames = append(frames,
			sided{tcpFrame(t, seg{src, server80, "S", 100, 0, 0}), datapath.WAN},
			sided{tcpFrame(t, seg{server80, src, "SA", 7000, 101, 0}), datapath.LAN},
			sided{tcpFrame(t, seg{src, server80, "A", 101, 7001, 0}), datapath.WAN},
			sided{tcpFrame(t, seg{server80, src, "PA", 7001, 101, 10}), datapath.LAN},
			sided{tcpFrame(t, seg{src, server80, "A", 101, 7011, 0}), datapath.WAN})
	}
	lan, wan := bridge(t, e.NewWorker(), frames...)
	if len(lan) != 3*max || len(wan) != 2*max || e.Conntrack().Len() != max {
		t.Fatalf("filling: %d to lan, %d to wan, %d entries", len(lan), len(wan), e.Conntrack().Len())
	}
	clk.Advance(24 * time.Hour)
	const client = "10.10.0.11:50000"
	lan, wan = bridge(t, e.NewWorker(),
		sided{tcpFrame(t, seg{client, web, "S", 1, 0, 0}), datapath.LAN},
		sided{tcpFrame(t, seg{web, client, "SA", 900, 2, 0}), datapath.WAN},
		sided{tcpFrame(t, seg{client, web, "A", 2, 901, 0}), datapath.LAN})
	if len(wan) != 2 || len(lan) != 1 {
		t.Fatalf("the new connection: %d frames out wan, %d in lan; counts %v", len(wan), len(lan), e.Counts())
	}
	st := e.Conntrack().Stats()
	if st.EvictedIdle != 1 || st.InsertFailed != 0 || e.Counts()["drop/table_full"] != 0 {
		t.Fatalf("stats %+v, counts %v", st, e.Counts())
	}
}

// TestPerSourceBounds: one source gets at most conntrack_per_source
// connections and one /24 at most conntrack_per_prefix; the refused SYNs
// go nowhere and are counted.
func TestPerSourceBounds(t *testing.T) {
	e, _ := newReviewEngine(t, Config{Conntrack: conntrack.Config{PerSource: 4, PerPrefix: 6}})
	syn := func(src string) sided {
		return sided{tcpFrame(t, seg{src, server80, "S", 100, 0, 0}), datapath.WAN}
	}
	var frames []sided
	for i := range 6 {
		frames = append(frames, syn(netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), uint16(2000+i)).String()))
	}
	frames = append(frames, syn("198.51.100.8:2000"), syn("198.51.100.8:2001"), syn("198.51.100.9:2000"), syn("198.51.101.9:2000"))
	lan, _ := bridge(t, e.NewWorker(), frames...)
	var in []string
	for _, f := range lan {
		var p packet.Parsed
		p.Decode(f)
		in = append(in, p.Src.String())
	}
	want := []string{"198.51.100.7:2000", "198.51.100.7:2001", "198.51.100.7:2002", "198.51.100.7:2003", "198.51.100.8:2000", "198.51.100.8:2001", "198.51.101.9:2000"}
	if len(in) != len(want) {
		t.Fatalf("forwarded %v, want %v", in, want)
	}
	for i := range want {
		if in[i] != want[i] {
			t.Fatalf("forwarded %v, want %v", in, want)
		}
	}
	c := e.Counts()
	if c["drop/source_limit"] != 2 || c["drop/prefix_limit"] != 1 {
		t.Fatalf("counts %v", c)
	}
	// SYNs spoofed from an inside address arriving on the wan side use up
	// that "source" there, not the inside host's own bound.
	frames = nil
	for i := range 5 {
		frames = append(frames, syn(netip.AddrPortFrom(netip.MustParseAddr("10.10.0.11"), uint16(3000+i)).String()))
	}
	in1, _ := bridge(t, e.NewWorker(), frames...)
	_, out := bridge(t, e.NewWorker(), sided{tcpFrame(t, seg{"10.10.0.11:3000", web, "S", 1, 0, 0}), datapath.LAN})
	if len(in1) != 4 || len(out) != 1 || e.Counts()["drop/source_limit"] != 3 {
		t.Fatalf("%d spoofed SYNs in, %d of the inside host's out; counts %v", len(in1), len(out), e.Counts())
	}
}

// vlanTagged inserts an 802.1Q tag with VLAN id after the MAC addresses.
func vlanTagged(frame []byte, id uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, packet.EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, id)
	return append(out, frame[12:]...)
}

// TestVLANsHaveSeparateState: two VLANs on one trunk carrying the same
// addresses and ports are two networks: a connection opened on VLAN 10 is
// not answered from VLAN 20, and VLAN 20 gets its own connection.
func TestVLANsHaveSeparateState(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	lan, wan := bridge(t, e.NewWorker(),
		sided{vlanTagged(tcpFrame(t, seg{client, web, "S", 1000, 0, 0}), 10), datapath.LAN},
		sided{vlanTagged(tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), 20), datapath.WAN},
		sided{vlanTagged(tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), 10), datapath.WAN},
		sided{vlanTagged(tcpFrame(t, seg{client, web, "S", 3000, 0, 0}), 20), datapath.LAN})
	if len(wan) != 2 || len(lan) != 1 {
		t.Fatalf("%d frames out wan, %d out lan; want both SYNs out and VLAN 10's SYN/ACK in", len(wan), len(lan))
	}
	var p packet.Parsed
	p.Decode(lan[0])
	if p.VLAN[0].ID() != 10 {
		t.Fatalf("the SYN/ACK let in is VLAN %d's", p.VLAN[0].ID())
	}
	zones := map[uint32]conntrack.TCPState{}
	e.Conntrack().Range(func(en conntrack.Entry) bool { zones[en.Zone] = en.TCP; return true })
	if len(zones) != 2 || zones[10] != conntrack.TCPSynRecv || zones[20] != conntrack.TCPSynSent {
		t.Fatalf("entries by zone: %v", zones)
	}
}

// infoSource replays frames with the capture info a live port would give.
type infoSource struct {
	frames []sided
	info   []datapath.CaptureInfo
	i      int
}

func (s *infoSource) Next() ([]byte, datapath.CaptureInfo, error) {
	if s.i >= len(s.frames) {
		return nil, datapath.CaptureInfo{}, errEOF
	}
	f, ci := s.frames[s.i], s.info[s.i]
	s.i++
	ci.CaptureLength, ci.Length, ci.LinkType, ci.InterfaceIndex = len(f.frame), len(f.frame), datapath.LinkTypeEthernet, int(f.in)
	return f.frame, ci, nil
}

// TestOffloadedChecksums: a checksum the kernel says an offload owns is
// not the gateway's to judge: the frame of a local sender that left it
// (vnet NEEDS_CSUM, or TP_STATUS_CSUMNOTREADY) and a GSO super-frame pass,
// the latter with its checksum filled on the way out. The same bytes with
// no word from the kernel are dropped. A wrong IPv4 header checksum is
// never excused.
func TestOffloadedChecksums(t *testing.T) {
	partial := partialTCPChecksum(t, tcpFrame(t, seg{client, web, "S", 1000, 0, 0}))
	badIP := append([]byte(nil), partial...)
	badIP[14+8]-- // TTL, under the IPv4 header checksum
	cases := []struct {
		name    string
		frame   []byte
		ci      datapath.CaptureInfo
		forward bool
	}{
		{"vnet needs checksum", partial, datapath.CaptureInfo{VNet: datapath.VNetHeader{Flags: datapath.VNetNeedsChecksum, CsumStart: 34, CsumOffset: 16}}, true},
		{"GSO super-frame", partial, datapath.CaptureInfo{VNet: datapath.VNetHeader{Flags: datapath.VNetNeedsChecksum, GSOType: datapath.VNetGSOTCPv4, GSOSize: 1448}}, true},
		{"checksum not ready", partial, datapath.CaptureInfo{Flags: datapath.FlagChecksumNotReady}, true},
		{"verified by the device", badTCPChecksum(t, tcpFrame(t, seg{client, web, "S", 1000, 0, 0})), datapath.CaptureInfo{Flags: datapath.FlagChecksumValid}, true},
		{"no word from the kernel", partial, datapath.CaptureInfo{}, false},
		{"bad IPv4 header, offloaded transport", badIP, datapath.CaptureInfo{Flags: datapath.FlagChecksumNotReady}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEngine(t, testPolicy)
			var out [][]byte
			// A forwarded frame may have its checksum filled in place.
			frame := append([]byte(nil), c.frame...)
			_, err := datapath.Replay(t.Context(), &infoSource{frames: []sided{{frame, datapath.LAN}}, info: []datapath.CaptureInfo{c.ci}}, e.NewWorker(), datapath.ReplayConfig{
				Side: func(_ []byte, ci *datapath.CaptureInfo) datapath.Side { return datapath.Side(ci.InterfaceIndex) },
				WAN:  sinkFunc(func(b []byte) error { out = append(out, append([]byte(nil), b...)); return nil }),
			})
			if err != nil {
				t.Fatal(err)
			}
			if (len(out) == 1) != c.forward {
				t.Fatalf("%d frames forwarded, counts %v", len(out), e.Counts())
			}
			if !c.forward && e.Counts()["drop/bad_checksum"] != 1 {
				t.Fatalf("counts %v", e.Counts())
			}
			if c.forward && c.ci.Flags&datapath.FlagChecksumNotReady != 0 {
				var p packet.Parsed
				p.Decode(out[0])
				if !p.VerifyChecksums() {
					t.Error("the checksum left to the gateway was not filled")
				}
			}
		})
	}
}

// TestInspectChecksumModes: a capture taken on a host that sends with
// checksum offload shows the pseudo-header sum in its outgoing TCP and
// UDP checksums. `verify` drops those packets; `offload` takes them for
// offloaded (and still drops a checksum that is wrong otherwise);
// `ignore` checks nothing.
func TestInspectChecksumModes(t *testing.T) {
	good := tcpFrame(t, seg{client, web, "S", 1000, 0, 0})
	partial := partialTCPChecksum(t, tcpFrame(t, seg{client, "203.0.113.80:443", "S", 1000, 0, 0}))
	bad := badTCPChecksum(t, tcpFrame(t, seg{client, "203.0.113.80:8443", "S", 1000, 0, 0}))
	for _, c := range []struct {
		mode      string
		forwarded uint64
	}{{"verify", 1}, {"offload", 2}, {"ignore", 3}} {
		m, err := ParseChecksumMode(c.mode)
		if err != nil || m.String() != c.mode {
			t.Fatalf("ParseChecksumMode(%q) = %v, %v", c.mode, m, err)
		}
		res, err := Inspect(t.Context(), &sliceSource{frames: [][]byte{good, partial, bad}}, mustPolicy(t, testPolicy), InspectConfig{Engine: Config{Checksums: m}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Forwarded != c.forwarded || res.Counts["drop/bad_checksum"] != 3-c.forwarded {
			t.Errorf("%s: forwarded %d, counts %v", c.mode, res.Forwarded, res.Counts)
		}
	}
	if _, err := ParseChecksumMode("auto"); err == nil {
		t.Error("ParseChecksumMode accepted auto")
	}
}

// TestFragmentWithBadHeaderChecksum: reassembly writes a new IPv4 header
// and checksum, so a fragment whose header checksum is wrong (which the
// receiver would discard) is dropped before it is taken.
func TestFragmentWithBadHeaderChecksum(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	frags := fragment4(t, tcpFrame(t, seg{remote, "10.10.0.20:22", "S", 1, 0, 40}), 77, 32)
	frags[1][14+8]-- // TTL of the second fragment
	lan, _ := bridge(t, e.NewWorker(), from(datapath.WAN, frags...)...)
	if len(lan) != 0 || e.Counts()["drop/bad_checksum"] != 1 || e.Defragmenter().Stats().Datagrams != 1 {
		t.Fatalf("%d frames in, counts %v, %d datagrams held", len(lan), e.Counts(), e.Defragmenter().Stats().Datagrams)
	}
}
