package stream

import (
	"bytes"
	"slices"

	"github.com/rampart-fw/rampart/internal/bufpool"
	"github.com/rampart-fw/rampart/packet"
)

// ival is a half-open range [s, e) of stream offsets.
type ival struct{ s, e uint64 }

// smallIvals is the capacity of a side's range lists that comes with the
// flow; growth beyond it is charged to the flow's memory.
const smallIvals = 8

// side is one direction of a flow: the sender's sequence space, what the
// receiver has acknowledged and allowed, and the bytes held.
//
// Offsets: byte k of the direction (k = 0 after the SYN) has stream offset
// k; sequence numbers map to offsets through (seqBase, offBase), moved
// forward as data is handed on so that any sequence number within 2^31 of
// the delivery point maps correctly.
type side struct {
	policy Policy // of this direction's destination

	// The sender.
	known      bool // seqBase and offBase are set
	seqBase    uint32
	offBase    uint64
	isn        uint32 // the SYN's sequence number
	synWnd     uint16 // the window of the sender's SYN (never scaled)
	synOpts    packet.TCPOptionSet
	synTS      uint32
	sndMax     uint32 // one past the highest sequence number the sender used
	sndSet     bool
	next       uint64 // contiguous end of the data seen, depth or not (RCV.NXT)
	wscale     uint8  // shift of the windows the sender advertises
	scaleOK    bool   // wscale is known
	tsSet      bool
	tsZero     bool // the sender's SYN had TSval 0
	tsRecent   uint32
	tsRecentAt int64 // unix ns

	// What the receiver told the sender, from the receiver's packets.
	acked  bool
	ackOff uint64 // highest offset acknowledged
	edgeOK bool
	edge   uint32 // right edge of the receive window: the highest ack+window

	// The bytes, in stream offsets.
	dlv    uint64 // handed on, or given up as a gap, up to here
	keep   uint64 // bytes from here on are kept (keep <= dlv)
	buf    []byte
	bufOff uint64        // offset of buf[0]
	class  bufpool.Class // buf's size class
	have   []ival        // filled ranges at or after keep: sorted, disjoint, not adjacent
	segs   []ival        // Detect: extents of the segments held past dlv, sorted by start
	maxSeg uint64        // the longest extent in segs
	held   uint64        // bytes in have at or after dlv

	holeSince  int64 // unix ns when data first waited behind a hole; 0: none
	holeSegs   int   // segments stored behind the hole since then
	gapS, gapE uint64
	depthHit   bool

	fin      bool
	finOff   uint64
	finFinal bool // the FIN counts: acknowledged, or in order where nobody acknowledges
	finDone  bool // the FIN chunk was handed on
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

// setBase makes sequence number seq stream offset 0.
func (s *side) setBase(seq uint32) {
	s.known = true
	s.seqBase = seq
	s.offBase = 0
}

// offset returns the stream offset of seq, negative before the stream's
// start.
func (s *side) offset(seq uint32) int64 {
	return int64(s.offBase) + int64(int32(seq-s.seqBase))
}

// seqOf returns the sequence number of offset o.
func (s *side) seqOf(o uint64) uint32 { return s.seqBase + uint32(o-s.offBase) }

// rebase moves the mapping's reference to the delivery point.
func (s *side) rebase() {
	s.seqBase = s.seqOf(s.dlv)
	s.offBase = s.dlv
}

// readyEnd returns the end of the data held contiguously from dlv: what
// can be handed on in order.
func (s *side) readyEnd() uint64 {
	for _, iv := range s.have {
		if iv.s > s.dlv {
			break
		}
		if iv.e > s.dlv {
			return iv.e
		}
	}
	return s.dlv
}

// lastEnd returns the end of the last byte held, or dlv.
func (s *side) lastEnd() uint64 {
	if n := len(s.have); n > 0 && s.have[n-1].e > s.dlv {
		return s.have[n-1].e
	}
	return s.dlv
}

// hole reports whether data is held behind a hole.
func (s *side) hole() bool { return s.lastEnd() > s.readyEnd() }

// outOfOrder returns the bytes held behind the first hole.
func (s *side) outOfOrder() uint64 { return s.held - (s.readyEnd() - s.dlv) }

// probe reports whether n bytes at seq are a zero-window probe: one byte
// at the right edge of a window the receiver has closed, which the
// destination may take if it has opened the window meanwhile.
func (s *side) probe(seq uint32, n uint64) bool {
	return n == 1 && seq == s.edge && s.acked && s.seqOf(s.ackOff) == s.edge
}

// rcvNxt is the offset a host that received every segment seen would
// expect next (its RCV.NXT), past a FIN that is in order.
func (s *side) rcvNxt() uint64 {
	n := max(s.readyEnd(), s.next)
	if s.fin && s.finOff == n {
		n++
	}
	return n
}

// firstAfter returns the index of the first range of have that ends after
// o.
func (s *side) firstAfter(o uint64) int {
	i, _ := slices.BinarySearchFunc(s.have, o, func(iv ival, o uint64) int {
		if iv.e <= o {
			return -1
		}
		return 1
	})
	return i
}

// at returns the held bytes [a, b), which must lie within buf.
func (s *side) at(a, b uint64) []byte { return s.buf[a-s.bufOff : b-s.bufOff] }

// overlap describes how a segment meets the bytes held.
type overlap struct {
	covered uint64 // bytes of the segment already held
	diff    bool   // some of them differ
}

// compare measures the overlap of [o, o+len(b)) with the bytes held.
func (s *side) compare(o uint64, b []byte) overlap {
	var ov overlap
	e := o + uint64(len(b))
	for i := s.firstAfter(o); i < len(s.have) && s.have[i].s < e; i++ {
		a, z := max(s.have[i].s, o), min(s.have[i].e, e)
		ov.covered += z - a
		if !ov.diff && !bytes.Equal(s.at(a, z), b[a-o:z-o]) {
			ov.diff = true
		}
	}
	return ov
}

// addHave records [a, b) as filled.
func (s *side) addHave(a, b uint64) {
	n := len(s.have)
	if n == 0 || s.have[n-1].e < a {
		s.have = append(s.have, ival{a, b})
		return
	}
	if s.have[n-1].e == a {
		s.have[n-1].e = max(s.have[n-1].e, b)
		return
	}
	// i: first range that ends at or after a; j: first that starts after b.
	i, _ := slices.BinarySearchFunc(s.have, a, func(iv ival, a uint64) int {
		if iv.e < a {
			return -1
		}
		return 1
	})
	j := i
	for j < n && s.have[j].s <= b {
		j++
	}
	if i == j {
		s.have = slices.Insert(s.have, i, ival{a, b})
		return
	}
	m := ival{min(a, s.have[i].s), max(b, s.have[j-1].e)}
	s.have[i] = m
	s.have = slices.Delete(s.have, i+1, j)
}

// addSeg records the extent of a segment held in Detect mode, unless the
// same extent is held already (a retransmission).
func (s *side) addSeg(a, b uint64) {
	n := len(s.segs)
	if n == 0 || s.segs[n-1].s < a || (s.segs[n-1].s == a && s.segs[n-1].e < b) {
		s.segs = append(s.segs, ival{a, b})
	} else {
		i, _ := slices.BinarySearchFunc(s.segs, ival{a, b}, func(x, t ival) int {
			if x.s < t.s || (x.s == t.s && x.e < t.e) {
				return -1
			}
			if x == t {
				return 0
			}
			return 1
		})
		if i < n && s.segs[i] == (ival{a, b}) {
			return
		}
		s.segs = slices.Insert(s.segs, i, ival{a, b})
	}
	s.maxSeg = max(s.maxSeg, b-a)
}

// oldWins collects into dst the parts of [ns, ne) where, by the
// destination's policy, bytes held from an earlier segment stay: the
// overlaps with each earlier segment that the new one [os, oe) (as sent)
// does not win. The result is sorted and merged.
func (s *side) oldWins(dst []ival, os, oe, ns, ne uint64) []ival {
	dst = dst[:0]
	// Segments that start at or after ne cannot overlap; walk back from
	// the last one that starts before, as far as the longest one reaches.
	j, _ := slices.BinarySearchFunc(s.segs, ne, func(x ival, t uint64) int {
		if x.s < t {
			return -1
		}
		return 1
	})
	for i := j - 1; i >= 0; i-- {
		p := s.segs[i]
		if p.s+s.maxSeg <= ns {
			break
		}
		if p.e <= ns || s.policy.newWins(os, oe, p.s, p.e) {
			continue
		}
		dst = append(dst, ival{max(p.s, ns), min(p.e, ne)})
	}
	if len(dst) < 2 {
		return dst
	}
	slices.SortFunc(dst, func(a, b ival) int {
		switch {
		case a.s < b.s:
			return -1
		case a.s > b.s:
			return 1
		}
		return 0
	})
	k := 0
	for _, iv := range dst[1:] {
		if iv.s <= dst[k].e {
			dst[k].e = max(dst[k].e, iv.e)
			continue
		}
		k++
		dst[k] = iv
	}
	return dst[:k+1]
}

// heldIn collects into dst the parts of the sorted ranges l where bytes
// are held: only there can bytes stay old.
func (s *side) heldIn(dst, l []ival) []ival {
	dst = dst[:0]
	j := 0
	for _, iv := range l {
		for j < len(s.have) && s.have[j].e <= iv.s {
			j++
		}
		for h := j; h < len(s.have) && s.have[h].s < iv.e; h++ {
			if a, z := max(iv.s, s.have[h].s), min(iv.e, s.have[h].e); a < z {
				dst = append(dst, ival{a, z})
			}
		}
	}
	return dst
}

// writeDetect stores segment bytes b at offset o (o >= dlv, within buf),
// where the policy gives them the bytes: everywhere but the ranges of
// keepOld, which hold bytes of earlier segments.
func (s *side) writeDetect(o uint64, b []byte, keepOld []ival) {
	e := o + uint64(len(b))
	at := o
	for _, k := range keepOld {
		if k.s > at {
			copy(s.at(at, k.s), b[at-o:k.s-o])
		}
		at = max(at, k.e)
	}
	if at < e {
		copy(s.at(at, e), b[at-o:])
	}
}

// release lets go of the bytes before to (to <= dlv).
func (s *side) release(to uint64) {
	if to <= s.keep {
		return
	}
	s.keep = to
	i := 0
	for i < len(s.have) && s.have[i].e <= to {
		i++
	}
	if i > 0 {
		s.have = slices.Delete(s.have, 0, i)
	}
	if len(s.have) > 0 && s.have[0].s < to {
		s.have[0].s = to
	}
}

// cut forgets the bytes held at and after o (o >= dlv).
func (s *side) cut(o uint64) {
	k := 0
	for _, iv := range s.have {
		if iv.s >= o {
			s.held -= iv.e - max(iv.s, s.dlv)
			continue
		}
		if iv.e > o {
			s.held -= iv.e - o
			iv.e = o
		}
		s.have[k] = iv
		k++
	}
	s.have = s.have[:k]
	k = 0
	for _, p := range s.segs {
		if p.s < o {
			p.e = min(p.e, o)
			s.segs[k] = p
			k++
		}
	}
	s.segs = s.segs[:k]
}

// pruneSegs forgets the extents of segments wholly handed on.
func (s *side) pruneSegs() {
	k := 0
	for i, p := range s.segs {
		if p.s >= s.dlv {
			// Sorted by start: the rest start later still, and stay.
			k += copy(s.segs[k:], s.segs[i:])
			break
		}
		if p.e > s.dlv {
			s.segs[k] = p
			k++
		}
	}
	s.segs = s.segs[:k]
	if k == 0 {
		s.maxSeg = 0
	}
}
