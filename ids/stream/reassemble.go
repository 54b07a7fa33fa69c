package stream

import (
	"github.com/rampart-fw/rampart/packet"
)

// data takes the payload pay of a segment sent in direction d with
// sequence number seq, and its FIN: checks it against the receive window
// and the FIN, and stores what the destination will take.
func (c *call) data(f *Flow, d Dir, p *packet.Parsed, seq uint32, pay []byte) {
	s := &f.sides[d]
	fin := p.TCPFlags&(packet.TCPFIN|packet.TCPSYN) == packet.TCPFIN
	n := uint64(len(pay))
	if s.edgeOK && n > 0 && seqGT(seq+uint32(n), s.edge) && !s.probe(seq, n) {
		// Past the window.
		c.emit(f, d, KindBadWindow, 0, 0)
		c.drop()
		return
	}
	o := s.offset(seq)
	k := 0 // pay[k:] is at or after offset 0
	if o < 0 {
		if o+int64(n) <= 0 {
			return // before the stream this engine follows
		}
		k, o = int(-o), 0
	}
	start, end := uint64(o), uint64(o)+n-uint64(k)
	if s.fin && (end > s.finOff || (fin && end != s.finOff)) {
		c.emit(f, d, KindDataAfterFIN, s.finOff, end)
		if s.finFinal {
			if c.t.cfg.Mode == Prevent {
				c.drop()
				return
			}
			// The destination has closed: what lies past its FIN is not
			// part of the stream, and another FIN means nothing.
			fin = false
			if start >= s.finOff {
				return
			}
			if end > s.finOff {
				pay = pay[:k+int(s.finOff-start)]
				end = s.finOff
			}
		} else {
			// The FIN was not taken (a FIN that expired on the way, or
			// was never sent): the stream goes on.
			s.fin = false
		}
	}
	if fin && !s.fin && end < max(s.readyEnd(), s.next) {
		// A FIN before bytes already received in order: a host that has
		// them takes it for an old duplicate; the data stands.
		c.emit(f, d, KindDataAfterFIN, end, max(s.readyEnd(), s.next))
		fin = false
	}
	last := seq + uint32(n)
	if fin {
		last++
	}
	if seqGT(last, s.sndMax) {
		s.sndMax = last
	}
	if start <= s.next {
		s.next = max(s.next, end)
	}
	if c.t.cfg.Mode == Detect && start < s.gapE && end > s.gapS {
		c.emit(f, d, KindLateData, max(start, s.gapS), min(end, s.gapE))
	}
	// What the destination has already taken is not stored again: Detect
	// has handed it on, Prevent keeps it until it is acknowledged.
	lo := max(start, s.keep)
	if c.t.cfg.Mode == Detect {
		lo = max(start, s.dlv)
	}
	hi := min(end, c.t.depth)
	if end > c.t.depth && !s.depthHit {
		s.depthHit = true
		c.emit(f, d, KindDepth, c.t.depth, c.t.depth)
	}
	if lo < hi && !f.dropped {
		b := pay[k+int(lo-start) : k+int(hi-start)]
		var ok bool
		if c.t.cfg.Mode == Detect {
			ok = c.insertDetect(f, d, lo, b, start, end)
		} else {
			ok = c.insertPrevent(f, d, lo, b, pay, k+int(lo-start), p)
		}
		if !ok {
			return
		}
	}
	if fin && !s.fin {
		s.fin, s.finOff = true, end
		if s.lastEnd() > end {
			// Out-of-order bytes past the FIN: the host drops them when
			// the FIN is taken (Linux purges its out-of-order queue).
			c.emit(f, d, KindDataAfterFIN, end, s.lastEnd())
			s.cut(end)
			c.holeBook(s, false)
		}
	}
	if s.fin && !s.finFinal && (c.t.cfg.Mode == Prevent || !f.seen[1-d]) && max(s.readyEnd(), s.next) >= s.finOff {
		// Nobody will acknowledge it before it counts: in line, it is
		// forwarded in order now; in a one-sided capture there is no
		// acknowledgement to wait for.
		s.finFinal = true
	}
	if c.t.cfg.Mode == Prevent {
		c.deliver(f, d, s.readyEnd(), KindNone)
	}
}

