package cache

import (
	"errors"
	"hash/maphash"
	"time"

	"github.com/rampart-fw/rampart/dns/wire"
)

// ErrLowerRank is returned (wrapped) by Put methods when an unexpired cached
// entry is more credible than the new data, which is then discarded.
var ErrLowerRank = errors.New("cache: cached data has a higher rank")

// ErrNotCacheable is returned (wrapped, with the reason) by Put methods for
// well-formed data the cache declines to store: a TTL of zero, a response
// code or shape RFC 2308 says not to cache, or an entry larger than a shard.
var ErrNotCacheable = errors.New("cache: not cacheable")

// Cache holds RRsets, negative answers and wire-form responses under one
// memory bound. All methods are safe for concurrent use.
//
// Its own fields are immutable after New, so they are read without a lock;
// what changes lives in the shards, each guarded by its own mu.
type Cache struct {
	set    settings     // immutable after New
	seed   maphash.Seed // immutable after New
	shards []shard      // the slice is immutable after New; each shard guards itself
	mask   uint64       // immutable after New
}

// New validates cfg and returns an empty cache.
func New(cfg Config) (*Cache, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	c := &Cache{
		set:    set,
		seed:   maphash.MakeSeed(),
		shards: make([]shard, set.shards),
		mask:   uint64(set.shards - 1),
	}
	limit := set.maxBytes / int64(set.shards)
	for i := range c.shards {
		c.shards[i].init(c.seed, limit)
	}
	return c, nil
}

// nanos converts a caller's time, treating the zero time as "now by the
// configured clock".
func (c *Cache) nanos(t time.Time) int64 {
	if t.IsZero() {
		t = c.set.clock.Now()
	}
	return t.UnixNano()
}

