package router

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/datapath"
)

// State is the reachability of a neighbour, after RFC 4861 7.3.2 and
// Linux's NUD states (without NOARP and PERMANENT: every entry here was
// resolved).
type State uint8

// States.
const (
	// StateIncomplete: a request went out and no answer came yet;
	// packets for the neighbour wait in its queue.
	StateIncomplete State = iota
	// StateReachable: an answer came within the reachable time.
	StateReachable
	// StateStale: the reachable time has passed; the address is still
	// used, and the first packet sent with it starts StateDelay.
	StateStale
	// StateDelay: in use while stale; unless confirmed first, probed
	// when DelayFirstProbe has passed.
	StateDelay
	// StateProbe: unicast probes go to the cached address, which is
	// still used, until one is answered or MaxProbes are not.
	StateProbe
	// StateFailed: requests or probes went unanswered. The next packet
	// starts a resolution afresh.
	StateFailed
	numStates
)

// NumStates is the number of States.
const NumStates = int(numStates)

var stateNames = [numStates]string{"incomplete", "reachable", "stale", "delay", "probe", "failed"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "?"
}

// maxQueuedBytes bounds the bytes of all packets waiting for neighbours.
const maxQueuedBytes = 4 << 20

// usedGrain is how stale the time of an entry's last use may be: the
// packet path writes it at most this often, so that a busy entry's cache
// line is not written by every packet of every worker.
const usedGrain = int64(100 * time.Millisecond)

// hwValid marks an entry's hw word as holding a link-layer address.
const hwValid = 1 << 63

func packHW(mac [6]byte) uint64 {
	var b [8]byte
	copy(b[2:], mac[:])
	return binary.BigEndian.Uint64(b[:]) | hwValid
}

func unpackHW(h uint64) (mac [6]byte) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h)
	copy(mac[:], b[2:])
	return mac
}

// neighKey names a neighbour: its address on one side (link-local
// addresses repeat across links).
type neighKey struct {
	addr netip.Addr
	side datapath.Side
}

// neighbour is one entry of the cache.
type neighbour struct {
	key neighKey
	// Read by the packet path without a lock; written under the
	// shard's mu (used also without it).
	hw    atomic.Uint64 // the link-layer address, hwValid set when known
	until atomic.Int64  // the packet path may use hw without a look under the lock until then (Unix ns)
	used  atomic.Int64  // the last use, to usedGrain (Unix ns)

	state     State    // guarded by the shard's mu
	probes    int      // guarded by the shard's mu; requests or probes sent in this round
	sent      int64    // guarded by the shard's mu; when the last one went (Unix ns)
	reachable int64    // guarded by the shard's mu; this entry's reachable time (ns)
	queue     [][]byte // guarded by the shard's mu; packets waiting, oldest first
}

type neighMap = map[neighKey]*neighbour

// shard is one part of the cache. Readers load m without a lock; writers
// hold mu and replace m whole (copy on write), so a lookup on the packet
// path takes no lock and writes nothing shared (but the coarse use time).
// A shard holds few entries (the cache has one shard per 16 of its
// bound), so a copy is short.
type shard struct {
	mu sync.Mutex
	m  atomic.Pointer[neighMap]
}

// reqKind is the kind of request the cache asks the packet path to send.
type reqKind uint8

const (
	reqNone      reqKind = iota
	reqBroadcast         // resolve: an ARP request to all, an NS to the solicited-node group
	reqUnicast           // probe: to the cached link-layer address
)

// request is a request or probe to send for a neighbour.
type request struct {
	kind reqKind
	hw   [6]byte // the probe's destination
}

// resolution is what the cache says to do with a packet for a neighbour
// whose entry the fast path could not use.
type resolution struct {
	hw     [6]byte
	send   bool  // send the packet to hw now
	queued bool  // a copy waits in the entry; it leaves when the neighbour answers
	drop   Event // neither: why the packet is dropped
	req    request
	// failed are packets that waited for a neighbour that never
	// answered: the router answers them with host unreachable.
	failed [][]byte
}

