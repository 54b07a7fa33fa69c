package conntrack

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/ipproto"
)

// ID layout: generation in the high 32 bits, then the shard, then the
// slot within the shard.
const (
	slotBits  = 22
	shardBits = 10
	slotMask  = 1<<slotBits - 1
	shardMask = 1<<shardBits - 1
)

const nilIdx int32 = -1

// Entry status bits.
const (
	stLive    = 1 << iota // slot holds an entry
	stReplied             // a packet was seen in the reply direction
	stAssured             // the flow proved itself; evicted only when nothing unassured is left
	stInDrop              // on the shard's early-drop list
	stCounted             // counted against its source's and prefix's bounds
	stNAT                 // translated: its natSlot and proxy are in use
	stSpliced             // carries a Splice (the shard's splices, same slot)
)

// entry is one tracked flow. Entries live in a per-shard slab and are
// linked by slot index: no pointers, so the slab costs the garbage
// collector nothing however large it is. Every field is guarded by the
// mu of the shard whose slab holds the entry.
type entry struct {
	orig key

	next         int32 // hash chain, or free list
	tPrev, tNext int32 // timeout-class list
	dPrev, dNext int32 // early-drop list
	bucket       uint32
	gen          uint32

	deadline int64 // UnixNano; expired when now >= deadline
	created  int64
	lastSeen int64
	packets  [2]uint64
	bytes    [2]uint64

	class  uint8
	status uint8
	mark   uint32

	tcp  tcpConn
	sctp sctpConn
	dccp dccpConn
}

type list struct{ head, tail int32 }

// counters are atomics: they are added to with or without the shard's
// lock held (an Invalid verdict is often counted after the lock is
// released), and Stats reads them without taking any lock.
type counters struct {
	created      atomic.Uint64
	deleted      atomic.Uint64
	expired      atomic.Uint64
	adaptive     atomic.Uint64 // expired by a time-out scaled down under pressure
	earlyDrop    atomic.Uint64
	evictIdle    atomic.Uint64 // assured entries evicted, the longest idle first
	insertFailed atomic.Uint64
	invalid      [ReasonCount]atomic.Uint64 // the limit reasons count refusals
	ignored      [ReasonCount]atomic.Uint64
}

// shard is an independently locked part of the table. Both directions of
// a flow hash to the same shard, so one packet takes one shard's lock.
type shard struct {
	mu sync.Mutex
	// buckets and entries are allocated by New and never reallocated, so
	// their lengths may be read without mu (decode does); their elements
	// are guarded by mu.
	buckets []int32
	entries []entry
	// splices is beside entries, slot for slot, with Config.Splices, and
	// nil without; a slot's splice is meaningful while its entry has
	// stSpliced. Allocated by New; elements guarded by mu.
	splices []Splice
	bmask   uint32 // immutable after New
	index   uint32 // immutable after New: this shard's place in Table.shards

	free    int32             // head of the free-slot list; guarded by mu
	used    int               // live entries in this shard; guarded by mu
	classes [numAllClass]list // timeout-class lists; guarded by mu
	drop    list              // early-drop list; guarded by mu

	// With Config.NAT: nat is parallel to entries (the translation of a
	// translated entry), proxies hold the reply nodes hashed into this
	// shard. Allocated by New, elements guarded by mu; nil without NAT.
	nat      []natSlot
	proxies  []proxy
	pfree    int32 // head of the free-proxy list; guarded by mu
	nproxies int   // proxies in use; guarded by mu
	// pend lists the proxies of entries removed in other shards, to be
	// unlinked here; guarded by pendMu, a leaf lock taken with any one
	// shard's mu held. npend is its length, read without the lock.
	pendMu sync.Mutex
	pend   []int32
	npend  atomic.Int32
	tab    *Table // immutable: the table, for the shards of proxies and Release

	count     *atomic.Int64 // immutable pointer to Table.count; atomic, no lock
	droppable *atomic.Int64 // immutable pointer to Table.droppable; atomic, no lock
	lim       *limits       // immutable pointer to Table.lim, nil without limits; locks inside
	ctr       counters      // atomics, no lock
	// Keep neighbouring shards' locks and counters off each other's
	// cache lines.
	_ [64]byte
}