// keyHash derives the index key from the name hash and the rest of the key.
// The name hash alone picks the shard, so that every entry of one owner
// name lives in one shard and FlushName looks at one shard only.
func keyHash(nameHash uint64, k kind, flags uint8, qtype, qclass uint16) uint64 {
	x := nameHash ^ (uint64(k)<<56 | uint64(flags)<<48 | uint64(qtype)<<16 | uint64(qclass))
	// splitmix64 finaliser: spreads the xor-ed fields over all bits.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (c *Cache) nameHash(lname []byte) uint64 { return maphash.Bytes(c.seed, lname) }

func (c *Cache) shardFor(nameHash uint64) *shard {
	return &c.shards[nameHash&c.mask]
}

// hit is what a lookup takes out from under the read lock.
type hit struct {
	data     []byte
	expire   int64
	ttl      uint32
	rank     Rank
	stale    bool
	prefetch bool
}

// remaining returns the TTL left at now, or staleTTL for a stale hit.
func (h *hit) remaining(now int64, staleTTL uint32) uint32 {
	if h.stale {
		return staleTTL
	}
	return h.ttl - uint32(h.elapsed(now))
}

// elapsed returns whole seconds since the entry was stored, never less
// than zero: a wall clock stepped backwards must not hand out TTLs longer
// than the ones received.
func (h *hit) elapsed(now int64) int64 {
	stored := h.expire - int64(h.ttl)*int64(time.Second)
	return max(now-stored, 0) / int64(time.Second)
}

// get looks k up under the read lock only. It counts the S3-FIFO frequency
// and the prefetch claim with atomics, unless peek, and leaves hit/miss
// accounting to the caller, which knows whether one logical lookup spans
// several keys.
func (c *Cache) get(nameHash uint64, k *key, now int64, allowStale, peek bool) (hit, bool) {
	s := c.shardFor(nameHash)
	h := keyHash(nameHash, k.kind, k.flags, k.qtype, k.qclass)
	s.mu.RLock()
	i := s.find(h, k)
	if i == 0 {
		s.mu.RUnlock()
		return hit{}, false
	}
	e := &s.slots[i]
	r := hit{data: e.data, expire: e.expire, ttl: e.ttl, rank: e.rank}
	if now >= e.expire {
		if !allowStale || !c.set.serveStale || now-e.expire > c.set.staleMaxAge {
			s.mu.RUnlock()
			return hit{}, false
		}
		r.stale = true
	} else if !peek && (e.expire-now)*10 <= int64(e.ttl)*int64(time.Second) {
		r.prefetch = e.claimPrefetch()
	}
	if !peek {
		e.touch()
	}
	s.mu.RUnlock()
	if r.stale {
		s.ctr.staleHits.Add(1)
	}
	if r.prefetch {
		s.ctr.prefetches.Add(1)
	}
	return r, true
}

// statKind groups entry kinds for hit and miss counting.
type statKind uint8

const (
	statRRset statKind = iota
	statNegative
	statAnswer
	numStatKinds
)

func (c *Cache) count(nameHash uint64, sk statKind, ok bool) {
	s := c.shardFor(nameHash)
	if ok {
		s.ctr.hits[sk].Add(1)
	} else {
		s.ctr.misses[sk].Add(1)
	}
}

// lookupName converts a presentation name into its lowercase wire form
// and hash. buf must outlive the returned slice.
func (c *Cache) lookupName(name string, buf *[wire.MaxNameLen]byte) ([]byte, uint64, error) {
	n, err := nameToWire(name, buf)
	if err != nil {
		return nil, 0, err
	}
	lname := buf[:n]
	wire.CopyLower(lname, lname)
	return lname, c.nameHash(lname), nil
}

// MarkBogus marks a cached entry as data that failed DNSSEC validation:
// the RRset of (name, qtype, qclass), or with negative the negative entry
// of name (NXDOMAIN, else NODATA for qtype). Its rank keeps its trust
// level with security SecurityBogus, which Rank.Compare places below all
// other data, so that anything stored for the key replaces it; and it
// expires within ttl, never later than it would have. The validator that
// found it bogus decides what to do next; the cache only stops the data
// from outranking or outliving what comes after it. It reports whether a
// live entry was marked. A zero now means the configured clock.
func (c *Cache) MarkBogus(name string, qtype, qclass uint16, negative bool, ttl time.Duration, now time.Time) bool {
	var buf [wire.MaxNameLen]byte
	lname, nh, err := c.lookupName(name, &buf)
	if err != nil {
		return false
	}
	t := c.nanos(now)
	keys := [2]key{{kind: kindRRset, qtype: qtype, qclass: qclass, name: lname}}
	if negative {
		keys = [2]key{{kind: kindNXDomain, qclass: qclass, name: lname}, {kind: kindNoData, qtype: qtype, qclass: qclass, name: lname}}
	}
	s := c.shardFor(nh)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range keys {
		k := &keys[i]
		if k.kind == kindFree {
			break
		}
		j := s.find(keyHash(nh, k.kind, 0, k.qtype, k.qclass), k)
		if j == 0 || t >= s.slots[j].expire {
			continue
		}
		e := &s.slots[j]
		e.rank = e.rank.WithSecurity(SecurityBogus)
		if end := t + int64(ttl); end < e.expire {
			// The TTL shrinks with the expiry, so that the time the
			// entry was stored, and the remaining TTL it hands out,
			// stay right.
			stored := e.expire - int64(e.ttl)*int64(time.Second)
			e.ttl = uint32(max(end-stored, 0) / int64(time.Second))
			e.expire = end
			s.heapFix(j)
		}
		return true
	}
	return false
}

// FlushName removes every entry (RRsets of all types, negative entries and
// wire answers) whose owner or query name is exactly name, and returns how
// many it removed.
func (c *Cache) FlushName(name string) (int, error) {
	var buf [wire.MaxNameLen]byte
	lname, nh, err := c.lookupName(name, &buf)
	if err != nil {
		return 0, err
	}
	s := c.shardFor(nh)
	s.mu.Lock()
	n := s.removeMatching(func(owner []byte) bool { return wire.EqualFold(owner, lname) })
	s.mu.Unlock()
	return n, nil
}

// Flush removes every entry whose owner or query name is name or lies
// below it, like unbound-control flush_zone, and returns how many it
// removed. It visits every shard, taking each write lock in turn.
func (c *Cache) Flush(name string) (int, error) {
	var buf [wire.MaxNameLen]byte
	lname, _, err := c.lookupName(name, &buf)
	if err != nil {
		return 0, err
	}
	if len(lname) == 1 {
		return c.FlushAll(), nil
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.removeMatching(func(owner []byte) bool { return isBelow(owner, lname) })
		s.mu.Unlock()
	}
	return n, nil
}

// FlushAll empties the cache, releasing its memory, and returns how many
// entries it removed.
func (c *Cache) FlushAll() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.clear()
		s.mu.Unlock()
	}
	return n
}

