package resolver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Rank is the credibility of cached data, after RFC 2181 §5.4.1: where a
// record was found in a response and whether the server was authoritative.
// Data of a lower rank never replaces unexpired data of a higher rank, so glue
// and referral NS sets cannot overwrite what an authoritative server said.
type Rank uint8

// The ranks, lowest first. RFC 2181 §5.4.1 lists more levels (zone files, zone
// transfers); an iterative resolver only ever sees these.
const (
	// RankNone is the zero Rank; nothing is stored with it.
	RankNone Rank = iota
	// RankBogus is data a validator found bogus (Cache.MarkBogus): kept a
	// short while so that the same forgery is recognised, below every
	// other rank so that any data replaces it, and never used, neither to
	// answer nor to reach servers.
	RankBogus
	// RankAdditional is data from the additional section (glue, addresses of
	// name servers). It is used to reach servers, never to answer clients.
	RankAdditional
	// RankAuthority is data from the authority section of a non-authoritative
	// response: the NS and DS sets of a referral. Used to reach servers only.
	RankAuthority
	// RankAnswerNonAuth is answer data that no authoritative server for its
	// owner vouched for, such as CNAMEs synthesised from a DNAME. It is the
	// lowest rank that answers clients.
	RankAnswerNonAuth
	// RankAnswerAuth is the answer section of an authoritative answer.
	RankAnswerAuth
)

// String names the rank for logs and test failures.
func (r Rank) String() string {
	switch r {
	case RankNone:
		return "none"
	case RankBogus:
		return "bogus"
	case RankAdditional:
		return "additional"
	case RankAuthority:
		return "authority"
	case RankAnswerNonAuth:
		return "answer-nonauth"
	case RankAnswerAuth:
		return "answer-auth"
	}
	return "rank?"
}

// RRset is a set of records with the same owner, type and class, with the
// RRSIG records that cover it (present only when the resolver asks upstream
// with the DO bit).
type RRset struct {
	Name  string // owner, lowercase and fully qualified
	Type  uint16
	Class uint16
	RRs   []dns.RR
	Sigs  []dns.RR // *dns.RRSIG covering Type
	Rank  Rank
}

// ttl is the lifetime of the set: the smallest TTL of its records, because
// RFC 2181 §5.2 makes a set live only as long as its shortest-lived member.
func (s *RRset) ttl() uint32 {
	t := uint32(0)
	first := true
	for _, rrs := range [2][]dns.RR{s.RRs, s.Sigs} {
		for _, rr := range rrs {
			if v := rr.Header().Ttl; first || v < t {
				t, first = v, false
			}
		}
	}
	return t
}

// Negative is a cached negative answer (RFC 2308): NXDOMAIN for a name, or
// NODATA for a name and type.
type Negative struct {
	Name  string // lowercase and fully qualified
	Type  uint16 // dns.TypeNone for NXDOMAIN, which covers every type
	Class uint16
	// Rcode is dns.RcodeNameError for NXDOMAIN, dns.RcodeSuccess for NODATA.
	Rcode int
	// TTL is the lifetime of the entry: the SOA's TTL capped by its MINIMUM
	// field (RFC 2308 §5).
	TTL uint32
	// Authority is what a response carries in its authority section: the
	// SOA first, then any NSEC, NSEC3 and RRSIG records of the denial.
	Authority []dns.RR
	// Bogus is set by LookupNegative on an entry Cache.MarkBogus marked:
	// its proof failed validation, and it answers nothing.
	Bogus bool
}

