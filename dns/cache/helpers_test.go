package cache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
)

// testEpoch is where every test's clock starts; tests move a clock.Fake
// instead of sleeping.
var testEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestCache(t testing.TB, cfg Config) (*Cache, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(testEpoch)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clk
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return rr
}

func mustRRs(t testing.TB, ss ...string) []dns.RR {
	t.Helper()
	out := make([]dns.RR, len(ss))
	for i, s := range ss {
		out[i] = mustRR(t, s)
	}
	return out
}

// sigFor returns an RRSIG covering typ at owner, expiring exp after now.
func sigFor(t testing.TB, owner string, typ uint16, ttl uint32, now time.Time, exp time.Duration) *dns.RRSIG {
	t.Helper()
	return &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
		TypeCovered: typ,
		Algorithm:   dns.ECDSAP256SHA256,
		Labels:      uint8(dns.CountLabel(owner)),
		OrigTtl:     ttl,
		Expiration:  uint32(now.Add(exp).Unix()),
		Inception:   uint32(now.Add(-time.Hour).Unix()),
		KeyTag:      12345,
		SignerName:  "example.com.",
		Signature:   "c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl",
	}
}

// response builds a NOERROR response to (qname, qtype) with the given
// sections, the way a resolver hands a final answer to PutAnswer.
func response(t testing.TB, qname string, qtype uint16, do bool, answer, ns, extra []string) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	if do {
		q.SetEdns0(1232, true)
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	m.Answer = mustRRs(t, answer...)
	m.Ns = mustRRs(t, ns...)
	m.Extra = mustRRs(t, extra...)
	if do {
		m.SetEdns0(4096, true)
	}
	return m
}

// query packs a client query. udp 0 means no EDNS.
func query(t testing.TB, id uint16, qname string, qtype uint16, udp uint16, do bool) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Id = id
	if udp != 0 {
		m.SetEdns0(udp, do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack query: %v", err)
	}
	return b
}

func unpack(t testing.TB, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpack response: %v\n% x", err, b)
	}
	return m
}

func ttls(rrs []dns.RR) []uint32 {
	out := make([]uint32, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.Header().Ttl
	}
	return out
}
