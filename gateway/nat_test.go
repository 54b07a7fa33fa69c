package gateway

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/packet"
)

const (
	natPolicy = `default deny incoming
default allow outgoing
allow in on wan to any port 2222 proto tcp
`
	wanAddr = "192.0.2.1"
)

func newNATEngine(t testing.TB, f nat.Filtering) *Engine {
	t.Helper()
	tr, err := nat.New(nat.Config{
		Masquerade: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		Public:     []netip.Addr{netip.MustParseAddr(wanAddr)},
		Filtering:  f,
		Forwards:   []nat.Forward{{Proto: ipproto.TCP, Port: 2222, To: netip.MustParseAddrPort(server)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	e, err := New(mustPolicy(t, natPolicy), Config{Clock: clk, NAT: tr})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// processed runs frame through e and returns the decision and the frame
// as it leaves.
func processed(t testing.TB, e *Engine, frame []byte, in datapath.Side) (Decision, []byte) {
	t.Helper()
	b := bytes.Clone(frame)
	var p packet.Parsed
	p.Decode(b)
	return e.Process(&p, in), b
}

func mustLeaveAs(t *testing.T, e *Engine, in seg, side datapath.Side, out seg, reason Reason) {
	t.Helper()
	d, got := processed(t, e, tcpFrame(t, in), side)
	if d.Verdict != Forward || d.Reason != reason {
		t.Fatalf("%v: %v/%v, want forward/%v", in, d.Verdict, d.Reason, reason)
	}
	if want := tcpFrame(t, out); !bytes.Equal(got, want) {
		t.Fatalf("%v left as\n%x\nwant %v\n%x", in, got, out, want)
	}
}

// The gateway translates after the conntrack verdict: the policy judges
// packets as they arrived (a forward is allowed by its public port), the
// translated connection's packets leave rewritten, and inbound packets
// to no mapping never pass.
func TestNATPipeline(t *testing.T) {
	e := newNATEngine(t, nat.AddressAndPortDependent)
	pub := wanAddr + ":40000"
	mustLeaveAs(t, e, seg{client, web, "S", 1000, 0, 0}, datapath.LAN, seg{pub, web, "S", 1000, 0, 0}, ReasonDefault)
	mustLeaveAs(t, e, seg{web, pub, "SA", 5000, 1001, 0}, datapath.WAN, seg{web, client, "SA", 5000, 1001, 0}, ReasonEstablished)
	mustLeaveAs(t, e, seg{client, web, "A", 1001, 5001, 10}, datapath.LAN, seg{pub, web, "A", 1001, 5001, 10}, ReasonEstablished)

	// A port forward: allowed by the policy's rule for 2222, the server
	// sees the client's own address.
	fwd := wanAddr + ":2222"
	mustLeaveAs(t, e, seg{remote, fwd, "S", 7, 0, 0}, datapath.WAN, seg{remote, server, "S", 7, 0, 0}, ReasonRule)
	mustLeaveAs(t, e, seg{server, remote, "SA", 70, 8, 0}, datapath.LAN, seg{fwd, remote, "SA", 70, 8, 0}, ReasonEstablished)

	// Hairpin: an inside client reaches the forward by the public address.
	mustLeaveAs(t, e, seg{"10.10.0.12:41000", fwd, "S", 9, 0, 0}, datapath.LAN, seg{wanAddr + ":41000", server, "S", 9, 0, 0}, ReasonDefault)

	// Unsolicited inbound: the policy refuses it before the NAT is asked.
	if d, _ := processed(t, e, tcpFrame(t, seg{remote, wanAddr + ":40001", "S", 1, 0, 0}), datapath.WAN); d.Verdict != Drop {
		t.Fatalf("unsolicited SYN: %v", d)
	}
	if st := e.NAT().Stats(); st.Mappings != 2 || st.Allocations != 2 {
		t.Fatalf("NAT stats %+v", st)
	}
}

// With endpoint-independent filtering the NAT, not the policy's default
// for incoming traffic, decides who may reach a mapping; an inbound
// packet to no mapping is dropped by the NAT when the policy lets it
// through.
func TestNATFilteringBeforePolicy(t *testing.T) {
	e := newNATEngine(t, nat.EndpointIndependent)
	pub := wanAddr + ":40000"
	mustLeaveAs(t, e, seg{client, web, "S", 1000, 0, 0}, datapath.LAN, seg{pub, web, "S", 1000, 0, 0}, ReasonDefault)
	mustLeaveAs(t, e, seg{remote, pub, "S", 3, 0, 0}, datapath.WAN, seg{remote, client, "S", 3, 0, 0}, ReasonNATMapping)
	// A reload does not cut it: the policy never admitted it.
	if cut, err := e.Reload(mustPolicy(t, natPolicy)); err != nil || cut != 0 {
		t.Fatalf("reload cut %d: %v", cut, err)
	}
	mustLeaveAs(t, e, seg{client, remote, "SA", 30, 4, 0}, datapath.LAN, seg{pub, remote, "SA", 30, 4, 0}, ReasonEstablished)
	d, _ := processed(t, e, tcpFrame(t, seg{remote, wanAddr + ":2223", "S", 3, 0, 0}), datapath.WAN)
	if d.Verdict != Drop || d.Reason != ReasonDefault {
		t.Fatalf("inbound to no mapping: %v", d)
	}
	open := newNATEngineWithPolicy(t, "default allow incoming\ndefault allow outgoing\n")
	d, _ = processed(t, open, tcpFrame(t, seg{remote, wanAddr + ":2223", "S", 3, 0, 0}), datapath.WAN)
	if d.Verdict != Drop || d.Reason != ReasonNAT {
		t.Fatalf("inbound to no mapping under an open policy: %v", d)
	}
	if n := open.NAT().Stats().Outcomes[nat.NoMapping]; n != 1 {
		t.Fatalf("no_mapping counted %d times", n)
	}
}

func newNATEngineWithPolicy(t testing.TB, pol string) *Engine {
	t.Helper()
	tr, err := nat.New(nat.Config{
		Masquerade: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		Public:     []netip.Addr{netip.MustParseAddr(wanAddr)},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(mustPolicy(t, pol), Config{NAT: tr})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A translated established packet allocates nothing on its way through
// the engine, rewrite included.
func TestNATProcessAllocatesNothing(t *testing.T) {
	e := newNATEngine(t, nat.AddressAndPortDependent)
	pub := wanAddr + ":40000"
	processed(t, e, tcpFrame(t, seg{client, web, "S", 1000, 0, 0}), datapath.LAN)
	processed(t, e, tcpFrame(t, seg{web, pub, "SA", 5000, 1001, 0}), datapath.WAN)
	frame := tcpFrame(t, seg{client, web, "A", 1001, 5001, 0})
	buf := make([]byte, len(frame))
	var p packet.Parsed
	allocs := testing.AllocsPerRun(1000, func() {
		copy(buf, frame)
		p.Decode(buf)
		if d := e.Process(&p, datapath.LAN); d.Verdict != Forward {
			t.Fatal(d)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per translated packet", allocs)
	}
}

func BenchmarkProcessTranslated(b *testing.B) {
	e := newNATEngine(b, nat.AddressAndPortDependent)
	processed(b, e, tcpFrame(b, seg{client, web, "S", 1000, 0, 0}), datapath.LAN)
	processed(b, e, tcpFrame(b, seg{web, wanAddr + ":40000", "SA", 5000, 1001, 0}), datapath.WAN)
	frame := tcpFrame(b, seg{client, web, "A", 1001, 5001, 0})
	buf := make([]byte, len(frame))
	var p packet.Parsed
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		copy(buf, frame)
		p.Decode(buf)
		e.Process(&p, datapath.LAN)
	}
}

// A fragmented datagram is judged whole, and its fragments leave
// translated: addresses in every one, the ports and the transport
// checksum (over the whole datagram) in the first, as the reassembled
// datagram was.
func TestNATFragmentsTranslated(t *testing.T) {
	e := newNATEngine(t, nat.AddressAndPortDependent)
	w := e.NewWorker()
	frags := fragment4(t, udpFrame(t, "10.10.0.11:5000", "198.51.100.80:53", 3000, false), 77, 1024)
	_, wan := bridge(t, w, from(datapath.LAN, frags...)...)
	want := fragment4(t, udpFrame(t, wanAddr+":5000", "198.51.100.80:53", 3000, false), 77, 1024)
	sameFrames(t, "translated fragments", wan, want)

	// The answer, fragmented too, comes back to the inside host.
	back := fragment4(t, udpFrame(t, "198.51.100.80:53", wanAddr+":5000", 2000, false), 78, 1024)
	lan, _ := bridge(t, w, from(datapath.WAN, back...)...)
	sameFrames(t, "translated answer", lan, fragment4(t, udpFrame(t, "198.51.100.80:53", "10.10.0.11:5000", 2000, false), 78, 1024))
}

// RFC 5508 REQ-8: a host over its quota of mappings is told, with an
// ICMP administratively prohibited, and its packet goes nowhere.
func TestNATQuotaAnswered(t *testing.T) {
	tr, err := nat.New(nat.Config{
		Masquerade: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
		Public:     []netip.Addr{netip.MustParseAddr(wanAddr)},
		PerHost:    1,
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(mustPolicy(t, natPolicy), Config{NAT: tr})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	first := udpFrame(t, "10.10.0.11:5000", "198.51.100.80:53", 10, false)
	second := udpFrame(t, "10.10.0.11:5001", "198.51.100.80:53", 10, false)
	lan, wan := bridge(t, w, from(datapath.LAN, first, second)...)
	if len(wan) != 1 || len(lan) != 1 {
		t.Fatalf("%d frames out on wan, %d back on lan", len(wan), len(lan))
	}
	var p packet.Parsed
	p.Decode(lan[0])
	if p.Proto != ipproto.ICMP || p.ICMPType != 3 || p.ICMPCode != 13 || p.Dst.Addr() != netip.MustParseAddr("10.10.0.11") || p.Quote.Flow().Src.Port() != 5001 {
		t.Fatalf("answer: %v type %d code %d to %v quoting %v", p.Proto, p.ICMPType, p.ICMPCode, p.Dst, p.Quote.Flow())
	}
	if st := tr.Stats(); st.Outcomes[nat.QuotaExceeded] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// RFC 5508 REQ-3: an ICMP error whose checksum is wrong is dropped before
// anything reads its quote; with a right one it reaches the inside host,
// its quote put back as the host sent it (REQ-4).
func TestNATICMPErrorChecksum(t *testing.T) {
	e := newNATEngine(t, nat.AddressAndPortDependent)
	sent := udpFrame(t, "10.10.0.11:5000", "198.51.100.80:53", 8, false)
	d, left := processed(t, e, sent, datapath.LAN)
	if d.Verdict != Forward {
		t.Fatalf("datagram: %v", d)
	}
	router := "192.0.2.99"
	good := icmpFrame(t, router, wanAddr, 3, 3, 0, 0, left[14:])
	bad := bytes.Clone(good)
	bad[14+20+2] ^= 0xff // the ICMP checksum
	if d, _ := processed(t, e, bad, datapath.WAN); d.Verdict != Drop || d.Reason != ReasonBadChecksum {
		t.Fatalf("error with a bad checksum: %v", d)
	}
	d, out := processed(t, e, good, datapath.WAN)
	if want := icmpFrame(t, router, "10.10.0.11", 3, 3, 0, 0, sent[14:]); d.Verdict != Forward || d.Reason != ReasonRelated || !bytes.Equal(out, want) {
		t.Fatalf("error: %v\n%x\nwant\n%x", d, out, want)
	}
}

// RFC 5382 REQ-4: an unsolicited inbound SYN gets no answer (no RST, no
// ICMP), so that a simultaneous open from inside can still succeed; an
// inbound packet makes no mapping.
func TestNATUnsolicitedSYNUnanswered(t *testing.T) {
	e := newNATEngineWithPolicy(t, "default allow incoming\ndefault allow outgoing\n")
	lan, wan := bridge(t, e.NewWorker(), from(datapath.WAN, tcpFrame(t, seg{remote, wanAddr + ":40000", "S", 1, 0, 0}))...)
	if len(lan) != 0 || len(wan) != 0 {
		t.Fatalf("unsolicited SYN: %d frames to lan, %d answered on wan", len(lan), len(wan))
	}
	// The inside host then opens towards the same remote endpoint: its SYN
	// leaves, and the remote's SYN/ACK comes back to it.
	pub := wanAddr + ":40000"
	mustLeaveAs(t, e, seg{client, remote, "S", 100, 0, 0}, datapath.LAN, seg{pub, remote, "S", 100, 0, 0}, ReasonDefault)
	mustLeaveAs(t, e, seg{remote, pub, "SA", 1, 101, 0}, datapath.WAN, seg{remote, client, "SA", 1, 101, 0}, ReasonEstablished)
	if st := e.NAT().Stats(); st.Allocations != 1 || st.Outcomes[nat.NoMapping] != 1 {
		t.Fatalf("stats %+v", st)
	}
}
