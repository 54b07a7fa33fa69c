package main

import (
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/resolver"
)

// rrCache lets the resolver keep its RRsets and negative answers in the
// shared dns/cache, under the same memory bound as the wire-form answers.
type rrCache struct{ c *cache.Cache }

// rankToCache maps the resolver's ranks onto the cache's; ok is false for
// RankNone, which is never stored.
func rankToCache(r resolver.Rank) (cache.Rank, bool) {
	switch r {
	case resolver.RankAdditional:
		return cache.RankAdditionalGlue, true
	case resolver.RankAuthority:
		return cache.RankAuthorityReferral, true
	case resolver.RankAnswerNonAuth:
		return cache.RankAnswerNonAuth, true
	case resolver.RankAnswerAuth:
		return cache.RankAnswerAuth, true
	}
	return cache.RankNone, false
}

func rankFromCache(r cache.Rank) resolver.Rank {
	switch r.Trust() {
	case cache.RankAdditionalGlue:
		return resolver.RankAdditional
	case cache.RankAuthorityReferral:
		return resolver.RankAuthority
	case cache.RankAnswerNonAuth:
		return resolver.RankAnswerNonAuth
	case cache.RankAuthorityAuth, cache.RankAnswerAuth, cache.RankZone:
		return resolver.RankAnswerAuth
	}
	return resolver.RankNone
}

func (a rrCache) LookupRRset(name string, qtype, qclass uint16, now time.Time) (resolver.RRset, bool) {
	s, ok := a.c.LookupRRset(name, qtype, qclass, now, false)
	if !ok || s.Prefetch {
		// An RRset in the last tenth of its TTL is fetched again by the
		// first resolution that needs it (the cache flags that hit once),
		// which is how the server's background prefetch of a popular
		// answer gets fresh data rather than the expiring copy.
		return resolver.RRset{}, false
	}
	return resolver.RRset{Name: dns.CanonicalName(name), Type: qtype, Class: qclass, RRs: s.RRs, Sigs: s.Sigs, Rank: rankFromCache(s.Rank)}, true
}

func (a rrCache) StoreRRset(set resolver.RRset, now time.Time) bool {
	rank, ok := rankToCache(set.Rank)
	if !ok || len(set.RRs) == 0 {
		return false
	}
	rrs := set.RRs
	if len(set.Sigs) > 0 {
		rrs = append(append(make([]dns.RR, 0, len(rrs)+len(set.Sigs)), rrs...), set.Sigs...)
	}
	return a.c.PutRRset(rrs, rank, now) == nil
}

func (a rrCache) LookupNegative(name string, qtype, qclass uint16, now time.Time) (resolver.Negative, bool) {
	n, ok := a.c.LookupNegative(name, qtype, qclass, now, false)
	if !ok {
		return resolver.Negative{}, false
	}
	neg := resolver.Negative{Name: dns.CanonicalName(name), Type: qtype, Class: qclass, TTL: n.TTL, Authority: n.Authority, Rcode: dns.RcodeSuccess}
	if n.NXDomain {
		neg.Type = dns.TypeNone
		neg.Rcode = dns.RcodeNameError
	}
	return neg, true
}

func (a rrCache) StoreNegative(neg resolver.Negative, now time.Time) {
	_ = a.c.PutNegative(neg.Name, neg.Type, neg.Class, neg.Rcode == dns.RcodeNameError, neg.Authority, cache.RankAuthorityAuth, now)
}

// wireCache adapts the wire-form answer cache to the server.
type wireCache struct{ c *cache.Cache }

func (w wireCache) AnswerFromWire(q, resp []byte, maxSize int, stale bool) (int, bool, bool) {
	n, f, ok := w.c.AnswerFromWireOpts(q, resp, cache.WireOptions{MaxSize: maxSize, AllowStale: stale})
	return n, f&cache.HitPrefetch != 0, ok
}
func (w wireCache) PutAnswer(m *dns.Msg) { _ = w.c.PutAnswer(m, time.Time{}) }
func (w wireCache) AnswerJustStored(q, resp []byte, maxSize int) (int, bool) {
	n, _, ok := w.c.AnswerFromWireOpts(q, resp, cache.WireOptions{MaxSize: maxSize, JustStored: true})
	return n, ok
}
