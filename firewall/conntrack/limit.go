package conntrack

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
)

// limits counts the entries of each source address and of each source
// prefix, for Config.PerSource and Config.PerPrefix: pf's max-src-states
// and Linux's connlimit, kept exact as entries come and go.
//
// Counts live in open-addressing tables (linear probing, deletion by
// backward shift, so no tombstones pile up) sharded by hash, each shard
// allocated once by New and locked by its own mu. A key is the 64-bit
// keyed hash of what it counts (kind, zone, side, address or masked
// prefix):
// two sources share a count only if their hashes collide, which an outside
// party cannot arrange without the table's random seed, and which is
// rarer than one chance in 2^40 for a full table. Create and remove take
// a count shard's lock while holding a table shard's, never the other way
// round.
type limits struct {
	perSource, perPrefix uint32 // 0: no bound; immutable
	plen4, plen6         int    // immutable
	seed                 maphash.Seed
	shards               []countShard // immutable slice; each guarded by its own mu
	shardMask            uint64
}

type countShard struct {
	mu   sync.Mutex
	keys []uint64 // guarded by mu; 0 marks an empty slot
	n    []uint32 // guarded by mu
	mask uint64   // immutable: len(keys)-1
	_    [64]byte
}

// newLimits sizes the counts for a normalized cfg, or returns nil when no
// bound is set (then admit and release do nothing).
func newLimits(cfg *Config) *limits {
	if cfg.PerSource == 0 && cfg.PerPrefix == 0 {
		return nil
	}
	l := &limits{
		perSource: uint32(cfg.PerSource),
		perPrefix: uint32(cfg.PerPrefix),
		plen4:     cfg.PrefixLen4,
		plen6:     cfg.PrefixLen6,
		seed:      maphash.MakeSeed(),
		shards:    make([]countShard, cfg.Shards),
		shardMask: uint64(cfg.Shards - 1),
	}
	// Every entry may have a source and a prefix of its own: at most two
	// keys per entry, and a shard's table at most half full.
	keys := 0
	if cfg.PerSource > 0 {
		keys += cfg.MaxEntries
	}
	if cfg.PerPrefix > 0 {
		keys += cfg.MaxEntries
	}
	per := shardCapacity(keys, cfg.Shards)
	slots := 16
	for slots < 2*per {
		slots *= 2
	}
	for i := range l.shards {
		c := &l.shards[i]
		c.keys = make([]uint64, slots)
		c.n = make([]uint32, slots)
		c.mask = uint64(slots - 1)
	}
	return l
}

// Kinds of counted keys.
const (
	countSource = 1
	countPrefix = 2
)

// hashes returns the count keys of k's source address and source prefix.
func (l *limits) hashes(k *key) (src, prefix uint64) {
	var b [24]byte
	copy(b[:16], k.src[:])
	binary.BigEndian.PutUint32(b[16:], k.zone)
	b[20] = countSource
	// The side too: an address that arrives on the wan side is not the
	// inside host of that address (one of them is spoofed), and a flood
	// spoofing it from outside must not use up the host's own bound.
	b[22] = byte(k.side)
	src = maphash.Bytes(l.seed, b[:])
	plen, from := l.plen6, 0
	if k.v4 {
		plen, from = l.plen4, 12
	}
	for i := from; i < 16; i++ {
		switch left := plen - (i-from)*8; {
		case left <= 0:
			b[i] = 0
		case left < 8:
			b[i] &= 0xff << (8 - left)
		}
	}
	b[20], b[21] = countPrefix, byte(plen)
	prefix = maphash.Bytes(l.seed, b[:])
	return src | 1, prefix | 1 // 0 marks an empty slot
}

// admit counts one more entry for k's source and prefix, unless that
// would take either over its bound: then it counts nothing and returns
// ReasonSourceLimit or ReasonPrefixLimit. ReasonTableFull means a count
// table is full, which its sizing rules out. A nil l admits everything.
func (l *limits) admit(k *key) Reason {
	if l == nil {
		return ReasonNone
	}
	hs, hp := l.hashes(k)
	if l.perSource > 0 {
		if r := l.add(hs, l.perSource, ReasonSourceLimit); r != ReasonNone {
			return r
		}
	}
	if l.perPrefix > 0 {
		if r := l.add(hp, l.perPrefix, ReasonPrefixLimit); r != ReasonNone {
			if l.perSource > 0 {
				l.sub(hs)
			}
			return r
		}
	}
	return ReasonNone
}

// release takes back what admit counted for k.
func (l *limits) release(k *key) {
	if l == nil {
		return
	}
	hs, hp := l.hashes(k)
	if l.perSource > 0 {
		l.sub(hs)
	}
	if l.perPrefix > 0 {
		l.sub(hp)
	}
}

func (l *limits) shard(h uint64) *countShard {
	return &l.shards[(h>>48)&l.shardMask]
}

func (l *limits) add(h uint64, bound uint32, over Reason) Reason {
	c := l.shard(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found, ok := c.slot(h)
	switch {
	case !ok:
		return ReasonTableFull
	case !found:
		c.keys[i], c.n[i] = h, 1
	case c.n[i] >= bound:
		return over
	default:
		c.n[i]++
	}
	return ReasonNone
}

func (l *limits) sub(h uint64) {
	c := l.shard(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found, _ := c.slot(h); found {
		if c.n[i]--; c.n[i] == 0 {
			c.del(i)
		}
	}
}

// slot returns the slot that holds key h (found), or else the empty slot
// where h would go; ok is false when neither exists (a full table). The
// lock is held.
func (c *countShard) slot(h uint64) (i uint64, found, ok bool) {
	for i, probes := h&c.mask, uint64(0); probes <= c.mask; i, probes = (i+1)&c.mask, probes+1 {
		switch c.keys[i] {
		case h:
			return i, true, true
		case 0:
			return i, false, true
		}
	}
	return 0, false, false
}

// del empties slot i and shifts back the keys after it that would no
// longer be found across the gap (Knuth's algorithm R).
func (c *countShard) del(i uint64) {
	for {
		c.keys[i], c.n[i] = 0, 0
		j := i
		for {
			j = (j + 1) & c.mask
			k := c.keys[j]
			if k == 0 {
				return
			}
			// The key at j stays if its home slot lies cyclically in
			// (i, j]: a probe for it never passes i.
			if home := k & c.mask; (j-home)&c.mask < (j-i)&c.mask {
				continue
			}
			c.keys[i], c.n[i] = k, c.n[j]
			i = j
			break
		}
	}
}

// count returns the entries counted for the source of k and for its
// prefix (tests and Stats-like reporting; it takes the count locks).
func (l *limits) count(k *key) (src, prefix uint32) {
	if l == nil {
		return 0, 0
	}
	hs, hp := l.hashes(k)
	return l.get(hs), l.get(hp)
}

func (l *limits) get(h uint64) uint32 {
	c := l.shard(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found, _ := c.slot(h); found {
		return c.n[i]
	}
	return 0
}