// neighbours is the neighbour cache.
type neighbours struct {
	cfg    NeighbourConfig
	seed   maphash.Seed
	shards []shard
	mask   uint64
	count  atomic.Int64 // entries in all shards
	queued atomic.Int64 // bytes waiting in queues

	limMu   sync.Mutex
	credit  int64 // guarded by limMu; resolutions that may start, in ns of ResolveRate time
	limLast int64 // guarded by limMu
}

func newNeighbours(cfg NeighbourConfig) *neighbours {
	n := 1 << bits.Len(uint(max(cfg.MaxEntries/16, 16)-1))
	c := &neighbours{cfg: cfg, seed: maphash.MakeSeed(), shards: make([]shard, n), mask: uint64(n - 1)}
	for i := range c.shards {
		m := neighMap{}
		c.shards[i].m.Store(&m)
	}
	c.credit = int64(time.Second)
	return c
}

// shardOf picks k's shard by a keyed hash: which addresses share a shard
// cannot be chosen from outside.
func (c *neighbours) shardOf(k neighKey) *shard {
	a := k.addr.As16()
	h := maphash.Bytes(c.seed, a[:]) ^ uint64(k.side)
	return &c.shards[h&c.mask]
}

// lookup is the packet path: the link-layer address of k when its entry
// may be used without a look under the lock.
func (c *neighbours) lookup(k neighKey, now int64) ([6]byte, bool) {
	return c.use((*c.shardOf(k).m.Load())[k], now)
}

// neighMemo is one worker's memory of its last lookup: the key, its
// shard, the shard's map as it was then and the entry found in it. A
// router's packets mostly go to one or two next hops, and while the map
// is the same (every change replaces it), the entry is the same: the
// memo saves the keyed hash and the map lookup, and answers exactly as
// they would. One goroutine owns a memo.
type neighMemo struct {
	k  neighKey
	sh *shard
	m  *neighMap
	e  *neighbour
}

// lookupMemo is lookup through the worker's memo.
func (c *neighbours) lookupMemo(mm *neighMemo, k neighKey, now int64) ([6]byte, bool) {
	if mm.sh == nil || mm.k != k {
		mm.k, mm.sh, mm.m = k, c.shardOf(k), nil
	}
	if m := mm.sh.m.Load(); m != mm.m {
		mm.m, mm.e = m, (*m)[k]
	}
	return c.use(mm.e, now)
}

// use returns e's link-layer address when e may be used without a look
// under the lock, and marks it used.
func (c *neighbours) use(e *neighbour, now int64) ([6]byte, bool) {
	if e == nil {
		return [6]byte{}, false
	}
	h := e.hw.Load()
	if h&hwValid == 0 || now >= e.until.Load() {
		return [6]byte{}, false
	}
	if now-e.used.Load() > usedGrain {
		e.used.Store(now)
	}
	return unpackHW(h), true
}

// get returns k's entry; the caller holds the shard's mu or accepts a
// snapshot.
func (sh *shard) get(k neighKey) *neighbour { return (*sh.m.Load())[k] }

