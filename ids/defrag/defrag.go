package defrag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/internal/bufpool"
	"github.com/rampart-fw/rampart/ipproto"
)

// Defaults of Config.
const (
	DefaultTimeout               = 30 * time.Second // Linux's ipfrag_time, Suricata's defrag timeout
	DefaultMaxMemory             = 64 << 20
	DefaultMaxPerSource          = 2 << 20
	DefaultMaxDatagramsPerSource = 256
	DefaultMaxFragments          = 128
	DefaultMaxSameID             = 1
)

// datagramCost is what a datagram is charged beyond its fragments'
// buffers: its bookkeeping, so that a flood of empty datagrams is bounded
// too.
const datagramCost = 256

// Config configures a Defragmenter. Zero fields take the defaults.
type Config struct {
	// Timeout is how long a datagram may take to complete, counted from
	// its first fragment, as Linux counts (a slow trickle cannot keep one
	// alive) [30s].
	Timeout time.Duration
	// MaxMemory bounds the bytes held in fragments, counted as the
	// buffers that hold them, plus a small charge per datagram [64 MiB].
	MaxMemory int
	// MaxPerSource bounds the bytes held for one source address [2 MiB].
	MaxPerSource int
	// MaxDatagramsPerSource bounds the datagrams held for one source
	// address [256].
	MaxDatagramsPerSource int
	// MaxFragments bounds the fragments of one datagram: a 64 KiB datagram
	// over a 576-byte path takes 114 [128].
	MaxFragments int
	// MaxSameID is how many datagrams may be under reassembly at once
	// between two addresses with one identification before KindIDReuse is
	// reported [1].
	MaxSameID int
	// Policies picks the overlap policy per destination; nil means Drop
	// for every destination.
	Policies *HostPolicies
	// DropTiny discards datagrams whose first fragment splits the
	// transport header (KindTiny); otherwise they are reported and
	// reassembled. A gateway drops them (RFC 1858, RFC 7112), an IDS
	// watching passively reassembles what the host will.
	DropTiny bool
	// OnEvent, when set, receives every event. It is called synchronously
	// with an internal lock held: it must be quick and must not call the
	// Defragmenter.
	OnEvent func(Event)
	// Shards is the number of independently locked parts the datagrams are
	// spread over by source address; zero picks up to 16, each at least
	// 1 MiB of MaxMemory.
	Shards int
}

func (c *Config) setDefaults() error {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxMemory <= 0 {
		c.MaxMemory = DefaultMaxMemory
	}
	if c.MaxPerSource <= 0 {
		c.MaxPerSource = min(DefaultMaxPerSource, c.MaxMemory)
	}
	if c.MaxDatagramsPerSource <= 0 {
		c.MaxDatagramsPerSource = DefaultMaxDatagramsPerSource
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = DefaultMaxFragments
	}
	if c.MaxSameID <= 0 {
		c.MaxSameID = DefaultMaxSameID
	}
	if c.Shards <= 0 {
		c.Shards = max(1, min(16, c.MaxMemory/(1<<20)))
	}
	if c.MaxFragments > 8192 {
		return fmt.Errorf("defrag: max fragments %d is more than a 64 KiB datagram can have (8192)", c.MaxFragments)
	}
	if c.MaxMemory/c.Shards < maxBufClass+datagramCost {
		return fmt.Errorf("defrag: max memory %d is too small for %d shards: each needs room for one largest fragment (%d bytes)", c.MaxMemory, c.Shards, maxBufClass+datagramCost)
	}
	if c.MaxPerSource < maxBufClass+datagramCost {
		return fmt.Errorf("defrag: max per source %d is too small for one largest fragment (%d bytes)", c.MaxPerSource, maxBufClass+datagramCost)
	}
	return nil
}

// Status is what became of a fragment given to Add.
type Status uint8

// Statuses.
const (
	// NotFragment: the packet is whole (an IPv6 atomic fragment included);
	// nothing was kept.
	NotFragment Status = iota
	// Held: the fragment was copied and waits for the rest of its datagram.
	Held
	// Complete: the fragment completed its datagram, now in Result.Datagram.
	Complete
	// Dropped: the fragment was refused; Result.Kind says why. Its
	// datagram may have been discarded with it.
	Dropped
)

