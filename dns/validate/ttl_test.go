package validate

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/cache"
)

// TestValidatedTTLCapped: the TTL of validated data is capped by the
// RRSIG's Original TTL and by the time left until the signature expires
// (RFC 4035 section 5.3.3), in the response itself, so that a client and
// the wire-form answer cache (which sees no RRSIG when the client did not
// set DO) never keep Secure data longer than its signature vouches for it.
func TestValidatedTTLCapped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qname  string
		do     bool
		maxTTL uint32
	}{
		// www.soon.lab.'s signatures expire 20 minutes after the world
		// was built, its records have TTL 3600.
		{"signature expires soon, DO client", "www.soon.lab.", true, 20 * 60},
		{"signature expires soon, client without DO", "www.soon.lab.", false, 20 * 60},
		// longttl.example.lab. is served with TTL 86400, signed with an
		// Original TTL of 3600.
		{"TTL above the Original TTL", "longttl.example.lab.", true, 3600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestResolver(t, nil)
			m, err := r.Resolve(context.Background(), tc.qname, dns.TypeA, dns.ClassINET, tc.do)
			if err != nil || !m.AuthenticatedData || len(m.Answer) == 0 {
				t.Fatalf("err %v AD %v\n%s", err, m.AuthenticatedData, m)
			}
			for _, rr := range m.Answer {
				if ttl := rr.Header().Ttl; ttl == 0 || ttl > tc.maxTTL {
					t.Errorf("%s: TTL %d, want 1..%d", rr, ttl, tc.maxTTL)
				}
			}
		})
	}
}

// TestWireCacheDropsExpiredSignature: the answer for a client without DO,
// stored in the wire-form cache, is gone once its signature has expired,
// rather than served with AD from the cache for the records' whole TTL.
func TestWireCacheDropsExpiredSignature(t *testing.T) {
	clk := clock.NewFake(time.Now())
	c, err := cache.New(cache.Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newTestResolver(t, nil)
	m, err := r.Resolve(context.Background(), "www.soon.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil || !m.AuthenticatedData {
		t.Fatalf("err %v\n%s", err, m)
	}
	m.Response = true
	if err := c.PutAnswer(m, time.Time{}); err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("www.soon.lab.", dns.TypeA)
	q.AuthenticatedData = true
	wire, _ := q.Pack()
	out := make([]byte, 512)
	if _, ok := c.AnswerFromWire(wire, out); !ok {
		t.Fatal("the answer was not cached")
	}
	clk.Advance(21 * time.Minute)
	if n, ok := c.AnswerFromWire(wire, out); ok {
		var got dns.Msg
		_ = got.Unpack(out[:n])
		t.Errorf("answer served from the wire cache after its signature expired:\n%s", &got)
	}
}
