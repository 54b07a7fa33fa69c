package server

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/cache"
)

// wireCache adapts *cache.Cache to the server's Cache interface.
type wireCache struct{ c *cache.Cache }

func (w wireCache) AnswerFromWire(q, resp []byte, maxSize int, stale bool) (int, bool, bool) {
	n, f, ok := w.c.AnswerFromWireOpts(q, resp, cache.WireOptions{MaxSize: maxSize, AllowStale: stale})
	return n, f&cache.HitPrefetch != 0, ok
}
func (w wireCache) PutAnswer(m *dns.Msg) { _ = w.c.PutAnswer(m, time.Time{}) }

func newWireCache(tb testing.TB) wireCache {
	tb.Helper()
	c, err := cache.New(cache.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return wireCache{c}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingResolver answers A 192.0.2.7 with TTL 100, or fails when told to.
type countingResolver struct {
	calls atomic.Int64
	fail  atomic.Bool
}

func (r *countingResolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	r.calls.Add(1)
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	if r.fail.Load() {
		m.Rcode = dns.RcodeServerFailure
		return m, errors.New("all servers timed out")
	}
	rr, _ := dns.NewRR(qname + " 100 IN A 192.0.2.7")
	m.Answer = []dns.RR{rr}
	return m, nil
}

func TestPrefetchAndServeStale(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	c, err := cache.New(cache.Config{ServeStale: true, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	res := &countingResolver{}
	s := start(t, Config{Resolver: res, Cache: wireCache{c}, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	ask := func() *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion("popular.example.", dns.TypeA)
		return exchange(t, s, "udp", q)
	}
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 100 {
		t.Fatalf("first answer %v", r)
	}
	ask()
	if n := res.calls.Load(); n != 1 {
		t.Fatalf("a cached answer cost %d resolutions", n)
	}
	// In the last tenth of its TTL the hit is still served from the cache,
	// and the name is refreshed in the background.
	clk.add(95 * time.Second)
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].Header().Ttl > 5 {
		t.Fatalf("near-expiry answer %v", r)
	}
	deadline := time.Now().Add(2 * time.Second)
	for res.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := res.calls.Load(); n != 2 {
		t.Fatalf("%d resolutions after a hit near expiry, want a background refresh (2)", n)
	}
	time.Sleep(50 * time.Millisecond)
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 100 {
		t.Fatalf("after the refresh the answer has TTL %d, want 100", r.Answer[0].Header().Ttl)
	}
	// Expired, and upstream fails: the stale answer is served (RFC 8767)
	// rather than SERVFAIL.
	clk.add(150 * time.Second)
	res.fail.Store(true)
	r := ask()
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != uint32(cache.DefaultStaleTTL/time.Second) {
		t.Fatalf("with upstream failing: %v, want the stale answer with TTL %v", r, cache.DefaultStaleTTL)
	}
}

func TestNoStaleWhenOff(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	c, _ := cache.New(cache.Config{Now: clk.now})
	res := &countingResolver{}
	s := start(t, Config{Resolver: res, Cache: wireCache{c}, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	q := new(dns.Msg)
	q.SetQuestion("x.example.", dns.TypeA)
	exchange(t, s, "udp", q)
	clk.add(200 * time.Second)
	res.fail.Store(true)
	if r := exchange(t, s, "udp", q); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("serve-stale off: %v, want SERVFAIL", r)
	}
}