func (s Status) String() string {
	switch s {
	case NotFragment:
		return "not_fragment"
	case Held:
		return "held"
	case Complete:
		return "complete"
	case Dropped:
		return "dropped"
	}
	return "?"
}

// Result is the outcome of Add.
type Result struct {
	Status Status
	// Kind is why a fragment was dropped, or the event the fragment raised
	// although it was held (an overlap under a target policy, a tiny first
	// fragment that is kept).
	Kind Kind
	// Datagram is the completed datagram when Status is Complete. The
	// caller owns it until it hands it back with Defragmenter.Release.
	Datagram *Datagram
}

// Stats are the Defragmenter's counters.
type Stats struct {
	Fragments uint64 // fragments given to Add
	Completed uint64 // datagrams reassembled
	// Events counts each kind of event; KindTimeout, KindEvicted and
	// KindQuota count datagrams discarded for those reasons.
	Events    [NumKinds]uint64
	Datagrams int // datagrams under reassembly now
	Memory    int // bytes held now (fragments and bookkeeping)
}

// NumKinds is the number of event kinds, for iterating over Stats.Events.
const NumKinds = int(numKinds)

// Defragmenter reassembles IPv4 and IPv6 datagrams from their fragments.
// It is safe for concurrent use: datagrams are spread over shards by
// source address, each shard behind its own lock, so fragments of one
// datagram may arrive on any goroutine, and one source's quota is counted
// in one place.
type Defragmenter struct {
	cfg      Config // immutable after New
	policies atomic.Pointer[HostPolicies]
	shards   []shard // immutable slice; each shard locks itself
	seed     uint64  // immutable after New
	shardCap int     // immutable after New

	fragments atomic.Uint64
	completed atomic.Uint64
	events    [numKinds]atomic.Uint64
}

// New returns a Defragmenter configured by cfg.
func New(cfg Config) (*Defragmenter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	d := &Defragmenter{cfg: cfg, seed: rand.Uint64(), shardCap: cfg.MaxMemory / cfg.Shards}
	d.policies.Store(cfg.Policies)
	d.shards = make([]shard, cfg.Shards)
	hint := min(256, d.shardCap/(datagramCost+maxBufClass/64))
	for i := range d.shards {
		sh := &d.shards[i]
		sh.dgrams = make(map[Key]*Datagram, hint)
		sh.sources = make(map[netip.Addr]*source, hint)
		sh.ids = make(map[idKey]int32, hint)
		sh.pool = bufpool.New(minBufShift, maxBufShift)
		sh.heap = newSrcHeap()
	}
	return d, nil
}

// SetPolicies replaces the table of policies; datagrams under reassembly
// keep the policy they started with. nil means Drop everywhere.
func (d *Defragmenter) SetPolicies(p *HostPolicies) { d.policies.Store(p) }

// Timeout returns the configured time-out.
func (d *Defragmenter) Timeout() time.Duration { return d.cfg.Timeout }

// idKey groups datagrams that share an identification between two
// addresses, whatever their protocol and zone.
type idKey struct {
	src, dst netip.Addr
	id       uint32
}

// shard is one independently locked part of the table.
type shard struct {
	mu      sync.Mutex
	dgrams  map[Key]*Datagram      // guarded by mu
	sources map[netip.Addr]*source // guarded by mu
	ids     map[idKey]int32        // live datagrams per identification; guarded by mu
	heap    bufpool.Heap[*source]  // sources by bytes held, heaviest first; guarded by mu
	// The age list, oldest first: datagrams in creation order, which is
	// the order of their time-outs. Guarded by mu.
	age     list
	pool    bufpool.Pool // guarded by mu
	held    int          // bytes charged to datagrams, complete ones not yet released included; guarded by mu
	freeD   []*Datagram  // guarded by mu
	freeS   []*source    // guarded by mu
	scratch []piece      // guarded by mu
	_       [64]byte     // keep shards' locks off each other's cache lines
}

// source is one source address's share of a shard.
type source struct {
	addr      netip.Addr
	bytes     int
	datagrams int
	dgrams    list // its datagrams, oldest first
	heapIdx   int
}

func (d *Defragmenter) shardOf(a netip.Addr) *shard {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:]) ^ d.seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return &d.shards[h%uint64(len(d.shards))]
}