// Table is a connection-tracking table. Its methods are safe for
// concurrent use.
//
// Locking: the Table itself has no lock. Its configuration is immutable
// after New; each shard guards its own entries with its own mu, and no
// code path holds two shard locks at once (evictElsewhere takes another
// shard's only after releasing its own). What spans shards is atomic,
// except the per-source counts (limits), whose locks are taken with a
// shard's held and never the other way round.
type Table struct {
	shards []shard // immutable slice; each shard guarded by its own mu

	// Immutable after New.
	shardMask  uint64
	seed       maphash.Seed
	max        int64
	timeouts   [numAllClass]int64 // by class, plain then NAT profile
	liberal    bool
	pickup     bool
	maxRetrans uint8
	sweepBatch int
	clock      clock.Clock // safe for concurrent use; read once per packet
	// adStart and adEnd are the adaptive time-out thresholds in
	// hundredths of an entry (exact for small tables too); adStart is
	// MaxInt64 when scaling is off.
	adStart, adEnd int64
	lim            *limits      // nil when no per-source limit is set; locks inside
	nat            bool         // Config.NAT
	release        func(uint64) // Config.Release; may be nil

	// count is the number of entries in all shards, reserved with a
	// compare-and-swap before an insert (reserve) and given back by
	// remove: it is what bounds the table across shards. Atomic, no lock.
	count atomic.Int64
	// droppable is the number of entries on the shards' early-drop lists:
	// Create evicts an assured entry only when it is zero. Atomic, no
	// lock.
	droppable atomic.Int64
	// sweepNext and evictNext are round-robin cursors over the shards for
	// Sweep and evictElsewhere; atomic, no lock, and a lost update only
	// moves where the next round starts.
	sweepNext atomic.Uint32
	evictNext atomic.Uint32
	// misc counts what is rejected before a shard is known; atomics, no
	// lock.
	misc counters
	// translated is the number of translated entries. Atomic, no lock.
	translated atomic.Int64
}

// New builds a table and allocates its entries. It fails only on an
// invalid Config.
func New(cfg Config) (*Table, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	t := &Table{
		shards:     make([]shard, cfg.Shards),
		shardMask:  uint64(cfg.Shards - 1),
		seed:       maphash.MakeSeed(),
		max:        int64(cfg.MaxEntries),
		liberal:    cfg.Liberal,
		pickup:     cfg.Pickup,
		maxRetrans: uint8(cfg.MaxRetrans),
		sweepBatch: cfg.SweepBatch,
		clock:      cfg.Clock,
		adStart:    math.MaxInt64,
		adEnd:      math.MaxInt64,
		lim:        newLimits(&cfg),
		nat:        cfg.NAT,
		release:    cfg.Release,
	}
	if cfg.AdaptiveStart < 100 {
		t.adStart = int64(cfg.MaxEntries) * int64(cfg.AdaptiveStart)
		t.adEnd = int64(cfg.MaxEntries) * int64(cfg.AdaptiveEnd)
	}
	for i, d := range cfg.Timeouts.classes() {
		t.timeouts[profilePlain+i] = int64(d)
	}
	for i, d := range cfg.NATTimeouts.classes() {
		t.timeouts[profileNAT+i] = int64(d)
	}
	per := shardCapacity(cfg.MaxEntries, cfg.Shards)
	nb := 1
	for nb < per {
		nb *= 2
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.index = uint32(i)
		s.count = &t.count
		s.droppable = &t.droppable
		s.lim = t.lim
		s.entries = make([]entry, per)
		if cfg.Splices {
			s.splices = make([]Splice, per)
		}
		s.buckets = make([]int32, nb)
		s.bmask = uint32(nb - 1)
		for b := range s.buckets {
			s.buckets[b] = nilIdx
		}
		for j := range s.entries {
			e := &s.entries[j]
			e.next = int32(j + 1)
			e.gen = 1
			e.class = clsNone
		}
		s.entries[per-1].next = nilIdx
		s.free = 0
		for c := range s.classes {
			s.classes[c] = list{nilIdx, nilIdx}
		}
		s.drop = list{nilIdx, nilIdx}
		s.tab = t
		s.pfree = nilIdx
		if cfg.NAT {
			s.nat = make([]natSlot, per)
			s.proxies = make([]proxy, per)
			s.pend = make([]int32, 0, per)
			for j := range s.proxies {
				s.proxies[j].next = int32(j + 1)
			}
			s.proxies[per-1].next = nilIdx
			s.pfree = 0
		}
	}
	return t, nil
}

// shardCapacity sizes one shard's slab: its fair share of the table plus
// headroom for the imbalance of a random hash (about four standard
// deviations), so that a shard rarely fills before the table does.
func shardCapacity(maxEntries, shards int) int {
	fair := (maxEntries + shards - 1) / shards
	if shards == 1 {
		return fair
	}
	return fair + 4*int(math.Sqrt(float64(fair))) + 8
}

func (t *Table) now() int64 { return t.clock.Now().UnixNano() }

func (t *Table) hash(k *key) uint64 {
	var b [44]byte
	k.hashInput(&b)
	return maphash.Bytes(t.seed, b[:])
}

func (t *Table) shardFor(h uint64) *shard {
	return &t.shards[(h>>40)&t.shardMask]
}

func (s *shard) id(idx int32) ID {
	return ID(uint64(s.entries[idx].gen)<<32 | uint64(s.index)<<slotBits | uint64(idx))
}

