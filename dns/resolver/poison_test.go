package resolver

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
)

// TestPoisonRejected feeds hand-built hostile responses through the
// acceptance rules and the store, and checks that none of the poison
// (6.6.6.6, ns.evil.*) reaches the cache, one way of rejection per case.
func TestPoisonRejected(t *testing.T) {
	soa := "example.lab. 3600 IN SOA ns1.example.lab. admin.example.lab. 1 3600 600 86400 300"
	www := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	fromLab := &pending{zone: "lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	xLab := &pending{zone: "lab.", qname: "x.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	big := []string{}
	for i := range 1001 {
		big = append(big, fmt.Sprintf("www.example.lab. 60 IN A 10.0.%d.%d", i/256, i%256))
	}
	tests := []struct {
		name   string
		p      *pending
		cuts   []string // zone cuts known before
		m      *dns.Msg
		kind   replyKind
		absent []string // "name type" that must not be cached
	}{
		{"out-of-bailiwick answer", www, nil, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN A 192.0.2.1", "www.other. 60 IN A 6.6.6.6", "lab. 60 IN A 6.6.6.6"}, nil, nil),
			replyAnswer, []string{"www.other. A", "lab. A"}},
		{"answer records for names not in the chain", www, nil, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN A 192.0.2.1", "mail.example.lab. 60 IN A 6.6.6.6", "www.example.lab. 60 IN AAAA 2001:db8::666"}, nil, nil),
			replyAnswer, []string{"mail.example.lab. A", "www.example.lab. AAAA"}},
		{"out-of-bailiwick authority (promiscuous NS)", www, nil, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN A 192.0.2.1"},
			[]string{"example.lab. 86400 IN NS ns.evil.other.", "lab. 86400 IN NS ns.evil.other.", "other. 86400 IN NS ns.evil.other."},
			[]string{"ns.evil.other. 86400 IN A 6.6.6.6"}),
			replyAnswer, []string{"example.lab. NS", "lab. NS", "other. NS", "ns.evil.other. A"}},
		{"unsolicited NS in a negative answer", www, nil, msg(www, true, dns.RcodeNameError, nil,
			[]string{soa, "example.lab. 86400 IN NS ns.evil.other."}, []string{"ns.evil.other. 86400 IN A 6.6.6.6"}),
			replyNXDomain, []string{"example.lab. NS", "ns.evil.other. A"}},
		{"out-of-bailiwick additional", www, nil, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN A 192.0.2.1"}, nil,
			[]string{"ns1.example.lab. 86400 IN A 6.6.6.6", "www.other. 86400 IN A 6.6.6.6"}),
			replyAnswer, []string{"ns1.example.lab. A", "www.other. A"}},
		{"glue for names not in the referral", fromLab, nil, msg(fromLab, false, 0, nil,
			[]string{"example.lab. 86400 IN NS ns1.example.lab."},
			[]string{"ns1.example.lab. 86400 IN A 192.0.2.30", "ns9.example.lab. 86400 IN A 6.6.6.6", "www.example.lab. 86400 IN A 6.6.6.6"}),
			replyReferral, []string{"ns9.example.lab. A", "www.example.lab. A"}},
		{"delegation-following: out-of-bailiwick glue of a referral", fromLab, nil, msg(fromLab, false, 0, nil,
			[]string{"example.lab. 86400 IN NS ns.hosting.other."}, []string{"ns.hosting.other. 86400 IN A 6.6.6.6"}),
			replyReferral, []string{"ns.hosting.other. A"}},
		{"delegation-following: referral sideways", www, nil, msg(www, false, 0, nil,
			[]string{"other. 86400 IN NS ns.evil.other."}, []string{"ns.evil.other. 86400 IN A 6.6.6.6"}),
			replyLame, []string{"other. NS", "ns.evil.other. A"}},
		{"delegation-following: referral across a known cut", fromLab, []string{"example.lab."}, msg(fromLab, false, 0, nil,
			[]string{"www.example.lab. 86400 IN NS ns.evil.other."}, nil),
			replyBad, []string{"www.example.lab. NS"}},
		{"cross-zone: parent server answers for a known child", xLab, []string{"example.lab."}, msg(xLab, true, 0,
			[]string{"x.lab. 60 IN CNAME www.example.lab.", "www.example.lab. 60 IN A 6.6.6.6"}, nil, nil),
			replyCNAME, []string{"www.example.lab. A"}},
		// The delegation beside the chain is the parent's own data, taken
		// as a referral's would be (RankAuthority, see leftAt); the
		// child's A record is not.
		{"cross-zone: child shown by the response's own referral", xLab, nil, msg(xLab, true, 0,
			[]string{"x.lab. 60 IN CNAME www.example.lab.", "www.example.lab. 60 IN A 6.6.6.6"},
			[]string{"example.lab. 86400 IN NS ns1.example.lab."}, nil),
			replyCNAME, []string{"www.example.lab. A"}},
		{"cross-zone: query name below a known cut", fromLab, []string{"example.lab."}, msg(fromLab, true, 0,
			[]string{"www.example.lab. 60 IN A 6.6.6.6"}, nil, nil),
			replyBad, []string{"www.example.lab. A"}},
		{"cross-zone: SOA of a child zone", xLab, []string{"example.lab."}, msg(xLab, true, dns.RcodeNameError,
			[]string{"x.lab. 60 IN CNAME nx.example.lab."}, []string{soa}, nil),
			replyCNAME, []string{"nx.example.lab. -"}},
		{"cross-zone: DNAME of a child zone", xLab, []string{"example.lab."}, msg(xLab, true, 0,
			[]string{"x.lab. 60 IN CNAME a.b.example.lab.", "b.example.lab. 60 IN DNAME evil.other."}, nil, nil),
			replyCNAME, []string{"b.example.lab. DNAME"}},
		{"cross-zone: sibling glue below a known cut", fromLab, []string{"other.lab."}, msg(fromLab, false, 0, nil,
			[]string{"example.lab. 86400 IN NS ns.other.lab."}, []string{"ns.other.lab. 86400 IN A 6.6.6.6"}),
			replyReferral, []string{"ns.other.lab. A"}},
		{"RRset over the size limit", www, nil, msg(www, true, 0, big, nil, nil),
			replyBad, []string{"www.example.lab. A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cache := testResolver(t)
			now := r.clock.Now()
			for _, c := range tt.cuts {
				r.cuts.add(c, 3600, now)
			}
			p := *tt.p
			rep := r.classify(&p, tt.m)
			if rep.kind != tt.kind {
				t.Fatalf("kind %s (%s), want %s", rep.kind, rep.why, tt.kind)
			}
			st := &state{r: r}
			st.store(rep)
			for _, a := range tt.absent {
				f := strings.Fields(a)
				if f[1] == "-" {
					if _, ok := cache.LookupNegative(f[0], dns.TypeA, dns.ClassINET, now); ok {
						t.Errorf("negative entry for %s cached", f[0])
					}
					continue
				}
				if set, ok := cache.LookupRRset(f[0], dns.StringToType[f[1]], dns.ClassINET, now); ok {
					t.Errorf("%s cached: %v", a, set.RRs)
				}
			}
			cache.mu.Lock()
			for _, e := range cache.entries {
				for _, rr := range e.set.RRs {
					if s := rr.String(); strings.Contains(s, "6.6.6.6") || strings.Contains(s, "evil") || strings.Contains(s, "::666") {
						t.Errorf("poison cached: %s", s)
					}
				}
			}
			cache.mu.Unlock()
		})
	}
}