// Add takes one fragment: frame holds an IP packet at offset l3, after
// whatever link-layer header the caller keeps with it (the copy held is of
// the whole frame, so that the original fragments can be sent on as they
// came). zone separates datagrams that share addresses and identification
// (see Key). now is the time of arrival, on the caller's clock.
//
// A packet that is not a fragment returns NotFragment at once. Add never
// keeps a reference to frame.
func (d *Defragmenter) Add(frame []byte, l3 int, zone uint32, now time.Time) Result {
	if l3 < 0 || l3 > len(frame) || l3 > maxBufClass-maxIPLen {
		d.count(KindMalformed)
		return Result{Status: Dropped, Kind: KindMalformed}
	}
	f, kind, ok := parse(frame[l3:], zone)
	if !ok {
		if kind == KindNone {
			return Result{Status: NotFragment}
		}
		d.fragments.Add(1)
		d.emit(Event{Kind: kind, Time: now})
		return Result{Status: Dropped, Kind: kind}
	}
	d.fragments.Add(1)
	nowNs := now.UnixNano()
	sh := d.shardOf(f.key.Src)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d.expire(sh, nowNs, now)
	dg := sh.dgrams[f.key]
	ev := Event{Key: f.key, Start: f.start, End: f.end, Time: now}
	if dg != nil {
		ev.Policy = dg.policy
	} else {
		ev.Policy = d.policies.Load().Lookup(f.key.Dst)
	}
	// Checks on the fragment alone.
	if len(f.data) == 0 || (f.more && len(f.data)%8 != 0) {
		// RFC 791 and RFC 8200: every fragment but the last carries a
		// multiple of 8 bytes, and none is empty.
		ev.Kind = KindMalformed
		d.emit(ev)
		return Result{Status: Dropped, Kind: KindMalformed}
	}
	if oversize(&f) {
		ev.Kind = KindOversize
		d.emit(ev)
		if dg != nil {
			d.discard(sh, dg, KindNone, now)
		}
		return Result{Status: Dropped, Kind: KindOversize}
	}
	if dg == nil {
		dg = d.create(sh, f.key, ev.Policy, nowNs, now)
	}
	return d.insert(sh, dg, &f, frame[:l3+f.ipLen], l3, ev)
}

// oversize reports a fragment that would end past the largest datagram:
// for IPv4 the header counts (RFC 791's total length), for IPv6 only the
// payload (RFC 8200 4.5: offset plus fragment length beyond 65,535).
func oversize(f *fragment) bool {
	if f.v6 {
		return f.end > maxIPLen
	}
	return f.hdrLen+f.end > maxIPLen
}

