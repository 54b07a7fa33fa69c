package cache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/rampart-fw/rampart/dns/wire"
)

// kind separates the three caches that share the shards.
type kind uint8

const (
	kindFree kind = iota
	kindRRset
	kindNoData
	kindNXDomain
	kindAnswer
	numKinds
)

// Queue membership of a slot.
const (
	queueNone uint8 = iota
	queueSmall
	queueMain
)

// entry.state bits. The S3-FIFO frequency saturates at 3; the prefetch bit
// makes the prefetch signal fire once per stored TTL period.
const (
	freqMask     uint32 = 3
	flagPrefetch uint32 = 4
)

// entry is one slot of a shard's slab. Entries are reached by index, not by
// pointer, so the slab is one allocation the collector scans as a whole and
// the queue links and expiry-heap position cost 4 bytes each. The index
// key is not stored: removal recomputes it from data, which keeps the slot
// at 64 bytes.
//
// Entries live in their shard's slab, so the shard's mu guards them: every
// field but state is written only under the write lock and read under
// either lock. state is the exception: lookups holding only the read lock
// count hits and claim the prefetch signal in it, so it is read and written
// with atomics only, under either lock.
//
// data is never modified after the entry is published: readers take a
// reference under the read lock and copy from it after releasing the lock;
// a replacement installs a new slice.
type entry struct {
	data   []byte // guarded by shard.mu; the bytes it holds are immutable
	expire int64  // guarded by shard.mu: unix nanoseconds at which the remaining TTL reaches 0
	ttl    uint32 // guarded by shard.mu: TTL in seconds when stored, after clamping
	size   uint32 // guarded by shard.mu: bytes charged against the shard limit
	prev   uint32 // guarded by shard.mu: towards the head (newer); 0 = none
	next   uint32 // guarded by shard.mu: towards the tail (older); free-list link for free slots
	heap   uint32 // guarded by shard.mu: position in the shard's expiry heap
	state  uint32 // atomic, under either lock: S3-FIFO frequency and prefetch flag
	rank   Rank   // guarded by shard.mu
	queue  uint8  // guarded by shard.mu
	kind   kind   // guarded by shard.mu
}

// entryOverhead is charged per entry on top of cap(data): the slab slot,
// index cells at a typical load factor, the heap and ghost slots and growth
// slack of the slab. BenchmarkMemoryPerName checks it against the measured
// heap.
const entryOverhead = int64(unsafe.Sizeof(entry{})) + 21 + 4 + 4 + 16

// Data layout shared by every kind (see the kind-specific files for what
// follows the name):
//
//	[0]    owner name length in wire form
//	[1]    key flags (answers: DO, CD)
//	[2:4]  type (0 for NXDOMAIN)
//	[4:6]  class
//	[6:]   kind-specific; the name is at nameOffset(kind)
const keyHeaderLen = 6

func nameOffset(k kind) int {
	if k == kindAnswer {
		return answerMsgOffset + 12
	}
	return keyHeaderLen
}

func entryName(k kind, d []byte) []byte {
	off := nameOffset(k)
	return d[off : off+int(d[0])]
}

// key is what identifies an entry, with the owner name already lowercased.
type key struct {
	kind   kind
	flags  uint8
	qtype  uint16
	qclass uint16
	name   []byte // lowercase wire form
}

func (e *entry) matches(k *key) bool {
	d := e.data
	if e.kind != k.kind || int(d[0]) != len(k.name) || d[1] != k.flags ||
		uint16(d[2])<<8|uint16(d[3]) != k.qtype || uint16(d[4])<<8|uint16(d[5]) != k.qclass {
		return false
	}
	return wire.EqualFold(entryName(e.kind, d), k.name)
}

// touch records a hit. Once the frequency saturates the entry is no longer
// written, so a hot entry's cache line stays shared between readers.
func (e *entry) touch() {
	for {
		v := atomic.LoadUint32(&e.state)
		if v&freqMask == freqMask {
			return
		}
		if atomic.CompareAndSwapUint32(&e.state, v, v+1) {
			return
		}
	}
}

// claimPrefetch returns true for exactly one caller per stored entry.
func (e *entry) claimPrefetch() bool {
	for {
		v := atomic.LoadUint32(&e.state)
		if v&flagPrefetch != 0 {
			return false
		}
		if atomic.CompareAndSwapUint32(&e.state, v, v|flagPrefetch) {
			return true
		}
	}
}

// fifo is one S3-FIFO queue of a shard; the shard's mu guards it.
type fifo struct {
	head, tail uint32 // head is the newest
	n          int
	bytes      int64
}

