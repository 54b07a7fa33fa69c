package ids

import (
	"bytes"
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
const (
	flowShardBits = 4
	flowShards    = 1 << flowShardBits
)

// expirePerPacket bounds the flows one packet retires, as in ids/stream.
const expirePerPacket = 4

// flowTable follows the flows of protocols other than TCP: UDP (with its
// DNS parser), ICMP, and any other IP protocol, keyed by package flow's
// key (an ICMP query's identifier in both ports, so a reply finds its
// request). It is bounded: a full shard ends its least recently active
// flow. Each shard's lock is held while a packet of one of its flows is
// inspected, so that one flow's state is used by one goroutine at a time.
//
// A shard keeps one list per time-out class, most recently active first,
// so that each list is in the order its flows fall due: expiry stops at
// the first flow of each list that is not, and costs nothing per live
// flow. The least recently active flow of the shard is the older of the
// lists' tails.
type flowTable struct {
	e       *Engine
	max     int // flows per shard
	timeout [numFlowClasses]int64
	ids     atomic.Uint64
	seed    uint64
	shards  [flowShards]flowShard
}

// Time-out classes of the flow table.
const (
	classUDP  = iota // UDP and any other protocol: Config.UDPTimeout
	classICMP        // ICMP and ICMPv6: Config.ICMPTimeout
	numFlowClasses
)

func classOf(p ipproto.Proto) uint8 {
	switch p {
	case ipproto.ICMP, ipproto.ICMPv6:
		return classICMP
	}
	return classUDP
}

type flowShard struct {
	mu sync.Mutex
	// m holds every flow by the key of both its directions.
	m     map[fkey]*flowState      // guarded by mu
	lists [numFlowClasses]flowList // guarded by mu
	// touches counts packets, the order of activity across the lists.
	touches uint64    // guarded by mu
	st      FlowStats // guarded by mu
}

// fkey is a flow's key in the table: its two ends as plain bytes, the
// lower first, so that both directions find the flow in one look-up and
// the map hashes a flat array (flow.Key holds netip.Addr's zone handle).
type fkey struct {
	lo, hi   [16]byte
	plo, phi uint16
	proto    ipproto.Proto
}

func fkeyOf(k flow.Key) fkey {
	a, b := k.Src.Addr().As16(), k.Dst.Addr().As16()
	pa, pb := k.Src.Port(), k.Dst.Port()
	if c := bytes.Compare(a[:], b[:]); c > 0 || c == 0 && pa > pb {
		return fkey{b, a, pb, pa, k.Proto}
	}
	return fkey{a, b, pa, pb, k.Proto}
}

// flowList is a list of flows, most recently active at the head.
type flowList struct{ head, tail *flowState }

// FlowStats count the flows of other protocols than TCP.
type FlowStats struct {
	Flows    uint64 // flows created
	TimedOut uint64 // ended by their time-out
	Evicted  uint64 // ended because their shard of the table was full
	Active   int    // followed now
}

func newFlowTable(e *Engine, maxFlows int) *flowTable {
	t := &flowTable{e: e, max: max(1, maxFlows/flowShards), seed: uint64(time.Now().UnixNano())}
	t.timeout[classUDP] = int64(e.cfg.UDPTimeout)
	t.timeout[classICMP] = int64(e.cfg.ICMPTimeout)
	for i := range t.shards {
		t.shards[i].m = make(map[fkey]*flowState)
	}
	return t
}

// shardOf hashes the flow's two ends so that both directions meet. The
// shard is the hash's top bits, which a multiplication makes depend on
// every bit: its low bits would not depend on an IPv4 address's last
// bytes.
func (t *flowTable) shardOf(k *fkey) *flowShard {
	h := (end(k.lo, k.plo) ^ end(k.hi, k.phi) ^ uint64(k.proto)) * 0x9e3779b97f4a7c15
	return &t.shards[h>>(64-flowShardBits)]
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

// packet follows one packet of a flow other than TCP and inspects it.
func (t *flowTable) packet(sc *scratch, p *packet.Parsed, now time.Time) {
	k := p.Flow()
	fk := fkeyOf(k)
	sh := t.shardOf(&fk)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ns := now.UnixNano()
	t.expire(sc, sh, ns, expirePerPacket)
	dir := buffer.ToServer
	fs := sh.m[fk]
	if fs != nil && fs.key.Src != k.Src {
		dir = buffer.ToClient
	}
	if fs == nil {
		if len(sh.m) >= t.max {
			sh.st.Evicted++
			t.end(sc, sh, sh.oldest())
		}
		fs = t.e.newState(k, t.nextID(), false)
		fs.class = classOf(k.Proto)
		sh.m[fk] = fs
		sh.st.Flows++
	} else {
		sh.lists[fs.class].remove(fs)
	}
	sh.lists[fs.class].pushFront(fs)
	sh.touches++
	fs.touch = sh.touches
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

// expire ends up to limit flows (all: -1) whose time-out has passed,
// least recently active first, as one list would.
func (t *flowTable) expire(sc *scratch, sh *flowShard, ns int64, limit int) {
	for ; limit != 0; limit-- {
		var o *flowState
		for cl := range sh.lists {
			// Each list is in the order its flows fall due: only its
			// tail may be.
			fs := sh.lists[cl].tail
			if fs != nil && ns-fs.last >= t.timeout[cl] && (o == nil || fs.touch < o.touch) {
				o = fs
			}
		}
		if o == nil {
			return
		}
		sh.st.TimedOut++
		t.end(sc, sh, o)
	}
}

// oldest returns the shard's least recently active flow, or nil.
func (sh *flowShard) oldest() *flowState {
	var o *flowState
	for cl := range sh.lists {
		if fs := sh.lists[cl].tail; fs != nil && (o == nil || fs.touch < o.touch) {
			o = fs
		}
	}
	return o
}

func (t *flowTable) end(sc *scratch, sh *flowShard, fs *flowState) {
	sh.lists[fs.class].remove(fs)
	delete(sh.m, fkeyOf(fs.key))
	sc.endState(fs)
}

// sweep retires the flows whose time-out passed, or all of them.
func (t *flowTable) sweep(sc *scratch, now time.Time, all bool) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		if all {
			for fs := sh.oldest(); fs != nil; fs = sh.oldest() {
				t.end(sc, sh, fs)
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

func (l *flowList) pushFront(fs *flowState) {
	fs.prev, fs.next = nil, l.head
	if l.head != nil {
		l.head.prev = fs
	} else {
		l.tail = fs
	}
	l.head = fs
}

func (l *flowList) remove(fs *flowState) {
	if fs.prev != nil {
		fs.prev.next = fs.next
	} else {
		l.head = fs.next
	}
	if fs.next != nil {
		fs.next.prev = fs.prev
	} else {
		l.tail = fs.prev
	}
	fs.prev, fs.next = nil, nil
}