// insert adds f, whose frame is frame with its IP header at l3, to dg.
// ev carries the fragment's key, bounds and time for any event.
func (d *Defragmenter) insert(sh *shard, dg *Datagram, f *fragment, frame []byte, l3 int, ev Event) Result {
	fail := func(k Kind) Result {
		ev.Kind = k
		d.emit(ev)
		d.discard(sh, dg, KindNone, ev.Time)
		return Result{Status: Dropped, Kind: k}
	}
	// Fragments must agree on where the datagram ends (Linux discards the
	// queue in both cases, and so does every careful reassembler).
	if !f.more {
		if (dg.end >= 0 && dg.end != f.end) || dg.maxEnd > f.end {
			return fail(KindBadEnd)
		}
	} else if dg.end >= 0 && f.end > dg.end {
		return fail(KindBadEnd)
	}
	if len(dg.frags) >= d.cfg.MaxFragments {
		return fail(KindTooManyFragments)
	}
	var raised Kind
	tiny := (f.start == 0 && tinyFirst(f.next, f.data, f.v6)) ||
		(!f.v6 && f.key.Proto == ipproto.TCP && f.start == 8)
	if tiny {
		if d.cfg.DropTiny {
			return fail(KindTiny)
		}
		ev.Kind = KindTiny
		d.emit(ev)
		raised = KindTiny
	}
	if dg.overlaps(f.start, f.end) {
		if dg.duplicate(f) {
			ev.Kind = KindDuplicate
			d.emit(ev)
			if dg.policy == Drop {
				// RFC 5722 section 4: an exact duplicate may be dropped
				// alone, keeping the datagram.
				return Result{Status: Dropped, Kind: KindDuplicate}
			}
			// Under a target policy the copy is taken like any other
			// fragment: a host that favours later data reassembles it
			// over whatever overlapped the original since.
			raised = KindDuplicate
		} else {
			if dg.policy == Drop {
				return fail(KindOverlap)
			}
			ev.Kind = KindOverlap
			d.emit(ev)
			raised = KindOverlap
		}
	}
	class := sizes.ClassOf(len(frame))
	if !d.reserve(sh, dg, sizes.Size(class), ev.Time) {
		k := KindQuota
		if dg.src.bytes+sizes.Size(class) <= d.cfg.MaxPerSource {
			k = KindEvicted
		}
		return fail(k)
	}
	buf := sh.pool.Get(class)[:len(frame)]
	copy(buf, frame)
	dg.charge(sh, sizes.Size(class))
	fi := len(dg.frags)
	dg.frags = append(dg.frags, frag{buf: buf, class: class, l3: l3, start: f.start, end: f.end, hdrLen: f.hdrLen, unfrag: f.unfrag, nhOff: f.nhOff, next: f.next})
	sh.scratch = dg.place(fi, f.start, f.end, sh.scratch)
	if !f.more {
		dg.end = f.end
	}
	dg.maxEnd = max(dg.maxEnd, f.end)
	if !dg.complete() {
		return Result{Status: Held, Kind: raised}
	}
	// The whole datagram, header included, must fit its length field.
	if h := &dg.frags[dg.pieces[0].frag]; (!h.v6() && h.hdrLen+dg.end > maxIPLen) || (h.v6() && h.unfrag-ipv6Header+dg.end > maxIPLen) {
		ev.Start, ev.End = 0, dg.end
		return fail(KindOversize)
	}
	d.unlink(sh, dg)
	dg.done = true
	d.completed.Add(1)
	return Result{Status: Complete, Kind: raised, Datagram: dg}
}

// create starts a datagram for key in sh, making room for it within the
// source's quota of datagrams.
func (d *Defragmenter) create(sh *shard, key Key, pol Policy, nowNs int64, now time.Time) *Datagram {
	// The source pays for its own excess: its oldest datagram goes, never
	// another source's. (This may free the source's record, so it comes
	// before the record is taken.)
	for src := sh.sources[key.Src]; src != nil && src.datagrams >= d.cfg.MaxDatagramsPerSource; src = sh.sources[key.Src] {
		d.discard(sh, src.dgrams.oldest, KindQuota, now)
	}
	src := sh.sources[key.Src]
	if src == nil {
		if n := len(sh.freeS); n > 0 {
			src = sh.freeS[n-1]
			sh.freeS = sh.freeS[:n-1]
		} else {
			src = new(source)
		}
		*src = source{addr: key.Src}
		sh.sources[key.Src] = src
		sh.heap.Push(src)
	}
	var dg *Datagram
	if n := len(sh.freeD); n > 0 {
		dg = sh.freeD[n-1]
		sh.freeD = sh.freeD[:n-1]
	} else {
		dg = new(Datagram)
	}
	*dg = Datagram{key: key, policy: pol, sh: sh, src: src, created: nowNs, end: -1, frags: dg.frags[:0], pieces: dg.pieces[:0]}
	sh.age.push(dg, ageLinks)
	src.dgrams.push(dg, srcLinks)
	src.datagrams++
	sh.dgrams[key] = dg
	ik := idKey{key.Src, key.Dst, key.ID}
	sh.ids[ik]++
	if int(sh.ids[ik]) > d.cfg.MaxSameID {
		d.emit(Event{Kind: KindIDReuse, Key: key, Policy: pol, Time: now})
	}
	dg.charge(sh, datagramCost)
	return dg
}