// find returns the live entry whose original tuple is k (DirOriginal), or
// whose reply tuple is k (DirReply): for an untranslated entry the
// inverse of its original, inv, and for a translated one the tuple its
// proxy holds. When that proxy names an entry of another shard, find
// returns nilIdx and the entry's ID, for the caller to look at under that
// shard's lock (hop); owner is 0 otherwise.
func (s *shard) find(h uint64, k, inv *key) (idx int32, dir Dir, owner ID) {
	for i := s.buckets[uint32(h)&s.bmask]; i != nilIdx; {
		if i&proxyBit != 0 {
			px := &s.proxies[i&^proxyBit]
			if px.k == *k {
				if uint32(uint64(px.owner)>>slotBits&shardMask) == s.index {
					// Proxies in the entry's own shard go with it.
					return int32(uint64(px.owner) & slotMask), DirReply, 0
				}
				return nilIdx, DirReply, px.owner
			}
			i = px.next
			continue
		}
		e := &s.entries[i]
		if e.orig == *k {
			return i, DirOriginal, 0
		}
		if e.orig == *inv && e.status&stNAT == 0 {
			return i, DirReply, 0
		}
		i = e.next
	}
	return nilIdx, DirOriginal, 0
}

// insert takes a free slot for k. The caller has reserved room in the
// table's count.
func (s *shard) insert(h uint64, k *key, now int64) int32 {
	idx := s.free
	if idx == nilIdx {
		return nilIdx
	}
	e := &s.entries[idx]
	s.free = e.next
	b := uint32(h) & s.bmask
	*e = entry{
		orig:     *k,
		next:     s.buckets[b],
		tPrev:    nilIdx,
		tNext:    nilIdx,
		dPrev:    nilIdx,
		dNext:    nilIdx,
		bucket:   b,
		gen:      e.gen,
		created:  now,
		lastSeen: now,
		class:    clsNone,
		status:   stLive,
	}
	s.buckets[b] = idx
	s.used++
	return idx
}

// remove frees entry idx and counts the removal in c.
func (s *shard) remove(idx int32, c *atomic.Uint64) {
	e := &s.entries[idx]
	p := &s.buckets[e.bucket]
	for *p != idx {
		p = s.next(*p)
	}
	*p = e.next
	s.classUnlink(idx)
	s.dropUnlink(idx)
	s.uncount(idx)
	if e.status&stNAT != 0 {
		s.unnat(idx)
	}
	e.status = 0
	e.gen++
	if e.gen == 0 {
		e.gen = 1
	}
	e.next = s.free
	s.free = idx
	s.used--
	s.count.Add(-1)
	c.Add(1)
}

// uncount takes entry idx out of its source's and prefix's counts, once.
func (s *shard) uncount(idx int32) {
	if e := &s.entries[idx]; e.status&stCounted != 0 {
		s.lim.release(&e.orig)
		e.status &^= stCounted
	}
}

func (s *shard) classUnlink(idx int32) {
	e := &s.entries[idx]
	if e.class == clsNone {
		return
	}
	l := &s.classes[e.class]
	if e.tPrev != nilIdx {
		s.entries[e.tPrev].tNext = e.tNext
	} else {
		l.head = e.tNext
	}
	if e.tNext != nilIdx {
		s.entries[e.tNext].tPrev = e.tPrev
	} else {
		l.tail = e.tPrev
	}
	e.tPrev, e.tNext, e.class = nilIdx, nilIdx, clsNone
}

// refresh sets the entry's timeout from class cls and moves it to the
// tail of that class's list, which keeps the list in deadline order as
// long as the clock does not go backwards. (Goroutines read the clock
// before taking the lock, so the order is only approximate at the scale
// of lock contention; that can delay a Sweep by a moment, never expire an
// entry early: every expiry test compares the entry's own deadline.)
//
// A translated entry takes the time-outs of the NAT profile.
func (s *shard) refresh(idx int32, cls uint8, now int64, timeouts *[numAllClass]int64) {
	s.classUnlink(idx)
	e := &s.entries[idx]
	cls += e.profile()
	e.deadline = now + timeouts[cls]
	e.class = cls
	l := &s.classes[cls]
	e.tPrev = l.tail
	if l.tail != nilIdx {
		s.entries[l.tail].tNext = idx
	} else {
		l.head = idx
	}
	l.tail = idx
}

func (s *shard) dropUnlink(idx int32) {
	e := &s.entries[idx]
	if e.status&stInDrop == 0 {
		return
	}
	if e.dPrev != nilIdx {
		s.entries[e.dPrev].dNext = e.dNext
	} else {
		s.drop.head = e.dNext
	}
	if e.dNext != nilIdx {
		s.entries[e.dNext].dPrev = e.dPrev
	} else {
		s.drop.tail = e.dPrev
	}
	e.dPrev, e.dNext = nilIdx, nilIdx
	e.status &^= stInDrop
	s.droppable.Add(-1)
}

// fixDrop puts the entry on the early-drop list when it has become
// droppable (unassured, or a closing TCP connection) and takes it off
// when it no longer is. The list is in the order entries became
// droppable, so its head is the oldest candidate.
func (s *shard) fixDrop(idx int32) {
	e := &s.entries[idx]
	droppable := e.status&stAssured == 0 || e.closing()
	in := e.status&stInDrop != 0
	switch {
	case droppable && !in:
		e.dPrev, e.dNext = s.drop.tail, nilIdx
		if s.drop.tail != nilIdx {
			s.entries[s.drop.tail].dNext = idx
		} else {
			s.drop.head = idx
		}
		s.drop.tail = idx
		e.status |= stInDrop
		s.droppable.Add(1)
	case !droppable && in:
		s.dropUnlink(idx)
	}
}

