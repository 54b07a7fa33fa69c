package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestResolve(t *testing.T) {
	soaExample := "example.lab. 0 IN SOA ns1.example.lab. admin.example.lab. 2026010101 3600 600 86400 300"
	soaLab := "lab. 0 IN SOA ns1.lab. admin.lab. 1 3600 600 86400 300"
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string
		err    error
	}{
		{name: "A", qname: "www.example.lab.", qtype: dns.TypeA,
			answer: []string{"www.example.lab. 0 IN A 198.51.100.1"}},
		{name: "AAAA", qname: "www.example.lab.", qtype: dns.TypeAAAA,
			answer: []string{"www.example.lab. 0 IN AAAA 2001:db8::1"}},
		{name: "case of the question is kept", qname: "WWW.Example.LAB", qtype: dns.TypeA,
			answer: []string{"www.example.lab. 0 IN A 198.51.100.1"}},
		{name: "CNAME in zone", qname: "alias.example.lab.", qtype: dns.TypeA,
			answer: []string{"alias.example.lab. 0 IN CNAME www.example.lab.", "www.example.lab. 0 IN A 198.51.100.1"}},
		{name: "CNAME query", qname: "alias.example.lab.", qtype: dns.TypeCNAME,
			answer: []string{"alias.example.lab. 0 IN CNAME www.example.lab."}},
		{name: "CNAME across TLDs", qname: "cross.example.lab.", qtype: dns.TypeA,
			answer: []string{"cross.example.lab. 0 IN CNAME www.other.", "www.other. 0 IN A 198.51.100.20"}},
		{name: "CNAME into a glueless zone", qname: "glueless.example.lab.", qtype: dns.TypeA,
			answer: []string{"glueless.example.lab. 0 IN CNAME www.glueless.lab.", "www.glueless.lab. 0 IN A 198.51.100.40"}},
		{name: "CNAME into a delegated child", qname: "tosub.example.lab.", qtype: dns.TypeA,
			answer: []string{"tosub.example.lab. 0 IN CNAME www.sub.example.lab.", "www.sub.example.lab. 0 IN A 198.51.100.32"}},
		{name: "DNAME", qname: "www.legacy.example.lab.", qtype: dns.TypeA,
			answer: []string{
				"legacy.example.lab. 0 IN DNAME example.other.",
				"www.legacy.example.lab. 0 IN CNAME www.example.other.",
				"www.example.other. 0 IN A 198.51.100.21",
			}},
		{name: "MX", qname: "mail.example.lab.", qtype: dns.TypeMX,
			answer: []string{"mail.example.lab. 0 IN MX 10 mx.example.lab."}},
		{name: "TXT", qname: "txt.example.lab.", qtype: dns.TypeTXT,
			answer: []string{`txt.example.lab. 0 IN TXT "hello world"`}},
		{name: "SRV", qname: "_sip._udp.example.lab.", qtype: dns.TypeSRV,
			answer: []string{"_sip._udp.example.lab. 0 IN SRV 10 20 5060 sip.example.lab."}},
		{name: "CAA", qname: "caa.example.lab.", qtype: dns.TypeCAA,
			answer: []string{`caa.example.lab. 0 IN CAA 0 issue "ca.lab"`}},
		{name: "PTR", qname: "4.example.lab.", qtype: dns.TypePTR,
			answer: []string{"4.example.lab. 0 IN PTR www.example.lab."}},
		{name: "unknown type", qname: "unknown.example.lab.", qtype: 65280,
			answer: []string{`unknown.example.lab. 0 CLASS1 TYPE65280 \# 4 0a000001`}},
		{name: "ANY", qname: "www.example.lab.", qtype: dns.TypeANY,
			answer: []string{"www.example.lab. 0 IN A 198.51.100.1", "www.example.lab. 0 IN AAAA 2001:db8::1"}},
		{name: "NS of a child zone", qname: "example.lab.", qtype: dns.TypeNS,
			answer: []string{"example.lab. 0 IN NS ns1.example.lab.", "example.lab. 0 IN NS ns2.example.lab."}},
		{name: "SOA", qname: "example.lab.", qtype: dns.TypeSOA, answer: []string{soaExample}},
		{name: "root NS", qname: ".", qtype: dns.TypeNS,
			answer: []string{". 0 IN NS a.root-servers.lab.", ". 0 IN NS b.root-servers.lab."}},
		{name: "DS is asked of the parent", qname: "example.lab.", qtype: dns.TypeDS, ns: []string{soaLab}},
		{name: "NXDOMAIN", qname: "nope.example.lab.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaExample}},
		{name: "NXDOMAIN after CNAME", qname: "nope.other.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
			ns: []string{"other. 0 IN SOA ns.other. admin.other. 1 3600 600 86400 600"}},
		{name: "NODATA", qname: "www.example.lab.", qtype: dns.TypeMX, ns: []string{soaExample}},
		{name: "empty non-terminal", qname: "a.b.c.example.lab.", qtype: dns.TypeA, ns: []string{soaExample}},
		{name: "deep name", qname: "deep.a.b.c.example.lab.", qtype: dns.TypeA,
			answer: []string{"deep.a.b.c.example.lab. 0 IN A 198.51.100.4"}},
		{name: "glueless delegation", qname: "www.glueless.lab.", qtype: dns.TypeA,
			answer: []string{"www.glueless.lab. 0 IN A 198.51.100.40"}},
		{name: "lame servers", qname: "www.lame.lab.", qtype: dns.TypeA,
			answer: []string{"www.lame.lab. 0 IN A 198.51.100.50"}},
		{name: "a server that times out", qname: "www.slow.lab.", qtype: dns.TypeA,
			answer: []string{"www.slow.lab. 0 IN A 198.51.100.60"}},
		{name: "truncation", qname: "www.tc.lab.", qtype: dns.TypeA,
			answer: []string{"www.tc.lab. 0 IN A 198.51.100.70"}},
		{name: "FORMERR to EDNS", qname: "www.noedns.lab.", qtype: dns.TypeA,
			answer: []string{"www.noedns.lab. 0 IN A 198.51.100.80"}},
		{name: "NXDOMAIN for empty non-terminals", qname: "a.b.ent.lab.", qtype: dns.TypeA,
			answer: []string{"a.b.ent.lab. 0 IN A 198.51.100.90"}},
		{name: "out-of-bailiwick data is dropped", qname: "www.poison.lab.", qtype: dns.TypeA,
			answer: []string{"www.poison.lab. 0 IN A 198.51.100.100"}},
		{name: "CNAME loop in a zone", qname: "a.loop.lab.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, err: ErrCNAMELoop},
		{name: "CNAME loop across zones", qname: "x.loop.lab.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, err: ErrCNAMELoop},
		{name: "chain too long", qname: "c1.chain.lab.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, err: ErrChainTooLong},
		{name: "dead zone", qname: "www.dead.lab.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, err: ErrNoServers},
		{name: "glueless server inside its own zone", qname: "www.selfns.lab.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, err: ErrNoServers},
		{name: "glueless cycle", qname: "www.cyc1.lab.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, err: ErrNoServers},
	}
	for _, minimise := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if minimise {
				name += "/qname-min"
			}
			t.Run(name, func(t *testing.T) {
				r, _, _ := newTestResolver(t, func(c *Config) { c.QNAMEMinimisation = minimise })
				m, err := r.Resolve(context.Background(), tt.qname, tt.qtype, dns.ClassINET, false)
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Fatalf("err = %v, want %v", err, tt.err)
					}
				} else if err != nil {
					t.Fatalf("err = %v", err)
				}
				if m == nil {
					t.Fatal("nil response")
				}
				if m.Rcode != tt.rcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
				}
				if len(m.Question) != 1 || m.Question[0].Name != dns.Fqdn(tt.qname) || m.Question[0].Qtype != tt.qtype {
					t.Errorf("question = %v", m.Question)
				}
				if !m.Response || !m.RecursionAvailable || m.Authoritative || len(m.Extra) != 0 {
					t.Errorf("header/additional wrong: %v", m)
				}
				got := rrStrings(m.Answer)
				want := tt.answer
				if want == nil {
					want = []string{}
				}
				if tt.qtype == dns.TypeNS || tt.qtype == dns.TypeANY {
					slices.Sort(got)
				}
				if !slices.Equal(got, want) {
					t.Errorf("answer:\n got %q\nwant %q", got, want)
				}
				wantNS := tt.ns
				if wantNS == nil {
					wantNS = []string{}
				}
				if gotNS := rrStrings(m.Ns); !slices.Equal(gotNS, wantNS) {
					t.Errorf("authority:\n got %q\nwant %q", gotNS, wantNS)
				}
			})
		}
	}
}

// queryNames strips the server from the world's log lines.
func queryNames(log []string) []string {
	out := []string{}
	for _, l := range log {
		_, rest, _ := strings.Cut(l, " ")
		out = append(out, rest)
	}
	return out
}

func TestUpstreamQueries(t *testing.T) {
	tests := []struct {
		name     string
		minimise bool
		queries  []struct {
			qname string
			qtype uint16
			want  []string
		}
	}{
		{name: "full names", queries: []struct {
			qname string
			qtype uint16
			want  []string
		}{
			{"www.example.lab.", dns.TypeA, []string{". NS", "www.example.lab. A", "www.example.lab. A", "www.example.lab. A"}},
			{"www.example.lab.", dns.TypeAAAA, []string{"www.example.lab. AAAA"}},
			{"www.example.lab.", dns.TypeA, []string{}},
			{"www.other.", dns.TypeA, []string{"www.other. A", "www.other. A"}},
		}},
		{name: "qname minimisation", minimise: true, queries: []struct {
			qname string
			qtype uint16
			want  []string
		}{
			{"www.example.lab.", dns.TypeA, []string{". NS", "lab. A", "example.lab. A", "www.example.lab. A"}},
			{"deep.a.b.c.example.lab.", dns.TypeA, []string{"c.example.lab. A", "b.c.example.lab. A", "a.b.c.example.lab. A", "deep.a.b.c.example.lab. A"}},
			{"example.lab.", dns.TypeDS, []string{"example.lab. DS"}},
			{"a.b.ent.lab.", dns.TypeA, []string{"ent.lab. A", "b.ent.lab. A", "a.b.ent.lab. A"}},
			{"www.glueless.lab.", dns.TypeA, []string{"glueless.lab. A", "other. A", "hosting.other. A", "ns.hosting.other. A", "www.glueless.lab. A"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, _ := newTestResolver(t, func(c *Config) { c.QNAMEMinimisation = tt.minimise })
			for _, q := range tt.queries {
				if _, err := r.Resolve(context.Background(), q.qname, q.qtype, dns.ClassINET, false); err != nil {
					t.Fatalf("%s: %v", q.qname, err)
				}
				if got := queryNames(w.queries()); !slices.Equal(got, q.want) {
					t.Errorf("%s %s: upstream queries\n got %q\nwant %q", q.qname, dns.Type(q.qtype), got, q.want)
				}
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	tests := []struct {
		depth int
		err   error
	}{{0, nil}, {2, nil}, {1, ErrNoServers}}
	for _, tt := range tests {
		r, _, _ := newTestResolver(t, func(c *Config) { c.MaxDepth = tt.depth })
		m, err := r.Resolve(context.Background(), "www.deepglue.lab.", dns.TypeA, dns.ClassINET, false)
		if !errors.Is(err, tt.err) || (err == nil && len(m.Answer) != 1) {
			t.Errorf("MaxDepth %d: %v %v", tt.depth, err, m)
		}
	}
}

func TestQNAMEMinimisationFallback(t *testing.T) {
	r, _, _ := newTestResolver(t, func(c *Config) { c.QNAMEMinimisation = true })
	if _, err := r.Resolve(context.Background(), "a.b.ent.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	if got := r.Stats().QNAMEMinFallbacks; got != 1 {
		t.Errorf("QNAMEMinFallbacks = %d, want 1", got)
	}
}

// TestQNAMEMinimisationFallbackAfterFailure: a server that never answers
// the minimised query for an empty non-terminal (some load balancers drop
// what they do not know) is asked for the full name instead (RFC 9156
// section 2.3, relaxed), rather than the resolution failing.
func TestQNAMEMinimisationFallbackAfterFailure(t *testing.T) {
	r, w, _ := newTestResolver(t, func(c *Config) { c.QNAMEMinimisation = true })
	s := w.servers[addr("192.0.2.90")]
	s.entNXDOMAIN, s.entDrop = false, true
	m, err := r.Resolve(context.Background(), "a.b.ent.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("err %v\n%s", err, m)
	}
	if got := r.Stats().QNAMEMinFallbacks; got != 1 {
		t.Errorf("QNAMEMinFallbacks = %d, want 1", got)
	}
}

func TestNegativeCaching(t *testing.T) {
	tests := []struct {
		qname string
		qtype uint16
		rcode int
	}{
		{"nope.example.lab.", dns.TypeA, dns.RcodeNameError},
		{"www.example.lab.", dns.TypeMX, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(dns.RcodeToString[tt.rcode], func(t *testing.T) {
			r, w, _ := newTestResolver(t, nil)
			resolve := func() *dns.Msg {
				t.Helper()
				m, err := r.Resolve(context.Background(), tt.qname, tt.qtype, dns.ClassINET, false)
				if err != nil {
					t.Fatal(err)
				}
				if m.Rcode != tt.rcode || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Fatalf("response: %v", m)
				}
				return m
			}
			m := resolve()
			// RFC 2308: min(SOA TTL 3600, MINIMUM 300).
			if ttl := m.Ns[0].Header().Ttl; ttl != 300 {
				t.Errorf("negative TTL = %d, want 300", ttl)
			}
			w.queries()
			w.clock.Advance(100 * time.Second)
			m = resolve()
			if got := w.queries(); len(got) != 0 {
				t.Errorf("within the TTL, upstream queries %q", got)
			}
			if ttl := m.Ns[0].Header().Ttl; ttl != 200 {
				t.Errorf("cached SOA TTL = %d, want 200", ttl)
			}
			w.clock.Advance(201 * time.Second)
			resolve()
			if got := queryNames(w.queries()); !slices.Equal(got, []string{tt.qname + " " + dns.Type(tt.qtype).String()}) {
				t.Errorf("after the TTL, upstream queries %q", got)
			}
		})
	}
}

func TestPositiveCachingTTL(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	w.queries()
	w.clock.Advance(1000 * time.Second)
	m, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := m.Answer[0].Header().Ttl; ttl != 2600 {
		t.Errorf("TTL = %d, want 2600", ttl)
	}
	if q := w.queries(); len(q) != 0 {
		t.Errorf("upstream queries %q", q)
	}
	if s := r.Stats(); s.CacheAnswers != 1 {
		t.Errorf("CacheAnswers = %d", s.CacheAnswers)
	}
	w.clock.Advance(2600 * time.Second)
	if _, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	if q := queryNames(w.queries()); !slices.Equal(q, []string{"www.example.lab. A"}) {
		t.Errorf("after expiry, upstream queries %q", q)
	}
}

func TestSingleflight(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	w.queries()
	release := w.block("txt.example.lab.")
	const n = 8
	var wg sync.WaitGroup
	msgs := make([]*dns.Msg, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs[i], errs[i] = r.Resolve(ctx, "txt.example.lab.", dns.TypeTXT, dns.ClassINET, i%2 == 0)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Deduplicated < n-1 || w.waiters("txt.example.lab.") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d callers joined", r.Stats().Deduplicated)
		}
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || len(msgs[i].Answer) != 1 {
			t.Fatalf("caller %d: %v %v", i, errs[i], msgs[i])
		}
	}
	if msgs[0].Answer[0] == msgs[1].Answer[0] {
		t.Error("callers share record values")
	}
	if q := w.queries(); len(q) != 1 {
		t.Errorf("upstream queries %q, want one", q)
	}
}

func TestCallerDeadline(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	release := w.block("www.example.lab.")
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	m, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if !errors.Is(err, ErrTimeout) || m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("got %v, %v; want SERVFAIL and ErrTimeout", m, err)
	}
}

func TestResolutionTimeBudget(t *testing.T) {
	r, w, _ := newTestResolver(t, func(c *Config) {
		c.Timeout = 100 * time.Millisecond
		c.MinTryTimeout = 10 * time.Millisecond
		c.MaxTryTimeout = 20 * time.Millisecond
	})
	release := w.block("www.example.lab.")
	defer release()
	start := time.Now()
	m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrNoServers) {
		t.Fatalf("err = %v", err)
	}
	if m.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestMaxInFlight(t *testing.T) {
	r, w, _ := newTestResolver(t, func(c *Config) { c.MaxInFlight = 1 })
	release := w.block("www.example.lab.")
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for w.waiters("www.example.lab.") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("first resolution did not start")
		}
		time.Sleep(time.Millisecond)
	}
	m, err := r.Resolve(context.Background(), "www.other.", dns.TypeA, dns.ClassINET, false)
	if !errors.Is(err, ErrOverloaded) || m.Rcode != dns.RcodeServerFailure || r.Stats().Overloaded != 1 {
		t.Errorf("second resolution: %v %v", m, err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), "www.other.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Errorf("after the first finished: %v", err)
	}
}

func TestUpstreamBudget(t *testing.T) {
	tests := []struct {
		max  int
		fail bool
	}{{3, false}, {2, true}}
	for _, tt := range tests {
		r, _, _ := newTestResolver(t, func(c *Config) { c.MaxUpstreamQueries = tt.max })
		m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
		if tt.fail {
			if !errors.Is(err, ErrBudgetExhausted) || m.Rcode != dns.RcodeServerFailure || r.Stats().BudgetExhausted != 1 {
				t.Errorf("max %d: %v %v", tt.max, err, m)
			}
		} else if err != nil {
			t.Errorf("max %d: %v", tt.max, err)
		}
	}
}

func TestTCPFallback(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	if _, err := r.Resolve(context.Background(), "www.tc.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	q := w.queries()
	want := []string{"192.0.2.70 www.tc.lab. A", "192.0.2.70 www.tc.lab. A tcp"}
	if !slices.Equal(q[len(q)-2:], want) {
		t.Errorf("queries %q, want to end with %q", q, want)
	}
	if s := r.Stats(); s.TCPFallbacks != 1 {
		t.Errorf("TCPFallbacks = %d", s.TCPFallbacks)
	}
}

func TestEDNSFallback(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.noedns.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	q := w.queries()
	want := []string{"192.0.2.80 www.noedns.lab. A", "192.0.2.80 www.noedns.lab. A noedns"}
	if !slices.Equal(q[len(q)-2:], want) {
		t.Errorf("queries %q, want to end with %q", q, want)
	}
	if info, _ := r.ServerInfo(addr("192.0.2.80")); !info.NoEDNS {
		t.Error("server not remembered as without EDNS")
	}
	if _, err := r.Resolve(ctx, "www.noedns.lab.", dns.TypeAAAA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	if q := w.queries(); !slices.Equal(q, []string{"192.0.2.80 www.noedns.lab. AAAA noedns"}) {
		t.Errorf("second query %q", q)
	}
	if s := r.Stats(); s.EDNSFallbacks != 1 {
		t.Errorf("EDNSFallbacks = %d", s.EDNSFallbacks)
	}
}

func countServer(log []string, server string) int {
	n := 0
	for _, l := range log {
		if strings.HasPrefix(l, server+" ") {
			n++
		}
	}
	return n
}

func TestLameServers(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	ctx := context.Background()
	var log []string
	for i := range 12 {
		m, err := r.Resolve(ctx, "x"+string(rune('a'+i))+".lame.lab.", dns.TypeA, dns.ClassINET, false)
		if err != nil || m.Rcode != dns.RcodeNameError {
			t.Fatalf("%v %v", err, m)
		}
		log = append(log, w.queries()...)
	}
	lame := 0
	for _, s := range []string{"192.0.2.50", "192.0.2.51"} {
		n := countServer(log, s)
		if n > 1 {
			t.Errorf("lame server %s asked %d times", s, n)
		}
		if n == 1 {
			lame++
			if !r.IsLame(addr(s), "lame.lab") {
				t.Errorf("%s not remembered as lame", s)
			}
		}
	}
	if got := r.Stats().LameServers; got != uint64(lame) {
		t.Errorf("LameServers = %d, want %d", got, lame)
	}
}

func TestUnresponsiveServers(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	ctx := context.Background()
	var log []string
	for i := range 10 {
		m, err := r.Resolve(ctx, "x"+string(rune('a'+i))+".slow.lab.", dns.TypeA, dns.ClassINET, false)
		if err != nil || m.Rcode != dns.RcodeNameError {
			t.Fatalf("%v %v", err, m)
		}
		log = append(log, w.queries()...)
	}
	n := countServer(log, "192.0.2.60")
	if n > 1 {
		t.Errorf("unresponsive server asked %d times", n)
	}
	if got := r.Stats().Timeouts; got != uint64(n) {
		t.Errorf("Timeouts = %d, want %d", got, n)
	}

	// A zone whose only server never answers: two tries, then SERVFAIL.
	m, err := r.Resolve(ctx, "www.dead.lab.", dns.TypeA, dns.ClassINET, false)
	if !errors.Is(err, ErrNoServers) || m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("%v %v", err, m)
	}
	if n := countServer(w.queries(), "192.0.2.62"); n != maxTriesPerServer {
		t.Errorf("dead server asked %d times", n)
	}
	info, ok := r.ServerInfo(addr("192.0.2.62"))
	if !ok || info.Timeouts != maxTriesPerServer || info.RTO != 4*initialRTO {
		t.Errorf("infra: %+v %v", info, ok)
	}
}

func TestServerSelectionPrefersFastest(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	ctx := context.Background()
	var late []string
	for i := range 20 {
		if _, err := r.Resolve(ctx, "x"+string(rune('a'+i))+".fast.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
			t.Fatal(err)
		}
		q := w.queries()
		if i >= 5 {
			late = append(late, q...)
		}
	}
	if n := countServer(late, "192.0.2.111"); n != 0 {
		t.Errorf("slow server asked %d times after warm-up: %q", n, late)
	}
	fast, _ := r.ServerInfo(addr("192.0.2.110"))
	slow, _ := r.ServerInfo(addr("192.0.2.111"))
	if fast.SRTT != 5*time.Millisecond || (slow.SRTT != 0 && slow.SRTT != 80*time.Millisecond) {
		t.Errorf("srtt fast %v slow %v", fast.SRTT, slow.SRTT)
	}
}

func TestBailiwick(t *testing.T) {
	r, _, cache := newTestResolver(t, nil)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.poison.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	now := r.clock.Now()
	for _, k := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.lab.", dns.TypeA}, {"evil.lab.", dns.TypeA}, {"example.lab.", dns.TypeNS},
		{"ns1.example.lab.", dns.TypeA}, {"ns.evil.other.", dns.TypeA},
	} {
		if set, ok := cache.LookupRRset(k.name, k.qtype, dns.ClassINET, now); ok {
			t.Errorf("out-of-bailiwick %s cached: %v", k.name, set.RRs)
		}
	}
	m, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil || rrStrings(m.Answer)[0] != "www.example.lab. 0 IN A 198.51.100.1" {
		t.Errorf("%v %v", m, err)
	}
}

func TestPriming(t *testing.T) {
	r, w, cache := newTestResolver(t, nil)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	q := w.queries()
	if !strings.HasSuffix(q[0], " . NS") || (!strings.HasPrefix(q[0], "192.0.2.1 ") && !strings.HasPrefix(q[0], "192.0.2.2 ")) {
		t.Errorf("first query %q is not priming", q[0])
	}
	set, ok := cache.LookupRRset(".", dns.TypeNS, dns.ClassINET, r.clock.Now())
	if !ok || set.Rank != RankAnswerAuth || len(set.RRs) != 2 {
		t.Errorf("root NS: %v %v", set, ok)
	}
	if _, ok := cache.LookupRRset("a.root-servers.lab.", dns.TypeA, dns.ClassINET, r.clock.Now()); !ok {
		t.Error("root server address not cached")
	}
	if _, err := r.Resolve(ctx, "www.other.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Primings != 1 {
		t.Errorf("Primings = %d", s.Primings)
	}
}

func TestPrimingFailureFallsBackToHints(t *testing.T) {
	r, w, _ := newTestResolver(t, nil)
	w.mu.Lock()
	for _, a := range []string{"192.0.2.1", "192.0.2.2"} {
		s := *w.servers[addr(a)]
		s.minimalNS = true
		w.servers[addr(a)] = &s
	}
	w.mu.Unlock()
	m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", m, err)
	}
	if s := r.Stats(); s.Primings != 0 {
		t.Errorf("Primings = %d", s.Primings)
	}
}

func TestRankProtectsAnswers(t *testing.T) {
	r, _, cache := newTestResolver(t, nil)
	ctx := context.Background()
	// The authoritative NS set of example.lab is cached first ...
	if _, err := r.Resolve(ctx, "example.lab.", dns.TypeNS, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	// ... and a later referral to example.lab must not replace it.
	r.cfg.QNAMEMinimisation = true
	if _, err := r.Resolve(ctx, "ns1.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	set, ok := cache.LookupRRset("example.lab.", dns.TypeNS, dns.ClassINET, r.clock.Now())
	if !ok || set.Rank != RankAnswerAuth {
		t.Errorf("NS set rank %v", set.Rank)
	}
}

func TestDNSSECOK(t *testing.T) {
	r, w, _ := newTestResolver(t, func(c *Config) { c.DNSSECOK = true })
	ctx := context.Background()
	for i, tt := range []struct {
		do      bool
		answer  int
		queries int
	}{{true, 2, 4}, {false, 1, 0}, {true, 2, 0}} {
		m, err := r.Resolve(ctx, "signed.example.lab.", dns.TypeA, dns.ClassINET, tt.do)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Answer) != tt.answer {
			t.Errorf("%d: DO %v: answer %v", i, tt.do, m.Answer)
		}
		if q := w.queries(); len(q) != tt.queries {
			t.Errorf("%d: upstream queries %q", i, q)
		}
	}
}

// recordingTransport keeps the queries it is given.
type recordingTransport struct {
	Transport
	mu      sync.Mutex
	queries []*dns.Msg
}

func (rt *recordingTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	rt.mu.Lock()
	rt.queries = append(rt.queries, q.Copy())
	rt.mu.Unlock()
	return rt.Transport.Exchange(ctx, server, q, tcp)
}

func TestUpstreamQueryFormat(t *testing.T) {
	for _, do := range []bool{false, true} {
		w := newWorld(t)
		rt := &recordingTransport{Transport: w}
		r, err := New(Config{RootHints: testHints(), Transport: rt, Clock: w.clock, DNSSECOK: do})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Resolve(context.Background(), "www.Example.lab", dns.TypeA, dns.ClassINET, false); err != nil {
			t.Fatal(err)
		}
		ids := map[uint16]bool{}
		mixed := 0
		for _, q := range rt.queries {
			opt := q.IsEdns0()
			if q.RecursionDesired || q.Response || q.Opcode != dns.OpcodeQuery || opt == nil || opt.UDPSize() != 1232 ||
				opt.Do() != do || q.CheckingDisabled != do || len(q.Question) != 1 || len(q.Answer)+len(q.Ns) != 0 {
				t.Errorf("query %v", q)
			}
			// 0x20: the case is random, so the names of the four
			// queries are not all in lower case.
			if q.Question[0].Name != strings.ToLower(q.Question[0].Name) {
				mixed++
			}
			if c, ok := queryCookie(q); !ok || c == ([clientCookieLen]byte{}) {
				t.Errorf("query without a client cookie: %v", q)
			}
			ids[q.Id] = true
		}
		if mixed == 0 {
			t.Errorf("no query name in mixed case")
		}
		if len(rt.queries) != 4 || len(ids) < 3 {
			t.Errorf("%d queries with %d distinct IDs", len(rt.queries), len(ids))
		}
	}
}

func TestDNSSECRecordsForClients(t *testing.T) {
	sig := mustRR("www.example.lab. 300 IN RRSIG A 13 3 300 20260201000000 20260101000000 1 example.lab. AAAA")
	nsec := mustRR("www.example.lab. 300 IN NSEC zzz.example.lab. A RRSIG NSEC")
	a := mustRR("www.example.lab. 300 IN A 198.51.100.1")
	tests := []struct {
		qtype uint16
		do    bool
		in    []dns.RR
		want  int
	}{
		{dns.TypeA, false, []dns.RR{a, sig}, 1},
		{dns.TypeA, true, []dns.RR{a, sig}, 2},
		{dns.TypeRRSIG, false, []dns.RR{sig}, 1},
		{dns.TypeNSEC, false, []dns.RR{nsec, sig}, 1},
		{0, false, []dns.RR{nsec, sig}, 0},
		{0, true, []dns.RR{nsec, sig}, 2},
	}
	for _, tt := range tests {
		if got := forClient(tt.in, tt.qtype, tt.do); len(got) != tt.want {
			t.Errorf("qtype %d do %v: %d records, want %d", tt.qtype, tt.do, len(got), tt.want)
		}
	}
}

func TestResolveRejects(t *testing.T) {
	r, _, _ := newTestResolver(t, nil)
	tests := []struct {
		qname  string
		qtype  uint16
		qclass uint16
		rcode  int
		err    error
	}{
		{"a..b.", dns.TypeA, dns.ClassINET, dns.RcodeFormatError, ErrBadQuery},
		{"", dns.TypeA, dns.ClassINET, dns.RcodeFormatError, ErrBadQuery},
		{strings.Repeat("a", 64) + ".lab.", dns.TypeA, dns.ClassINET, dns.RcodeFormatError, ErrBadQuery},
		{"version.bind.", dns.TypeTXT, dns.ClassCHAOS, dns.RcodeRefused, ErrUnsupported},
		{"example.lab.", dns.TypeAXFR, dns.ClassINET, dns.RcodeNotImplemented, ErrUnsupported},
		{"example.lab.", dns.TypeOPT, dns.ClassINET, dns.RcodeFormatError, ErrBadQuery},
	}
	for _, tt := range tests {
		m, err := r.Resolve(context.Background(), tt.qname, tt.qtype, tt.qclass, false)
		if !errors.Is(err, tt.err) || m == nil || m.Rcode != tt.rcode {
			t.Errorf("%q: %v %v", tt.qname, m, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"edns", func(c *Config) { c.EDNSBufferSize = 100 }, "EDNSBufferSize"},
		{"try bounds", func(c *Config) { c.MinTryTimeout = 2 * time.Second }, "MinTryTimeout"},
		{"try above total", func(c *Config) { c.Timeout = time.Second }, "MaxTryTimeout"},
		{"budget", func(c *Config) { c.MaxUpstreamQueries = -1 }, "MaxUpstreamQueries"},
		{"in flight", func(c *Config) { c.MaxInFlight = -1 }, "MaxInFlight"},
		{"chain", func(c *Config) { c.MaxCNAMEChain = 100 }, "MaxCNAMEChain"},
		{"depth", func(c *Config) { c.MaxDepth = -2 }, "MaxDepth"},
		{"hold-down", func(c *Config) { c.SpoofHoldDown = -time.Second }, "SpoofHoldDown"},
		{"suspects", func(c *Config) { c.MaxSuspects = -1 }, "MaxSuspects"},
		{"rrset size", func(c *Config) { c.MaxRRsetRecords = 70000 }, "MaxRRsetRecords"},
		{"delegation NS", func(c *Config) { c.MaxDelegationNS = 65 }, "MaxDelegationNS"},
		{"glueless", func(c *Config) { c.MaxGluelessLookups = -1 }, "MaxGluelessLookups"},
		{"zone tries", func(c *Config) { c.MaxZoneTries = -1 }, "MaxZoneTries"},
		{"hints without NS", func(c *Config) { c.RootHints = testHints()[2:] }, "no NS"},
		{"hint not at root", func(c *Config) { c.RootHints = []dns.RR{mustRR("lab. 1 IN NS a.lab.")} }, "not an NS record of the root"},
		{"hint without address", func(c *Config) { c.RootHints = testHints()[:2] }, "no usable address"},
		{"stray address", func(c *Config) {
			c.RootHints = append(testHints(), mustRR("x.lab. 1 IN A 192.0.2.9"))
		}, "no root name server"},
		{"only IPv6 hints with IPv6 off", func(c *Config) {
			c.DisableIPv6 = true
			c.RootHints = []dns.RR{mustRR(". 1 IN NS a.lab."), mustRR("a.lab. 1 IN AAAA 2001:db8::53")}
		}, "no usable address"},
	}
	for _, tt := range tests {
		cfg := Config{RootHints: testHints()}
		tt.mod(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.hints.cands) != 26 {
		t.Errorf("default hints give %d addresses", len(r.hints.cands))
	}
}

// BenchmarkResolveCached is the cache-hit path of Resolve. It allocates: the
// response is a fresh *dns.Msg with copied records by contract; the
// zero-allocation hit path is dns/cache's wire-form answer.
func BenchmarkResolveCached(b *testing.B) {
	r, _, _ := newTestResolver(b, nil)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "alias.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "alias.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveCold is a full iterative resolution through the fake world:
// priming, three referrals and a CNAME, with a fresh resolver each time.
func BenchmarkResolveCold(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := New(Config{RootHints: testHints(), Transport: w, Clock: w.clock, QNAMEMinimisation: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Resolve(ctx, "alias.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
			b.Fatal(err)
		}
		w.queries()
	}
}
