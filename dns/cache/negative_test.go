package cache

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testSOA = "example.com. %s IN SOA ns1.example.com. hostmaster.example.com. 2025010101 7200 3600 1209600 %s"

func soaRR(t testing.TB, ttl, minimum string) dns.RR {
	return mustRR(t, strings.Replace(strings.Replace(testSOA, "%s", ttl, 1), "%s", minimum, 1))
}

func TestNegativeTTL(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		ttl, minimum string
		extra        []string
		want         uint32
		wantErr      error
	}{
		{"SOA TTL smaller", Config{}, "300", "900", nil, 300, nil},
		{"MINIMUM smaller", Config{}, "3600", "60", nil, 60, nil},
		{"capped at 3600", Config{}, "86400", "86400", nil, 3600, nil},
		{"configured cap", Config{MaxNegativeTTL: time.Minute}, "900", "900", nil, 60, nil},
		{"configured floor", Config{MinNegativeTTL: 30 * time.Second}, "5", "5", nil, 30, nil},
		{"NSEC shorter", Config{}, "900", "900", []string{"a.example.com. 120 IN NSEC c.example.com. A RRSIG NSEC"}, 120, nil},
		{"zero", Config{}, "0", "300", nil, 0, ErrNotCacheable},
	}
	for _, tt := range tests {
		c, clk := newTestCache(t, tt.cfg)
		auth := append([]dns.RR{soaRR(t, tt.ttl, tt.minimum)}, mustRRs(t, tt.extra...)...)
		err := c.PutNegative("b.example.com.", dns.TypeA, dns.ClassINET, true, auth, RankAuthorityAuth, clk.Now())
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		neg, ok := c.GetNegative("b.example.com.", dns.TypeMX, dns.ClassINET, clk.Now())
		if !ok || neg.TTL != tt.want || !neg.NXDomain {
			t.Errorf("%s: %+v ok %v, want TTL %d", tt.name, neg, ok, tt.want)
			continue
		}
		if len(neg.Authority) != len(auth) {
			t.Errorf("%s: %d authority records, want %d", tt.name, len(neg.Authority), len(auth))
		}
		for _, rr := range neg.Authority {
			if rr.Header().Ttl != tt.want {
				t.Errorf("%s: authority TTL %d, want %d: %v", tt.name, rr.Header().Ttl, tt.want, rr)
			}
		}
	}
}

func TestNegativeKinds(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	soa := []dns.RR{soaRR(t, "300", "300")}
	if err := c.PutNegative("gone.example.com.", 0, dns.ClassINET, true, soa, RankAuthorityAuth, now); err != nil {
		t.Fatal(err)
	}
	if err := c.PutNegative("www.example.com.", dns.TypeAAAA, dns.ClassINET, false, soa, RankAuthorityAuth, now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		qtype  uint16
		ok, nx bool
	}{
		{"GONE.example.com.", dns.TypeA, true, true},
		{"gone.example.com.", dns.TypeTXT, true, true},
		{"www.example.com.", dns.TypeAAAA, true, false},
		{"www.example.com.", dns.TypeA, false, false},
		{"below.gone.example.com.", dns.TypeA, false, false}, // RFC 8020 is the resolver's call
	}
	for _, tt := range tests {
		neg, ok := c.GetNegative(tt.name, tt.qtype, dns.ClassINET, now.Add(10*time.Second))
		if ok != tt.ok || neg.NXDomain != tt.nx {
			t.Errorf("%s/%d: ok %v nx %v, want %v %v", tt.name, tt.qtype, ok, neg.NXDomain, tt.ok, tt.nx)
		}
		if ok && (neg.TTL != 290 || neg.Authority[0].(*dns.SOA).Minttl != 300) {
			t.Errorf("%s: TTL %d authority %v", tt.name, neg.TTL, neg.Authority)
		}
	}
	if _, ok := c.GetNegative("gone.example.com.", dns.TypeA, dns.ClassINET, now.Add(300*time.Second)); ok {
		t.Errorf("negative entry outlived its TTL")
	}
	st := c.Stats()
	if st.Negatives != 2 || st.NegativeHits != 3 || st.NegativeMisses != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestNegativeNotCacheable(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	tests := []struct {
		name string
		auth []dns.RR
		want error
	}{
		{"no authority", nil, ErrNotCacheable},
		{"no SOA", mustRRs(t, "a.example.com. 60 IN NSEC c.example.com. A"), ErrNotCacheable},
		{"two SOAs", []dns.RR{soaRR(t, "60", "60"), soaRR(t, "70", "70")}, ErrNotCacheable},
	}
	for _, tt := range tests {
		err := c.PutNegative("b.example.com.", dns.TypeA, dns.ClassINET, false, tt.auth, RankAuthorityAuth, now)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	bad := []struct {
		name  string
		qname string
		qtype uint16
		auth  []dns.RR
		rank  Rank
		want  string
	}{
		{"bad name", "a..b.", dns.TypeA, []dns.RR{soaRR(t, "60", "60")}, RankAuthorityAuth, "empty label"},
		{"meta type", "a.", dns.TypeAXFR, []dns.RR{soaRR(t, "60", "60")}, RankAuthorityAuth, "not a data type"},
		{"no rank", "a.", dns.TypeA, []dns.RR{soaRR(t, "60", "60")}, RankNone, "invalid rank"},
		{"class mismatch", "a.", dns.TypeA, mustRRs(t, "example. 60 CH SOA a. b. 1 2 3 4 5"), RankAuthorityAuth, "class 3 differs"},
		{"nil record", "a.", dns.TypeA, []dns.RR{nil}, RankAuthorityAuth, "is nil"},
	}
	for _, tt := range bad {
		err := c.PutNegative(tt.qname, tt.qtype, dns.ClassINET, false, tt.auth, tt.rank, now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNegativeRank(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	soa := []dns.RR{soaRR(t, "300", "300")}
	if err := c.PutRRset(mustRRs(t, "x.example.com. 60 IN A 192.0.2.1"), RankAnswerNonAuth, now); err != nil {
		t.Fatal(err)
	}
	if err := c.PutNegative("x.example.com.", dns.TypeA, dns.ClassINET, false, soa, RankAnswerAuth, now); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.GetRRset("x.example.com.", dns.TypeA, dns.ClassINET, now); ok {
		t.Errorf("authoritative NODATA left a less credible RRset in place")
	}
	err := c.PutNegative("x.example.com.", dns.TypeA, dns.ClassINET, false, soa, RankAuthorityReferral, now)
	if !errors.Is(err, ErrLowerRank) {
		t.Errorf("lower-ranked NODATA: err = %v", err)
	}
}