// reserve makes room for need more bytes in dg: first within its source's
// quota, at the expense of the source's own older datagrams; then within
// the shard's memory, at the expense of the source that holds the most
// (the heaviest source pays, so one source cannot push out the datagrams
// of sources lighter than itself). It reports whether the room was found;
// it never discards dg itself.
func (d *Defragmenter) reserve(sh *shard, dg *Datagram, need int, now time.Time) bool {
	src := dg.src
	for src.bytes+need > d.cfg.MaxPerSource {
		v := src.oldestBut(dg)
		if v == nil {
			return false
		}
		d.discard(sh, v, KindQuota, now)
	}
	for sh.held+sh.pool.Idle()+need > d.shardCap {
		if sh.pool.Idle() > 0 {
			sh.pool.Shed(sh.held + sh.pool.Idle() + need - d.shardCap)
			continue
		}
		if sh.heap.Len() == 0 {
			return false
		}
		v := sh.heap.At(0).oldestBut(dg)
		if v == nil {
			// The heaviest source is dg's own, and dg is all it holds:
			// everyone else holds less, and keeps it.
			return false
		}
		d.discard(sh, v, KindEvicted, now)
	}
	return true
}

// expire discards the datagrams of sh whose time is up.
func (d *Defragmenter) expire(sh *shard, nowNs int64, now time.Time) {
	t := int64(d.cfg.Timeout)
	for dg := sh.age.oldest; dg != nil && nowNs-dg.created >= t; dg = sh.age.oldest {
		d.discard(sh, dg, KindTimeout, now)
	}
}

// Sweep discards every datagram whose time-out has passed at now. Add
// does the same for the shard it touches; Sweep frees the memory of the
// shards that no fragment visits.
func (d *Defragmenter) Sweep(now time.Time) {
	nowNs := now.UnixNano()
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		d.expire(sh, nowNs, now)
		sh.mu.Unlock()
	}
}

// discard removes dg and frees what it holds, reporting kind (unless
// KindNone: the caller reported the reason already).
func (d *Defragmenter) discard(sh *shard, dg *Datagram, kind Kind, now time.Time) {
	if kind != KindNone {
		d.emit(Event{Kind: kind, Key: dg.key, Policy: dg.policy, Time: now})
	}
	d.unlink(sh, dg)
	d.free(sh, dg)
}

// unlink takes dg out of the shard's table, lists and quotas; its bytes
// stay charged to the shard until free.
func (d *Defragmenter) unlink(sh *shard, dg *Datagram) {
	src := dg.src
	sh.age.remove(dg, ageLinks)
	src.dgrams.remove(dg, srcLinks)
	src.datagrams--
	src.bytes -= dg.bytes
	if src.datagrams == 0 {
		sh.heap.Remove(src)
		delete(sh.sources, src.addr)
		*src = source{}
		sh.freeS = append(sh.freeS, src)
	} else {
		sh.heap.Fix(src)
	}
	dg.src = nil
	delete(sh.dgrams, dg.key)
	ik := idKey{dg.key.Src, dg.key.Dst, dg.key.ID}
	if n := sh.ids[ik]; n <= 1 {
		delete(sh.ids, ik)
	} else {
		sh.ids[ik] = n - 1
	}
}

// free returns dg's buffers and dg itself to the shard's pools.
func (d *Defragmenter) free(sh *shard, dg *Datagram) {
	for i := range dg.frags {
		sh.pool.Put(dg.frags[i].buf, dg.frags[i].class, d.shardCap/4)
		dg.frags[i] = frag{}
	}
	sh.held -= dg.bytes
	*dg = Datagram{frags: dg.frags[:0], pieces: dg.pieces[:0]}
	sh.freeD = append(sh.freeD, dg)
}

// Release hands a completed datagram back: its fragments' buffers return
// to the pool, and dg must not be used again.
func (d *Defragmenter) Release(dg *Datagram) {
	if dg == nil || !dg.done {
		return
	}
	sh := dg.sh
	sh.mu.Lock()
	d.free(sh, dg)
	sh.mu.Unlock()
}

func (d *Defragmenter) emit(ev Event) {
	d.count(ev.Kind)
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(ev)
	}
}

func (d *Defragmenter) count(k Kind) {
	if k < numKinds {
		d.events[k].Add(1)
	}
}

// Stats returns the counters and the current occupancy.
func (d *Defragmenter) Stats() Stats {
	s := Stats{Fragments: d.fragments.Load(), Completed: d.completed.Load()}
	for k := range s.Events {
		s.Events[k] = d.events[k].Load()
	}
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		s.Datagrams += len(sh.dgrams)
		s.Memory += sh.held
		sh.mu.Unlock()
	}
	return s
}

// errNotComplete is returned by AppendPacket for a datagram not handed
// out as complete.
var errNotComplete = errors.New("defrag: datagram is not complete")