// TestRankOverwrite: glue and referral data never replace what an
// authoritative answer said, whatever the Cache does.
func TestRankOverwrite(t *testing.T) {
	r, _ := testResolver(t)
	plain := &plainCache{sets: map[string]RRset{}}
	r.cache = plain
	now := r.clock.Now()
	auth := RRset{Name: "ns1.example.lab.", Type: dns.TypeA, Class: dns.ClassINET, Rank: RankAnswerAuth,
		RRs: []dns.RR{mustRR("ns1.example.lab. 3600 IN A 192.0.2.30")}}
	plain.StoreRRset(auth, now)
	st := &state{r: r}
	for _, rank := range []Rank{RankAdditional, RankAuthority, RankAnswerNonAuth} {
		st.store(&reply{sets: []RRset{{Name: "ns1.example.lab.", Type: dns.TypeA, Class: dns.ClassINET, Rank: rank,
			RRs: []dns.RR{mustRR("ns1.example.lab. 86400 IN A 6.6.6.6")}}}})
	}
	got, _ := plain.LookupRRset("ns1.example.lab.", dns.TypeA, dns.ClassINET, now)
	if got.Rank != RankAnswerAuth || got.RRs[0].(*dns.A).A.String() != "192.0.2.30" {
		t.Errorf("overwritten: %v", got)
	}
	if s := r.Stats(); s.RankRejected != 3 {
		t.Errorf("RankRejected %d", s.RankRejected)
	}
}