// scaleOne is the time-out factor (in 1/2^32ths) of a table below its
// adaptive start: time-outs at their full length.
const scaleOne = 1 << 32

// scale returns the factor the time-outs are multiplied by now, in
// 1/2^32ths: 1 up to the adaptive start, falling linearly to 0 at the
// adaptive end, as pf's adaptive time-outs do. It reads the entry count
// once, without a lock.
func (t *Table) scale() uint64 {
	c := 100 * t.count.Load()
	switch {
	case c <= t.adStart:
		return scaleOne
	case c >= t.adEnd:
		return 0
	}
	return uint64(t.adEnd-c) << 32 / uint64(t.adEnd-t.adStart)
}

// scaled returns to multiplied by factor sc.
func scaled(to int64, sc uint64) int64 {
	hi, lo := bits.Mul64(uint64(to), sc)
	return int64(hi<<32 | lo>>32)
}

// Expiry of an entry, as (*Table).expiry judges it.
const (
	live            = iota
	expiredOwn      // its own time-out has passed
	expiredAdaptive // its time-out as scaled down now has passed
)

// expiry says whether e has expired at now under the time-out factor sc.
// An entry's refresh time is its deadline less its class's time-out, so
// the scaled deadline needs nothing stored beyond the deadline.
func (t *Table) expiry(e *entry, now int64, sc uint64) int {
	if e.deadline <= now {
		return expiredOwn
	}
	if sc == scaleOne || e.class == clsNone {
		return live
	}
	to := t.timeouts[e.class]
	if now-(e.deadline-to) >= scaled(to, sc) {
		return expiredAdaptive
	}
	return live
}

// expiredCounter is the counter an expiry is counted in.
func (s *shard) expiredCounter(x int) *atomic.Uint64 {
	if x == expiredAdaptive {
		return &s.ctr.adaptive
	}
	return &s.ctr.expired
}

// dropExpired removes entry idx if it has expired, and reports whether it
// did.
func (t *Table) dropExpired(s *shard, idx int32, now int64, sc uint64) bool {
	if x := t.expiry(&s.entries[idx], now, sc); x != live {
		s.remove(idx, s.expiredCounter(x))
		return true
	}
	return false
}

// evictOne makes room in s, in this order: an entry whose time-out, scaled
// down under pressure, has passed; else the oldest droppable entry
// (unassured, or a closing TCP connection: Linux's early drop); else, if
// idle allows it, the entry idle longest, assured or not. The heads of the
// time-out class lists are the entries of each class refreshed longest
// ago, so each step looks at one entry per class: the cost does not grow
// with the table.
func (t *Table) evictOne(s *shard, now int64, sc uint64, idle bool) bool {
	for c := range s.classes {
		if h := s.classes[c].head; h != nilIdx && t.dropExpired(s, h, now, sc) {
			return true
		}
	}
	if h := s.drop.head; h != nilIdx {
		s.remove(h, &s.ctr.earlyDrop)
		return true
	}
	if !idle {
		return false
	}
	oldest, at := nilIdx, int64(math.MaxInt64)
	for c := range s.classes {
		if h := s.classes[c].head; h != nilIdx {
			if r := s.entries[h].deadline - t.timeouts[c]; r < at {
				oldest, at = h, r
			}
		}
	}
	if oldest == nilIdx {
		return false
	}
	s.remove(oldest, &s.ctr.evictIdle)
	return true
}

// expire removes up to budget expired entries from s, judged under the
// time-out factor sc.
func (t *Table) expire(s *shard, now int64, sc uint64, budget int) int {
	n := 0
	for c := range s.classes {
		l := &s.classes[c]
		for n < budget && l.head != nilIdx && t.dropExpired(s, l.head, now, sc) {
			n++
		}
	}
	return n
}

