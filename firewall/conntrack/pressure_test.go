package conntrack

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/packet"
)

// on returns p as it arrives on side s (in zone z).
func on(p Packet, s Side, z uint32) Packet {
	p.Side, p.Zone = s, z
	return p
}

// TestSides: an entry is bound to the side its first packet came from. A
// reply counts only when it arrives on the other side; a packet "from the
// server" arriving on the client's side is no reply, and neither is a
// client packet arriving on the server's side.
func TestSides(t *testing.T) {
	f := tcpFlow("198.51.100.66:40000", "10.10.0.80:80") // from outside, to an inside server
	syn := on(f.seg(O, packet.TCPSYN, cISN, 0, 64240, 0), SideWAN, 0)
	synAck := f.seg(R, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, 65160, 0)
	ack := f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 0)

	t.Run("a forged reply on the original side matches nothing", func(t *testing.T) {
		tbl, clk := newTable(t, Config{})
		runSteps(t, tbl, clk, []step{
			{name: "SYN on wan", p: syn, create: true, state: StateNew, tcp: TCPSynSent},
			{name: "SYN/ACK from the server, but on wan", p: on(synAck, SideWAN, 0), state: StateInvalid, reason: ReasonNoEntry},
			{name: "the client's ACK: the entry was never answered", p: on(ack, SideWAN, 0), state: StateInvalid, tcp: TCPSynSent, reason: ReasonTCPState},
		})
		e := onlyEntry(t, tbl)
		if e.TCP != TCPSynSent || e.Replied || e.Assured || e.Side != SideWAN {
			t.Fatalf("entry %+v", e)
		}
	})
	t.Run("the real reply on the other side", func(t *testing.T) {
		tbl, clk := newTable(t, Config{})
		runSteps(t, tbl, clk, []step{
			{name: "SYN on wan", p: syn, create: true, state: StateNew, tcp: TCPSynSent},
			{name: "SYN/ACK on lan", p: on(synAck, SideLAN, 0), state: StateEstablished, tcp: TCPSynRecv},
			{name: "ACK on lan: wrong side for the client", p: on(ack, SideLAN, 0), state: StateInvalid, reason: ReasonNoEntry},
			{name: "ACK on wan", p: on(ack, SideWAN, 0), state: StateEstablished, tcp: TCPEstablished},
		})
	})
	t.Run("ICMP errors travel back towards the quoted packet's sender", func(t *testing.T) {
		tbl, clk := newTable(t, Config{})
		runSteps(t, tbl, clk, []step{{name: "SYN on wan", p: syn, create: true, state: StateNew, tcp: TCPSynSent}})
		q := f.inner(O)
		q.Seq = cISN
		// An inside router's error about the SYN goes back out: it arrives
		// on lan.
		fromInside := on(icmpErrPkt("10.10.0.1", "198.51.100.66", 3, q), SideLAN, 0)
		if r := tbl.Lookup(&fromInside); r.State != StateRelated {
			t.Fatalf("error from inside: %+v", r)
		}
		fromOutside := on(icmpErrPkt("10.10.0.1", "198.51.100.66", 3, q), SideWAN, 0)
		if r := tbl.Lookup(&fromOutside); r.State != StateInvalid || r.Reason != ReasonICMPNoFlow {
			t.Fatalf("error arriving on the quoted packet's own side: %+v", r)
		}
	})
	t.Run("the same tuple from the other side is another connection", func(t *testing.T) {
		tbl, _ := newTable(t, Config{})
		a := mustCreate(t, tbl, syn)
		b := mustCreate(t, tbl, on(syn, SideLAN, 0))
		if a.ID == b.ID || tbl.Len() != 2 {
			t.Fatalf("ids %v %v, %d entries", a.ID, b.ID, tbl.Len())
		}
	})
}

