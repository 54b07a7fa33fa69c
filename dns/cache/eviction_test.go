package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func putA(t testing.TB, c *Cache, name string, ttl int, now time.Time) {
	t.Helper()
	rr := &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: uint32(ttl)}, A: []byte{192, 0, 2, 1}}
	if err := c.PutRRset([]dns.RR{rr}, RankAnswerAuth, now); err != nil {
		t.Fatal(err)
	}
}

func hasA(c *Cache, name string, now time.Time) bool {
	_, _, ok := c.GetRRset(name, dns.TypeA, dns.ClassINET, now)
	return ok
}

// checkBound verifies the charged bytes against the limit and against the
// entries actually linked in each shard.
func checkBound(t *testing.T, c *Cache) {
	t.Helper()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		var sum int64
		n := 0
		for j := 1; j < len(s.slots); j++ {
			if e := &s.slots[j]; e.queue != queueNone {
				sum += int64(e.size)
				n++
			}
		}
		if s.bytes > s.limit || sum != s.bytes || s.small.bytes+s.main.bytes != s.bytes ||
			n != s.small.n+s.main.n || n != s.idx.n || n != len(s.heap) {
			t.Errorf("shard %d: bytes %d (limit %d, linked %d, queues %d+%d), entries %d/%d/%d/%d",
				i, s.bytes, s.limit, sum, s.small.bytes, s.main.bytes, n, s.small.n+s.main.n, s.idx.n, len(s.heap))
		}
		s.mu.RUnlock()
	}
}

func TestMemoryBound(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxBytes: 256 << 10, Shards: 4})
	now := clk.Now()
	for i := range 20000 {
		putA(t, c, fmt.Sprintf("n%d.example.", i), 3600, now)
	}
	m := response(t, "big.example.", dns.TypeTXT, false, []string{`big.example. 60 IN TXT "` + string(make([]byte, 200)) + `"`}, nil, nil)
	for range 100 {
		if err := c.PutAnswer(m, now); err != nil {
			t.Fatal(err)
		}
	}
	checkBound(t, c)
	st := c.Stats()
	if st.Bytes > st.MaxBytes || st.Evictions == 0 || st.Entries == 0 || st.Inserts != 20001 || st.Updates != 99 {
		t.Errorf("stats %+v", st)
	}
	// A single entry bigger than a shard is refused, and counted.
	var huge []string
	for i := range 400 {
		huge = append(huge, fmt.Sprintf(`huge.example. 60 IN TXT "%0200d"`, i))
	}
	err := c.PutRRset(mustRRs(t, huge...), RankAnswerAuth, now)
	if err == nil || c.Stats().Dropped != 1 {
		t.Errorf("oversized RRset: err %v, dropped %d", err, c.Stats().Dropped)
	}
}

// TestHotEntriesSurvive streams many never-read entries through a small
// cache while a hot set is read between insertions: S3-FIFO must keep every
// hot entry, where FIFO or a scan-polluted LRU would lose them.
func TestHotEntriesSurvive(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxBytes: 256 << 10, Shards: 4})
	now := clk.Now()
	const hot = 200
	for i := range hot {
		putA(t, c, fmt.Sprintf("hot%d.example.", i), 86400, now)
	}
	next := 0
	for i := range 50000 {
		putA(t, c, fmt.Sprintf("cold%d.example.", i), 86400, now)
		if i%10 == 0 {
			for range 10 {
				if !hasA(c, fmt.Sprintf("hot%d.example.", next), now) {
					t.Fatalf("hot%d evicted after %d cold inserts", next, i)
				}
				next = (next + 1) % hot
			}
		}
	}
	checkBound(t, c)
	cold := 0
	for i := range 50000 {
		if hasA(c, fmt.Sprintf("cold%d.example.", i), now) {
			cold++
		}
	}
	st := c.Stats()
	t.Logf("%d entries, %d cold kept, %d evictions, %d bytes", st.Entries, cold, st.Evictions, st.Bytes)
	if st.Evictions < 40000 || cold == 0 {
		t.Errorf("cache did not cycle cold entries: %+v", st)
	}
}

// TestExpiredEvictedFirst fills a cache with old long-lived entries, then
// short-lived ones that expire; new entries must push out the expired ones,
// not the older live ones a FIFO would pick.
func TestExpiredEvictedFirst(t *testing.T) {
	for _, stale := range []bool{false, true} {
		c, clk := newTestCache(t, Config{MaxBytes: 128 << 10, Shards: 2, ServeStale: stale})
		start := clk.Now()
		putA(t, c, "probe.example.", 1, start)
		// n entries fill 40% of the cache: long and short fit, the new
		// ones need room that only the expired short ones can give.
		n := int(c.Stats().MaxBytes * 4 / 10 / c.Stats().Bytes)
		c.FlushAll()
		for i := range n {
			putA(t, c, fmt.Sprintf("long%d.example.", i), 86400, start)
		}
		for i := range n {
			putA(t, c, fmt.Sprintf("short%d.example.", i), 10, start)
		}
		later := start.Add(time.Minute)
		for i := range n {
			putA(t, c, fmt.Sprintf("new%d.example.", i), 86400, later)
		}
		checkBound(t, c)
		lost := 0
		for i := range n {
			if !hasA(c, fmt.Sprintf("long%d.example.", i), later) {
				lost++
			}
		}
		st := c.Stats()
		if lost != 0 || st.Expirations == 0 || st.Evictions != 0 {
			t.Errorf("stale=%v: %d live entries lost, %d expirations, %d evictions", stale, lost, st.Expirations, st.Evictions)
		}
	}
}

// TestCompaction frees most of a shard and checks that the slab shrinks
// while every structure still agrees and the survivors stay reachable in
// their eviction order.
func TestCompaction(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxBytes: 4 << 20, Shards: 1})
	now := clk.Now()
	for i := range 4000 {
		zone := "gone"
		if i%8 == 0 {
			zone = "kept"
		}
		putA(t, c, fmt.Sprintf("n%d.%s.example.", i, zone), 100+i, now)
	}
	for i := range 4000 {
		if i%16 == 0 {
			hasA(c, fmt.Sprintf("n%d.kept.example.", i), now) // some frequency to carry over
		}
	}
	s := &c.shards[0]
	before := len(s.slots)
	if n, err := c.Flush("gone.example."); err != nil || n != 3500 {
		t.Fatalf("Flush removed %d (%v)", n, err)
	}
	if len(s.slots) >= before/2 || s.freeHead != 0 {
		t.Errorf("slab not compacted: %d slots before, %d after", before, len(s.slots))
	}
	checkBound(t, c)
	for i := 0; i < 4000; i += 8 {
		if !hasA(c, fmt.Sprintf("n%d.kept.example.", i), now) {
			t.Fatalf("n%d.kept lost by compaction", i)
		}
	}
	// The heap still orders by expiry: removing expired entries takes
	// exactly those with a TTL below the cut.
	if n := c.RemoveExpired(now.Add(1100 * time.Second)); n != 126 { // TTLs 100..1100 in steps of 8
		t.Errorf("RemoveExpired removed %d, want 126", n)
	}
	for i := range 2000 {
		putA(t, c, fmt.Sprintf("more%d.example.", i), 3600, now)
	}
	checkBound(t, c)
}
