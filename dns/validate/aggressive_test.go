package validate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/resolver"
)

// TestAggressiveNSEC: after one validated NXDOMAIN, a query for another
// name inside the same NSEC (or NSEC3) span is answered NXDOMAIN with AD
// and the proof from the cached records (RFC 8198), and nothing is asked
// of the inner resolver; so is a NODATA for a type the NSEC's bitmap
// lacks. A name outside the spans cached is asked for.
func TestAggressiveNSEC(t *testing.T) {
	ctx := context.Background()
	t.Run("NSEC", func(t *testing.T) {
		r, ci := newTestResolver(t, nil)
		m, err := r.Resolve(ctx, "nope.example.lab.", dns.TypeA, dns.ClassINET, true)
		if err != nil || m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Fatalf("first NXDOMAIN: err %v\n%s", err, m)
		}
		ci.take()
		// nope.example.lab. lies between longttl. and ns. in the zone's
		// chain; so does mmm.example.lab.
		for _, q := range []struct {
			name  string
			qtype uint16
			rcode int
		}{
			{"mmm.example.lab.", dns.TypeA, dns.RcodeNameError},
			{"mmm.example.lab.", dns.TypeAAAA, dns.RcodeNameError},
			{"a.b.mmm.example.lab.", dns.TypeTXT, dns.RcodeNameError},
		} {
			m, err := r.Resolve(ctx, q.name, q.qtype, dns.ClassINET, true)
			if err != nil || m.Rcode != q.rcode || !m.AuthenticatedData || !hasType(m.Ns, dns.TypeNSEC) || !hasType(m.Ns, dns.TypeSOA) || !hasType(m.Ns, dns.TypeRRSIG) {
				t.Errorf("%s/%s: err %v\n%s", q.name, dns.Type(q.qtype), err, m)
			}
		}
		if calls := ci.take(); len(calls) != 0 {
			t.Errorf("queries inside a cached span reached the resolver: %v", calls)
		}
		if s := r.Stats(); s.Synthesized != 3 {
			t.Errorf("stats %+v, want 3 synthesised", s)
		}
		// Outside the cached spans, the resolver is asked.
		if m, _ := r.Resolve(ctx, "zzz.example.lab.", dns.TypeA, dns.ClassINET, true); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Errorf("zzz: %s", m)
		}
		if calls := ci.take(); calls["zzz.example.lab. A"] != 1 {
			t.Errorf("a name outside the cached spans: calls %v", calls)
		}
		// NODATA from the NSEC at the name: www has A and no TXT.
		if m, _ := r.Resolve(ctx, "www.example.lab.", dns.TypeTXT, dns.ClassINET, true); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
			t.Fatalf("www TXT: %s", m)
		}
		ci.take()
		if m, _ := r.Resolve(ctx, "www.example.lab.", dns.TypeMX, dns.ClassINET, true); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !m.AuthenticatedData {
			t.Errorf("www MX: %s", m)
		}
		if m, _ := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true); len(m.Answer) == 0 {
			t.Errorf("www A, which exists: %s", m)
		}
		if calls := ci.take(); calls["www.example.lab. MX"] != 0 || calls["www.example.lab. A"] != 1 {
			t.Errorf("calls %v: want MX synthesised and A asked", calls)
		}
	})
	t.Run("NSEC3", func(t *testing.T) {
		r, ci := newTestResolver(t, nil)
		m, err := r.Resolve(ctx, "nope.nsec3.lab.", dns.TypeA, dns.ClassINET, true)
		if err != nil || m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Fatalf("first NXDOMAIN: err %v\n%s", err, m)
		}
		// A name whose hash falls in the span that covered nope's.
		var cover *dns.NSEC3
		for _, rr := range m.Ns {
			if n, ok := rr.(*dns.NSEC3); ok && n.Cover("nope.nsec3.lab.") {
				cover = n
			}
		}
		if cover == nil {
			t.Fatalf("no NSEC3 covers nope.nsec3.lab. in\n%s", m)
		}
		other := ""
		for i := 0; i < 10000 && other == ""; i++ {
			if n := fmt.Sprintf("n%d.nsec3.lab.", i); cover.Cover(n) {
				other = n
			}
		}
		if other == "" {
			t.Fatal("no other name in the span")
		}
		ci.take()
		m, err = r.Resolve(ctx, other, dns.TypeA, dns.ClassINET, true)
		if err != nil || m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || !hasType(m.Ns, dns.TypeNSEC3) {
			t.Errorf("%s: err %v\n%s", other, err, m)
		}
		if calls := ci.take(); len(calls) != 0 {
			t.Errorf("%s reached the resolver: %v", other, calls)
		}
	})
	t.Run("off", func(t *testing.T) {
		r, ci := newTestResolver(t, nil)
		r.cfg.DisableAggressiveNSEC = true
		r.Resolve(ctx, "nope.example.lab.", dns.TypeA, dns.ClassINET, true)
		ci.take()
		r.Resolve(ctx, "mmm.example.lab.", dns.TypeA, dns.ClassINET, true)
		if calls := ci.take(); calls["mmm.example.lab. A"] != 1 {
			t.Errorf("aggressive use off: calls %v", calls)
		}
	})
}