// TestZones: two VLANs (zones) carrying the same addresses and ports have
// separate state.
func TestZones(t *testing.T) {
	tbl, clk := newTable(t, Config{})
	f := dns
	runSteps(t, tbl, clk, []step{
		{name: "query on VLAN 10", p: on(f.pkt(O), SideLAN, 10), create: true, state: StateNew},
		{name: "answer on VLAN 20", p: on(f.pkt(R), SideWAN, 20), state: StateNew},
	})
	// The answer on VLAN 20 was a new flow of VLAN 20 (track would have
	// created it); VLAN 10's entry is still unanswered.
	e := onlyEntry(t, tbl)
	if e.Replied || e.Zone != 10 {
		t.Fatalf("entry %+v", e)
	}
	r := on(f.pkt(R), SideWAN, 10)
	if res := tbl.Lookup(&r); res.State != StateEstablished || res.ID != e.ID {
		t.Fatalf("answer on VLAN 10: %+v", res)
	}
	q := on(f.pkt(O), SideLAN, 20)
	if res := track(tbl, &q); res.State != StateNew || res.ID == e.ID || tbl.Len() != 2 {
		t.Fatalf("query on VLAN 20: %+v, %d entries", res, tbl.Len())
	}
	in := f.inner(O)
	icmp := on(icmpErrPkt("203.0.113.1", f.client.Addr().String(), 3, in), SideWAN, 30)
	if res := tbl.Lookup(&icmp); res.Reason != ReasonICMPNoFlow {
		t.Fatalf("error on VLAN 30 quoting VLAN 10's query: %+v", res)
	}
}

func onlyEntry(t *testing.T, tbl *Table) Entry {
	t.Helper()
	var out []Entry
	tbl.Range(func(e Entry) bool { out = append(out, e); return true })
	if len(out) != 1 {
		t.Fatalf("%d entries, want 1", len(out))
	}
	return out[0]
}

// TestAdaptiveTimeouts: above the adaptive start every time-out shrinks in
// proportion to how full the table is, as pf's adaptive time-outs do.
func TestAdaptiveTimeouts(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 100, Shards: 1})
	for i := range 60 {
		mustCreate(t, tbl, udpN(i).pkt(O)) // 30 s each
	}
	if st := tbl.Stats(); st.TimeoutScale != 1 {
		t.Fatalf("scale %v at 60%%", st.TimeoutScale)
	}
	clk.Advance(16 * time.Second)
	if n := tbl.Sweep(clk.Now()); n != 0 {
		t.Fatalf("swept %d entries at 60%%", n)
	}
	// 90 entries: (120-90)/(120-60) = half of every time-out, 15 s.
	for i := 60; i < 90; i++ {
		mustCreate(t, tbl, udpN(i).pkt(O))
	}
	if st := tbl.Stats(); st.TimeoutScale != 0.5 {
		t.Fatalf("scale %v at 90%%, want 0.5", st.TimeoutScale)
	}
	// The first 60 have been idle 16 s: expired under the scaled
	// time-out, though 14 s of their own remain.
	old := udpN(0).pkt(O)
	if r := tbl.Lookup(&old); r.ID != 0 {
		t.Fatalf("an entry idle past its scaled time-out still matched: %+v", r)
	}
	if n := tbl.Sweep(clk.Now()); n != 59 {
		t.Fatalf("swept %d, want the other 59 old entries", n)
	}
	st := tbl.Stats()
	if st.AdaptiveExpired != 60 || st.Expired != 0 || st.Entries != 30 || st.TimeoutScale != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}

	off, clk2 := newTable(t, Config{MaxEntries: 10, Shards: 1, AdaptiveStart: 100})
	for i := range 10 {
		mustCreate(t, off, udpN(i).pkt(O))
	}
	clk2.Advance(29 * time.Second)
	if n := off.Sweep(clk2.Now()); n != 0 || off.Stats().TimeoutScale != 1 {
		t.Fatalf("scaling off: swept %d", n)
	}
}