// Cache is what the resolver needs from an RRset cache. Names are passed
// lowercase and fully qualified; now comes from the resolver's Clock so that
// scripted clocks govern expiry.
//
// Implementations must be safe for concurrent use, must return copies the
// caller may keep and modify, with TTLs decremented to the remaining lifetime,
// and must bound their memory. They should refuse to let a lower Rank replace
// an unexpired set of a higher one.
type Cache interface {
	// LookupRRset returns the unexpired set for name, type and class.
	LookupRRset(name string, qtype, qclass uint16, now time.Time) (RRset, bool)
	// StoreRRset stores set, with a lifetime of its smallest TTL. It reports
	// whether the set was stored; a set with TTL 0 is not.
	StoreRRset(set RRset, now time.Time) bool
	// LookupNegative returns an unexpired NXDOMAIN entry for name, or failing
	// that an unexpired NODATA entry for name and qtype.
	LookupNegative(name string, qtype, qclass uint16, now time.Time) (Negative, bool)
	// StoreNegative stores neg for neg.TTL seconds.
	StoreNegative(neg Negative, now time.Time)
	// MarkBogus marks a cached entry as data that failed validation: the
	// RRset of name, type and class, or with negative the negative entry
	// of name (NXDOMAIN, else NODATA for qtype). The entry then ranks
	// below everything (RankBogus, Negative.Bogus), whatever it ranked
	// before, so that any data replaces it, and lives ttl seconds more
	// at most. It reports whether there was a live entry to mark.
	MarkBogus(name string, qtype, qclass uint16, negative bool, ttl uint32, now time.Time) bool
}

// DefaultCacheEntries bounds the MemCache that New creates when Config.Cache
// is nil.
const DefaultCacheEntries = 100_000

// MemCache is a bounded, TTL-aware, map-based Cache with least-recently-used
// eviction. It exists so that the resolver works standalone and in tests;
// rampart's server uses dns/cache.
type MemCache struct {
	mu      sync.Mutex
	max     int                    // immutable after NewMemCache
	entries map[cacheKey]*memEntry // guarded by mu, and so are the entries in it
	lru     memEntry               // guarded by mu: sentinel of a circular list, most recent first

	hits, misses, evictions, rankRejected atomic.Uint64 // no lock
}

type cacheKey struct {
	name     string
	qtype    uint16
	qclass   uint16
	negative bool
}

type memEntry struct {
	key        cacheKey
	expires    time.Time
	set        RRset
	neg        Negative
	prev, next *memEntry
}

// MemCacheStats are the counters of a MemCache.
type MemCacheStats struct {
	Entries      int
	Hits         uint64
	Misses       uint64
	Evictions    uint64 // entries dropped to stay within the bound
	RankRejected uint64 // stores refused because a higher rank was cached
}