// shardCounters are updated with atomics so that readers holding only the
// read lock can count, and Stats can read without locking. None of them
// is guarded by a lock; a sum over the shards is not a consistent snapshot.
type shardCounters struct {
	hits, misses [numStatKinds]atomic.Uint64
	staleHits    atomic.Uint64
	prefetches   atomic.Uint64
	inserts      atomic.Uint64
	updates      atomic.Uint64
	rankRejects  atomic.Uint64
	dropped      atomic.Uint64
	evictions    atomic.Uint64
	expirations  atomic.Uint64
	flushed      atomic.Uint64
	wireDeclined atomic.Uint64
}

// shard is an independently locked part of the cache. Lookups take the
// read lock (and write only atomics: entry.state and ctr); stores,
// evictions and flushes take the write lock. The methods of shard do not
// lock: their callers in Cache hold mu, the read lock for find and the
// write lock for everything else.
type shard struct {
	mu       sync.RWMutex
	seed     maphash.Seed    // immutable after init: the cache's, to recompute index keys on removal
	idx      index           // guarded by mu
	slots    []entry         // guarded by mu; slots[0] is a sentinel so that index 0 means "none"
	freeHead uint32          // guarded by mu
	small    fifo            // guarded by mu
	main     fifo            // guarded by mu
	heap     []uint32        // guarded by mu: slots ordered by expire, soonest first
	ghost    []uint32        // guarded by mu: fingerprints of keys recently evicted from small
	limit    int64           // immutable after init
	bytes    int64           // guarded by mu
	count    [numKinds]int64 // guarded by mu
	ctr      shardCounters   // atomics, read without mu
	_        [64]byte        // keep neighbouring shards' locks off this cache line
}

// init prepares an empty shard, before the cache is shared.
func (s *shard) init(seed maphash.Seed, limit int64) {
	s.seed = seed
	s.limit = limit
	s.reset()
}

// reset empties the shard. The caller holds the write lock, or is init.
func (s *shard) reset() {
	s.idx.init()
	s.slots = make([]entry, 1, 16)
	s.freeHead = 0
	s.small = fifo{}
	s.main = fifo{}
	s.heap = nil
	s.ghost = make([]uint32, 16)
	s.bytes = 0
	s.count = [numKinds]int64{}
}

// indexKey recomputes the index key of a stored entry.
func (s *shard) indexKey(e *entry) uint64 {
	var buf [wire.MaxNameLen]byte
	lname := buf[:copy(buf[:], entryName(e.kind, e.data))]
	wire.CopyLower(lname, lname)
	d := e.data
	return keyHash(maphash.Bytes(s.seed, lname), e.kind, d[1], getU16(d[2:]), getU16(d[4:]))
}

// find returns the slot holding k, or 0. The caller holds a lock; the
// read lock suffices.
func (s *shard) find(h uint64, k *key) uint32 {
	tag := tagOf(h)
	p := tag
	for {
		var i uint32
		var ok bool
		if p, i, ok = s.idx.next(tag, p); !ok {
			return 0
		}
		if s.slots[i].matches(k) {
			return i
		}
		p++
	}
}

func (s *shard) queueOf(q uint8) *fifo {
	if q == queueSmall {
		return &s.small
	}
	return &s.main
}

func (s *shard) pushHead(i uint32, q uint8) {
	e := &s.slots[i]
	f := s.queueOf(q)
	e.queue = q
	e.prev = 0
	e.next = f.head
	if f.head != 0 {
		s.slots[f.head].prev = i
	}
	f.head = i
	if f.tail == 0 {
		f.tail = i
	}
	f.n++
	f.bytes += int64(e.size)
}

func (s *shard) unlink(i uint32) {
	e := &s.slots[i]
	f := s.queueOf(e.queue)
	if e.prev != 0 {
		s.slots[e.prev].next = e.next
	} else {
		f.head = e.next
	}
	if e.next != 0 {
		s.slots[e.next].prev = e.prev
	} else {
		f.tail = e.prev
	}
	f.n--
	f.bytes -= int64(e.size)
	e.prev, e.next = 0, 0
	e.queue = queueNone
}

// alloc returns a free slot, growing the slab (and with it the ghost
// filter, which is sized to the slab) when none is free.
func (s *shard) alloc() uint32 {
	if i := s.freeHead; i != 0 {
		s.freeHead = s.slots[i].next
		s.slots[i].next = 0
		return i
	}
	s.slots = append(s.slots, entry{})
	if len(s.slots) > len(s.ghost) {
		// Regrowing forgets the ghosts; they are a hint, not state.
		s.ghost = make([]uint32, 2*len(s.ghost))
	}
	return uint32(len(s.slots) - 1)
}