// TestAggressiveNSECNotAcrossCuts: a cached NSEC span of a parent never
// answers for a name below a delegation inside it, secure or not: the
// insecure delegation unsigned.lab. is asked.
func TestAggressiveNSECNotAcrossCuts(t *testing.T) {
	ctx := context.Background()
	r, ci := newTestResolver(t, nil)
	// lab.'s denial of nope.lab. teaches its chain around it, and the
	// NODATA for unsigned.lab.'s DS the NSEC at the delegation (NS, no
	// DS), which covers the names below it in canonical order.
	if m, _ := r.Resolve(ctx, "nope.lab.", dns.TypeA, dns.ClassINET, true); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
		t.Fatalf("nope.lab.: %s", m)
	}
	if m, _ := r.Resolve(ctx, "unsigned.lab.", dns.TypeDS, dns.ClassINET, true); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || !hasType(m.Ns, dns.TypeNSEC) {
		t.Fatalf("unsigned.lab. DS: %s", m)
	}
	ci.take()
	for _, q := range []string{"nope.unsigned.lab.", "zz.island.unsigned.lab."} {
		r.Resolve(ctx, q, dns.TypeA, dns.ClassINET, true)
		if calls := ci.take(); calls[q+" A"] != 1 {
			t.Errorf("%s below a delegation: calls %v", q, calls)
		}
	}
	if s := r.Stats(); s.Synthesized != 0 {
		t.Errorf("synthesised across a cut: %+v", s)
	}
}

// floodUpstream sends n client queries for random names under zone to a
// validating resolver over a real iterative one in the world, and returns
// the upstream queries they cost (after one warm-up query for the zone).
func floodUpstream(t testing.TB, zone string, n int, aggressive bool) int64 {
	w := testWorld(t)
	tr := &countingTransport{worldTransport: worldTransport{w}}
	inner, err := resolver.New(resolver.Config{
		Transport: tr, DNSSECOK: true, QNAMEMinimisation: true,
		RootHints: []dns.RR{mustRR(". 3600000 IN NS ns.root."), mustRR("ns.root. 3600000 IN A 10.53.0.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := New(inner, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(t)}), Config{DisableAggressiveNSEC: !aggressive})
	ctx := context.Background()
	if m, _ := r.Resolve(ctx, "www."+zone, dns.TypeA, dns.ClassINET, false); !m.AuthenticatedData {
		t.Fatalf("warm-up: %s", m)
	}
	before := tr.n.Load()
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%x.%s", rnd.Uint64(), zone)
		m, err := r.Resolve(ctx, name, dns.TypeA, dns.ClassINET, false)
		if err != nil || m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Fatalf("%s: err %v\n%s", name, err, m)
		}
	}
	return tr.n.Load() - before
}

// TestRandomSubdomainFlood measures what RFC 8198 saves under a
// random-subdomain flood against a signed zone: upstream queries per client
// query with and without the aggressive use of NSEC and NSEC3 records.
func TestRandomSubdomainFlood(t *testing.T) {
	const n = 400
	for _, zone := range []string{"example.lab.", "nsec3.lab."} {
		off := floodUpstream(t, zone, n, false)
		on := floodUpstream(t, zone, n, true)
		t.Logf("%s: %d random names: %.3f upstream queries per client query without RFC 8198, %.3f with", zone, n, float64(off)/n, float64(on)/n)
		if off < n || on*10 > off {
			t.Errorf("%s: %d upstream queries without, %d with aggressive use: want at least %d, and a tenth of that", zone, off, on, n)
		}
	}
}

// BenchmarkRandomSubdomainFlood is TestRandomSubdomainFlood's measure as a
// benchmark: upstream queries per client query (upstream/op).
func BenchmarkRandomSubdomainFlood(b *testing.B) {
	for _, zone := range []string{"example.lab.", "nsec3.lab."} {
		for _, aggressive := range []bool{false, true} {
			b.Run(fmt.Sprintf("%saggressive=%v", zone, aggressive), func(b *testing.B) {
				b.ReportAllocs()
				up := floodUpstream(b, zone, b.N, aggressive)
				b.ReportMetric(float64(up)/float64(b.N), "upstream/op")
			})
		}
	}
}

// TestWildcardProofKept: a wildcard answer carries its proof from the
// upstream response, and answered again from the resolver's cache, which
// keeps no proof, it is proven from the denials kept for RFC 8198: no DS
// query fetches the proof either time.
func TestWildcardProofKept(t *testing.T) {
	r, ci := newTestResolver(t, nil)
	for i := range 2 {
		m, err := r.Resolve(context.Background(), "foo.wild.example.lab.", dns.TypeA, dns.ClassINET, true)
		if err != nil || !m.AuthenticatedData {
			t.Fatalf("query %d: err %v\n%s", i+1, err, m)
		}
		if i == 0 && !hasType(m.Ns, dns.TypeNSEC) {
			t.Errorf("the first answer lacks its proof:\n%s", m)
		}
	}
	if n := ci.take()["foo.wild.example.lab. DS"]; n != 0 {
		t.Errorf("%d DS queries fetched the wildcard proof", n)
	}
}
