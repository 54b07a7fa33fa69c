package resolver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestFetchesPerZone: with FetchesPerZone queries to example.lab.'s
// servers hanging (random names under one zone, whose servers are slow),
// one more name under that zone is answered SERVFAIL at once, without a
// query sent and counted; a name of another zone still resolves; and once
// the hanging queries end the zone is asked again.
func TestFetchesPerZone(t *testing.T) {
	const limit = 3
	r, w, _ := newTestResolver(t, func(c *Config) { c.FetchesPerZone = limit })
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err) // the delegation, cached
	}
	w.queries()
	done := make(chan error, limit)
	var releases []func()
	for i := range limit {
		name := fmt.Sprintf("r%d.example.lab.", i)
		releases = append(releases, w.block(name))
		go func() {
			_, err := r.Resolve(ctx, name, dns.TypeA, dns.ClassINET, false)
			done <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for w.waiters(name) < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the query for %s was not sent", name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	w.queries()
	m, err := r.Resolve(ctx, "flood.example.lab.", dns.TypeA, dns.ClassINET, false)
	if !errors.Is(err, ErrZoneFetchLimit) || m.Rcode != dns.RcodeServerFailure {
		t.Errorf("over the limit: %v, %v; want SERVFAIL for ErrZoneFetchLimit", dns.RcodeToString[m.Rcode], err)
	}
	if got := r.Stats().ZoneFetchLimited; got != 1 {
		t.Errorf("ZoneFetchLimited = %d, want 1", got)
	}
	if q := w.queries(); slices.ContainsFunc(q, func(s string) bool { return strings.Contains(s, "flood.example.lab.") }) {
		t.Errorf("a query over the limit was sent: %v", q)
	}
	// The servers were not at fault: they are not held unresponsive.
	for _, a := range []string{"192.0.2.30", "192.0.2.31"} {
		if info, ok := r.ServerInfo(addr(a)); ok && info.Timeouts > 0 {
			t.Errorf("%s charged with %d time-outs for the resolver's own bound", a, info.Timeouts)
		}
	}
	// Another zone has its own count.
	if m, err := r.Resolve(ctx, "www.other.", dns.TypeA, dns.ClassINET, false); err != nil || len(m.Answer) != 1 {
		t.Errorf("another zone: %v, %v", m, err)
	}
	for _, release := range releases {
		release()
	}
	for range limit {
		if err := <-done; err != nil {
			t.Errorf("a hanging resolution: %v", err)
		}
	}
	if m, err := r.Resolve(ctx, "flood.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("after the hanging queries ended: %v, %v; want NXDOMAIN", m, err)
	}
	if n := len(r.fetches.n); n != 0 {
		t.Errorf("%d zones still counted with nothing in flight", n)
	}
}

// TestFetchesPerZoneOff: no bound by default.
func TestFetchesPerZoneOff(t *testing.T) {
	r, _, _ := newTestResolver(t, nil)
	if r.fetches != nil || !r.fetches.acquire("example.lab.") || r.Stats().ZoneFetchLimited != 0 {
		t.Error("a bound without FetchesPerZone")
	}
	if _, err := New(Config{FetchesPerZone: -1}); err == nil {
		t.Error("a negative FetchesPerZone accepted")
	}
}