// remove frees slot i. The caller holds the write lock.
func (s *shard) remove(i uint32) {
	e := &s.slots[i]
	s.unlink(i)
	s.heapDelete(i)
	s.idx.remove(s.indexKey(e), i)
	s.bytes -= int64(e.size)
	s.count[e.kind]--
	*e = entry{next: s.freeHead}
	s.freeHead = i
}

func ghostFingerprint(h uint64) uint32 { return uint32(h>>32) | 1 }

func (s *shard) ghostAdd(h uint64) {
	s.ghost[h&uint64(len(s.ghost)-1)] = ghostFingerprint(h)
}

func (s *shard) ghostTake(h uint64) bool {
	p := &s.ghost[h&uint64(len(s.ghost)-1)]
	if *p != ghostFingerprint(h) {
		return false
	}
	*p = 0
	return true
}

// The expiry heap lets eviction drop expired entries before any live one
// and RemoveExpired visit only what it removes.

func (s *shard) heapSwap(a, b int) {
	h := s.heap
	h[a], h[b] = h[b], h[a]
	s.slots[h[a]].heap = uint32(a)
	s.slots[h[b]].heap = uint32(b)
}

func (s *shard) heapUp(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if s.slots[s.heap[p]].expire <= s.slots[s.heap[j]].expire {
			return
		}
		s.heapSwap(p, j)
		j = p
	}
}

// heapDown reports whether the element moved.
func (s *shard) heapDown(j int) bool {
	j0, n := j, len(s.heap)
	for {
		l := 2*j + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.slots[s.heap[r]].expire < s.slots[s.heap[l]].expire {
			m = r
		}
		if s.slots[s.heap[j]].expire <= s.slots[s.heap[m]].expire {
			break
		}
		s.heapSwap(j, m)
		j = m
	}
	return j > j0
}

func (s *shard) heapPush(i uint32) {
	s.slots[i].heap = uint32(len(s.heap))
	s.heap = append(s.heap, i)
	s.heapUp(len(s.heap) - 1)
}

func (s *shard) heapDelete(i uint32) {
	j := int(s.slots[i].heap)
	last := len(s.heap) - 1
	if j != last {
		s.heapSwap(j, last)
	}
	s.heap = s.heap[:last]
	if j != last && !s.heapDown(j) {
		s.heapUp(j)
	}
}

func (s *shard) heapFix(i uint32) {
	if j := int(s.slots[i].heap); !s.heapDown(j) {
		s.heapUp(j)
	}
}

// store inserts the entry for key hash h, or replaces slot existing (found
// by the caller under the same write lock) in place so that a refreshed hot
// entry keeps its queue position and frequency, and then restores the
// memory bound. It reports false if the entry alone exceeds the shard
// limit.
func (s *shard) store(h uint64, existing uint32, k kind, data []byte, expire int64, ttl uint32, rank Rank, now int64) bool {
	size := uint32(int64(cap(data)) + entryOverhead)
	if int64(size) > s.limit {
		s.ctr.dropped.Add(1)
		return false
	}
	if i := existing; i != 0 {
		e := &s.slots[i]
		f := s.queueOf(e.queue)
		s.bytes += int64(size) - int64(e.size)
		f.bytes += int64(size) - int64(e.size)
		e.data, e.expire, e.ttl, e.size, e.rank, e.kind = data, expire, ttl, size, rank, k
		atomic.StoreUint32(&e.state, atomic.LoadUint32(&e.state)&freqMask)
		s.heapFix(i)
		s.ctr.updates.Add(1)
	} else {
		i := s.alloc()
		e := &s.slots[i]
		*e = entry{data: data, expire: expire, ttl: ttl, size: size, rank: rank, kind: k}
		s.idx.insert(h, i)
		s.bytes += int64(size)
		s.count[k]++
		if s.ghostTake(h) {
			s.pushHead(i, queueMain)
		} else {
			s.pushHead(i, queueSmall)
		}
		s.heapPush(i)
		s.ctr.inserts.Add(1)
	}
	s.evict(now)
	s.maybeCompact()
	return true
}

// compactMinSlots keeps small shards from compacting over and over.
const compactMinSlots = 1024

func (s *shard) live() int { return s.small.n + s.main.n }

