package stream

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/internal/bufpool"
	"github.com/rampart-fw/rampart/packet"
)

// Flow classes, each with its own time-out and its own list, least
// recently active at the tail; a full table takes its victim from the
// first non-empty class in this order.
const (
	classClosed = iota
	classNew
	classEstablished
	numFlowClasses
)

func classOfState(s State) uint8 {
	switch s {
	case StateSynSent, StateSynRecv:
		return classNew
	case StateReset, StateClosed:
		return classClosed
	}
	return classEstablished
}

// Table follows TCP flows and reassembles their streams. It is safe for
// concurrent use: flows are spread over shards by a hash of their
// addresses and ports that is the same in both directions, each shard
// behind its own lock, so the packets of one flow may arrive on any
// goroutine.
type Table struct {
	cfg      Config // immutable after New
	cons     Consumer
	policies atomic.Pointer[HostPolicies]
	shards   []shard // immutable slice; each shard locks itself
	shardCap int     // memory per shard; immutable
	perShard int     // flows per shard; immutable
	depth    uint64  // Config.Depth as an offset; MaxUint64 for none
	seed     uint64
	ids      atomic.Uint64
}

// shard is one independently locked part of the table.
type shard struct {
	mu    sync.Mutex
	flows map[tkey]*Flow           // guarded by mu
	lists [numFlowClasses]flowList // guarded by mu
	heap  bufpool.Heap[*Flow]      // flows holding buffers, heaviest first; guarded by mu
	pool  bufpool.Pool             // guarded by mu
	used  int                      // buffer bytes charged to flows; guarded by mu
	free  []*Flow                  // guarded by mu
	tmp   []ival                   // scratch; guarded by mu
	tmp2  []ival                   // scratch; guarded by mu
	res   Result                   // the result Process is building; guarded by mu
	st    counters                 // guarded by mu
	_     [64]byte                 // keep shards' locks off each other's cache lines
}

type counters struct {
	packets, flows, midstream                uint64
	delivered, gapBytes, dropped, normalised uint64
	ended                                    [numEndReasons]uint64
	events                                   [numKinds]uint64
}

const numEndReasons = int(EndFlush) + 1

// Stats are the Table's counters and its occupancy.
type Stats struct {
	Packets    uint64 // TCP packets given to Process
	Flows      uint64 // flows created
	Midstream  uint64 // of which picked up midstream
	Delivered  uint64 // bytes handed to the consumer
	GapBytes   uint64 // bytes reported as gaps
	Dropped    uint64 // packets with the verdict Drop
	Normalised uint64 // packets rewritten (payload or urgent pointer)
	// Ended counts flows by the reason they ended (EndReason).
	Ended [numEndReasons]uint64
	// Events counts each kind of event.
	Events [NumKinds]uint64
	Active int // flows tracked now
	Memory int // stream buffer bytes held now, spare ones included
}

// New returns a Table configured by cfg that hands the streams to c (nil:
// nobody, as when only normalising).
func New(cfg Config, c Consumer) (*Table, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if c == nil {
		c = nopConsumer{}
	}
	t := &Table{
		cfg:      cfg,
		cons:     c,
		shardCap: cfg.MemCap / cfg.Shards,
		perShard: (cfg.MaxFlows + cfg.Shards - 1) / cfg.Shards,
		depth:    math.MaxUint64,
		seed:     rand.Uint64(),
	}
	if cfg.Depth != NoDepth {
		t.depth = uint64(cfg.Depth)
	}
	t.SetPolicies(cfg.Policies)
	t.shards = make([]shard, cfg.Shards)
	for i := range t.shards {
		t.shards[i].flows = make(map[tkey]*Flow, min(t.perShard, 64))
		t.shards[i].pool = bufpool.New(minBufShift, maxBufShift)
		t.shards[i].heap = newFlowHeap()
	}
	return t, nil
}

// SetPolicies replaces the table of policies (nil: DefaultPolicy for
// every destination); flows already followed keep the policies they
// started with.
func (t *Table) SetPolicies(p *HostPolicies) {
	if p == nil {
		p = NewHostPolicies(DefaultPolicy)
	}
	t.policies.Store(p)
}

// Mode returns the configured mode.
func (t *Table) Mode() Mode { return t.cfg.Mode }

type nopConsumer struct{}

func (nopConsumer) Stream(*Flow, Chunk)                   {}
func (nopConsumer) Packet(*Flow, *packet.Parsed, *Result) {}
func (nopConsumer) End(*Flow, EndReason)                  {}