// insertDetect stores b at offset o (o >= dlv) for a segment sent as
// [os, oe): where it overlaps bytes held from earlier segments, the
// destination's policy decides which stay. It reports false when the
// segment could not be stored.
func (c *call) insertDetect(f *Flow, d Dir, o uint64, b []byte, os, oe uint64) bool {
	s := &f.sides[d]
	cfg := &c.t.cfg
	e := o + uint64(len(b))
	if e-s.dlv > uint64(cfg.MaxBuffer) {
		// Hand on what is in order without waiting for its
		// acknowledgement, to make room.
		c.deliver(f, d, s.readyEnd(), KindNone)
		if e-s.dlv > uint64(cfg.MaxBuffer) {
			// So far ahead that taking it would mean giving up everything
			// before it.
			c.emit(f, d, KindHoleLimit, o, e)
			return false
		}
	}
	if len(s.segs) >= cfg.HoleSegments+smallIvals {
		c.deliver(f, d, s.readyEnd(), KindNone)
	}
	behind := o > s.readyEnd()
	if !c.room(f, s, e) || !c.growIvals(f, &s.have) || !c.growIvals(f, &s.segs) {
		c.emit(f, d, KindMemcap, o, e)
		return false
	}
	var ov overlap
	if i := s.firstAfter(o); i < len(s.have) && s.have[i].s < e {
		ov = s.compare(o, b)
		c.sh.tmp = s.oldWins(c.sh.tmp, os, oe, o, e)
		c.sh.tmp2 = s.heldIn(c.sh.tmp2, c.sh.tmp)
		s.writeDetect(o, b, c.sh.tmp2)
		c.emit(f, d, overlapKind(ov, len(b)), o, e)
	} else {
		copy(s.at(o, e), b)
	}
	s.held += uint64(len(b)) - ov.covered
	s.addHave(o, e)
	s.addSeg(os, oe)
	c.holeBook(s, behind)
	return true
}

func overlapKind(ov overlap, n int) Kind {
	switch {
	case !ov.diff:
		return KindOverlap
	case ov.covered == uint64(n):
		return KindRetransmitDiff
	}
	return KindOverlapDiff
}

// holeBook keeps the hole's bookkeeping after a segment was stored.
func (c *call) holeBook(s *side, behind bool) {
	if !s.hole() {
		s.holeSince, s.holeSegs = 0, 0
		return
	}
	if s.holeSince == 0 {
		s.holeSince = c.ns
	}
	if behind {
		s.holeSegs++
	}
}

// insertPrevent stores b, the bytes pay[k:] of a segment about to be
// forwarded, at offset o (o >= keep), normalising it first: bytes that
// overlap bytes already forwarded are rewritten to those, and a segment
// that brings nothing new but contradicts them is dropped. It reports
// false when the packet is dropped.
func (c *call) insertPrevent(f *Flow, d Dir, o uint64, b, pay []byte, k int, p *packet.Parsed) bool {
	s := &f.sides[d]
	cfg := &c.t.cfg
	e := o + uint64(len(b))
	if e-s.keep > uint64(cfg.MaxBuffer) {
		// Past the normaliser's window: the sender will send it again
		// once acknowledgements have moved the window on.
		c.emit(f, d, KindHoleLimit, o, e)
		c.drop()
		return false
	}
	behind := o > s.readyEnd()
	if behind && (s.outOfOrder()+uint64(len(b)) > uint64(cfg.HoleBytes) || s.holeSegs >= cfg.HoleSegments) {
		c.emit(f, d, KindHoleLimit, o, e)
		c.drop()
		return false
	}
	ov := s.compare(o, b)
	if ov.diff && ov.covered == uint64(len(b)) {
		c.emit(f, d, KindRetransmitDiff, o, e)
		c.drop()
		return false
	}
	if !c.room(f, s, e) || !c.growIvals(f, &s.have) {
		c.emit(f, d, KindMemcap, o, e)
		c.drop()
		return false
	}
	if ov.covered > 0 {
		if ov.diff {
			c.restore(s, o, e, pay, k, p)
			c.r.Norm |= NormPayload
		}
		c.emit(f, d, overlapKind(ov, len(b)), o, e)
	}
	copy(s.at(o, e), b)
	s.held += uint64(len(b)) - ov.covered
	s.addHave(o, e)
	c.holeBook(s, behind)
	return true
}

// restore rewrites the bytes of the segment [o, e), held in pay from index
// k, that overlap bytes already forwarded, to those bytes.
func (c *call) restore(s *side, o, e uint64, pay []byte, k int, p *packet.Parsed) {
	csum := p.Buf[p.L4Off+16 : p.L4Off+18]
	for i := s.firstAfter(o); i < len(s.have) && s.have[i].s < e; i++ {
		a, z := max(s.have[i].s, o), min(s.have[i].e, e)
		rewritePayload(pay, k+int(a-o), s.at(a, z), csum)
	}
}
