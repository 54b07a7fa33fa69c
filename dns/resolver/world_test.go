package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
)

// The test world: an in-process DNS hierarchy of authoritative servers built
// from the zone files in testdata/zones, reached through a Transport that
// logs every query and advances a fake clock by each server's latency.

// newFakeClock returns the clock every test world starts with.
func newFakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// zone is authoritative data for the fake servers.
type zone struct {
	origin string
	rrs    map[string][]dns.RR // by lowercase owner
	names  map[string]bool     // owners and the empty non-terminals above them
}

func loadZone(t testing.TB, file, origin string) *zone {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "zones", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := &zone{origin: origin, rrs: map[string][]dns.RR{}, names: map[string]bool{}}
	zp := dns.NewZoneParser(f, origin, file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := lowerASCII(rr.Header().Name)
		z.rrs[name] = append(z.rrs[name], rr)
		for n := name; isSubDomain(n, origin); n = parentName(n) {
			z.names[n] = true
			if n == origin {
				break
			}
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return z
}

func (z *zone) get(name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range z.rrs[name] {
		if rr.Header().Rrtype == qtype {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

type behaviour struct {
	refuse      bool          // REFUSED to everything
	minimalNS   bool          // no addresses with NS answers
	upward      bool          // non-AA referral to the root
	timeout     bool          // never answers
	truncateUDP bool          // TC over UDP
	formerrEDNS bool          // FORMERR to queries with EDNS
	entNXDOMAIN bool          // NXDOMAIN for empty non-terminals
	entDrop     bool          // no answer for empty non-terminals
	poison      bool          // adds out-of-bailiwick records
	latency     time.Duration // advances the clock per answer
}

type fakeServer struct {
	zones []*zone
	behaviour
}

type world struct {
	mu      sync.Mutex
	clock   *clock.Fake
	servers map[netip.Addr]*fakeServer
	log     []string
	gates   map[string]chan struct{} // qname -> closed when queries may proceed
	waiting map[string]int
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func newWorld(t testing.TB) *world {
	t.Helper()
	zones := map[string]*zone{}
	for _, spec := range [][2]string{
		{"root.zone", "."}, {"lab.zone", "lab."}, {"example.lab.zone", "example.lab."},
		{"other.zone", "other."}, {"glueless.lab.zone", "glueless.lab."}, {"lame.lab.zone", "lame.lab."},
		{"slow.lab.zone", "slow.lab."}, {"dead.lab.zone", "dead.lab."}, {"tc.lab.zone", "tc.lab."},
		{"noedns.lab.zone", "noedns.lab."}, {"ent.lab.zone", "ent.lab."}, {"poison.lab.zone", "poison.lab."},
		{"fast.lab.zone", "fast.lab."}, {"sub.example.lab.zone", "sub.example.lab."},
		{"deepglue.lab.zone", "deepglue.lab."},
	} {
		zones[spec[1]] = loadZone(t, spec[0], spec[1])
	}
	w := &world{clock: newFakeClock(), servers: map[netip.Addr]*fakeServer{}, gates: map[string]chan struct{}{}, waiting: map[string]int{}}
	serve := func(a string, b behaviour, origins ...string) {
		s := &fakeServer{behaviour: b}
		for _, o := range origins {
			s.zones = append(s.zones, zones[o])
		}
		w.servers[addr(a)] = s
	}
	ms := time.Millisecond
	serve("192.0.2.1", behaviour{latency: 10 * ms}, ".")
	serve("192.0.2.2", behaviour{latency: 10 * ms}, ".")
	serve("192.0.2.10", behaviour{latency: 10 * ms}, "lab.")
	serve("192.0.2.11", behaviour{latency: 10 * ms}, "lab.")
	serve("192.0.2.20", behaviour{latency: 10 * ms}, "other.")
	serve("192.0.2.30", behaviour{latency: 10 * ms}, "example.lab.")
	serve("192.0.2.31", behaviour{latency: 10 * ms}, "example.lab.")
	serve("192.0.2.32", behaviour{latency: 10 * ms}, "sub.example.lab.")
	serve("192.0.2.40", behaviour{latency: 10 * ms}, "glueless.lab.", "deepglue.lab.")
	serve("192.0.2.50", behaviour{refuse: true})
	serve("192.0.2.51", behaviour{upward: true})
	serve("192.0.2.52", behaviour{latency: 10 * ms}, "lame.lab.")
	serve("192.0.2.60", behaviour{timeout: true})
	serve("192.0.2.61", behaviour{latency: 10 * ms}, "slow.lab.")
	serve("192.0.2.62", behaviour{timeout: true})
	serve("192.0.2.70", behaviour{truncateUDP: true}, "tc.lab.")
	serve("192.0.2.80", behaviour{formerrEDNS: true}, "noedns.lab.")
	serve("192.0.2.90", behaviour{entNXDOMAIN: true}, "ent.lab.")
	serve("192.0.2.100", behaviour{poison: true}, "poison.lab.")
	serve("192.0.2.110", behaviour{latency: 5 * ms}, "fast.lab.")
	serve("192.0.2.111", behaviour{latency: 80 * ms}, "fast.lab.")
	return w
}

// testHints are the root hints of the test world.
func testHints() []dns.RR {
	var out []dns.RR
	for _, s := range []string{
		". 3600000 IN NS a.root-servers.lab.",
		". 3600000 IN NS b.root-servers.lab.",
		"a.root-servers.lab. 3600000 IN A 192.0.2.1",
		"b.root-servers.lab. 3600000 IN A 192.0.2.2",
	} {
		out = append(out, mustRR(s))
	}
	return out
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// block makes queries for qname wait until the returned release is called.
func (w *world) block(qname string) (release func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.gates[qname] = ch
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.gates, qname)
		w.mu.Unlock()
		close(ch)
	}
}

func (w *world) waiters(qname string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting[qname]
}

// queries returns the log since the last call, as "server qname qtype [tcp]
// [noedns]" lines.
func (w *world) queries() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.log
	w.log = nil
	return out
}

func (w *world) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	qq := q.Question[0]
	// The log and the gates ignore the 0x20 case of the name.
	qq.Name = lowerASCII(qq.Name)
	entry := fmt.Sprintf("%s %s %s", server.Addr(), qq.Name, dns.Type(qq.Qtype))
	if tcp {
		entry += " tcp"
	}
	if q.IsEdns0() == nil {
		entry += " noedns"
	}
	w.mu.Lock()
	w.log = append(w.log, entry)
	s := w.servers[server.Addr()]
	gate := w.gates[qq.Name]
	if gate != nil {
		w.waiting[qq.Name]++
	}
	w.mu.Unlock()
	if server.Port() != 53 {
		return nil, fmt.Errorf("fake world: port %d", server.Port())
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s == nil || s.timeout || s.entDrop && s.isENT(qq.Name) {
		w.clock.Advance(400 * time.Millisecond)
		return nil, fmt.Errorf("fake world: %s: %w", server, context.DeadlineExceeded)
	}
	w.clock.Advance(s.latency)
	return s.answer(q, tcp), nil
}

func (s *fakeServer) answer(q *dns.Msg, tcp bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionDesired = false
	if opt := q.IsEdns0(); opt != nil {
		if s.formerrEDNS {
			m.Rcode = dns.RcodeFormatError
			return m
		}
		m.SetEdns0(1232, opt.Do())
	}
	if s.refuse {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if s.upward {
		m.Ns = []dns.RR{mustRR(". 86400 IN NS a.root-servers.lab.")}
		m.Extra = append(m.Extra, mustRR("a.root-servers.lab. 86400 IN A 192.0.2.1"))
		return m
	}
	if s.truncateUDP && !tcp {
		m.Truncated = true
		return m
	}
	qn := lowerASCII(q.Question[0].Name)
	qt := q.Question[0].Qtype
	var z *zone
	for _, c := range s.zones {
		if isSubDomain(qn, c.origin) && (z == nil || len(c.origin) > len(z.origin)) {
			z = c
		}
	}
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	s.resolveIn(z, m, qn, qt, 0)
	if s.poison {
		m.Answer = append(m.Answer, mustRR("www.example.lab. 86400 IN A 6.6.6.6"), mustRR("evil.lab. 86400 IN A 6.6.6.6"))
		m.Ns = append(m.Ns, mustRR("example.lab. 86400 IN NS ns.evil.other."))
		m.Extra = append(m.Extra, mustRR("ns1.example.lab. 86400 IN A 6.6.6.6"), mustRR("ns.evil.other. 86400 IN A 6.6.6.6"))
	}
	return m
}

// resolveIn answers qn/qt from zone z the way an authoritative server does:
// referrals at cuts, DNAME substitution, CNAME chasing inside the zone.
func (s *fakeServer) resolveIn(z *zone, m *dns.Msg, qn string, qt uint16, depth int) {
	if depth > 20 {
		return
	}
	// Zone cuts between the apex and qn.
	labels := labelCount(qn) - labelCount(z.origin)
	for i := labels; i >= 1; i-- {
		n := suffixLabels(qn, labelCount(z.origin)+labels-i+1)
		if n == z.origin {
			continue
		}
		if ns := z.get(n, dns.TypeNS); len(ns) > 0 {
			if qt == dns.TypeDS && n == qn {
				break
			}
			if depth == 0 {
				m.Authoritative = false
			}
			// After a CNAME into a child zone, BIND adds the referral.
			m.Ns = append(m.Ns, ns...)
			for _, rr := range ns {
				target := lowerASCII(rr.(*dns.NS).Ns)
				if isSubDomain(target, z.origin) {
					m.Extra = append(m.Extra, z.get(target, dns.TypeA)...)
					m.Extra = append(m.Extra, z.get(target, dns.TypeAAAA)...)
				}
			}
			return
		}
		if d := z.get(n, dns.TypeDNAME); len(d) > 0 && n != qn {
			m.Authoritative = true
			dn := d[0].(*dns.DNAME)
			target := qn[:len(qn)-len(n)] + dn.Target
			m.Answer = append(m.Answer, dn, &dns.CNAME{Hdr: dns.RR_Header{Name: qn, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: dn.Hdr.Ttl}, Target: target})
			if isSubDomain(lowerASCII(target), z.origin) {
				s.resolveIn(z, m, lowerASCII(target), qt, depth+1)
			}
			return
		}
	}
	m.Authoritative = true
	if !z.names[qn] || (s.entNXDOMAIN && len(z.rrs[qn]) == 0) {
		m.Rcode = dns.RcodeNameError // RFC 6604: the rcode is the last name's
		m.Ns = append(m.Ns, z.get(z.origin, dns.TypeSOA)...)
		return
	}
	rrs := z.get(qn, qt)
	if qt == dns.TypeANY {
		for _, rr := range z.rrs[qn] {
			rrs = append(rrs, dns.Copy(rr))
		}
	}
	if len(rrs) > 0 {
		m.Answer = append(m.Answer, rrs...)
		if opt := m.IsEdns0(); opt != nil && opt.Do() && qt != dns.TypeANY {
			for _, rr := range z.get(qn, dns.TypeRRSIG) {
				if rr.(*dns.RRSIG).TypeCovered == qt {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		if qt == dns.TypeNS && !s.minimalNS {
			for _, rr := range rrs {
				target := lowerASCII(rr.(*dns.NS).Ns)
				m.Extra = append(m.Extra, z.get(target, dns.TypeA)...)
				m.Extra = append(m.Extra, z.get(target, dns.TypeAAAA)...)
			}
		}
		return
	}
	if cn := z.get(qn, dns.TypeCNAME); len(cn) > 0 && qt != dns.TypeCNAME {
		m.Answer = append(m.Answer, cn...)
		target := lowerASCII(cn[0].(*dns.CNAME).Target)
		if isSubDomain(target, z.origin) {
			for _, rr := range m.Answer[:len(m.Answer)-1] {
				if equalName(rr.Header().Name, target) {
					return // loop: stop, as real servers do
				}
			}
			s.resolveIn(z, m, target, qt, depth+1)
		}
		return
	}
	m.Ns = append(m.Ns, z.get(z.origin, dns.TypeSOA)...)
}

// isENT reports whether name is an empty non-terminal of s's zones.
func (s *fakeServer) isENT(name string) bool {
	for _, z := range s.zones {
		if z.names[name] && len(z.rrs[name]) == 0 {
			return true
		}
	}
	return false
}

// newTestResolver returns a resolver over a fresh world.
func newTestResolver(t testing.TB, mod func(*Config)) (*Resolver, *world, *MemCache) {
	t.Helper()
	w := newWorld(t)
	cache := NewMemCache(10000)
	cfg := Config{
		RootHints: testHints(),
		Transport: w,
		Cache:     cache,
		Clock:     w.clock,
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, w, cache
}

// rrStrings renders records without TTLs, in order.
func rrStrings(rrs []dns.RR) []string {
	out := []string{}
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		out = append(out, strings.ReplaceAll(c.String(), "\t", " "))
	}
	return out
}