// tkey is a flow's key in the table: its two ends as plain bytes, the
// lower first, so that both directions find one entry and the map hashes
// a flat array.
type tkey struct {
	lo, hi   [16]byte
	plo, phi uint16
}

// keyOf returns the table key of the flow of k.
func keyOf(k flow.Key) tkey {
	a, b := k.Src.Addr().As16(), k.Dst.Addr().As16()
	pa, pb := k.Src.Port(), k.Dst.Port()
	if c := bytes.Compare(a[:], b[:]); c > 0 || c == 0 && pa > pb {
		return tkey{b, a, pb, pa}
	}
	return tkey{a, b, pa, pb}
}

func (t *Table) shardOf(k *tkey) *shard {
	h := t.seed ^ uint64(k.plo)<<16 ^ uint64(k.phi)
	h = mix(h, k.lo[:])
	h = mix(h, k.hi[:])
	// The shard is taken from the top bits of a last product, which
	// depend on every bit: h's low bits would not depend on an IPv4
	// address's last bytes.
	h *= 0x9e3779b97f4a7c15
	return &t.shards[(h>>32)*uint64(len(t.shards))>>32]
}

func mix(h uint64, b []byte) uint64 {
	h ^= binary.LittleEndian.Uint64(b[:8])
	h *= 0x9e3779b97f4a7c15
	h ^= binary.LittleEndian.Uint64(b[8:])
	h *= 0xff51afd7ed558ccd
	return h ^ h>>32
}

// call carries what one operation on a shard needs: its time, and the
// result it fills.
type call struct {
	t    *Table
	cons Consumer // the Table's, or the one given to ProcessWith
	sh   *shard
	now  time.Time
	ns   int64
	r    *Result
}

func (c *call) timeout(class uint8) int64 {
	switch class {
	case classNew:
		return int64(c.t.cfg.NewTimeout)
	case classClosed:
		return int64(c.t.cfg.ClosedTimeout)
	}
	return int64(c.t.cfg.EstablishedTimeout)
}

// emit counts an event, marks it on the packet's result and hands it to
// OnEvent.
func (c *call) emit(f *Flow, d Dir, k Kind, start, end uint64) {
	c.sh.st.events[k]++
	if c.r != nil && c.r.Flow == f {
		c.r.Events.add(k)
	}
	if c.t.cfg.OnEvent != nil {
		c.t.cfg.OnEvent(Event{Kind: k, Key: f.key, FlowID: f.id, Dir: d, Policy: f.sides[d].policy, Start: start, End: end, Time: c.now})
	}
}

// emitKey reports an event about a packet of no flow.
func (c *call) emitKey(k flow.Key, kind Kind) {
	c.sh.st.events[kind]++
	if c.r != nil {
		c.r.Events.add(kind)
	}
	if c.t.cfg.OnEvent != nil {
		c.t.cfg.OnEvent(Event{Kind: kind, Key: k, Time: c.now})
	}
}

// touch records activity on f and keeps it in the list of its class.
func (c *call) touch(f *Flow) {
	f.last = c.ns
	cl := classOfState(f.state)
	c.sh.lists[f.class].remove(f)
	f.class = cl
	c.sh.lists[cl].pushFront(f)
}

// expire retires up to limit flows whose time-out has passed (all of them
// for a negative limit).
func (c *call) expire(limit int) {
	for cl := uint8(0); cl < numFlowClasses; cl++ {
		to := c.timeout(cl)
		for n := 0; limit < 0 || n < limit; n++ {
			f := c.sh.lists[cl].tail
			if f == nil || c.ns-f.last < to {
				break
			}
			why := EndTimeout
			if f.state == StateReset {
				why = EndReset
			}
			c.retire(f, why)
		}
	}
}

// retire ends f, if it has not ended, and frees it.
func (c *call) retire(f *Flow, why EndReason) {
	c.finish(f, why)
	c.free(f)
}

// finish hands on everything f holds, holes as gaps, and ends its stream.
func (c *call) finish(f *Flow, why EndReason) {
	if f.ended {
		return
	}
	for d := ToServer; d <= ToClient; d++ {
		s := &f.sides[d]
		if !f.dropped {
			c.deliver(f, d, s.lastEnd(), KindGap)
		}
	}
	f.ended = true
	c.sh.st.ended[why]++
	c.cons.End(f, why)
}

