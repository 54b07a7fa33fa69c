package conntrack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/packet"
)

// TestConcurrent runs complete TCP and UDP conversations from several
// goroutines against one small table, so that creation, eviction, expiry,
// deletion, sweeping, iteration and rechecks race with each other. Run
// with -race. Afterwards the table's links and counters must agree.
func TestConcurrent(t *testing.T) {
	t.Run("no limits", func(t *testing.T) { testConcurrent(t, Config{}) })
	// Bounds that bind for some sources, so that refusals, evictions and
	// the counts race too.
	t.Run("per-source limits", func(t *testing.T) { testConcurrent(t, Config{PerSource: 20, PerPrefix: 150, PrefixLen4: 16}) })
}

func testConcurrent(t *testing.T, cfg Config) {
	const (
		workers = 6
		flows   = 400
		max     = 512
	)
	clk := clock.NewFake(epoch)
	cfg.MaxEntries, cfg.Shards, cfg.Clock = max, 8, clk
	tbl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var established atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range flows {
				n := w*flows + i
				f := tcpFlow("10.0.0.1:1", "192.0.2.1:443")
				f.client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(w), byte(n >> 8), byte(n)}), uint16(2000+i))
				steps := handshake(f, 7, 7, 64240, 65160, 502)
				ok := true
				for _, s := range steps {
					p := s.p
					if r := track(tbl, &p); r.State == StateInvalid {
						ok = false // evicted under pressure: legitimate
						break
					}
				}
				if ok {
					established.Add(1)
				}
				d := f.seg(O, packet.TCPACK, cISN+1, sISN+1, 502, 100)
				tbl.Lookup(&d)
				if i%2 == 0 {
					// Close half of them: closing entries may be evicted
					// and expire within seconds.
					rst := f.seg(O, packet.TCPRST, cISN+1, 0, 0, 0)
					tbl.Lookup(&rst)
				}
				u := udpN(n).pkt(O)
				r := track(tbl, &u)
				if i%3 == 0 {
					tbl.Delete(r.ID)
				}
				if i%50 == 0 {
					clk.Advance(time.Second)
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for !stop.Load() {
			tbl.Sweep(clk.Now())
			tbl.Range(func(e Entry) bool { return e.ID != 0 })
			tbl.Recheck(func(tp Tuple, _ uint32) bool { return tp.Flow.Dst.Port() != 53 || tp.Flow.Src.Port()%7 != 0 })
			_ = tbl.Stats()
		}
	}()
	wg.Wait()
	stop.Store(true)
	bg.Wait()

	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	st := tbl.Stats()
	if st.Created-st.Deleted-st.Expired-st.AdaptiveExpired-st.EarlyDrop-st.EvictedIdle != uint64(st.Entries) {
		t.Fatalf("counters do not add up: %+v", st)
	}
	if established.Load() == 0 {
		t.Fatal("no handshake completed")
	}
	t.Logf("entries %d created %d deleted %d expired %d adaptive %d early_drop %d evicted_idle %d insert_failed %d established %d",
		st.Entries, st.Created, st.Deleted, st.Expired, st.AdaptiveExpired, st.EarlyDrop, st.EvictedIdle, st.InsertFailed, established.Load())
}