// put adds e to the shard (held).
func (sh *shard) put(e *neighbour) {
	old := *sh.m.Load()
	m := make(neighMap, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[e.key] = e
	sh.m.Store(&m)
}

// del removes k from the shard (held).
func (sh *shard) del(k neighKey) {
	old := *sh.m.Load()
	m := make(neighMap, len(old))
	for kk, v := range old {
		if kk != k {
			m[kk] = v
		}
	}
	sh.m.Store(&m)
}

// resolve decides what happens to a packet for k that lookup could not
// send: frame is a copy-worthy packet (nil when it cannot wait: a GSO
// super-frame, whose offload header a queue does not keep).
func (c *neighbours) resolve(k neighKey, now int64, frame []byte) resolution {
	sh := c.shardOf(k)
	sh.mu.Lock()
	e := sh.get(k)
	if e == nil {
		sh.mu.Unlock()
		if !c.admit(now) {
			return resolution{drop: EventResolveLimited}
		}
		if !c.reserve(now) {
			return resolution{drop: EventNeighbourTableFull}
		}
		sh.mu.Lock()
		if e = sh.get(k); e != nil {
			// Another worker created it meanwhile.
			c.count.Add(-1)
		} else {
			e = &neighbour{key: k, state: StateFailed}
			e.used.Store(now)
			sh.put(e)
			// A new entry starts as a failed one does, below.
		}
	}
	defer sh.mu.Unlock()
	e.used.Store(now)
	var r resolution
	switch e.state {
	case StateIncomplete:
		r.queued = c.enqueue(e, frame)
		if now-e.sent >= int64(c.cfg.RetransTime) {
			if e.probes < c.cfg.MaxProbes {
				e.probes++
				e.sent = now
				r.req.kind = reqBroadcast
			} else {
				// Nobody answered: what waited fails, and this
				// packet starts a resolution afresh, as Linux does
				// for a failed neighbour.
				r.failed = c.detach(e, r.queued)
				if !c.admit(now) {
					e.state = StateFailed
					c.dropQueue(e)
					return resolution{drop: EventResolveLimited, failed: r.failed}
				}
				e.probes, e.sent = 1, now
				r.req.kind = reqBroadcast
			}
		}
		if !r.queued {
			r.drop = EventNeighbourDropped
		}
	case StateFailed:
		if e.sent != 0 && !c.admit(now) {
			// A fresh entry was admitted above; a failed one asks again.
			r.drop = EventResolveLimited
			return r
		}
		c.restart(e, now, frame, &r)
	case StateReachable, StateStale:
		// Reachable no longer (the fast path saw its time pass): in use
		// while stale, so wait a little for a confirmation.
		e.state = StateDelay
		e.until.Store(now + int64(c.cfg.DelayFirstProbe))
		r.hw, r.send = unpackHW(e.hw.Load()), true
	case StateDelay, StateProbe:
		if now < e.until.Load() {
			// Another worker moved it on meanwhile.
			r.hw, r.send = unpackHW(e.hw.Load()), true
			break
		}
		if e.state == StateDelay {
			e.state, e.probes = StateProbe, 0
		}
		if e.probes < c.cfg.MaxProbes {
			e.probes++
			e.sent = now
			e.until.Store(now + int64(c.cfg.RetransTime))
			hw := unpackHW(e.hw.Load())
			r.hw, r.send = hw, true
			r.req = request{kind: reqUnicast, hw: hw}
			break
		}
		// Probes unanswered: the neighbour is gone from that address;
		// resolve it afresh.
		if !c.admit(now) {
			c.fail(e)
			r.drop = EventResolveLimited
			return r
		}
		c.restart(e, now, frame, &r)
	}
	return r
}

// restart resolves e afresh (its shard held): its address forgotten, a
// broadcast request asked of r, frame queued.
func (c *neighbours) restart(e *neighbour, now int64, frame []byte, r *resolution) {
	e.state = StateIncomplete
	e.hw.Store(0)
	e.until.Store(0)
	e.probes, e.sent = 1, now
	r.req.kind = reqBroadcast
	if r.queued = c.enqueue(e, frame); !r.queued {
		r.drop = EventNeighbourDropped
	}
}

// enqueue keeps a copy of frame in e's queue, the oldest giving way when
// it is full, and reports whether it did.
func (c *neighbours) enqueue(e *neighbour, frame []byte) bool {
	if frame == nil {
		return false
	}
	if c.queued.Load()+int64(len(frame)) > maxQueuedBytes {
		return false
	}
	if len(e.queue) >= c.cfg.QueueLen {
		c.queued.Add(-int64(len(e.queue[0])))
		e.queue[0] = nil
		e.queue = e.queue[1:]
	}
	e.queue = append(e.queue, append([]byte(nil), frame...))
	c.queued.Add(int64(len(frame)))
	return true
}

// detach takes e's queue, but its last packet when keepLast says that is
// the one just queued: what failed, and what starts the next round.
func (c *neighbours) detach(e *neighbour, keepLast bool) [][]byte {
	q := e.queue
	e.queue = nil
	if keepLast && len(q) > 0 {
		last := q[len(q)-1]
		q = q[:len(q)-1]
		e.queue = [][]byte{last}
	}
	for _, f := range q {
		c.queued.Add(-int64(len(f)))
	}
	return q
}

// dropQueue forgets what waits in e.
func (c *neighbours) dropQueue(e *neighbour) {
	for _, f := range e.queue {
		c.queued.Add(-int64(len(f)))
	}
	e.queue = nil
}

// fail marks e failed: its address is not used any more.
func (c *neighbours) fail(e *neighbour) {
	e.state = StateFailed
	e.until.Store(0)
	e.hw.Store(0)
	c.dropQueue(e)
}

// confirm takes mac as k's link-layer address when it answers a request
// or probe of ours: an entry in StateIncomplete, or in StateProbe with
// mac the address probed. It returns
// the packets that waited, now to be sent to mac, and whether the answer
// was taken. An answer nobody asked for changes nothing.
func (c *neighbours) confirm(k neighKey, mac [6]byte, now int64) ([][]byte, bool) {
	sh := c.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(k)
	if e == nil || (e.state != StateIncomplete && e.state != StateProbe) {
		return nil, false
	}
	if e.state == StateProbe && unpackHW(e.hw.Load()) != mac {
		// A probe asks the neighbour at the cached address whether it is
		// still there: an answer from elsewhere is a claim, not an
		// answer (else a forger's claim, which starts the probe, and his
		// second frame would take the entry). A neighbour that did move
		// fails its probes and is resolved afresh.
		return nil, false
	}
	e.state = StateReachable
	e.probes = 0
	if e.reachable == 0 {
		// Half to one and a half of the base time (RFC 4861 6.3.2).
		base := int64(c.cfg.ReachableTime)
		e.reachable = base/2 + rand.Int64N(base)
	}
	e.hw.Store(packHW(mac))
	e.until.Store(now + e.reachable)
	q := e.queue
	e.queue = nil
	for _, f := range q {
		c.queued.Add(-int64(len(f)))
	}
	return q, true
}

// suspect handles a claim that k is at mac which is not an answer to a
// request of ours (a gratuitous announcement, a request's sender fields):
// nothing is learnt from it, but when it contradicts the cached address,
// the entry is probed at once, by unicast to the address it holds, so
// that a neighbour that moved is found again by a new resolution and a
// forger cannot take its place while it still answers.
func (c *neighbours) suspect(k neighKey, mac [6]byte, now int64) request {
	sh := c.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(k)
	if e == nil {
		return request{}
	}
	h := e.hw.Load()
	if h&hwValid == 0 || unpackHW(h) == mac || e.state == StateProbe {
		return request{}
	}
	e.state, e.probes, e.sent = StateProbe, 1, now
	e.until.Store(now + int64(c.cfg.RetransTime))
	return request{kind: reqUnicast, hw: unpackHW(h)}
}

// admit reports whether a resolution may start now: ResolveRate per
// second for all neighbours together, a second's worth at once.
func (c *neighbours) admit(now int64) bool {
	c.limMu.Lock()
	defer c.limMu.Unlock()
	c.credit = min(c.credit+now-c.limLast, int64(time.Second))
	c.limLast = now
	cost := int64(time.Second) / int64(c.cfg.ResolveRate)
	if c.credit < cost {
		return false
	}
	c.credit -= cost
	return true
}

// reserve counts a new entry in, making room when the cache is full by
// removing a failed entry or else the stale one unused longest. It
// reports false when every entry is in use.
func (c *neighbours) reserve(now int64) bool {
	for {
		n := c.count.Load()
		if n < int64(c.cfg.MaxEntries) {
			if c.count.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		if !c.evict(now) {
			return false
		}
	}
}

// evict removes one entry that may go: failed first, else the stale one
// (unconfirmed and idle) unused longest.
func (c *neighbours) evict(now int64) bool {
	var victim *neighbour
	var victimShard *shard
	better := func(e *neighbour) bool {
		if victim == nil {
			return true
		}
		if (e.state == StateFailed) != (victim.state == StateFailed) {
			return e.state == StateFailed
		}
		return e.used.Load() < victim.used.Load()
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, e := range *sh.m.Load() {
			if c.evictable(e, now) && better(e) {
				victim, victimShard = e, sh
			}
		}
		sh.mu.Unlock()
	}
	if victim == nil {
		return false
	}
	victimShard.mu.Lock()
	defer victimShard.mu.Unlock()
	if victimShard.get(victim.key) != victim || !c.evictable(victim, now) {
		return true // it went or changed meanwhile: look again
	}
	c.remove(victimShard, victim)
	return true
}

// evictable reports whether e may make room (its shard held): failed, or
// stale and not in use in the last second.
func (c *neighbours) evictable(e *neighbour, now int64) bool {
	switch e.state {
	case StateFailed:
		return true
	case StateReachable, StateStale:
		return now >= e.until.Load() && now-e.used.Load() > int64(time.Second)
	}
	return false
}

// remove deletes e from sh (held).
func (c *neighbours) remove(sh *shard, e *neighbour) {
	c.dropQueue(e)
	sh.del(e.key)
	c.count.Add(-1)
}

// sweepAction is what the timer asks to send for one neighbour.
type sweepAction struct {
	key    neighKey
	req    request
	failed [][]byte
}

// sweep runs the timers of every entry: requests and probes repeated
// every RetransTime up to MaxProbes, failure after the last, and the
// removal of stale and failed entries unused for GCStaleTime. It returns
// what to send.
func (c *neighbours) sweep(now int64) []sweepAction {
	var acts []sweepAction
	retrans := int64(c.cfg.RetransTime)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, e := range *sh.m.Load() {
			switch e.state {
			case StateIncomplete:
				if now-e.sent < retrans {
					break
				}
				if e.probes < c.cfg.MaxProbes {
					e.probes++
					e.sent = now
					acts = append(acts, sweepAction{key: e.key, req: request{kind: reqBroadcast}})
					break
				}
				q := e.queue
				e.queue = nil
				for _, f := range q {
					c.queued.Add(-int64(len(f)))
				}
				e.state = StateFailed
				if len(q) > 0 {
					acts = append(acts, sweepAction{key: e.key, failed: q})
				}
			case StateDelay:
				if now < e.until.Load() {
					break
				}
				e.state, e.probes, e.sent = StateProbe, 1, now
				e.until.Store(now + retrans)
				acts = append(acts, sweepAction{key: e.key, req: request{kind: reqUnicast, hw: unpackHW(e.hw.Load())}})
			case StateProbe:
				if now-e.sent < retrans {
					break
				}
				if e.probes < c.cfg.MaxProbes {
					e.probes++
					e.sent = now
					e.until.Store(now + retrans)
					acts = append(acts, sweepAction{key: e.key, req: request{kind: reqUnicast, hw: unpackHW(e.hw.Load())}})
					break
				}
				c.fail(e)
			case StateReachable:
				if now >= e.until.Load() {
					e.state = StateStale
				}
			}
			if (e.state == StateStale || e.state == StateFailed) && now-e.used.Load() > int64(c.cfg.GCStaleTime) {
				c.remove(sh, e)
			}
		}
		sh.mu.Unlock()
	}
	return acts
}

// NeighbourEntry is a snapshot of one neighbour.
type NeighbourEntry struct {
	Side   datapath.Side
	Addr   netip.Addr
	MAC    [6]byte // zero while unresolved
	State  State
	Queued int // packets waiting
}

// entries returns a snapshot of the cache.
func (c *neighbours) entries() []NeighbourEntry {
	var out []NeighbourEntry
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, e := range *sh.m.Load() {
			ne := NeighbourEntry{Side: e.key.side, Addr: e.key.addr, State: e.state, Queued: len(e.queue)}
			if h := e.hw.Load(); h&hwValid != 0 {
				ne.MAC = unpackHW(h)
			}
			out = append(out, ne)
		}
		sh.mu.Unlock()
	}
	return out
}