// newFlow takes a flow from the free list, making room in a full shard.
func (c *call) newFlow(k flow.Key) *Flow {
	sh := c.sh
	if len(sh.flows) >= c.t.perShard {
		for cl := range sh.lists {
			if v := sh.lists[cl].tail; v != nil {
				c.emit(v, ToServer, KindFlowLimit, 0, 0)
				c.retire(v, EndEvicted)
				break
			}
		}
	}
	var f *Flow
	if n := len(sh.free); n > 0 {
		f = sh.free[n-1]
		sh.free[n-1] = nil
		sh.free = sh.free[:n-1]
	} else {
		f = new(Flow)
	}
	var keepH, keepS [2][]ival
	for d := range f.sides {
		keepH[d], keepS[d] = f.sides[d].have[:0], f.sides[d].segs[:0]
	}
	*f = Flow{key: k, id: c.t.nextID(), created: c.ns, last: c.ns, heapIdx: -1, class: classNew}
	pol := c.t.policies.Load()
	f.sides[ToServer].policy = pol.Lookup(k.Dst.Addr())
	f.sides[ToClient].policy = pol.Lookup(k.Src.Addr())
	for d := range f.sides {
		f.sides[d].have, f.sides[d].segs = keepH[d], keepS[d]
		f.sides[d].class = -1
	}
	f.tk = keyOf(k)
	sh.flows[f.tk] = f
	sh.lists[classNew].pushFront(f)
	sh.st.flows++
	return f
}

// FlowID returns the ID of the flow of k (either direction), 0 when the
// table follows no such flow: for a report about a segment that never
// reached it (the engine's packets that expire before their destination).
func (t *Table) FlowID(k flow.Key) uint64 {
	tk := keyOf(k)
	sh := t.shardOf(&tk)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f := sh.flows[tk]; f != nil {
		return f.id
	}
	return 0
}

// nextID numbers flows: a bijective mix of a counter on 51 bits, so IDs
// never repeat within a Table (for 2^51 flows), do not reveal how many
// flows came before, and stay exact as JSON numbers in consumers that read
// them as doubles.
func (t *Table) nextID() uint64 {
	const mask = 1<<51 - 1
	x := (t.ids.Add(1) + t.seed) & mask
	x ^= x >> 23
	x = x * 0x5bd1e9955bd1e995 & mask // odd: a bijection modulo 2^51
	x ^= x >> 29
	x = x * 0x9e3779b97f4a7c15 & mask
	return x ^ x>>25
}

// free forgets f and keeps its memory for the next flow.
func (c *call) free(f *Flow) {
	sh := c.sh
	delete(sh.flows, f.tk)
	sh.lists[f.class].remove(f)
	for d := range f.sides {
		c.dropBuffer(f, &f.sides[d])
		c.shrinkIvals(f, &f.sides[d].have)
		c.shrinkIvals(f, &f.sides[d].segs)
	}
	f.User = nil
	sh.free = append(sh.free, f)
}

// charge adds n (possibly negative) bytes to what f holds.
func (c *call) charge(f *Flow, n int) {
	if n == 0 {
		return
	}
	sh := c.sh
	sh.used += n
	f.charged += n
	switch {
	case f.charged > 0 && f.heapIdx < 0:
		sh.heap.Push(f)
	case f.charged == 0 && f.heapIdx >= 0:
		sh.heap.Remove(f)
	case f.heapIdx >= 0:
		sh.heap.Fix(f)
	}
}

// reserve makes room for need more bytes in the shard for f: first from
// the spare buffers, then (Detect) by making the flow that holds the most,
// other than f, hand on everything it holds, or (Prevent) by dropping that
// flow. It reports whether the room was found.
func (c *call) reserve(f *Flow, need int) bool {
	sh := c.sh
	for sh.used+sh.pool.Idle()+need > c.t.shardCap {
		if sh.pool.Idle() > 0 {
			sh.pool.Shed(sh.used + sh.pool.Idle() + need - c.t.shardCap)
			continue
		}
		v := c.heaviestBut(f)
		if v == nil {
			return false
		}
		c.relieve(v)
	}
	return true
}

func (c *call) heaviestBut(f *Flow) *Flow {
	h := &c.sh.heap
	switch {
	case h.Len() == 0:
		return nil
	case h.At(0) != f:
		return h.At(0)
	case h.Len() == 2:
		return h.At(1)
	case h.Len() > 2:
		if h.At(2).charged > h.At(1).charged {
			return h.At(2)
		}
		return h.At(1)
	}
	return nil
}

