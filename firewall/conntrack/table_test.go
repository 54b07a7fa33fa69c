package conntrack

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// udpN is the n-th distinct UDP flow.
func udpN(n int) conn {
	return conn{
		proto:  ipproto.UDP,
		client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), uint16(1024+n)),
		server: netip.MustParseAddrPort("192.0.2.53:53"),
	}
}

func genericN(n int) Packet {
	return Packet{
		Flow: flow.Key{
			Src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(n >> 8), byte(n)}), 0),
			Dst:   netip.MustParseAddrPort("192.0.2.9:0"),
			Proto: ipproto.GRE,
		},
		WScale: -1,
	}
}

func mustCreate(t *testing.T, tbl *Table, p Packet) Result {
	t.Helper()
	r, ok := tbl.Create(&p)
	if !ok {
		t.Fatalf("Create(%v): %+v", p.Flow, r)
	}
	return r
}

func present(tbl *Table, id ID) bool {
	_, ok := tbl.Get(id)
	return ok
}

// makeStream turns UDP flow f into an assured stream.
func makeStream(t *testing.T, tbl *Table, clk *clock.Fake, f conn) Result {
	t.Helper()
	r := mustCreate(t, tbl, f.pkt(O))
	a := f.pkt(R)
	tbl.Lookup(&a)
	clk.Advance(3 * time.Second)
	q := f.pkt(O)
	tbl.Lookup(&q)
	if e, _ := tbl.Get(r.ID); !e.Assured {
		t.Fatalf("%v not assured", f)
	}
	return r
}

