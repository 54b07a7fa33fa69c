package cache

import (
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/resolver"
)

// The resolver and the server each define the small interface they consume
// (resolver.Cache, server.Cache); the views below are a Cache seen through
// those interfaces, so that a program wires them with one call each and the
// translation between the resolver's ranks and the cache's lives here,
// beside the ranks it translates. The resolver and the server import
// nothing of this package.

// ResolverView is a Cache as the resolver uses it: it implements
// resolver.Cache over the same shards and memory bound as the wire-form
// answers. Get one from Cache.ResolverView.
type ResolverView struct{ c *Cache }

// ResolverView returns c seen as a resolver.Cache.
func (c *Cache) ResolverView() ResolverView { return ResolverView{c} }

var _ resolver.Cache = ResolverView{}

// rankFromResolver maps the resolver's ranks onto the cache's: the
// resolver's "authority" is only ever a referral's NS or DS set (the
// authority section of a non-authoritative answer), and its "additional"
// is glue. ok is false for RankNone and unknown ranks, which are never
// stored. Security is left unchecked: the resolver does not validate.
func rankFromResolver(r resolver.Rank) (Rank, bool) {
	switch r {
	case resolver.RankBogus:
		return RankAnswerNonAuth.WithSecurity(SecurityBogus), true
	case resolver.RankAdditional:
		return RankAdditionalGlue, true
	case resolver.RankAuthority:
		return RankAuthorityReferral, true
	case resolver.RankAnswerNonAuth:
		return RankAnswerNonAuth, true
	case resolver.RankAnswerAuth:
		return RankAnswerAuth, true
	}
	return RankNone, false
}

// resolverRank maps a cache rank back onto the resolver's, by trust alone.
// The cache knows levels the resolver never produces (the authority section
// of an authoritative answer, local zones); they are authoritative data and
// map to RankAnswerAuth, so that the resolver never lets a referral or glue
// replace them.
func resolverRank(r Rank) resolver.Rank {
	if r.Security() == SecurityBogus {
		return resolver.RankBogus
	}
	switch r.Trust() {
	case RankAdditionalGlue:
		return resolver.RankAdditional
	case RankAuthorityReferral:
		return resolver.RankAuthority
	case RankAnswerNonAuth:
		return resolver.RankAnswerNonAuth
	case RankAuthorityAuth, RankAnswerAuth, RankZone:
		return resolver.RankAnswerAuth
	}
	return resolver.RankNone
}

// LookupRRset implements resolver.Cache.
func (v ResolverView) LookupRRset(name string, qtype, qclass uint16, now time.Time) (resolver.RRset, bool) {
	s, ok := v.c.LookupRRset(name, qtype, qclass, now, false)
	if !ok || s.Prefetch {
		// An RRset in the last tenth of its TTL is fetched again by the
		// first resolution that needs it (the cache flags that hit once),
		// which is how the server's background prefetch of a popular
		// answer gets fresh data rather than the expiring copy.
		return resolver.RRset{}, false
	}
	return resolver.RRset{Name: dns.CanonicalName(name), Type: qtype, Class: qclass, RRs: s.RRs, Sigs: s.Sigs, Rank: resolverRank(s.Rank)}, true
}

// CompareRRset tells the resolver, without decoding the cached set, what
// LookupRRset would say of the set of s's owner, type and class (its rank
// and the seconds it has left; not found when due for prefetch) and
// whether it holds exactly s's records and signatures, TTLs aside.
func (v ResolverView) CompareRRset(s resolver.RRset, now time.Time) (rank resolver.Rank, left uint32, same, ok bool) {
	r, left, prefetch, same, ok := v.c.CompareRRset(s.RRs, s.Sigs, now)
	if !ok || prefetch {
		return resolver.RankNone, 0, false, false
	}
	return resolverRank(r), left, same, true
}

// StoreRRset implements resolver.Cache.
func (v ResolverView) StoreRRset(set resolver.RRset, now time.Time) bool {
	rank, ok := rankFromResolver(set.Rank)
	if !ok || len(set.RRs) == 0 {
		return false
	}
	rrs := set.RRs
	if len(set.Sigs) > 0 {
		rrs = append(append(make([]dns.RR, 0, len(rrs)+len(set.Sigs)), rrs...), set.Sigs...)
	}
	return v.c.PutRRset(rrs, rank, now) == nil
}

// LookupNegative implements resolver.Cache.
func (v ResolverView) LookupNegative(name string, qtype, qclass uint16, now time.Time) (resolver.Negative, bool) {
	n, ok := v.c.LookupNegative(name, qtype, qclass, now, false)
	if !ok {
		return resolver.Negative{}, false
	}
	neg := resolver.Negative{Name: dns.CanonicalName(name), Type: qtype, Class: qclass, TTL: n.TTL, Authority: n.Authority, Rcode: dns.RcodeSuccess,
		Bogus: n.Rank.Security() == SecurityBogus}
	if n.NXDomain {
		neg.Type = dns.TypeNone
		neg.Rcode = dns.RcodeNameError
	}
	return neg, true
}

// StoreNegative implements resolver.Cache. The resolver stores only
// negative answers that an authoritative server gave, with their SOA, so
// they rank as the authority section of an authoritative answer.
func (v ResolverView) StoreNegative(neg resolver.Negative, now time.Time) {
	_ = v.c.PutNegative(neg.Name, neg.Type, neg.Class, neg.Rcode == dns.RcodeNameError, neg.Authority, RankAuthorityAuth, now)
}

// MarkBogus implements resolver.Cache.
func (v ResolverView) MarkBogus(name string, qtype, qclass uint16, negative bool, ttl uint32, now time.Time) bool {
	return v.c.MarkBogus(name, qtype, qclass, negative, time.Duration(ttl)*time.Second, now)
}

// ServerView is a Cache as the server uses it: it implements the
// interfaces server.Cache and server.JustStoredCache, which speak in
// arguments rather than WireOptions so that the server need not import
// this package. Get one from Cache.ServerView.
type ServerView struct{ c *Cache }

// ServerView returns c seen as the server's cache.
func (c *Cache) ServerView() ServerView { return ServerView{c} }

// AnswerFromWire answers the raw query from the answer cache into resp;
// refresh is the prefetch signal (HitPrefetch).
func (v ServerView) AnswerFromWire(query, resp []byte, maxSize int, stale bool) (n int, refresh, ok bool) {
	n, f, ok := v.c.AnswerFromWireOpts(query, resp, WireOptions{MaxSize: maxSize, AllowStale: stale})
	return n, f&HitPrefetch != 0, ok
}

// PutAnswer stores a final response at the configured clock's time. A
// response the cache declines is simply not cached: the server has
// answered the client already.
func (v ServerView) PutAnswer(m *dns.Msg) { _ = v.c.PutAnswer(m, time.Time{}) }

// AnswerJustStored answers the raw query from the entry PutAnswer has just
// stored, without counting a hit (WireOptions.JustStored).
func (v ServerView) AnswerJustStored(query, resp []byte, maxSize int) (n int, ok bool) {
	n, _, ok = v.c.AnswerFromWireOpts(query, resp, WireOptions{MaxSize: maxSize, JustStored: true})
	return n, ok
}
