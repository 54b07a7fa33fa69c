package validate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// The hot path of a warm walk is one key cache hit per label: it must not
// allocate.
func BenchmarkKeyCacheHit(b *testing.B) {
	now := time.Now()
	c := newKeyCache[string](10000)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("zone%d.lab.", i)
		c.put(names[i], link{kind: zoneSecure, expires: now.Add(time.Hour)}, now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := c.get(names[i%len(names)], now); !ok {
			b.Fatal("miss")
		}
	}
}

func TestKeyCacheHitAllocs(t *testing.T) {
	now := time.Now()
	c := newKeyCache[string](10)
	c.put("example.lab.", link{kind: zoneSecure, expires: now.Add(time.Hour)}, now)
	if n := testing.AllocsPerRun(100, func() { c.get("example.lab.", now) }); n != 0 {
		t.Errorf("%v allocations per hit", n)
	}
	if n := testing.AllocsPerRun(100, func() { canonicalName("example.lab.") }); n != 0 {
		t.Errorf("%v allocations per canonical name", n)
	}
}

// BenchmarkValidateWarm is a whole validated query with the key cache
// warm: the signature check of the answer dominates.
func BenchmarkValidateWarm(b *testing.B) {
	w := testWorld(b)
	r := New(storeInner{w.all}, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(b)}), Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, _ := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true)
		if !m.AuthenticatedData {
			b.Fatal("not secure")
		}
	}
}
