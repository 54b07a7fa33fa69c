package resolver

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestDelegations(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	zs := func(zone string, addrs ...netip.Addr) *zoneServers {
		z := &zoneServers{zone: zone, pending: []string{"ns9.other."}}
		for _, a := range addrs {
			z.cands = append(z.cands, candidate{addr: a})
		}
		return z
	}
	d := newDelegations(2)
	d.put(zs("example.", a1, a2), []string{"ns1.example.", "ns9.other."}, t0.Add(time.Minute))

	got, ok := d.get("example.", t0)
	if !ok || len(got.cands) != 2 || got.cands[0].addr != a1 || len(got.pending) != 1 {
		t.Fatalf("get = %+v, %v", got, ok)
	}
	// Each get is a fresh copy: one step's marks are not the next's.
	got.cands[0].bad, got.cands[0].tries = true, 2
	if again, _ := d.get("example.", t0); again.cands[0].bad || again.cands[0].tries != 0 {
		t.Errorf("a step's marks leaked into the memory: %+v", again.cands[0])
	}
	if _, ok := d.get("example.", t0.Add(time.Minute)); ok {
		t.Error("served at its expiry")
	}
	if d.len() != 0 {
		t.Errorf("%d zones after expiry", d.len())
	}

	d.put(zs("example.", a1), []string{"ns1.example."}, t0.Add(time.Hour))
	d.put(zs("sub.example.", a2), []string{"ns1.example.", "ns2.sub.example."}, t0.Add(time.Hour))
	d.forgetServer("ns1.example.")
	if d.len() != 0 || len(d.byNS) != 0 {
		t.Errorf("new addresses for ns1.example. left %d zones, %d names", d.len(), len(d.byNS))
	}

	d.put(zs("example.", a1), []string{"ns1.example."}, t0.Add(time.Hour))
	d.put(zs("sub.example.", a2), []string{"ns2.sub.example."}, t0.Add(time.Hour))
	d.nsStored("sub.example.", nsSet("sub.example.", "NS2.sub.example."), t0.Add(time.Minute))
	if _, ok := d.get("sub.example.", t0); !ok {
		t.Error("the same NS set again dropped the remembered servers")
	}
	if _, ok := d.get("sub.example.", t0.Add(time.Minute)); ok {
		t.Error("the remembered servers outlived the NS set stored again with a shorter TTL")
	}
	d.put(zs("sub.example.", a2), []string{"ns2.sub.example."}, t0.Add(time.Hour))
	d.nsStored("sub.example.", nsSet("sub.example.", "ns2.sub.example.", "ns3.sub.example."), t0.Add(time.Hour))
	if _, ok := d.get("sub.example.", t0); ok {
		t.Error("a new NS set did not replace the remembered servers")
	}
	if _, ok := d.get("example.", t0); !ok {
		t.Error("the parent zone was forgotten with the child")
	}

	// The bound: a third zone evicts one of two.
	d.put(zs("sub.example.", a2), []string{"ns2.sub.example."}, t0.Add(time.Hour))
	d.put(zs("other.", a2), []string{"ns.other."}, t0.Add(time.Hour))
	if d.len() != 2 || d.evicted.Load() != 1 {
		t.Errorf("%d zones, %d evicted; want 2 and 1", d.len(), d.evicted.Load())
	}
	for n, zones := range d.byNS {
		for _, z := range zones {
			if d.zones[z] == nil {
				t.Errorf("name server %s lists forgotten zone %s", n, z)
			}
		}
	}

	// Forget below a name: the zones there, and zones served from there.
	d = newDelegations(10)
	d.put(zs("example.", a1), []string{"ns1.example."}, t0.Add(time.Hour))
	d.put(zs("a.example.", a1), []string{"ns.a.example."}, t0.Add(time.Hour))
	d.put(zs("other.", a1), []string{"ns.example."}, t0.Add(time.Hour))
	d.put(zs("third.", a1), []string{"ns.third."}, t0.Add(time.Hour))
	d.forgetBelow("example.")
	if d.len() != 1 {
		t.Errorf("%d zones left after forgetting example., want third. only", d.len())
	}
	if _, ok := d.get("third.", t0); !ok {
		t.Error("third. was forgotten")
	}
}

// TestDelegationsFollowTheCache: a zone's servers, once found in the cache,
// are remembered, and never past the cached NS set they came from: when it
// expires, the parent is asked again; after a Forget, likewise.
func TestDelegationsFollowTheCache(t *testing.T) {
	r, w, mc := newTestResolver(t, nil)
	ctx := context.Background()
	ask := func(name string) []string {
		t.Helper()
		w.queries()
		if _, err := r.Resolve(ctx, name, dns.TypeA, dns.ClassINET, false); err != nil {
			t.Fatal(err)
		}
		return w.queries()
	}
	toParent := func(q []string) bool {
		for _, e := range q {
			if strings.HasPrefix(e, "192.0.2.10 ") || strings.HasPrefix(e, "192.0.2.11 ") {
				return true
			}
		}
		return false
	}
	ask("www.example.lab.")
	if q := ask("a1.example.lab."); toParent(q) || len(q) != 1 {
		t.Errorf("a fresh name under a known zone: upstream queries %q, want one to example.lab.'s servers", q)
	}
	if r.Stats().Delegations == 0 {
		t.Error("no zone's servers remembered")
	}
	ns, ok := mc.LookupRRset("example.lab.", dns.TypeNS, dns.ClassINET, w.clock.Now())
	if !ok {
		t.Fatal("example.lab. NS not cached")
	}
	w.clock.Advance(time.Duration(ns.ttl()+1) * time.Second)
	if q := ask("a2.example.lab."); !toParent(q) {
		t.Errorf("after the NS set expired, upstream queries %q did not ask lab.'s servers", q)
	}
	if q := ask("a3.example.lab."); toParent(q) {
		t.Errorf("right after, upstream queries %q asked lab.'s servers again", q)
	}
	r.Forget("lab.")
	if r.Stats().Delegations != 0 {
		t.Errorf("%d zones remembered after Forget(lab.)", r.Stats().Delegations)
	}
}

func nsSet(zone string, names ...string) []dns.RR {
	var rrs []dns.RR
	for _, n := range names {
		rrs = append(rrs, &dns.NS{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: n})
	}
	return rrs
}
