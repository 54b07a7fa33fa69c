package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
)

// TestConcurrentUse runs every operation at once on a cache small enough to
// evict constantly. Run with -race; it also checks that every answer served
// meanwhile is well formed and carries the query's ID.
func TestConcurrentUse(t *testing.T) {
	clk := clock.NewFake(testEpoch)
	c, err := New(Config{MaxBytes: 64 << 10, Shards: 4, ServeStale: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	const names = 300
	iters := 2000
	if testing.Short() {
		iters = 300
	}
	name := func(i int) string { return fmt.Sprintf("h%d.example.", i%names) }
	queries := make([][]byte, names)
	for i := range queries {
		queries[i] = query(t, uint16(i), name(i), dns.TypeA, 1232, false)
	}
	soa := mustRRs(t, "example. 60 IN SOA ns.example. host.example. 1 2 3 4 60")

	const rounds = 5
	var st Stats
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		// The goroutines start together. On a busy machine with few cores
		// one of them may still run its whole loop in one time slice (readers
		// before any writer, the clock racing every entry to expiry), so a
		// round that missed hits or evictions is run again: the coverage
		// asked for below is required, only the scheduling is left to chance.
		begin := make(chan struct{})
		run := func(f func(i int) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				for i := range iters {
					if err := f(i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		run(func(i int) error { // writer: RRsets
			rr := &dns.A{Hdr: dns.RR_Header{Name: name(i * 7), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: uint32(1 + i%120)}, A: []byte{192, 0, 2, byte(i)}}
			_ = c.PutRRset([]dns.RR{rr}, Rank(1+i%6), time.Time{})
			return nil
		})
		run(func(i int) error { // writer: answers and negatives
			m := new(dns.Msg)
			m.SetQuestion(name(i*3), dns.TypeA)
			m.Response, m.RecursionAvailable = true, true
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name(i * 3), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: uint32(1 + i%60)}, A: []byte{192, 0, 2, 1}}}
			if err := c.PutAnswer(m, time.Time{}); err != nil {
				return err
			}
			_ = c.PutNegative(name(i*5), dns.TypeAAAA, dns.ClassINET, i%2 == 0, soa, RankAuthorityAuth, time.Time{})
			return nil
		})
		for r := range 2 {
			run(func(i int) error { // readers: wire path
				q := queries[(i*13+r)%names]
				resp := make([]byte, 1232)
				n, _, ok := c.AnswerFromWireOpts(q, resp, WireOptions{AllowStale: i%2 == 0})
				if !ok {
					return nil
				}
				m := new(dns.Msg)
				if err := m.Unpack(resp[:n]); err != nil {
					return fmt.Errorf("served malformed answer: %v", err)
				}
				if m.Id != uint16((i*13+r)%names) || len(m.Answer) != 1 {
					return fmt.Errorf("served wrong answer: %v", m)
				}
				return nil
			})
		}
		run(func(i int) error { // readers: RRsets and negatives
			if set, ok := c.LookupRRset(name(i), dns.TypeA, dns.ClassINET, time.Time{}, true); ok && len(set.RRs) != 1 {
				return fmt.Errorf("RRset %v", set.RRs)
			}
			c.LookupNegative(name(i), dns.TypeAAAA, dns.ClassINET, time.Time{}, false)
			return nil
		})
		run(func(i int) error { // clock, maintenance and admin
			clk.Advance(100 * time.Millisecond)
			switch i % 50 {
			case 0:
				c.RemoveExpired(time.Time{})
			case 10:
				_, err := c.FlushName(name(i))
				return err
			case 20:
				_, err := c.Flush("example.")
				return err
			case 30:
				c.Stats()
			case 40:
				if i%500 == 40 {
					c.FlushAll()
				}
			}
			return nil
		})
		close(begin)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		checkBound(t, c)
		if t.Failed() {
			return
		}
		st = c.Stats()
		if st.AnswerHits > 0 && st.RRsetHits > 0 && st.Evictions > 0 {
			return
		}
	}
	t.Errorf("%d rounds exercised too little: %+v", rounds, st)
}