// TestFullOfAssured: a table full of assured connections, idle for hours
// or days, still admits a new one: the connection idle longest goes.
func TestFullOfAssured(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		idle time.Duration
	}{
		// A full table keeps a third of the 5-day time-out: 40 hours.
		{"adaptive time-outs, idle a day", Config{MaxEntries: 64, Shards: 1}, 24 * time.Hour},
		{"no adaptive time-outs, idle four days", Config{MaxEntries: 64, Shards: 1, AdaptiveStart: 100}, 4 * 24 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl, clk := newTable(t, c.cfg)
			var first ID
			for i := 0; tbl.Len() < c.cfg.MaxEntries; i++ {
				f := tcpFlow("10.0.0.1:1", "192.0.2.80:80")
				f.client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1024+i))
				for _, s := range handshake(f, -1, -1, 64240, 65160, 64240) {
					p := s.p
					r := track(tbl, &p)
					if r.State == StateInvalid {
						t.Fatalf("handshake %d: %+v", i, r)
					}
					if first == 0 {
						first = r.ID
					}
				}
				clk.Advance(time.Minute)
			}
			clk.Advance(c.idle)
			p := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
			p.Flow.Src = netip.MustParseAddrPort("172.16.0.1:5555")
			r, ok := tbl.Create(&p)
			if !ok || r.State != StateNew {
				t.Fatalf("new connection refused: %+v", r)
			}
			st := tbl.Stats()
			if st.EvictedIdle != 1 || st.AdaptiveExpired != 0 || st.InsertFailed != 0 || st.Entries != c.cfg.MaxEntries || present(tbl, first) {
				t.Fatalf("first entry present %v, stats %+v", present(tbl, first), st)
			}
			if err := tbl.checkInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLimits: one source holds at most PerSource entries and one prefix
// at most PerPrefix; a refused source evicts nothing; counts follow
// entries out of the table whatever removes them.
func TestLimits(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 64, Shards: 4, PerSource: 3, PerPrefix: 5, PrefixLen6: 48})
	syn := func(src string, port uint16) Packet {
		p := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
		p.Flow.Src = netip.AddrPortFrom(netip.MustParseAddr(src), port)
		if p.Flow.Src.Addr().Is6() {
			p.Flow.Dst = netip.MustParseAddrPort("[2001:db8:ffff::80]:80")
		}
		return p
	}
	create := func(p Packet, want Reason) Result {
		t.Helper()
		r, ok := tbl.Create(&p)
		if r.Reason != want || ok != (want == ReasonNone) {
			t.Fatalf("Create from %v: %+v, want %v", p.Flow.Src, r, want)
		}
		if err := tbl.checkInvariants(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var ids []ID
	for i := range 3 {
		ids = append(ids, create(syn("198.51.100.7", uint16(1000+i)), ReasonNone).ID)
	}
	create(syn("198.51.100.7", 2000), ReasonSourceLimit)
	// The same address in another zone (another VLAN), or arriving on
	// another side, is another source, in another prefix.
	other := syn("198.51.100.7", 2001)
	other.Zone = 7
	create(other, ReasonNone)
	other.Zone, other.Side = 0, SideLAN
	create(other, ReasonNone)
	create(syn("198.51.100.8", 1000), ReasonNone)
	create(syn("198.51.100.8", 1001), ReasonNone)
	create(syn("198.51.100.9", 1000), ReasonPrefixLimit)
	create(syn("198.51.101.9", 1000), ReasonNone)
	// Deleting one of the source's entries gives its place back.
	tbl.Delete(ids[0])
	create(syn("198.51.100.7", 2002), ReasonNone)
	// Expiry gives places back too.
	clk.Advance(121 * time.Second)
	tbl.Sweep(clk.Now())
	if tbl.Len() != 0 {
		t.Fatalf("%d entries after the time-out", tbl.Len())
	}
	for i := range 3 {
		create(syn("198.51.100.7", uint16(3000+i)), ReasonNone)
	}
	// IPv6 sources are counted by /48 here.
	for i := range 5 {
		create(syn(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, byte(i), 15: 1}).String(), 1000), ReasonNone)
	}
	create(syn("2001:db8:1:ff::1", 1000), ReasonPrefixLimit)
	create(syn("2001:db8:2::1", 1000), ReasonNone)
	st := tbl.Stats()
	if st.Invalid[ReasonSourceLimit] != 1 || st.Invalid[ReasonPrefixLimit] != 2 || st.EarlyDrop != 0 || st.InsertFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
	tbl.Flush()
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsUnderEviction: a flood of new connections evicting each other
// keeps the per-source counts exact.
func TestLimitsUnderEviction(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 128, Shards: 4, PerSource: 3, PerPrefix: 20, PrefixLen4: 28})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		p := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
		p.Flow.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(rng.IntN(2)), byte(rng.IntN(32))}), uint16(rng.IntN(60000)+1))
		tbl.Create(&p)
		if i%7 == 0 {
			u := udpN(rng.IntN(500)).pkt(O)
			track(tbl, &u)
		}
		if i%500 == 0 {
			clk.Advance(10 * time.Second)
			if err := tbl.checkInvariants(); err != nil {
				t.Fatalf("after %d: %v", i, err)
			}
		}
	}
	st := tbl.Stats()
	if st.EarlyDrop == 0 || st.Invalid[ReasonSourceLimit] == 0 || st.Invalid[ReasonPrefixLimit] == 0 {
		t.Fatalf("the flood did not exercise eviction and both limits: %+v", st)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestCountsMatchMap checks the open-addressing counts against a map, on
// a table small enough that keys collide and deletions shift others back.
func TestCountsMatchMap(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		l := &limits{perSource: 1 << 30, shards: make([]countShard, 1)}
		c := &l.shards[0]
		c.keys, c.n, c.mask = make([]uint64, 16), make([]uint32, 16), 15
		ref := map[uint64]uint32{}
		// Keys share their low bits often, so they probe past each other.
		keys := rapid.SliceOfNDistinct(rapid.Uint64Range(1, 1<<20), 1, 12, rapid.ID).Draw(rt, "keys")
		for i, n := 0, rapid.IntRange(1, 200).Draw(rt, "ops"); i < n; i++ {
			k := keys[rapid.IntRange(0, len(keys)-1).Draw(rt, "key")]
			if ref[k] > 0 && rapid.Bool().Draw(rt, "sub") {
				l.sub(k)
				if ref[k]--; ref[k] == 0 {
					delete(ref, k)
				}
			} else if l.add(k, 1<<30, ReasonSourceLimit) == ReasonNone {
				ref[k]++
			}
			for _, k := range keys {
				if got := l.get(k); got != ref[k] {
					rt.Fatalf("key %#x counted %d, want %d", k, got, ref[k])
				}
			}
		}
	})
}