func TestTableFull(t *testing.T) {
	t.Run("early drop takes the oldest unassured entry", func(t *testing.T) {
		tbl, clk := newTable(t, Config{MaxEntries: 4, Shards: 1})
		var ids []ID
		for i := range 4 {
			ids = append(ids, mustCreate(t, tbl, udpN(i).pkt(O)).ID)
			clk.Advance(time.Second)
		}
		r := mustCreate(t, tbl, udpN(4).pkt(O))
		if present(tbl, ids[0]) || !present(tbl, ids[1]) || !present(tbl, r.ID) {
			t.Fatal("wrong entry evicted")
		}
		st := tbl.Stats()
		if st.EarlyDrop != 1 || st.Expired != 0 || st.Entries != 4 || st.InsertFailed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("expired entries go before live ones", func(t *testing.T) {
		tbl, clk := newTable(t, Config{MaxEntries: 4, Shards: 1})
		var gre []ID
		for i := range 3 {
			gre = append(gre, mustCreate(t, tbl, genericN(i)).ID) // 600s, oldest
		}
		clk.Advance(time.Second)
		ping := mustCreate(t, tbl, icmpPkt("10.0.0.1", "192.0.2.1", 8, 1)).ID // 30s, newest
		clk.Advance(31 * time.Second)
		mustCreate(t, tbl, udpN(0).pkt(O))
		if present(tbl, ping) {
			t.Fatal("expired ICMP entry survived")
		}
		for _, id := range gre {
			if !present(tbl, id) {
				t.Fatal("live entry evicted while an expired one was available")
			}
		}
		if st := tbl.Stats(); st.Expired != 1 || st.EarlyDrop != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("with nothing unassured left, the entry idle longest goes, assured or not", func(t *testing.T) {
		tbl, clk := newTable(t, Config{MaxEntries: 2, Shards: 1})
		a := makeStream(t, tbl, clk, udpN(0))
		b := makeStream(t, tbl, clk, udpN(1))
		clk.Advance(time.Second)
		// a was refreshed before b, so a has been idle longer.
		r := mustCreate(t, tbl, udpN(2).pkt(O))
		if present(tbl, a.ID) || !present(tbl, b.ID) || !present(tbl, r.ID) {
			t.Fatalf("a present %v, b present %v", present(tbl, a.ID), present(tbl, b.ID))
		}
		// Touching b makes a's successor (the new, unassured flow) the
		// one to go next: unassured entries go before any assured one.
		q := udpN(1).pkt(O)
		tbl.Lookup(&q)
		r2 := mustCreate(t, tbl, udpN(3).pkt(O))
		if present(tbl, r.ID) || !present(tbl, b.ID) || !present(tbl, r2.ID) {
			t.Fatal("an assured entry went while an unassured one was there")
		}
		if st := tbl.Stats(); st.EvictedIdle != 1 || st.EarlyDrop != 1 || st.InsertFailed != 0 || st.Entries != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("a closing TCP connection may go even when assured", func(t *testing.T) {
		tbl, clk := newTable(t, Config{MaxEntries: 2, Shards: 1})
		runSteps(t, tbl, clk, handshake(web, -1, -1, 64240, 65160, 64240))
		runSteps(t, tbl, clk, []step{
			{name: "FIN", p: web.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
		})
		s := makeStream(t, tbl, clk, udpN(0))
		mustCreate(t, tbl, udpN(1).pkt(O))
		if !present(tbl, s.ID) || tbl.Stats().EarlyDrop != 1 {
			t.Fatalf("stats %+v", tbl.Stats())
		}
		p := web.seg(O, packet.TCPACK, cISN+2, sISN+1, 64240, 0)
		if r := tbl.Lookup(&p); r.Reason != ReasonNoEntry {
			t.Fatalf("closing connection still tracked: %+v", r)
		}
	})
	t.Run("eviction reaches other shards", func(t *testing.T) {
		const max = 64
		tbl, clk := newTable(t, Config{MaxEntries: max, Shards: 8})
		// Fill with assured streams, then make exactly one entry
		// droppable; whichever shard it is in, a new flow may take its
		// place.
		var ids []ID
		for i := 0; tbl.Len() < max; i++ {
			f := udpN(i)
			p := f.pkt(O)
			r, ok := tbl.Create(&p)
			if !ok {
				continue // its shard is full; another flow will do
			}
			a := f.pkt(R)
			tbl.Lookup(&a)
			ids = append(ids, r.ID)
		}
		clk.Advance(3 * time.Second)
		tbl.Range(func(e Entry) bool {
			q := Packet{Flow: e.Orig.Flow}
			tbl.Lookup(&q)
			return true
		})
		victim := genericN(0)
		for _, id := range ids[:1] {
			tbl.Delete(id)
		}
		vr := mustCreate(t, tbl, victim)
		created := 0
		for i := 1000; i < 1100 && created == 0; i++ {
			p := udpN(i).pkt(O)
			if _, ok := tbl.Create(&p); ok {
				created++
			}
		}
		if created != 1 || present(tbl, vr.ID) {
			t.Fatalf("created %d, victim present %v, stats %+v", created, present(tbl, vr.ID), tbl.Stats())
		}
		if err := tbl.checkInvariants(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTableBoundUnderFlood(t *testing.T) {
	const max = 1000
	tbl, clk := newTable(t, Config{MaxEntries: max, Shards: 4})
	keep := makeStream(t, tbl, clk, udpN(60000))
	for i := range 20000 {
		p := web.seg(O, packet.TCPSYN, uint32(i), 0, 1024, 0)
		p.Flow.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), uint16(i))
		tbl.Create(&p)
		if tbl.Len() > max {
			t.Fatalf("Len %d > %d", tbl.Len(), max)
		}
	}
	st := tbl.Stats()
	if st.Created-st.EarlyDrop-st.EvictedIdle-st.Expired-st.AdaptiveExpired-st.Deleted != uint64(st.Entries) {
		t.Fatalf("counters do not add up: %+v", st)
	}
	if st.EarlyDrop < 19000 || !present(tbl, keep.ID) {
		t.Fatalf("flood evicted the stream or too little: %+v", st)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestSweep(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 4096, SweepBatch: 300})
	for i := range 1000 {
		mustCreate(t, tbl, udpN(i).pkt(O))
	}
	long := mustCreate(t, tbl, genericN(1))
	if n := tbl.Sweep(clk.Now()); n != 0 {
		t.Fatalf("swept %d live entries", n)
	}
	clk.Advance(30 * time.Second)
	total := 0
	for range 10 {
		n := tbl.Sweep(clk.Now())
		if n > 300 {
			t.Fatalf("swept %d > batch", n)
		}
		total += n
		if n == 0 {
			break
		}
	}
	if total != 1000 || tbl.Len() != 1 || !present(tbl, long.ID) {
		t.Fatalf("swept %d, %d left", total, tbl.Len())
	}
	if st := tbl.Stats(); st.Expired != 1000 {
		t.Fatalf("expired %d", st.Expired)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteGetFlushRange(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 64, Shards: 1})
	q := dns.pkt(O)
	r := track(tbl, &q)
	e, ok := tbl.Get(r.ID)
	if !ok {
		t.Fatal("Get")
	}
	wantOrig := Tuple{Flow: flow.Key{Src: dns.client, Dst: dns.server, Proto: ipproto.UDP}}
	wantReply := Tuple{Flow: wantOrig.Flow.Reverse()}
	if e.Orig != wantOrig || e.Reply != wantReply || !e.Created.Equal(clk.Now()) || e.Packets != [2]uint64{1, 0} {
		t.Fatalf("entry %+v", e)
	}
	if !tbl.Delete(r.ID) || tbl.Delete(r.ID) {
		t.Fatal("Delete twice")
	}
	// The slot is reused by the next flow; the old ID must not reach it.
	r2 := track(tbl, &q)
	if r2.ID == r.ID || present(tbl, r.ID) || tbl.Delete(r.ID) {
		t.Fatal("stale ID matched a reused slot")
	}
	for _, bad := range []ID{0, ID(1<<32 | 63), ID(1<<32 | 5<<slotBits), ^ID(0)} {
		if present(tbl, bad) || tbl.Delete(bad) {
			t.Fatalf("bogus ID %#x matched", uint64(bad))
		}
	}
	for i := range 9 {
		mustCreate(t, tbl, udpN(i).pkt(O))
	}
	n := 0
	tbl.Range(func(Entry) bool { n++; return true })
	if n != 10 {
		t.Fatalf("Range saw %d", n)
	}
	n = 0
	tbl.Range(func(Entry) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("Range did not stop: %d", n)
	}
	// fn may call the table.
	tbl.Range(func(e Entry) bool { tbl.Delete(e.ID); return true })
	if tbl.Len() != 0 {
		t.Fatalf("Len %d after deleting in Range", tbl.Len())
	}
	for i := range 5 {
		mustCreate(t, tbl, udpN(i).pkt(O))
	}
	if n := tbl.Flush(); n != 5 || tbl.Len() != 0 {
		t.Fatalf("Flush %d, Len %d", n, tbl.Len())
	}
	if st := tbl.Stats(); st.Deleted != 16 {
		t.Fatalf("deleted %d", st.Deleted)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestICMPTupleInEntry(t *testing.T) {
	tbl, _ := newTable(t, Config{MaxEntries: 64})
	r := mustCreate(t, tbl, icmpPkt("2001:db8::1", "2001:db8::2", 128, 42))
	e, _ := tbl.Get(r.ID)
	// The flow key holds the identifier in both ports (package flow's
	// convention); the tuple adds each direction's type.
	orig := flow.Key{Src: netip.MustParseAddrPort("[2001:db8::1]:42"), Dst: netip.MustParseAddrPort("[2001:db8::2]:42"), Proto: ipproto.ICMPv6}
	if e.Orig != (Tuple{Flow: orig, ICMPType: 128}) || e.Reply != (Tuple{Flow: orig.Reverse(), ICMPType: 129}) {
		t.Fatalf("entry %+v", e)
	}
}

func TestRecheck(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 1024})
	ssh := tcpFlow("10.0.0.1:50000", "192.0.2.22:22")
	runSteps(t, tbl, clk, handshake(ssh, -1, -1, 64240, 65160, 64240))
	runSteps(t, tbl, clk, handshake(web, -1, -1, 64240, 65160, 64240))
	for i := range 200 {
		mustCreate(t, tbl, udpN(i).pkt(O))
	}
	seen := 0
	removed := tbl.Recheck(func(tp Tuple, _ uint32) bool {
		seen++
		return !(tp.Flow.Proto == ipproto.TCP && tp.Flow.Dst.Port() == 22)
	})
	if removed != 1 || seen != 202 || tbl.Len() != 201 {
		t.Fatalf("removed %d, asked %d, %d left", removed, seen, tbl.Len())
	}
	// The cut connection's next segment has no entry to belong to.
	p := ssh.seg(R, packet.TCPACK, sISN+1, cISN+1, 65160, 10)
	if r := tbl.Lookup(&p); r.State != StateInvalid || r.Reason != ReasonNoEntry {
		t.Fatalf("after recheck: %+v", r)
	}
	p = web.seg(R, packet.TCPACK, sISN+1, cISN+1, 65160, 10)
	if r := tbl.Lookup(&p); r.State != StateEstablished {
		t.Fatalf("kept connection: %+v", r)
	}
	if removed := tbl.Recheck(func(Tuple, uint32) bool { return false }); removed != 201 || tbl.Len() != 0 {
		t.Fatalf("removed %d", removed)
	}
}

func TestConfig(t *testing.T) {
	bad := []Config{
		{MaxEntries: -1},
		{MaxEntries: maxEntries + 1},
		{Shards: 3},
		{Shards: -2},
		{Shards: 2048},
		{MaxRetrans: 300},
		{SweepBatch: -1},
		{Timeouts: Timeouts{UDP: -time.Second}},
		{Timeouts: Timeouts{TCPEstablished: 100 * 365 * 24 * time.Hour}},
		{MaxEntries: 1 << 23, Shards: 1},
		{PerSource: -1},
		{PerPrefix: maxEntries + 1},
		{PrefixLen4: 33},
		{PrefixLen6: -1},
		{PrefixLen6: 129},
		{AdaptiveStart: -5},
		{AdaptiveStart: 80, AdaptiveEnd: 70},
		{AdaptiveStart: 60, AdaptiveEnd: 5000},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); !errors.Is(err, errConfig) {
			t.Errorf("New(%+v) = %v, want config error", cfg, err)
		}
	}
	_, err := New(Config{Timeouts: Timeouts{TCPClose: -1}})
	if err == nil || !strings.Contains(err.Error(), "tcp_close") {
		t.Errorf("error does not name the field: %v", err)
	}
	tbl, err := New(Config{MaxEntries: 1000, Timeouts: Timeouts{UDP: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if tbl.timeouts[clsUDP] != int64(5*time.Second) || tbl.timeouts[TCPEstablished] != int64(432000*time.Second) {
		t.Fatal("timeouts not merged with defaults")
	}
	if len(tbl.shards) > 1000/256+1 {
		t.Fatalf("%d shards for 1000 entries", len(tbl.shards))
	}
	capacity := 0
	for i := range tbl.shards {
		capacity += len(tbl.shards[i].entries)
	}
	if capacity < 1000 {
		t.Fatalf("capacity %d", capacity)
	}
	if tbl.lim != nil || tbl.adStart != 1000*60 || tbl.adEnd != 1000*120 {
		t.Fatalf("defaults: limits %v, adaptive %d..%d", tbl.lim != nil, tbl.adStart, tbl.adEnd)
	}
	// A start of 100% or more turns scaling off, whatever the end.
	for _, cfg := range []Config{{AdaptiveStart: 100}, {AdaptiveStart: 150, AdaptiveEnd: 120}} {
		if tbl, err := New(cfg); err != nil || tbl.scale() != scaleOne || tbl.adStart != math.MaxInt64 {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

func TestCollector(t *testing.T) {
	tbl, _ := newTable(t, Config{MaxEntries: 64, PerSource: 1})
	q := dns.pkt(O)
	track(tbl, &q)
	spoof := web.seg(R, packet.TCPACK, 1, 1, 1, 0)
	tbl.Lookup(&spoof)
	again := dns.pkt(O)
	again.Flow.Src = netip.AddrPortFrom(again.Flow.Src.Addr(), 1)
	track(tbl, &again)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(tbl.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			switch {
			case m.GetGauge() != nil:
				got[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"rampart_conntrack_entries":                            1,
		"rampart_conntrack_max_entries":                        64,
		"rampart_conntrack_created_total":                      1,
		"rampart_conntrack_early_drop_total":                   0,
		"rampart_conntrack_insert_failed_total":                0,
		"rampart_conntrack_invalid_total{reason=no_entry}":     1,
		"rampart_conntrack_invalid_total{reason=malformed}":    0,
		"rampart_conntrack_ignored_total{reason=seq_under}":    0,
		"rampart_conntrack_expired_total":                      0,
		"rampart_conntrack_deleted_total":                      0,
		"rampart_conntrack_ignored_total{reason=tcp_ignored}":  0,
		"rampart_conntrack_invalid_total{reason=icmp_no_flow}": 0,
		"rampart_conntrack_adaptive_expired_total":             0,
		"rampart_conntrack_evicted_idle_total":                 0,
		"rampart_conntrack_refused_total{limit=source}":        1,
		"rampart_conntrack_refused_total{limit=prefix}":        0,
		"rampart_conntrack_timeout_scale":                      1,
		"rampart_conntrack_evictable_entries":                  1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for _, r := range []string{"table_full", "source_limit", "prefix_limit"} {
		if _, ok := got["rampart_conntrack_invalid_total{reason="+r+"}"]; ok {
			t.Errorf("%s exported as invalid; it is a refusal", r)
		}
	}
}

func TestStrings(t *testing.T) {
	for r := ReasonNone; r < ReasonCount; r++ {
		if s := r.String(); s == "unknown" || s == "" {
			t.Errorf("reason %d has no name", r)
		}
	}
	for s := TCPNone; s <= TCPSynSent2; s++ {
		if s.String() == "UNKNOWN" {
			t.Errorf("TCP state %d has no name", s)
		}
	}
	if StateRelated.String() != "related" || DirReply.String() != "reply" || Reason(200).String() != "unknown" {
		t.Error("names")
	}
}

func TestMark(t *testing.T) {
	tbl, _ := newTable(t, Config{MaxEntries: 64})
	p := udpN(1).pkt(O)
	p.Mark = 7
	r := mustCreate(t, tbl, p)
	e, ok := tbl.Get(r.ID)
	if !ok || e.Mark != 7 {
		t.Fatalf("entry %+v, %v: want mark 7", e, ok)
	}
	var marks []uint32
	tbl.Recheck(func(_ Tuple, m uint32) bool { marks = append(marks, m); return true })
	if len(marks) != 1 || marks[0] != 7 {
		t.Fatalf("Recheck saw marks %v", marks)
	}
}
