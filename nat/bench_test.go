package nat

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// benchTranslate runs the packet path of a translated flow: the frame
// copied into the ring's buffer, decoded, looked up (its rewrite comes
// with its entry), rewritten in place. 0 allocations.
func benchTranslate(b *testing.B, frame []byte, side conntrack.Side, setup func(r *rig)) {
	t := &testing.T{}
	r := newRig(t, Config{})
	setup(r)
	buf := make([]byte, len(frame))
	var p packet.Parsed
	var rw conntrack.Rewrite
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	defer benchcpu.Start(b)()
	for range b.N {
		copy(buf, frame)
		p.Decode(buf)
		cp := toConntrack(&p, side)
		cp.NAT = &rw
		res := r.tbl.Lookup(&cp)
		if !res.NAT || !r.tr.Rewrite(&p, &rw) {
			b.Fatalf("not translated: %+v", res)
		}
	}
}

func BenchmarkTranslateOutbound(b *testing.B) {
	out := udp(b, "10.10.0.11:5000", "198.51.100.80:3478", "0123456789abcdef0123456789abcdef")
	benchTranslate(b, out, lan, func(r *rig) { r.send(out, lan) })
}

func BenchmarkTranslateInbound(b *testing.B) {
	out := udp(b, "10.10.0.11:5000", "198.51.100.80:3478", "x")
	in := udp(b, "198.51.100.80:3478", wanAddr+":5000", "0123456789abcdef0123456789abcdef")
	benchTranslate(b, in, wan, func(r *rig) { r.send(out, lan) })
}

func BenchmarkTranslateICMPError(b *testing.B) {
	out := udp(b, "10.10.0.11:5000", "198.51.100.80:3478", "x")
	left := udp(b, wanAddr+":5000", "198.51.100.80:3478", "x")
	e := icmpErr(b, "192.0.2.9", wanAddr, 3, 3, left, 0)
	benchTranslate(b, e, wan, func(r *rig) { r.send(out, lan) })
}

// BenchmarkNewMappings measures new outbound UDP flows, each from an
// inside endpoint without a mapping: the translator's decision, the port
// allocation and the translated entry. Entries are deleted in batches
// (their mappings freed by Release) so that the table never fills.
func BenchmarkNewMappings(b *testing.B) {
	tr, err := New(Config{
		Public:      []netip.Addr{netip.MustParseAddr(wanAddr)},
		Masquerade:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		MaxMappings: 1 << 16,
		PerHost:     1 << 16,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctc := conntrack.Config{MaxEntries: 1 << 16, Clock: clock.NewFake(time.Unix(0, 0))}
	tr.Conntrack(&ctc)
	tbl, err := conntrack.New(ctc)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 4096
	ids := make([]conntrack.ID, 0, batch)
	srv := netip.MustParseAddrPort("198.51.100.80:53")
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.Start(b)
	cpu0 := benchcpu.Thread()
	for i := range b.N {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%60000))
		p := conntrack.Packet{Flow: flow.Key{Src: src, Dst: srv, Proto: ipproto.UDP}, Side: lan, WScale: -1}
		r, out := tr.Create(tbl, &p)
		if out != Translated {
			b.Fatal(fmt.Sprint("flow ", i, ": ", out, " ", r.Reason))
		}
		if ids = append(ids, r.ID); len(ids) == batch {
			for _, id := range ids {
				tbl.Delete(id)
			}
			ids = ids[:0]
		}
	}
	// New mappings per second of one core's CPU time: the machines are
	// shared, and wall time counts the time others held the core.
	if cpu := benchcpu.Thread() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "mappings/cpu-s")
	}
	stop()
}