// reserve claims one unit of the table's capacity.
func (t *Table) reserve() bool {
	for {
		c := t.count.Load()
		if c >= t.max {
			return false
		}
		if t.count.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// makeRoom secures a free slot in s and a unit of the table's capacity,
// evicting from s if need be (see evictOne). The shard lock is held.
func (t *Table) makeRoom(s *shard, now int64, sc uint64, idle bool) bool {
	if s.free == nilIdx && !t.evictOne(s, now, sc, idle) {
		return false
	}
	// Each eviction returns one unit; other shards may take it first, so
	// the number of attempts is bounded rather than looping on a race.
	for range 8 {
		if t.reserve() {
			return true
		}
		if !t.evictOne(s, now, sc, idle) {
			return false
		}
	}
	return false
}

// evictElsewhere evicts one entry from some shard other than own, to
// free capacity in the table as a whole (see evictOne). The caller holds
// no lock.
func (t *Table) evictElsewhere(own *shard, now int64, sc uint64, idle bool) bool {
	n := len(t.shards)
	start := int(t.evictNext.Add(1))
	for i := range n {
		s := &t.shards[(start+i)&int(t.shardMask)]
		if s == own {
			continue
		}
		s.mu.Lock()
		ok := t.evictOne(s, now, sc, idle)
		s.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

func stateFor(dir Dir, replied bool) State {
	if dir == DirOriginal && !replied {
		return StateNew
	}
	return StateEstablished
}

func (c *counters) invalidResult(r Reason) Result {
	c.invalid[r].Add(1)
	return Result{State: StateInvalid, Reason: r}
}

// Lookup classifies p against the table and updates the entry it belongs
// to. A New result with a zero ID means no entry exists: the caller asks
// its policy, and calls Create if the policy accepts the packet.
//
// Lookup never allocates.
func (t *Table) Lookup(p *Packet) Result {
	var pk parsed
	if r := parsePacket(p, &pk); r != ReasonNone {
		return t.misc.invalidResult(r)
	}
	switch pk.kind {
	case kindUntracked:
		return Result{State: StateUntracked}
	case kindICMPError:
		return t.related(p)
	}
	now := t.now()
	inv := pk.k.inverse()
	h := t.hash(&pk.k)
	s := t.shardFor(h)
	s.mu.Lock()
	idx, dir, owner := s.find(h, &pk.k, &inv)
	if owner != 0 {
		// A reply of a translated entry kept in another shard.
		s.mu.Unlock()
		s, idx = t.hop(owner)
	}
	if idx != nilIdx {
		// dropExpired written out: expiry and scale inline, and a packet
		// of a live entry pays for no call.
		if x := t.expiry(&s.entries[idx], now, t.scale()); x != live {
			s.remove(idx, s.expiredCounter(x))
			idx = nilIdx
		}
	}
	if idx == nilIdx {
		s.mu.Unlock()
		if r := t.creatable(&pk); r != ReasonNone {
			return s.ctr.invalidResult(r)
		}
		return Result{State: StateNew, Dir: DirOriginal}
	}
	// The rewrite is read before update, which may remove the entry (a
	// reset before any answer): the packet still leaves translated.
	translated := s.entries[idx].status&stNAT != 0 && s.fillNAT(idx, dir, p)
	r := t.update(s, idx, dir, p, &pk, now)
	r.NAT = translated && r.ID != 0
	s.mu.Unlock()
	return r
}

// creatable says whether a packet without an entry may start one.
func (t *Table) creatable(pk *parsed) Reason {
	switch pk.kind {
	case kindTCP:
		if pk.tcpIndex == tcpSynSet || (t.pickup && pk.tcpIndex == tcpAckSet) {
			return ReasonNone
		}
		return ReasonNoEntry
	case kindICMPQuery, kindSCTP, kindDCCP:
		if !pk.request {
			return ReasonNoEntry
		}
	case kindICMPError:
		return ReasonICMPType
	case kindUntracked:
		return ReasonICMPType
	}
	return ReasonNone
}

// Create inserts an entry for p, which Lookup classified New with no
// entry and the policy accepted, and tracks p as its first packet.
//
// If another goroutine created the entry in the meantime, p is tracked
// against that entry as Lookup would have, and ok is true. Callers must
// not call Create for a packet Lookup already matched to an entry (ID
// non-zero): it would be tracked twice.
//
// A source over Config.PerSource or Config.PerPrefix is refused
// (ReasonSourceLimit, ReasonPrefixLimit, counted) before anything is
// evicted for it.
//
// With p.Splice set (a TCP SYN a SYN proxy sends the server in the
// client's name), the new entry carries a copy of it; that needs
// Config.Splices, and is refused as ReasonMalformed without it.
//
// When the table is full Create makes room, in this order: an entry whose
// time-out (scaled down under pressure, see Config.AdaptiveStart) has
// passed, or the oldest droppable one (unassured, or a closing TCP
// connection: Linux's early drop), from the new flow's shard, then from
// the others; only when no droppable entry is left anywhere, the entry of
// the new flow's shard idle longest, assured or not, so that a table
// filled with long-lived idle connections still admits a new one. If even
// that fails it refuses, counts an insert failure and returns
// ReasonTableFull.
func (t *Table) Create(p *Packet) (r Result, ok bool) {
	var pk parsed
	if r := parsePacket(p, &pk); r != ReasonNone {
		return t.misc.invalidResult(r), false
	}
	if pk.kind == kindUntracked {
		return Result{State: StateUntracked}, false
	}
	if r := t.creatable(&pk); r != ReasonNone {
		return t.misc.invalidResult(r), false
	}
	if p.Splice != nil && (pk.kind != kindTCP || t.shards[0].splices == nil) {
		return t.misc.invalidResult(ReasonMalformed), false
	}
	now := t.now()
	sc := t.scale()
	inv := pk.k.inverse()
	h := t.hash(&pk.k)
	s := t.shardFor(h)
	// Pass 0 evicts only what is expired or droppable, here or elsewhere
	// (an idle entry too when nothing droppable is left); passes 1 and 2
	// may evict the entry idle longest.
	for pass := 0; ; pass++ {
		s.mu.Lock()
		if r, found, elsewhere := t.tracked(s, h, &pk, &inv, p, now, sc); found || elsewhere {
			s.mu.Unlock()
			if elsewhere {
				// The reply of a translated entry, created meanwhile.
				r = t.Lookup(p)
			}
			return r, r.State != StateInvalid
		}
		if r, refused := s.refused(&pk); refused {
			s.mu.Unlock()
			return r, false
		}
		if t.makeRoom(s, now, sc, pass > 0 || t.droppable.Load() == 0) {
			idx := s.insertNew(h, &pk, p, now)
			if p.Splice != nil {
				s.entries[idx].status |= stSpliced
				s.splices[idx] = *p.Splice
			}
			r := t.start(s, idx, p, &pk, now)
			s.mu.Unlock()
			return r, r.State != StateInvalid
		}
		s.lim.release(&pk.k)
		s.mu.Unlock()
		if pass == 2 || (!t.evictElsewhere(s, now, sc, pass > 0) && pass > 0) {
			s.ctr.insertFailed.Add(1)
			return Result{State: StateInvalid, Reason: ReasonTableFull}, false
		}
	}
}

// refused asks the source bounds for room for pk's flow and, when they
// refuse it, counts that and returns the result to hand back. The caller
// holds s.mu.
func (s *shard) refused(pk *parsed) (Result, bool) {
	switch r := s.lim.admit(&pk.k); r {
	case ReasonNone:
		return Result{}, false
	case ReasonTableFull:
		s.ctr.insertFailed.Add(1)
		return Result{State: StateInvalid, Reason: r}, true
	default:
		return s.ctr.invalidResult(r), true
	}
}

// insertNew inserts the entry of pk, whose first packet is p, counted
// against its source's bounds and as created; start initialises it. The
// caller holds s.mu and made room.
func (s *shard) insertNew(h uint64, pk *parsed, p *Packet, now int64) int32 {
	idx := s.insert(h, &pk.k, now)
	e := &s.entries[idx]
	e.mark = p.Mark
	if s.lim != nil {
		e.status |= stCounted
	}
	s.ctr.created.Add(1)
	return idx
}

// start initialises a fresh entry from its first packet.
func (t *Table) start(s *shard, idx int32, p *Packet, pk *parsed, now int64) Result {
	switch pk.kind {
	case kindTCP:
		t.tcpNew(&s.entries[idx], p, pk)
		r := t.tcpPacket(s, idx, DirOriginal, p, pk, now)
		if r.State == StateInvalid && s.entries[idx].status&stLive != 0 {
			// creatable admits only segments the state machine accepts
			// from NONE, so this does not happen; but an entry with no
			// timeout would never expire, so never leave one behind.
			s.remove(idx, &s.ctr.deleted)
			r.ID = 0
		}
		return r
	case kindSCTP:
		return t.sctpStart(s, idx, p, now)
	case kindDCCP:
		dccpNew(&s.entries[idx].dccp)
		return t.dccpPacket(s, idx, DirOriginal, p, now)
	case kindUDP:
		s.refresh(idx, clsUDP, now, &t.timeouts)
	case kindICMPQuery:
		s.refresh(idx, clsICMP, now, &t.timeouts)
	default:
		s.refresh(idx, clsGeneric, now, &t.timeouts)
	}
	s.account(idx, DirOriginal, p, now)
	s.fixDrop(idx)
	return Result{ID: s.id(idx), State: StateNew, Dir: DirOriginal}
}

// tracked tracks p against the entry it belongs to, if there is one, as
// Create and CreateNAT do before they create: found reports that it did
// (r is its result, for the caller to return once it unlocked s). A SYN
// reopening a closed connection removes the old entry and is not found:
// the caller goes on to create the new one. elsewhere reports that p is
// the reply of a translated entry another shard holds, for the caller to
// look up once it unlocked s. The caller holds s.mu.
func (t *Table) tracked(s *shard, h uint64, pk *parsed, inv *key, p *Packet, now int64, sc uint64) (r Result, found, elsewhere bool) {
	idx, dir, owner := s.find(h, &pk.k, inv)
	if owner != 0 {
		return Result{}, false, true
	}
	if idx == nilIdx || t.dropExpired(s, idx, now, sc) {
		return Result{}, false, false
	}
	translated := s.fillNAT(idx, dir, p)
	r = t.update(s, idx, dir, p, pk, now)
	if r.State == StateNew && r.ID == 0 {
		return Result{}, false, false
	}
	r.NAT = translated && r.ID != 0
	return r, true, false
}

// profile is the offset of the entry's time-out profile among the
// classes.
func (e *entry) profile() uint8 {
	if e.status&stNAT != 0 {
		return uint8(profileNAT)
	}
	return uint8(profilePlain)
}

// profileTimeouts returns the time-outs of e's profile, indexed by class.
func (t *Table) profileTimeouts(e *entry) *[numClasses]int64 {
	return (*[numClasses]int64)(t.timeouts[e.profile():])
}

// update tracks p against its existing entry.
func (t *Table) update(s *shard, idx int32, dir Dir, p *Packet, pk *parsed, now int64) Result {
	if pk.kind == kindTCP {
		return t.tcpPacket(s, idx, dir, p, pk, now)
	}
	switch pk.kind {
	case kindSCTP:
		return t.sctpPacket(s, idx, dir, p, now)
	case kindDCCP:
		return t.dccpPacket(s, idx, dir, p, now)
	}
	e := &s.entries[idx]
	replied := e.status&stReplied != 0
	switch pk.kind {
	case kindUDP:
		t.udpPacket(s, idx, replied, now)
	case kindICMPQuery:
		s.refresh(idx, clsICMP, now, &t.timeouts)
	default:
		s.refresh(idx, clsGeneric, now, &t.timeouts)
	}
	s.account(idx, dir, p, now)
	if dir == DirReply {
		e.status |= stReplied
	}
	return Result{ID: s.id(idx), State: stateFor(dir, replied), Dir: dir}
}

// udpPacket refreshes a UDP entry. As in Linux, a flow answered and still
// alive two seconds after it started is a stream: it gets the longer
// timeout and is assured, so early drop spares it.
func (t *Table) udpPacket(s *shard, idx int32, replied bool, now int64) {
	e := &s.entries[idx]
	if !replied {
		s.refresh(idx, clsUDP, now, &t.timeouts)
		return
	}
	if now-e.created <= int64(2*time.Second) {
		s.refresh(idx, clsUDP, now, &t.timeouts)
		return
	}
	s.refresh(idx, clsUDPStream, now, &t.timeouts)
	if e.status&stAssured == 0 {
		e.status |= stAssured
		s.fixDrop(idx)
	}
}

func (s *shard) account(idx int32, dir Dir, p *Packet, now int64) {
	e := &s.entries[idx]
	e.packets[dir]++
	e.bytes[dir] += uint64(p.PayloadLen)
	e.lastSeen = now
}

// decode splits an ID into shard and slot, checking the generation.
func (t *Table) decode(id ID) (*shard, int32, bool) {
	si := uint64(id) >> slotBits & shardMask
	slot := int32(uint64(id) & slotMask)
	if si >= uint64(len(t.shards)) {
		return nil, 0, false
	}
	s := &t.shards[si]
	if int(slot) >= len(s.entries) {
		return nil, 0, false
	}
	return s, slot, true
}

func (s *shard) holds(slot int32, id ID) bool {
	e := &s.entries[slot]
	return e.status&stLive != 0 && uint32(uint64(id)>>32) == e.gen
}

// Delete removes the entry id, if it still exists.
func (t *Table) Delete(id ID) bool {
	s, slot, ok := t.decode(id)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holds(slot, id) {
		return false
	}
	s.remove(slot, &s.ctr.deleted)
	return true
}

// Flush removes every entry and returns how many there were.
func (t *Table) Flush() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for j := range s.entries {
			if s.entries[j].status&stLive != 0 {
				s.remove(int32(j), &s.ctr.deleted)
				n++
			}
		}
		s.mu.Unlock()
	}
	t.drainAll()
	return n
}

// drainAll unlinks every proxy queued by the removal of its entry.
func (t *Table) drainAll() {
	if !t.nat {
		return
	}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.drain()
		s.mu.Unlock()
	}
}

// Len returns the number of entries.
func (t *Table) Len() int { return int(t.count.Load()) }

// Sweep removes entries whose timeout has passed (scaled down while the
// table is under pressure, see Config.AdaptiveStart), at most
// Config.SweepBatch of them, and returns how many it removed. A goroutine
// calls it periodically; if it returns the full batch, there may be more.
// Lookup and Create also remove the expired entries they meet, so Sweep
// only has to keep idle flows from holding memory.
func (t *Table) Sweep(now time.Time) int {
	ns := now.UnixNano()
	n := len(t.shards)
	// Hold each lock for a bounded stretch so packets are not stalled
	// behind a large sweep.
	perShard := t.sweepBatch/n + 1
	if perShard < 64 {
		perShard = 64
	}
	start := int(t.sweepNext.Add(1))
	removed := 0
	for i := 0; i < n && removed < t.sweepBatch; i++ {
		s := &t.shards[(start+i)&int(t.shardMask)]
		s.mu.Lock()
		removed += t.expire(s, ns, t.scale(), min(perShard, t.sweepBatch-removed))
		s.mu.Unlock()
	}
	// The proxies of the entries just removed, in whatever shard they
	// live, do not wait for an insertion there to be unlinked.
	for i := range t.shards {
		s := &t.shards[i]
		if s.npend.Load() == 0 {
			continue
		}
		s.mu.Lock()
		s.drain()
		s.mu.Unlock()
	}
	return removed
}

// Entry is a snapshot of one tracked flow.
type Entry struct {
	ID      ID
	Orig    Tuple
	Reply   Tuple
	TCP     TCPState  // TCPNone for other protocols
	SCTP    SCTPState // SCTPNone for other protocols
	DCCP    DCCPState // DCCPNone for other protocols
	Replied bool      // traffic seen in the reply direction
	Assured bool      // evicted only when nothing unassured is left
	// Side is the side the original direction arrives on; replies come
	// on the other. Zone is the zone (the VLAN IDs) of both directions.
	Side Side
	Zone uint32
	// Created, LastSeen and Expires are on the table's clock.
	Created, LastSeen, Expires time.Time
	// Packets and Bytes (transport payload) per direction, of the packets
	// that updated the entry.
	Packets [2]uint64
	Bytes   [2]uint64
	// Mark is the Packet.Mark the entry was created with.
	Mark uint32
	// NAT says the entry is translated: Reply is then the reply tuple as
	// replies arrive (the translated ends in it), not Orig inverted.
	NAT bool
	// Spliced says that the entry carries a Splice (Table.Splice).
	Spliced bool
}

func (s *shard) snapshot(idx int32) Entry {
	e := &s.entries[idx]
	inv := e.orig.inverse()
	out := Entry{
		ID:       s.id(idx),
		Orig:     e.orig.tuple(),
		Reply:    inv.tuple(),
		Replied:  e.status&stReplied != 0,
		Assured:  e.status&stAssured != 0,
		Side:     e.orig.side,
		Zone:     e.orig.zone,
		Created:  time.Unix(0, e.created),
		LastSeen: time.Unix(0, e.lastSeen),
		Expires:  time.Unix(0, e.deadline),
		Packets:  e.packets,
		Bytes:    e.bytes,
		Mark:     e.mark,
		Spliced:  e.status&stSpliced != 0,
	}
	if e.status&stNAT != 0 {
		out.NAT = true
		out.Reply = s.nat[idx].reply.tuple()
	}
	switch e.orig.proto {
	case ipproto.TCP:
		out.TCP = TCPState(e.tcp.state)
	case ipproto.SCTP:
		out.SCTP = SCTPState(e.sctp.state)
	case ipproto.DCCP:
		out.DCCP = DCCPState(e.dccp.state)
	}
	return out
}

// Get returns a snapshot of entry id.
func (t *Table) Get(id ID) (Entry, bool) {
	s, slot, ok := t.decode(id)
	if !ok {
		return Entry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holds(slot, id) {
		return Entry{}, false
	}
	return s.snapshot(slot), true
}

// rangeBatch bounds how many entries are copied under one lock hold.
const rangeBatch = 64

// Range calls fn with a snapshot of each entry until fn returns false.
// Entries are copied in small batches and fn runs without any lock held,
// so fn may call the table; entries created or removed during Range may or
// may not be seen.
func (t *Table) Range(fn func(Entry) bool) {
	var buf [rangeBatch]Entry
	for si := range t.shards {
		s := &t.shards[si]
		for next := 0; next < len(s.entries); {
			n := 0
			s.mu.Lock()
			for ; next < len(s.entries) && n < len(buf); next++ {
				if s.entries[next].status&stLive != 0 {
					buf[n] = s.snapshot(int32(next))
					n++
				}
			}
			s.mu.Unlock()
			for i := range n {
				if !fn(buf[i]) {
					return
				}
			}
		}
	}
}

// Recheck asks keep about the original tuple (and mark) of every entry and removes
// the entries it rejects; it returns how many it removed. The gateway
// calls it after a policy reload so that connections the new policy no
// longer allows are cut, not left to live on their established state.
// keep runs without any lock held.
func (t *Table) Recheck(keep func(Tuple, uint32) bool) int {
	var (
		ids    [rangeBatch]ID
		tuples [rangeBatch]Tuple
		marks  [rangeBatch]uint32
	)
	removed := 0
	for si := range t.shards {
		s := &t.shards[si]
		for next := 0; next < len(s.entries); {
			n := 0
			s.mu.Lock()
			for ; next < len(s.entries) && n < len(ids); next++ {
				e := &s.entries[next]
				if e.status&stLive != 0 {
					ids[n] = s.id(int32(next))
					tuples[n] = e.orig.tuple()
					marks[n] = e.mark
					n++
				}
			}
			s.mu.Unlock()
			doomed := 0
			for i := range n {
				if !keep(tuples[i], marks[i]) {
					ids[doomed] = ids[i]
					doomed++
				}
			}
			if doomed == 0 {
				continue
			}
			s.mu.Lock()
			for _, id := range ids[:doomed] {
				slot := int32(uint64(id) & slotMask)
				// The generation check skips a slot reused meanwhile.
				if s.holds(slot, id) {
					s.remove(slot, &s.ctr.deleted)
					removed++
				}
			}
			s.mu.Unlock()
		}
	}
	return removed
}