// NewMemCache returns a cache that holds at most maxEntries RRsets and
// negative entries together; maxEntries < 1 means DefaultCacheEntries.
func NewMemCache(maxEntries int) *MemCache {
	if maxEntries < 1 {
		maxEntries = DefaultCacheEntries
	}
	c := &MemCache{max: maxEntries, entries: make(map[cacheKey]*memEntry)}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// Stats returns a snapshot of the counters.
func (c *MemCache) Stats() MemCacheStats {
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	return MemCacheStats{
		Entries:      n,
		Hits:         c.hits.Load(),
		Misses:       c.misses.Load(),
		Evictions:    c.evictions.Load(),
		RankRejected: c.rankRejected.Load(),
	}
}

// LookupRRset implements Cache.
func (c *MemCache) LookupRRset(name string, qtype, qclass uint16, now time.Time) (RRset, bool) {
	k := cacheKey{name: lowerASCII(name), qtype: qtype, qclass: qclass}
	c.mu.Lock()
	e := c.live(k, now)
	if e == nil {
		c.mu.Unlock()
		c.misses.Add(1)
		return RRset{}, false
	}
	remaining := remainingTTL(e.expires, now)
	out := e.set
	out.RRs = copyWithTTL(e.set.RRs, remaining)
	out.Sigs = copyWithTTL(e.set.Sigs, remaining)
	c.mu.Unlock()
	c.hits.Add(1)
	return out, true
}

// StoreRRset implements Cache.
func (c *MemCache) StoreRRset(set RRset, now time.Time) bool {
	ttl := set.ttl()
	if len(set.RRs) == 0 || ttl == 0 {
		return false
	}
	set.Name = lowerASCII(set.Name)
	k := cacheKey{name: set.Name, qtype: set.Type, qclass: set.Class}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.live(k, now); old != nil && old.set.Rank > set.Rank {
		c.rankRejected.Add(1)
		return false
	}
	e := c.insert(k, now)
	e.expires = now.Add(time.Duration(ttl) * time.Second)
	e.set = set
	e.neg = Negative{}
	return true
}

// MarkBogus implements Cache.
func (c *MemCache) MarkBogus(name string, qtype, qclass uint16, negative bool, ttl uint32, now time.Time) bool {
	name = lowerASCII(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	var e *memEntry
	if negative {
		e = c.live(cacheKey{name: name, qtype: dns.TypeNone, qclass: qclass, negative: true}, now)
		if e == nil {
			e = c.live(cacheKey{name: name, qtype: qtype, qclass: qclass, negative: true}, now)
		}
	} else {
		e = c.live(cacheKey{name: name, qtype: qtype, qclass: qclass}, now)
	}
	if e == nil {
		return false
	}
	if end := now.Add(time.Duration(ttl) * time.Second); end.Before(e.expires) {
		e.expires = end
	}
	if negative {
		e.neg.Bogus = true
	} else {
		e.set.Rank = RankBogus
	}
	return true
}

// LookupNegative implements Cache.
func (c *MemCache) LookupNegative(name string, qtype, qclass uint16, now time.Time) (Negative, bool) {
	name = lowerASCII(name)
	c.mu.Lock()
	e := c.live(cacheKey{name: name, qtype: dns.TypeNone, qclass: qclass, negative: true}, now)
	if e == nil && qtype != dns.TypeNone {
		e = c.live(cacheKey{name: name, qtype: qtype, qclass: qclass, negative: true}, now)
	}
	if e == nil {
		c.mu.Unlock()
		c.misses.Add(1)
		return Negative{}, false
	}
	remaining := remainingTTL(e.expires, now)
	out := e.neg
	out.TTL = remaining
	out.Authority = copyWithTTL(e.neg.Authority, remaining)
	c.mu.Unlock()
	c.hits.Add(1)
	return out, true
}

// StoreNegative implements Cache.
func (c *MemCache) StoreNegative(neg Negative, now time.Time) {
	if neg.TTL == 0 {
		return
	}
	neg.Name = lowerASCII(neg.Name)
	k := cacheKey{name: neg.Name, qtype: neg.Type, qclass: neg.Class, negative: true}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.insert(k, now)
	e.expires = now.Add(time.Duration(neg.TTL) * time.Second)
	e.neg = neg
	e.set = RRset{}
}

// live returns the unexpired entry for k, moving it to the front of the LRU
// list, or nil after dropping an expired one. c.mu must be held.
func (c *MemCache) live(k cacheKey, now time.Time) *memEntry {
	e := c.entries[k]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		c.unlink(e)
		delete(c.entries, k)
		return nil
	}
	c.unlink(e)
	c.pushFront(e)
	return e
}

// insert returns the entry for k, creating it at the front of the LRU list and
// evicting the least recently used entry if the cache is full. c.mu must be
// held.
func (c *MemCache) insert(k cacheKey, now time.Time) *memEntry {
	if e := c.entries[k]; e != nil {
		c.unlink(e)
		c.pushFront(e)
		return e
	}
	for len(c.entries) >= c.max {
		victim := c.lru.prev
		c.unlink(victim)
		delete(c.entries, victim.key)
		if now.Before(victim.expires) {
			c.evictions.Add(1)
		}
	}
	e := &memEntry{key: k}
	c.entries[k] = e
	c.pushFront(e)
	return e
}

func (c *MemCache) unlink(e *memEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (c *MemCache) pushFront(e *memEntry) {
	e.prev = &c.lru
	e.next = c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

func remainingTTL(expires, now time.Time) uint32 {
	d := expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32(d / time.Second)
}

// copyWithTTL deep-copies rrs with every TTL set to ttl, so that callers can
// neither see stale TTLs nor modify cached records.
func copyWithTTL(rrs []dns.RR, ttl uint32) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = ttl
		out[i] = c
	}
	return out
}