// plainCache is a Cache with no rank rule of its own, as a third-party
// implementation may be.
type plainCache struct {
	mu   sync.Mutex
	sets map[string]RRset
}

func (c *plainCache) key(name string, t uint16) string { return name + "/" + dns.Type(t).String() }

func (c *plainCache) LookupRRset(name string, qtype, qclass uint16, now time.Time) (RRset, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sets[c.key(name, qtype)]
	return s, ok
}

func (c *plainCache) StoreRRset(set RRset, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sets[c.key(set.Name, set.Type)] = set
	return true
}

func (c *plainCache) LookupNegative(string, uint16, uint16, time.Time) (Negative, bool) {
	return Negative{}, false
}
func (c *plainCache) StoreNegative(Negative, time.Time) {}
func (c *plainCache) MarkBogus(name string, qtype, _ uint16, negative bool, _ uint32, _ time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sets[c.key(name, qtype)]
	if !ok || negative {
		return false
	}
	s.Rank = RankBogus
	c.sets[c.key(name, qtype)] = s
	return true
}

// TestGhostDomain: a delegation revoked at the parent must expire even when
// its child servers keep answering with fresh NS sets and addresses (ghost
// domain names, CVE-2012-1033; Phoenix domains).
func TestGhostDomain(t *testing.T) {
	r, cache := testResolver(t)
	clk := r.clock.(*clock.Fake)
	st := &state{r: r}
	fromLab := &pending{zone: "lab.", qname: "www.ghost.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	ref := r.classify(fromLab, msg(fromLab, false, 0, nil, []string{"ghost.lab. 3600 IN NS ns1.ghost.lab."},
		[]string{"ns1.ghost.lab. 3600 IN A 192.0.2.99"}))
	if ref.kind != replyReferral {
		t.Fatal(ref.kind, ref.why)
	}
	st.store(ref)
	// Every 30 minutes the attacker has the child refresh its delegation:
	// an authoritative NS answer with a long TTL and its address.
	for i := range 3 {
		clk.Advance(30 * time.Minute)
		p := &pending{zone: "ghost.lab.", qname: "ghost.lab.", qtype: dns.TypeNS, qclass: dns.ClassINET, id: 7}
		rep := r.classify(p, msg(p, true, 0, []string{"ghost.lab. 86400 IN NS ns1.ghost.lab."}, nil,
			[]string{"ns1.ghost.lab. 86400 IN A 192.0.2.99"}))
		if rep.kind != replyAnswer {
			t.Fatal(rep.kind, rep.why)
		}
		st.store(rep)
		set, ok := cache.LookupRRset("ghost.lab.", dns.TypeNS, dns.ClassINET, clk.Now())
		left := 3600 - uint32(30*(i+1)*60)
		if i < 1 && (!ok || set.RRs[0].Header().Ttl > left) {
			t.Fatalf("step %d: NS set %v (ok %v), want TTL at most %d", i, set.RRs, ok, left)
		}
		if i >= 1 && ok {
			t.Fatalf("step %d: the revoked delegation lives on: %v", i, set.RRs)
		}
		if g, ok := cache.LookupRRset("ns1.ghost.lab.", dns.TypeA, dns.ClassINET, clk.Now()); ok && g.RRs[0].Header().Ttl > left && g.Rank < RankAnswerAuth {
			t.Fatalf("step %d: glue TTL extended: %v", i, g.RRs)
		}
	}
	if s := r.Stats(); s.TTLCapped == 0 {
		t.Errorf("TTLCapped 0")
	}
}

