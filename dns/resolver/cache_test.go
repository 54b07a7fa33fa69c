package resolver

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func set(rank Rank, rrs ...string) RRset {
	s := RRset{Rank: rank}
	for _, r := range rrs {
		rr := mustRR(r)
		s.RRs = append(s.RRs, rr)
		s.Name, s.Type, s.Class = rr.Header().Name, rr.Header().Rrtype, rr.Header().Class
	}
	return s
}

func TestMemCacheRRsets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		stores   []RRset
		stored   []bool
		at       time.Duration
		lookup   string
		found    bool
		wantTTL  uint32
		wantRank Rank
	}{
		{name: "hit with decremented TTL", stores: []RRset{set(RankAnswerAuth, "a.lab. 300 IN A 192.0.2.1")},
			stored: []bool{true}, at: 100 * time.Second, lookup: "a.lab.", found: true, wantTTL: 200, wantRank: RankAnswerAuth},
		{name: "lookup ignores case", stores: []RRset{set(RankAnswerAuth, "A.Lab. 300 IN A 192.0.2.1")},
			stored: []bool{true}, lookup: "a.LAB.", found: true, wantTTL: 300, wantRank: RankAnswerAuth},
		{name: "smallest TTL of the set", stores: []RRset{set(RankAnswerAuth, "a.lab. 300 IN A 192.0.2.1", "a.lab. 60 IN A 192.0.2.2")},
			stored: []bool{true}, lookup: "a.lab.", found: true, wantTTL: 60, wantRank: RankAnswerAuth},
		{name: "expired", stores: []RRset{set(RankAnswerAuth, "a.lab. 300 IN A 192.0.2.1")},
			stored: []bool{true}, at: 300 * time.Second, lookup: "a.lab."},
		{name: "TTL 0 is not stored", stores: []RRset{set(RankAnswerAuth, "a.lab. 0 IN A 192.0.2.1")},
			stored: []bool{false}, lookup: "a.lab."},
		{name: "glue does not replace an answer",
			stores: []RRset{set(RankAnswerAuth, "a.lab. 300 IN A 192.0.2.1"), set(RankAdditional, "a.lab. 900 IN A 192.0.2.66")},
			stored: []bool{true, false}, lookup: "a.lab.", found: true, wantTTL: 300, wantRank: RankAnswerAuth},
		{name: "an answer replaces glue",
			stores: []RRset{set(RankAdditional, "a.lab. 900 IN A 192.0.2.66"), set(RankAnswerAuth, "a.lab. 300 IN A 192.0.2.1")},
			stored: []bool{true, true}, lookup: "a.lab.", found: true, wantTTL: 300, wantRank: RankAnswerAuth},
		{name: "equal rank refreshes",
			stores: []RRset{set(RankAuthority, "a.lab. 900 IN NS ns.lab."), set(RankAuthority, "a.lab. 100 IN NS ns2.lab.")},
			stored: []bool{true, true}, lookup: "a.lab.", found: true, wantTTL: 100, wantRank: RankAuthority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewMemCache(10)
			for i, s := range tt.stores {
				if got := c.StoreRRset(s, t0); got != tt.stored[i] {
					t.Errorf("store %d = %v", i, got)
				}
			}
			qtype := tt.stores[0].Type
			got, ok := c.LookupRRset(tt.lookup, qtype, dns.ClassINET, t0.Add(tt.at))
			if ok != tt.found {
				t.Fatalf("found = %v", ok)
			}
			if !ok {
				return
			}
			if got.RRs[0].Header().Ttl != tt.wantTTL || got.Rank != tt.wantRank {
				t.Errorf("TTL %d rank %v, want %d %v", got.RRs[0].Header().Ttl, got.Rank, tt.wantTTL, tt.wantRank)
			}
			// Callers get copies.
			got.RRs[0].Header().Ttl = 7
			again, _ := c.LookupRRset(tt.lookup, qtype, dns.ClassINET, t0.Add(tt.at))
			if again.RRs[0].Header().Ttl == 7 {
				t.Error("cached record modified through a returned copy")
			}
		})
	}
}

func TestMemCacheNegative(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	soa := mustRR("lab. 300 IN SOA ns.lab. admin.lab. 1 2 3 4 300")
	c := NewMemCache(10)
	c.StoreNegative(Negative{Name: "gone.lab.", Type: dns.TypeNone, Class: dns.ClassINET, Rcode: dns.RcodeNameError, TTL: 300, Authority: []dns.RR{soa}}, t0)
	c.StoreNegative(Negative{Name: "www.lab.", Type: dns.TypeMX, Class: dns.ClassINET, Rcode: dns.RcodeSuccess, TTL: 60, Authority: []dns.RR{soa}}, t0)
	c.StoreNegative(Negative{Name: "zero.lab.", Type: dns.TypeMX, Class: dns.ClassINET, TTL: 0}, t0)
	tests := []struct {
		name  string
		qtype uint16
		at    time.Duration
		found bool
		rcode int
		ttl   uint32
	}{
		{"gone.lab.", dns.TypeA, 0, true, dns.RcodeNameError, 300},
		{"GONE.lab.", dns.TypeTXT, 10 * time.Second, true, dns.RcodeNameError, 290},
		{"www.lab.", dns.TypeMX, 30 * time.Second, true, dns.RcodeSuccess, 30},
		{"www.lab.", dns.TypeA, 0, false, 0, 0},
		{"www.lab.", dns.TypeMX, 60 * time.Second, false, 0, 0},
		{"zero.lab.", dns.TypeMX, 0, false, 0, 0},
	}
	for _, tt := range tests {
		neg, ok := c.LookupNegative(tt.name, tt.qtype, dns.ClassINET, t0.Add(tt.at))
		if ok != tt.found {
			t.Errorf("%s %d: found = %v", tt.name, tt.qtype, ok)
			continue
		}
		if ok && (neg.Rcode != tt.rcode || neg.TTL != tt.ttl || neg.Authority[0].Header().Ttl != tt.ttl) {
			t.Errorf("%s %d: %+v", tt.name, tt.qtype, neg)
		}
	}
}

func TestMemCacheBound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewMemCache(3)
	for _, n := range []string{"a", "b", "c"} {
		c.StoreRRset(set(RankAnswerAuth, n+".lab. 300 IN A 192.0.2.1"), t0)
	}
	// Touch a, so that b is the least recently used.
	if _, ok := c.LookupRRset("a.lab.", dns.TypeA, dns.ClassINET, t0); !ok {
		t.Fatal("a missing")
	}
	c.StoreRRset(set(RankAnswerAuth, "d.lab. 300 IN A 192.0.2.1"), t0)
	if _, ok := c.LookupRRset("b.lab.", dns.TypeA, dns.ClassINET, t0); ok {
		t.Error("b survived eviction")
	}
	for _, n := range []string{"a", "c", "d"} {
		if _, ok := c.LookupRRset(n+".lab.", dns.TypeA, dns.ClassINET, t0); !ok {
			t.Errorf("%s evicted", n)
		}
	}
	s := c.Stats()
	if s.Entries != 3 || s.Evictions != 1 {
		t.Errorf("stats %+v", s)
	}
}

func BenchmarkMemCacheLookup(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewMemCache(10)
	c.StoreRRset(set(RankAnswerAuth, "a.lab. 300 IN A 192.0.2.1"), t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.LookupRRset("a.lab.", dns.TypeA, dns.ClassINET, t0); !ok {
			b.Fatal("miss")
		}
	}
}