// relieve makes v let go of its memory.
func (c *call) relieve(v *Flow) {
	for d := ToServer; d <= ToClient; d++ {
		s := &v.sides[d]
		c.emit(v, d, KindMemcap, s.dlv, s.lastEnd())
		if c.t.cfg.Mode == Detect && !v.dropped {
			c.deliver(v, d, s.lastEnd(), KindMemcap)
		}
		// What it kept for the normaliser is gone: in Prevent the flow
		// can no longer be held to the bytes inspected, so it is dropped.
		s.release(s.dlv)
		s.have = s.have[:0]
		s.segs = s.segs[:0]
		s.held, s.maxSeg, s.holeSince, s.holeSegs = 0, 0, 0, 0
		c.dropBuffer(v, s)
		c.shrinkIvals(v, &s.have)
		c.shrinkIvals(v, &s.segs)
	}
	if c.t.cfg.Mode == Prevent {
		v.dropped = true
	}
}

// room makes s.buf hold offsets [s.keep, e), growing it within
// Config.MaxBuffer and the memory cap. It reports whether it could.
func (c *call) room(f *Flow, s *side, e uint64) bool {
	if s.buf != nil && e <= s.bufOff+uint64(len(s.buf)) {
		return true
	}
	span := e - s.keep
	if span > uint64(c.t.cfg.MaxBuffer) {
		return false
	}
	cl := sizes.ClassOf(int(span))
	if s.buf != nil && cl <= s.class {
		c.move(s, s.buf)
		return true
	}
	old := 0
	if s.buf != nil {
		old = sizes.Size(s.class)
	}
	if !c.reserve(f, sizes.Size(cl)) {
		return false
	}
	nb := c.sh.pool.Get(cl)
	c.move(s, nb)
	if old > 0 {
		c.sh.pool.Put(s.buf, s.class, c.t.shardCap/4)
	}
	s.buf, s.class = nb, cl
	c.charge(f, sizes.Size(cl)-old)
	return true
}

// move copies the bytes kept, [keep, lastEnd), to the start of dst and
// makes dst's start offset keep. dst may be s.buf itself.
func (c *call) move(s *side, dst []byte) {
	if s.buf != nil {
		if end := s.lastEnd(); end > s.keep {
			copy(dst, s.at(s.keep, end))
		}
	}
	s.bufOff = s.keep
}

// trim gives s's buffer back when nothing is kept in it, unless it is
// small (a flow between two segments keeps one, still charged, rather
// than going to the pool and back for every segment), and a smaller one
// when little is kept.
func (c *call) trim(f *Flow, s *side) {
	if s.buf == nil {
		return
	}
	if len(s.have) == 0 {
		if s.class > keepClass || s.depthHit {
			c.dropBuffer(f, s)
		}
		return
	}
	span := s.lastEnd() - s.keep
	if s.class == 0 || span*8 > uint64(sizes.Size(s.class)) {
		return
	}
	cl := sizes.ClassOf(int(span * 2))
	nb := c.sh.pool.Get(cl)
	c.move(s, nb)
	c.sh.pool.Put(s.buf, s.class, c.t.shardCap/4)
	c.charge(f, sizes.Size(cl)-sizes.Size(s.class))
	s.buf, s.class = nb, cl
}

func (c *call) dropBuffer(f *Flow, s *side) {
	if s.buf == nil {
		return
	}
	c.sh.pool.Put(s.buf, s.class, c.t.shardCap/4)
	c.charge(f, -sizes.Size(s.class))
	s.buf, s.class = nil, -1
}

// growIvals makes room for one more range in *l, charging what grows past
// the capacity every flow has.
func (c *call) growIvals(f *Flow, l *[]ival) bool {
	if len(*l) < cap(*l) {
		return true
	}
	n := max(smallIvals, 2*cap(*l))
	cost := (n - max(cap(*l), smallIvals)) * 16
	if cost > 0 && !c.reserve(f, cost) {
		return false
	}
	nl := make([]ival, len(*l), n)
	copy(nl, *l)
	*l = nl
	c.charge(f, cost)
	return true
}

// shrinkIvals gives back a range list that grew past the small capacity.
func (c *call) shrinkIvals(f *Flow, l *[]ival) {
	if cap(*l) > smallIvals {
		c.charge(f, -(cap(*l)-smallIvals)*16)
		*l = nil
	}
}