// TestNXNSGluelessLimit: a referral to many name servers without glue
// starts at most MaxGluelessLookups address lookups.
func TestNXNSGluelessLimit(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]bool{}
	tr := transportFunc(func(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
		mu.Lock()
		asked[lowerASCII(q.Question[0].Name)] = true
		mu.Unlock()
		return nil, fmt.Errorf("unreachable: %w", context.DeadlineExceeded)
	})
	r, err := New(Config{RootHints: testHints(), Transport: tr, Clock: newFakeClock(), MaxUpstreamQueries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var ns []*dns.NS
	for i := range 20 {
		ns = append(ns, mustRR(fmt.Sprintf("victim.lab. 60 IN NS ns%d.target.other.", i)).(*dns.NS))
	}
	st := &state{r: r}
	zs := st.serversFor("victim.lab.", ns, nil)
	if len(zs.pending) != 13 {
		t.Errorf("%d pending names, want MaxDelegationNS", len(zs.pending))
	}
	_, _ = st.queryZone(context.Background(), zs, "www.victim.lab.", dns.TypeA)
	n := 0
	for name := range asked {
		if strings.HasSuffix(name, ".target.other.") {
			n++
		}
	}
	if n > 3 {
		t.Errorf("%d name servers looked up, want at most 3", n)
	}
	if s := r.Stats(); s.GluelessLimited == 0 {
		t.Errorf("GluelessLimited 0")
	}
}

type transportFunc func(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error)

func (f transportFunc) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	return f(ctx, server, q, tcp)
}

// TestCrossZoneEndToEnd: a server for lab. that also serves example.lab.
// with forged data cannot set example.lab.'s data once the cut is known.
func TestCrossZoneEndToEnd(t *testing.T) {
	r, w, cache := newTestResolver(t, nil)
	if _, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	// The lab. servers now also hold a hostile copy of example.lab.
	evil := &zone{origin: "example.lab.", rrs: map[string][]dns.RR{
		"mx.example.lab.": {mustRR("mx.example.lab. 86400 IN A 6.6.6.6")},
	}, names: map[string]bool{"example.lab.": true, "mx.example.lab.": true}}
	lab := w.servers[addr("192.0.2.10")].zones[0]
	lab.rrs["tomx.lab."] = []dns.RR{mustRR("tomx.lab. 60 IN CNAME mx.example.lab.")}
	lab.names["tomx.lab."] = true
	for _, a := range []string{"192.0.2.10", "192.0.2.11"} {
		w.servers[addr(a)].zones = append(w.servers[addr(a)].zones, evil)
	}
	resp, err := r.Resolve(context.Background(), "tomx.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil {
		t.Fatal(err)
	}
	got := rrStrings(resp.Answer)
	if len(got) != 2 || got[1] != "mx.example.lab. 0 IN A 198.51.100.2" {
		t.Errorf("answer %v", got)
	}
	if set, _ := cache.LookupRRset("mx.example.lab.", dns.TypeA, dns.ClassINET, w.clock.Now()); len(set.RRs) != 1 || set.RRs[0].(*dns.A).A.String() != "198.51.100.2" {
		t.Errorf("cached %v", set.RRs)
	}
}

// TestBogusDataCountsAsNone: data a validator found bogus (MarkBogus)
// never reaches a server or answers, and neither outranks nor shortens
// the next data: glue that follows it is stored with its own TTL.
func TestBogusDataCountsAsNone(t *testing.T) {
	r, cache := testResolver(t)
	now := r.clock.Now()
	st := &state{r: r}
	fromLab := &pending{zone: "lab.", qname: "www.bogus.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	ref := r.classify(fromLab, msg(fromLab, false, 0, nil, []string{"bogus.lab. 3600 IN NS ns1.bogus.lab."},
		[]string{"ns1.bogus.lab. 3600 IN A 192.0.2.99"}))
	if ref.kind != replyReferral {
		t.Fatal(ref.kind, ref.why)
	}
	st.store(ref)
	if !cache.MarkBogus("ns1.bogus.lab.", dns.TypeA, dns.ClassINET, false, 60, now) {
		t.Fatal("glue not marked")
	}
	zs := st.serversFor("bogus.lab.", ref.ns, nil)
	if len(zs.cands) != 0 {
		t.Errorf("a bogus address reaches servers: %v", zs.cands)
	}
	st.store(ref)
	set, ok := cache.LookupRRset("ns1.bogus.lab.", dns.TypeA, dns.ClassINET, now)
	if !ok || set.Rank != RankAdditional || set.RRs[0].Header().Ttl != 3600 {
		t.Errorf("glue after bogus data: %v rank %v, want TTL 3600 at %v", set.RRs, set.Rank, RankAdditional)
	}
}