// maybeCompact rebuilds the slab when most of it is free slots, so that
// memory left behind by many small entries that gave way to fewer large
// ones returns to the runtime instead of staying uncharged. Callers must
// not hold slot numbers across it.
func (s *shard) maybeCompact() {
	if len(s.slots) < compactMinSlots || 4*s.live() >= len(s.slots) {
		return
	}
	old := s.slots
	slots := make([]entry, 1, 1+2*s.live())
	remap := make([]uint32, len(old))
	for _, f := range []*fifo{&s.small, &s.main} {
		for i := f.head; i != 0; i = old[i].next {
			remap[i] = uint32(len(slots))
			slots = append(slots, old[i])
		}
	}
	for j := 1; j < len(slots); j++ {
		e := &slots[j]
		e.prev, e.next = remap[e.prev], remap[e.next]
	}
	for _, f := range []*fifo{&s.small, &s.main} {
		f.head, f.tail = remap[f.head], remap[f.tail]
	}
	for j, i := range s.heap {
		s.heap[j] = remap[i]
	}
	s.heap = append(make([]uint32, 0, 2*len(s.heap)), s.heap...)
	var idx index
	n := minIndexCells
	for n < 3*s.live() {
		n *= 2
	}
	idx.cells = make([]uint64, n)
	for _, v := range s.idx.cells {
		if v != 0 {
			idx.place(cell(uint32(v>>32), remap[uint32(v)]))
			idx.n++
		}
	}
	s.idx = idx
	s.slots = slots
	s.freeHead = 0
	g := minIndexCells
	for g < len(slots) {
		g *= 2
	}
	if g < len(s.ghost) {
		s.ghost = make([]uint32, g)
	}
}

// evict restores the memory bound: expired entries go first, soonest
// expired first, even when serve-stale could still use them; then S3-FIFO
// chooses among live entries.
func (s *shard) evict(now int64) {
	for s.bytes > s.limit {
		if top := s.heap[0]; now >= s.slots[top].expire {
			s.remove(top)
			s.ctr.expirations.Add(1)
			continue
		}
		if s.small.bytes > s.limit/10 || s.main.n == 0 {
			s.evictSmall()
		} else {
			s.evictMain()
		}
	}
}

// evictSmall handles the tail of the probationary queue: an entry read
// since it was inserted moves to the main queue, others leave a ghost so
// that a quick return goes straight to the main queue.
func (s *shard) evictSmall() {
	i := s.small.tail
	e := &s.slots[i]
	if atomic.LoadUint32(&e.state)&freqMask > 0 {
		s.unlink(i)
		atomic.StoreUint32(&e.state, atomic.LoadUint32(&e.state)&^freqMask)
		s.pushHead(i, queueMain)
		return
	}
	s.ghostAdd(s.indexKey(e))
	s.remove(i)
	s.ctr.evictions.Add(1)
}

// evictMain runs the CLOCK-like reinsertion of the main queue until one
// entry leaves. Each reinsertion lowers a frequency of at most 3, so the
// loop ends within 4 passes; the bound makes that explicit.
func (s *shard) evictMain() {
	for rounds := 4*s.main.n + 1; rounds > 0; rounds-- {
		i := s.main.tail
		e := &s.slots[i]
		v := atomic.LoadUint32(&e.state)
		if v&freqMask == 0 {
			break
		}
		atomic.StoreUint32(&e.state, v-1)
		s.unlink(i)
		s.pushHead(i, queueMain)
	}
	s.remove(s.main.tail)
	s.ctr.evictions.Add(1)
}

// removeDead deletes every entry that can no longer be served at now,
// returning how many it removed.
func (s *shard) removeDead(now, staleMaxAge int64, serveStale bool) int {
	n := 0
	for len(s.heap) > 0 {
		exp := s.slots[s.heap[0]].expire
		if now < exp || (serveStale && now-exp <= staleMaxAge) {
			break
		}
		s.remove(s.heap[0])
		n++
	}
	s.ctr.expirations.Add(uint64(n))
	s.maybeCompact()
	return n
}

// removeMatching deletes entries whose owner name satisfies match.
func (s *shard) removeMatching(match func(name []byte) bool) int {
	n := 0
	for i := 1; i < len(s.slots); i++ {
		e := &s.slots[i]
		if e.queue == queueNone || !match(entryName(e.kind, e.data)) {
			continue
		}
		s.remove(uint32(i))
		n++
	}
	s.ctr.flushed.Add(uint64(n))
	s.maybeCompact()
	return n
}

func (s *shard) clear() int {
	n := 0
	for _, c := range s.count {
		n += int(c)
	}
	s.reset()
	s.ctr.flushed.Add(uint64(n))
	return n
}