// RemoveExpired deletes entries that can no longer be served at now (with
// serve-stale, those expired longer than StaleMaxAge) and returns how many.
// Eviction already prefers expired entries; calling this from a ticker
// returns their memory to the runtime sooner.
func (c *Cache) RemoveExpired(now time.Time) int {
	t := c.nanos(now)
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.removeDead(t, c.set.staleMaxAge, c.set.serveStale)
		s.mu.Unlock()
	}
	return n
}

// Stats is a snapshot of the cache counters. Counters only grow; Entries
// and Bytes describe the moment of the snapshot.
type Stats struct {
	RRsetHits, RRsetMisses       uint64
	NegativeHits, NegativeMisses uint64
	AnswerHits, AnswerMisses     uint64
	// StaleHits counts lookups answered with expired data (RFC 8767).
	StaleHits uint64
	// Prefetches counts prefetch signals handed to callers.
	Prefetches uint64
	// Inserts counts new entries, Updates entries replaced in place.
	Inserts, Updates uint64
	// RankRejects counts Puts refused because the cached data ranked higher.
	RankRejects uint64
	// Dropped counts entries refused for being larger than a shard.
	Dropped uint64
	// Evictions counts live entries removed to make room; Expirations
	// counts expired entries removed; Flushed counts entries removed by
	// the Flush methods.
	Evictions, Expirations, Flushed uint64
	// WireDeclined counts queries AnswerFromWire left to the slow path
	// because they were unusual or the answer did not fit.
	WireDeclined uint64

	RRsets, Negatives, Answers int64 // entries by kind
	Entries                    int64
	Bytes                      int64 // charged bytes, overhead included
	MaxBytes                   int64
}

// Stats sums the per-shard counters. It takes each shard's read lock
// briefly, for the entry and byte counts.
func (c *Cache) Stats() Stats {
	st := Stats{MaxBytes: c.set.maxBytes}
	for i := range c.shards {
		s := &c.shards[i]
		k := &s.ctr
		st.RRsetHits += k.hits[statRRset].Load()
		st.RRsetMisses += k.misses[statRRset].Load()
		st.NegativeHits += k.hits[statNegative].Load()
		st.NegativeMisses += k.misses[statNegative].Load()
		st.AnswerHits += k.hits[statAnswer].Load()
		st.AnswerMisses += k.misses[statAnswer].Load()
		st.StaleHits += k.staleHits.Load()
		st.Prefetches += k.prefetches.Load()
		st.Inserts += k.inserts.Load()
		st.Updates += k.updates.Load()
		st.RankRejects += k.rankRejects.Load()
		st.Dropped += k.dropped.Load()
		st.Evictions += k.evictions.Load()
		st.Expirations += k.expirations.Load()
		st.Flushed += k.flushed.Load()
		st.WireDeclined += k.wireDeclined.Load()
		s.mu.RLock()
		st.RRsets += s.count[kindRRset]
		st.Negatives += s.count[kindNoData] + s.count[kindNXDomain]
		st.Answers += s.count[kindAnswer]
		st.Bytes += s.bytes
		s.mu.RUnlock()
	}
	st.Entries = st.RRsets + st.Negatives + st.Answers
	return st
}