// TestParentSideLastResort: when the child's own data on its servers
// (an address that differs from the parent's glue, an NS set naming
// another server) fails, the parent's referral is the last resort; and
// the child's NS set from an answer's authority section is taken only
// while the parent's delegation lives, never longer (ghost domains).
func TestParentSideLastResort(t *testing.T) {
	r, cache := testResolver(t)
	clk := r.clock.(*clock.Fake)
	st := &state{r: r}
	ref := &pending{zone: "lab.", qname: "www.x.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	rep := r.classify(ref, msg(ref, false, 0, nil, []string{"x.lab. 3600 IN NS ns.x.lab."}, []string{"ns.x.lab. 3600 IN A 192.0.2.44"}))
	st.store(rep)
	// The child moves its server's address; it ranks above the glue.
	child := &pending{zone: "x.lab.", qname: "ns.x.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	st.store(r.classify(child, msg(child, true, 0, []string{"ns.x.lab. 3600 IN A 192.0.2.55"}, nil, nil)))
	zs := st.serversFor("x.lab.", rep.ns, nil)
	if len(zs.cands) != 1 || zs.cands[0].addr != addr("192.0.2.55") {
		t.Fatalf("child's servers %v", zs.cands)
	}
	zs.cands[0].bad = true
	if !st.addParentSide(zs) || len(zs.cands) != 2 || zs.cands[1].addr != addr("192.0.2.44") {
		t.Errorf("after the child's server failed: %v", zs.cands)
	}
	if st.addParentSide(zs) {
		t.Error("the parent's servers were added twice")
	}

	// The child's NS set beside an authoritative answer: taken, below an
	// authoritative NS answer's rank, no longer than the delegation.
	www := &pending{zone: "x.lab.", qname: "www.x.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	ans := msg(www, true, 0, []string{"www.x.lab. 3600 IN A 192.0.2.80"},
		[]string{"x.lab. 86400 IN NS ns.x.lab.", "x.lab. 86400 IN NS ns.other.lab."}, nil)
	clk.Advance(time.Hour - time.Minute)
	st.store(r.classify(www, ans))
	set, ok := cache.LookupRRset("x.lab.", dns.TypeNS, dns.ClassINET, clk.Now())
	if !ok || len(set.RRs) != 2 || set.Rank != RankAnswerNonAuth || set.ttl() > 60 {
		t.Fatalf("child's NS set: %v rank %v ttl %d", set.RRs, set.Rank, set.ttl())
	}
	clk.Advance(2 * time.Minute)
	st.store(r.classify(www, ans))
	if set, ok := cache.LookupRRset("x.lab.", dns.TypeNS, dns.ClassINET, clk.Now()); ok {
		t.Errorf("the child's NS set outlives the delegation: %v", set.RRs)
	}
}

// TestSiblingGlueLastResort: glue in a sibling zone known to be delegated
// is not cached, nor used while the sibling's servers may tell the
// address; only when the zone's servers are all out of reach is it tried.
func TestSiblingGlueLastResort(t *testing.T) {
	r, cache := testResolver(t)
	now := r.clock.Now()
	r.cuts.add("net.", 3600, now)
	st := &state{r: r}
	root := &pending{zone: ".", qname: "www.x.com.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	rep := r.classify(root, msg(root, false, 0, nil, []string{"com. 3600 IN NS a.gtld.net."}, []string{"a.gtld.net. 3600 IN A 192.0.2.30"}))
	if rep.kind != replyReferral || len(rep.glue) != 0 || len(rep.siblingGlue) != 1 {
		t.Fatalf("%s: glue %v sibling %v", rep.kind, rep.glue, rep.siblingGlue)
	}
	st.store(rep)
	if set, ok := cache.LookupRRset("a.gtld.net.", dns.TypeA, dns.ClassINET, now); ok {
		t.Fatalf("sibling glue cached: %v", set.RRs)
	}
	zs := st.serversFor("com.", rep.ns, nil)
	if len(zs.cands) != 0 {
		t.Fatalf("sibling glue used at once: %v", zs.cands)
	}
	zs.pending = nil // the lookup through net.'s servers failed
	if !st.addParentSide(zs) || len(zs.cands) != 1 || zs.cands[0].addr != addr("192.0.2.30") {
		t.Errorf("last resort: %v", zs.cands)
	}
}

// storeCounter counts the RRsets stored, by owner and type.
type storeCounter struct {
	*MemCache
	stores map[string]int
}

func (c *storeCounter) StoreRRset(s RRset, now time.Time) bool {
	c.stores[s.Name+" "+dns.TypeToString[s.Type]]++
	return c.MemCache.StoreRRset(s, now)
}

// TestUnchangedSetsNotStoredAgain: the NS set and glue that come with each
// answer from a zone's servers are not stored again while the cache holds
// them as they are (the store would change nothing), so the resolver's
// memory of the zone's servers survives; a changed address is stored,
// capped to the cached set's time left as before.
func TestUnchangedSetsNotStoredAgain(t *testing.T) {
	cache := &storeCounter{MemCache: NewMemCache(1000), stores: map[string]int{}}
	clk := newFakeClock()
	r, err := New(Config{RootHints: testHints(), Cache: cache, Clock: clk, Transport: noTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	st := &state{r: r}
	fromLab := &pending{zone: "lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	ref := r.classify(fromLab, msg(fromLab, false, 0, nil, []string{"example.lab. 3600 IN NS ns1.example.lab."},
		[]string{"ns1.example.lab. 3600 IN A 192.0.2.53"}))
	if ref.kind != replyReferral {
		t.Fatal(ref.kind, ref.why)
	}
	st.store(ref)
	// The child's answer with its NS set in authority and the glue, as
	// NSD sends them; the authoritative NS set outranks the referral's.
	answer := func(name, glue string) {
		t.Helper()
		p := &pending{zone: "example.lab.", qname: name, qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
		rep := r.classify(p, msg(p, true, 0, []string{name + " 300 IN A 192.0.2.1"}, []string{"example.lab. 3600 IN NS ns1.example.lab."},
			[]string{"ns1.example.lab. 3600 IN A " + glue}))
		if rep.kind != replyAnswer {
			t.Fatal(rep.kind, rep.why)
		}
		st.store(rep)
	}
	answer("a.example.lab.", "192.0.2.53")
	before := maps.Clone(cache.stores)
	for i := range 3 {
		clk.Advance(time.Minute)
		answer(fmt.Sprintf("b%d.example.lab.", i), "192.0.2.53")
	}
	for _, k := range []string{"example.lab. NS", "ns1.example.lab. A"} {
		if cache.stores[k] != before[k] {
			t.Errorf("%s stored %d times again, unchanged", k, cache.stores[k]-before[k])
		}
	}
	if cache.stores["b2.example.lab. A"] != 1 {
		t.Errorf("the answer was not stored: %v", cache.stores)
	}
	clk.Advance(time.Minute)
	answer("c.example.lab.", "192.0.2.54")
	g, ok := cache.LookupRRset("ns1.example.lab.", dns.TypeA, dns.ClassINET, clk.Now())
	if !ok || g.RRs[0].(*dns.A).A.String() != "192.0.2.54" {
		t.Fatalf("a changed address was not stored: %v %v", g.RRs, ok)
	}
	if left := uint32(3600 - 4*60); g.RRs[0].Header().Ttl > left {
		t.Errorf("the changed glue outlives the set it replaced: TTL %d > %d", g.RRs[0].Header().Ttl, left)
	}
}
