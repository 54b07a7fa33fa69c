package ids

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// flowShards is the number of independently locked parts of the flow
// table.
const flowShards = 16

// expirePerPacket bounds the flows one packet retires, as in ids/stream.
const expirePerPacket = 4

// flowTable follows the flows of protocols other than TCP: UDP (with its
// DNS parser), ICMP, and any other IP protocol, keyed by package flow's
// key (an ICMP query's identifier in both ports, so a reply finds its
// request). It is bounded: a full shard ends its least recently active
// flow. Each shard's lock is held while a packet of one of its flows is
// inspected, so that one flow's state is used by one goroutine at a time.
type flowTable struct {
	e      *Engine
	max    int // flows per shard
	ids    atomic.Uint64
	seed   uint64
	shards [flowShards]flowShard
}

type flowShard struct {
	mu sync.Mutex
	// m holds every flow by its key from client to server.
	m map[flow.Key]*flowState // guarded by mu
	// head and tail are the list of flows, most recently active first.
	head, tail *flowState // guarded by mu
	st         FlowStats  // guarded by mu
}

// FlowStats count the flows of other protocols than TCP.
type FlowStats struct {
	Flows    uint64 // flows created
	TimedOut uint64 // ended by their time-out
	Evicted  uint64 // ended because their shard of the table was full
	Active   int    // followed now
}

func newFlowTable(e *Engine, maxFlows int) *flowTable {
	t := &flowTable{e: e, max: max(1, maxFlows/flowShards), seed: uint64(time.Now().UnixNano())}
	for i := range t.shards {
		t.shards[i].m = make(map[flow.Key]*flowState)
	}
	return t
}

// shardOf hashes the flow's two ends so that both directions meet.
func (t *flowTable) shardOf(k flow.Key) *flowShard {
	a, b := k.Src.Addr().As16(), k.Dst.Addr().As16()
	h := end(a, k.Src.Port()) ^ end(b, k.Dst.Port())
	return &t.shards[(h^uint64(k.Proto))%flowShards]
}

func end(a [16]byte, port uint16) uint64 {
	h := binary.LittleEndian.Uint64(a[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(a[8:])
	h = (h ^ uint64(port)) * 0xff51afd7ed558ccd
	return h ^ h>>32
}

// nextID numbers flows as ids/stream does: a bijective mix of a counter
// on 51 bits, exact as a JSON number.
func (t *flowTable) nextID() uint64 {
	const mask = 1<<51 - 1
	x := (t.ids.Add(1) + t.seed) & mask
	x ^= x >> 23
	x = x * 0x5bd1e9955bd1e995 & mask
	x ^= x >> 29
	x = x * 0x9e3779b97f4a7c15 & mask
	return x ^ x>>25
}

func (t *flowTable) timeout(fs *flowState) int64 {
	switch fs.key.Proto {
	case ipproto.ICMP, ipproto.ICMPv6:
		return int64(t.e.cfg.ICMPTimeout)
	}
	return int64(t.e.cfg.UDPTimeout)
}

// packet follows one packet of a flow other than TCP and inspects it.
func (t *flowTable) packet(sc *scratch, p *packet.Parsed, now time.Time) {
	k := p.Flow()
	sh := t.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ns := now.UnixNano()
	t.expire(sc, sh, ns, expirePerPacket)
	dir := buffer.ToServer
	fs := sh.m[k]
	if fs == nil {
		if fs = sh.m[k.Reverse()]; fs != nil {
			dir = buffer.ToClient
		}
	}
	if fs == nil {
		if len(sh.m) >= t.max {
			sh.st.Evicted++
			t.end(sc, sh, sh.tail)
		}
		fs = t.e.newState(k, t.nextID(), false)
		sh.m[k] = fs
		sh.st.Flows++
	} else {
		sh.unlink(fs)
	}
	sh.pushFront(fs)
	fs.last = ns
	fs.seen[dir-1] = true
	fs.established = fs.seen[0] && fs.seen[1]
	sc.fs = fs
	if (p.Proto == ipproto.UDP || p.Proto == ipproto.UDPLite) && p.HasL4 {
		sc.app.Datagram(fs.app, dir, p.Buf[p.PayloadOff:p.PayloadOff+p.PayloadLen], sc)
	}
	sc.packet(fs, p, dir, false)
	if t.e.cfg.Mode == Prevent && fs.block > sc.verdict {
		sc.verdict = fs.block
	}
}

// expire ends up to limit flows (all: -1) whose time-out has passed.
func (t *flowTable) expire(sc *scratch, sh *flowShard, ns int64, limit int) {
	for fs := sh.tail; fs != nil && limit != 0; limit-- {
		prev := fs.prev
		if ns-fs.last >= t.timeout(fs) {
			sh.st.TimedOut++
			t.end(sc, sh, fs)
		} else if limit > 0 {
			return // the list is in order of activity
		}
		fs = prev
	}
}

func (t *flowTable) end(sc *scratch, sh *flowShard, fs *flowState) {
	sh.unlink(fs)
	delete(sh.m, fs.key)
	sc.endState(fs)
}

// sweep retires the flows whose time-out passed, or all of them.
func (t *flowTable) sweep(sc *scratch, now time.Time, all bool) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		if all {
			for sh.tail != nil {
				t.end(sc, sh, sh.tail)
			}
		} else {
			t.expire(sc, sh, now.UnixNano(), -1)
		}
		sh.mu.Unlock()
	}
}

func (t *flowTable) stats() FlowStats {
	var s FlowStats
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		s.Flows += sh.st.Flows
		s.TimedOut += sh.st.TimedOut
		s.Evicted += sh.st.Evicted
		s.Active += len(sh.m)
		sh.mu.Unlock()
	}
	return s
}

func (sh *flowShard) pushFront(fs *flowState) {
	fs.prev, fs.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = fs
	} else {
		sh.tail = fs
	}
	sh.head = fs
}

func (sh *flowShard) unlink(fs *flowState) {
	if fs.prev != nil {
		fs.prev.next = fs.next
	} else {
		sh.head = fs.next
	}
	if fs.next != nil {
		fs.next.prev = fs.prev
	} else {
		sh.tail = fs.prev
	}
	fs.prev, fs.next = nil, nil
}