// deliver hands on direction d of f up to offset to: the data held, and,
// when gapKind is not KindNone, the holes before to as gaps reported with
// that kind; without gapKind it stops at the first hole. Bytes past the
// depth are passed over. Then it lets go of what is no longer needed and
// reports the FIN when its turn has come.
func (c *call) deliver(f *Flow, d Dir, to uint64, gapKind Kind) {
	s := &f.sides[d]
	lim := c.t.depth
	for s.dlv < to && s.dlv < lim {
		stop := min(to, lim)
		i := s.firstAfter(s.dlv)
		next := stop
		if i < len(s.have) && s.have[i].s < stop {
			next = s.have[i].s
		}
		if next > s.dlv {
			if gapKind == KindNone {
				break
			}
			c.gap(f, d, next-s.dlv, gapKind)
			continue
		}
		z := min(s.have[i].e, stop)
		c.cons.Stream(f, Chunk{Dir: d, Off: s.dlv, Data: s.at(s.dlv, z)})
		c.sh.st.delivered += z - s.dlv
		s.held -= z - s.dlv
		s.dlv = z
	}
	if s.dlv >= lim && to > s.dlv {
		s.dlv = to
	}
	c.settle(f, d)
	if s.fin && s.finFinal && !s.finDone && s.dlv >= min(s.finOff, lim) {
		s.dlv = max(s.dlv, s.finOff)
		s.finDone = true
		c.cons.Stream(f, Chunk{Dir: d, Off: s.finOff, FIN: true})
		c.closeIfDone(f)
	}
}

// gap reports n bytes of direction d at the delivery point as missing.
func (c *call) gap(f *Flow, d Dir, n uint64, kind Kind) {
	s := &f.sides[d]
	c.cons.Stream(f, Chunk{Dir: d, Off: s.dlv, Gap: n})
	c.sh.st.gapBytes += n
	c.emit(f, d, kind, s.dlv, s.dlv+n)
	// Remember the latest gaps, to report their bytes if they come late.
	if s.gapE != s.dlv {
		s.gapS = s.dlv
	}
	s.gapE = s.dlv + n
	s.dlv += n
}

// settle lets go of what direction d no longer needs after its delivery
// point moved: Detect keeps nothing handed on; Prevent keeps what was
// forwarded until the receiver acknowledges it, for the normaliser.
func (c *call) settle(f *Flow, d Dir) {
	s := &f.sides[d]
	switch {
	case c.t.cfg.Mode == Detect:
		s.release(s.dlv)
	case s.acked:
		s.release(min(s.ackOff, s.dlv))
	}
	s.rebase()
	if len(s.segs) > 0 {
		s.pruneSegs()
	}
	if !s.hole() {
		s.holeSince, s.holeSegs = 0, 0
	}
	c.trim(f, s)
}

// closeIfDone closes f once both directions' FINs were handed on.
func (c *call) closeIfDone(f *Flow) {
	if !f.sides[ToServer].finDone || !f.sides[ToClient].finDone || f.ended {
		return
	}
	f.state = StateClosed
	f.ended = true
	c.sh.st.ended[EndClosed]++
	c.cons.End(f, EndClosed)
}

// Sweep retires every flow whose time-out has passed at now. Process does
// the same, a few flows at a time, in the shard it touches; Sweep frees
// the shards that no packet visits.
func (t *Table) Sweep(now time.Time) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		c := call{t: t, cons: t.cons, sh: sh, now: now, ns: now.UnixNano()}
		c.expire(-1)
		sh.mu.Unlock()
	}
}

// Flush ends every flow, handing on what each holds, as at the end of a
// capture, and empties the table.
func (t *Table) Flush(now time.Time) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		c := call{t: t, cons: t.cons, sh: sh, now: now, ns: now.UnixNano()}
		for cl := range sh.lists {
			for f := sh.lists[cl].tail; f != nil; f = sh.lists[cl].tail {
				why := EndFlush
				if f.state == StateReset {
					why = EndReset
				}
				c.retire(f, why)
			}
		}
		sh.mu.Unlock()
	}
}

// Stats returns the counters and the current occupancy.
func (t *Table) Stats() Stats {
	var s Stats
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		st := &sh.st
		s.Packets += st.packets
		s.Flows += st.flows
		s.Midstream += st.midstream
		s.Delivered += st.delivered
		s.GapBytes += st.gapBytes
		s.Dropped += st.dropped
		s.Normalised += st.normalised
		for k := range st.ended {
			s.Ended[k] += st.ended[k]
		}
		for k := range st.events {
			s.Events[k] += st.events[k]
		}
		s.Active += len(sh.flows)
		s.Memory += sh.used + sh.pool.Idle()
		sh.mu.Unlock()
	}
	return s
}