// TestClosedConnectionsDoNotCount: as in Linux's connlimit, a connection
// in TIME_WAIT or CLOSE no longer counts against its source's bound, so a
// client that opens and closes connections quickly is bounded by what it
// holds open.
func TestClosedConnectionsDoNotCount(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 64, PerSource: 2})
	conn := func(port uint16) conn {
		f := web
		f.client = netip.AddrPortFrom(f.client.Addr(), port)
		return f
	}
	for i := range 4 {
		f := conn(uint16(5000 + i))
		runSteps(t, tbl, clk, handshake(f, -1, -1, 64240, 65160, 64240))
		close := step{name: "RST", p: f.seg(O, packet.TCPRST|packet.TCPACK, cISN+1, sISN+1, 0, 0), state: StateEstablished, tcp: TCPClose}
		if i%2 == 1 {
			// The other way out: FIN both ways and the last ACK.
			runSteps(t, tbl, clk, []step{
				{name: "FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
				{name: "FIN back", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN+1, cISN+2, 65160, 0), state: StateEstablished, tcp: TCPLastAck},
			})
			close = step{name: "last ACK", p: f.seg(O, packet.TCPACK, cISN+2, sISN+2, 64240, 0), state: StateEstablished, tcp: TCPTimeWait}
		}
		runSteps(t, tbl, clk, []step{close})
	}
	// Four connections came and went; two more open ones are allowed, a
	// third is not.
	for i, want := range []Reason{ReasonNone, ReasonNone, ReasonSourceLimit} {
		p := conn(uint16(6000+i)).seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
		if r, _ := tbl.Create(&p); r.Reason != want {
			t.Fatalf("SYN %d: %+v, want %v", i, r, want)
		}
	}
	if tbl.Len() != 6 {
		t.Fatalf("%d entries", tbl.Len())
	}
}
