package stream

import (
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// maxScale is the largest window scale RFC 7323 allows; larger shifts
// count as 14.
const maxScale = 14

// paws24Days is RFC 7323's limit on the age of TS.Recent: a connection
// idle longer has no timestamp to compare with.
const paws24Days = 24 * 24 * time.Hour

// expirePerPacket bounds the flows one Process call retires, so that a
// burst of time-outs is spread over packets.
const expirePerPacket = 4

// Process follows one packet: the flow's TCP state, the reassembly of its
// payload, and, in Prevent mode, its normalisation. p must have been
// decoded from the frame the gateway will forward: in Prevent mode the
// payload and the TCP header may be rewritten in place (p's fields follow,
// the TCP checksum is adjusted incrementally), and the caller must have
// verified checksums first, since a segment the destination will discard
// must not count as forwarded. now is the packet's time, on the clock of
// the capture or of the gateway.
//
// Packets that are not TCP, not valid, or IP fragments are not followed:
// the Result is zero (Forward).
func (t *Table) Process(p *packet.Parsed, now time.Time) Result {
	return t.ProcessWith(p, now, t.cons)
}

// ProcessWith is Process with the chunks, the packet and any flow it ends
// handed to cons rather than to the Table's Consumer: a worker passes
// itself, so that its callbacks use its own scratch space (detection and
// parser state) without a lock or a lookup. Sweep and Flush still use the
// Table's Consumer.
func (t *Table) ProcessWith(p *packet.Parsed, now time.Time, cons Consumer) Result {
	if p.Invalid != packet.Valid || p.Proto != ipproto.TCP || !p.HasL4 || p.IsFragment {
		return Result{}
	}
	k := p.Flow()
	tk := keyOf(k)
	sh := t.shardOf(&tk)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// The result lives in the shard: handed to the consumer by pointer,
	// a local would escape to the heap.
	sh.res = Result{}
	r := &sh.res
	c := call{t: t, cons: cons, sh: sh, now: now, ns: now.UnixNano(), r: r}
	sh.st.packets++
	c.expire(expirePerPacket)
	f := sh.flows[tk]
	fl := p.TCPFlags
	if f != nil && fl&(packet.TCPSYN|packet.TCPACK|packet.TCPRST) == packet.TCPSYN && k == f.key &&
		(f.state == StateClosed || f.state == StateReset || f.state == StateSynSent && p.TCPSeq != f.sides[ToServer].isn) {
		// A new connection on the same addresses and ports, or a client
		// that gave up its handshake and began another.
		c.retire(f, EndReset)
		f = nil
	}
	if f == nil {
		f = c.open(k, p)
		if f == nil {
			if r.Verdict == Drop {
				sh.st.dropped++
			}
			return *r
		}
	}
	r.Flow, r.FlowID = f, f.id
	r.Dir = ToServer
	if k != f.key {
		r.Dir = ToClient
	}
	f.packets[r.Dir]++
	f.bytes[r.Dir] += uint64(p.IPLen)
	if f.dropped {
		r.Verdict = Drop
	} else {
		c.segment(f, r.Dir, p)
	}
	if t.cfg.Mode == Detect {
		r.Verdict = Forward
	}
	ours := r.Verdict
	c.cons.Packet(f, p, r)
	switch {
	case t.cfg.Mode == Detect:
		r.Verdict = Forward
	case r.Verdict == Drop:
		sh.st.dropped++
		if ours == Forward {
			// The consumer dropped what it inspected. Its bytes count as
			// inspected, and a copy sent again would pass without being
			// handed on again: the rest of the flow goes too, as
			// Suricata's drop does.
			f.dropped = true
		}
	}
	if r.Norm != 0 && r.Verdict == Forward {
		sh.st.normalised++
	}
	c.touch(f)
	return *r
}

// open starts following the flow of p, a packet of no known flow: from its
// SYN, or, when allowed, midstream. It returns nil when the packet starts
// nothing.
func (c *call) open(k flow.Key, p *packet.Parsed) *Flow {
	fl := p.TCPFlags
	switch {
	case fl&packet.TCPRST != 0:
		return nil
	case fl&(packet.TCPSYN|packet.TCPACK) == packet.TCPSYN:
		f := c.newFlow(k)
		c.r.Flow = f
		f.state = StateSynSent
		c.synInit(&f.sides[ToServer], p)
		return f
	}
	if !c.t.cfg.midstream() {
		c.emitKey(k, KindMidstreamRefused)
		if c.t.cfg.Mode == Prevent {
			c.r.Verdict = Drop
		}
		return nil
	}
	var f *Flow
	if fl&packet.TCPSYN != 0 {
		// A SYN/ACK: its sender is the server, and it tells the client's
		// initial sequence number.
		f = c.newFlow(k.Reverse())
		f.state = StateSynSent
		cl := &f.sides[ToServer]
		cl.isn = p.TCPAck - 1
		cl.setBase(p.TCPAck)
		cl.sndMax, cl.sndSet = p.TCPAck, true
		cl.synOpts = unknownOpts
	} else {
		// The sender is the client, unless it speaks from a well-known
		// port to an ephemeral one.
		key := k
		if k.Src.Port() < 1024 && k.Dst.Port() >= 1024 {
			key = k.Reverse()
		}
		f = c.newFlow(key)
		f.state = StateEstablished
		d := ToServer
		if key != k {
			d = ToClient
		}
		s, o := &f.sides[d], &f.sides[1-d]
		s.setBase(p.TCPSeq)
		s.sndMax, s.sndSet = p.TCPSeq, true
		if fl&packet.TCPACK != 0 {
			o.setBase(p.TCPAck)
		}
		f.ts = p.TCPOpts.Has&packet.TCPOptTimestamps != 0
	}
	c.r.Flow = f
	f.mid = true
	c.sh.st.midstream++
	c.emit(f, ToServer, KindMidstream, 0, 0)
	return f
}

// unknownOpts marks a SYN that was not seen (a flow picked up from its
// SYN/ACK): its options are unknown.
const unknownOpts = packet.TCPOptionSet(0xff)

// synInit sets up the side of the sender of a SYN or SYN/ACK.
func (c *call) synInit(s *side, p *packet.Parsed) {
	s.isn = p.TCPSeq
	s.setBase(p.TCPSeq + 1)
	s.sndMax, s.sndSet = p.TCPSeq+1, true
	s.synWnd = p.TCPWindow
	s.synOpts = p.TCPOpts.Has
	s.synTS = p.TCPOpts.TSval
	s.wscale = min(p.TCPOpts.WScale, maxScale)
	if p.TCPOpts.Has&packet.TCPOptTimestamps != 0 {
		s.tsSet, s.tsRecent, s.tsRecentAt = true, p.TCPOpts.TSval, c.ns
		s.tsZero = p.TCPOpts.TSval == 0
	}
}

// segment follows a packet of f sent in direction d.
func (c *call) segment(f *Flow, d Dir, p *packet.Parsed) {
	f.seen[d] = true
	fl := p.TCPFlags
	switch {
	case fl&packet.TCPRST != 0:
		c.reset(f, d, p)
		return
	case fl&packet.TCPSYN != 0:
		c.syn(f, d, p)
		return
	}
	s := &f.sides[d]
	payload := p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen]
	hasData := len(payload) > 0 || fl&packet.TCPFIN != 0
	if f.state == StateClosed {
		if hasData {
			c.emit(f, d, KindDataAfterFIN, 0, 0)
			c.drop()
		}
		return
	}
	if !s.known {
		// The first packet from this side of a flow picked up midstream.
		s.setBase(p.TCPSeq)
		s.sndMax, s.sndSet = p.TCPSeq, true
	}
	if !c.paws(f, d, p) {
		c.emit(f, d, KindPAWS, 0, 0)
		c.drop()
		return
	}
	if fl&packet.TCPACK != 0 && !c.ack(f, d, p) {
		return
	}
	switch {
	case f.state == StateSynRecv && (d == ToClient || p.TCPAck == f.sides[ToClient].isn+1 || hasData),
		f.state == StateSynSent && d == ToClient:
		// The handshake completed, or its SYN/ACK was not seen.
		f.state = StateEstablished
	}
	if f.state == StateReset {
		if !hasData {
			return
		}
		// The host did not take the reset (or it was injected): the
		// connection goes on, and so does its inspection.
		c.emit(f, d, KindDataAfterReset, 0, 0)
		f.state = f.before
	}
	if hasData {
		c.data(f, d, p, p.TCPSeq, payload)
	}
	c.urgent(f, d, p)
	if f.dropped {
		return
	}
	if c.t.cfg.Mode == Detect && !f.seen[1-d] {
		// Nobody acknowledges (the other direction is not in the
		// capture): hand on what is in order.
		c.deliver(f, d, s.readyEnd(), KindNone)
	}
	if c.t.cfg.Mode == Detect {
		c.holeLimit(f, d)
		c.holeLimit(f, 1-d)
	}
}

// drop marks the packet for dropping in Prevent mode.
func (c *call) drop() {
	if c.t.cfg.Mode == Prevent {
		c.r.Verdict = Drop
	}
}

// syn follows a SYN or SYN/ACK on a known flow.
func (c *call) syn(f *Flow, d Dir, p *packet.Parsed) {
	s := &f.sides[d]
	if p.TCPFlags&packet.TCPACK == 0 {
		if d != ToServer {
			return // simultaneous open: not followed
		}
		// A copy of the SYN. (One with another sequence number starts a
		// new flow before a SYN/ACK, and is answered with a challenge ACK
		// (RFC 5961) after, changing nothing.)
		if p.TCPSeq == s.isn {
			c.synData(f, d, p)
		}
		return
	}
	if d != ToClient {
		return
	}
	cl := &f.sides[ToServer]
	switch f.state {
	case StateSynSent:
	case StateSynRecv:
		if p.TCPSeq == s.isn {
			c.synData(f, d, p)
			return
		}
	default:
		return // a late copy
	}
	if p.TCPAck != cl.isn+1 {
		c.emit(f, d, KindInvalidAck, 0, 0)
		c.drop()
		return
	}
	c.synInit(s, p)
	// Window scaling is on when both SYNs carry the option; then each side
	// shifts its own windows by the value it sent.
	switch {
	case cl.synOpts == unknownOpts:
		// The SYN was not seen: if the server scales, the client asked for
		// it with a shift we do not know.
		cl.scaleOK = s.synOpts&packet.TCPOptWScale == 0
		cl.wscale = 0
		s.scaleOK = true
		if !cl.scaleOK {
			s.wscale = min(p.TCPOpts.WScale, maxScale)
		} else {
			s.wscale = 0
		}
		f.ts = s.synOpts&packet.TCPOptTimestamps != 0
	default:
		if cl.synOpts&s.synOpts&packet.TCPOptWScale == 0 {
			cl.wscale, s.wscale = 0, 0
		}
		cl.scaleOK, s.scaleOK = true, true
		f.ts = cl.synOpts&s.synOpts&packet.TCPOptTimestamps != 0
		// The client's SYN window is the server's first allowance.
		s.edge, s.edgeOK = s.seqOf(0)+uint32(cl.synWnd), true
	}
	// The SYN/ACK acknowledges the client's SYN and opens its window.
	cl.acked, cl.ackOff = true, 0
	cl.edge, cl.edgeOK = p.TCPAck+uint32(p.TCPWindow), true
	f.state = StateSynRecv
	c.synData(f, d, p)
}

// synData takes the data of a SYN when the destination will: with a TCP
// Fast Open cookie (RFC 7413) the data is the stream's first bytes;
// otherwise it is ignored, as the destination ignores it.
func (c *call) synData(f *Flow, d Dir, p *packet.Parsed) {
	if p.PayloadLen == 0 {
		return
	}
	if !fastOpenCookie(p) {
		c.emit(f, d, KindSYNData, 0, 0)
		return
	}
	c.data(f, d, p, p.TCPSeq+1, p.Buf[p.PayloadOff:p.PayloadOff+p.PayloadLen])
}

// fastOpenCookie reports whether the TCP options of p carry a Fast Open
// option (kind 34) with a cookie.
func fastOpenCookie(p *packet.Parsed) bool {
	o := p.Buf[p.L4Off+20 : p.L4Off+int(p.TCPDataOff)*4]
	for i := 0; i < len(o); {
		switch o[i] {
		case 0:
			return false
		case 1:
			i++
			continue
		}
		if i+1 >= len(o) || o[i+1] < 2 {
			return false
		}
		if o[i] == 34 && o[i+1] > 2 {
			return true
		}
		i += int(o[i+1])
	}
	return false
}

// reset follows a RST sent in direction d: whether the destination takes
// it depends on its policy.
func (c *call) reset(f *Flow, d Dir, p *packet.Parsed) {
	s := &f.sides[d]
	switch f.state {
	case StateReset, StateClosed:
		return
	case StateSynSent:
		// Refusing the SYN: the reset acknowledges it exactly.
		if d == ToClient && p.TCPFlags&packet.TCPACK != 0 && p.TCPAck == f.sides[ToServer].isn+1 {
			c.resetAccepted(f)
			return
		}
		if d == ToServer && p.TCPSeq == s.isn+1 {
			c.resetAccepted(f)
			return
		}
		c.emit(f, d, KindInvalidRST, 0, 0)
		c.drop()
		return
	}
	if !s.known {
		// Nothing seen from this side: nothing to check against.
		c.resetAccepted(f)
		return
	}
	if !c.paws(f, d, p) {
		c.emit(f, d, KindInvalidRST, 0, 0)
		c.drop()
		return
	}
	o := s.offset(p.TCPSeq)
	nxt := int64(s.rcvNxt())
	var ok bool
	switch s.policy.rst() {
	case rstExact:
		ok = o == nxt
	case rstAtOrAfter:
		ok = o >= nxt
	case rstInWindow:
		ok = o+int64(p.PayloadLen) >= int64(s.ackOff) && (!s.edgeOK || seqLT(p.TCPSeq, s.edge) || p.TCPSeq == s.seqOf(uint64(nxt)))
	}
	if !ok {
		c.emit(f, d, KindInvalidRST, 0, 0)
		c.drop()
		return
	}
	c.resetAccepted(f)
}

// resetAccepted ends the connection as its hosts would, but keeps the flow
// for Config.ClosedTimeout, in case the reset was not taken: everything
// held is handed on now.
func (c *call) resetAccepted(f *Flow) {
	for d := ToServer; d <= ToClient; d++ {
		c.deliver(f, d, f.sides[d].lastEnd(), KindGap)
	}
	f.before = f.state
	if f.before == StateSynSent || f.before == StateSynRecv {
		f.before = StateEstablished
	}
	f.state = StateReset
}

// paws checks the timestamp of a packet sent in direction d as its
// destination would (RFC 7323 PAWS, by the destination's policy), and
// takes TS.Recent from it when it passes.
func (c *call) paws(f *Flow, d Dir, p *packet.Parsed) bool {
	s := &f.sides[d]
	pol := s.policy
	if !f.ts {
		return true
	}
	if p.TCPOpts.Has&packet.TCPOptTimestamps == 0 {
		if pol == Solaris {
			// Solaris stops using timestamps when a segment comes without.
			f.ts = false
		}
		return true
	}
	ts := p.TCPOpts.TSval
	if !s.tsSet {
		s.tsSet, s.tsRecent, s.tsRecentAt = true, ts, c.ns
		return true
	}
	o := s.offset(p.TCPSeq)
	inOrder := o == int64(s.rcvNxt())
	check := true
	if s.tsZero {
		switch pol {
		case Linux:
			// A zero TSval in the handshake turns timestamps off.
			f.ts = false
			return true
		case OldLinux, Windows, Vista:
			s.tsZero = false
			if inOrder {
				s.tsRecent, s.tsRecentAt = ts, c.ns
				check = false
			}
		}
	}
	if pol == HPUX11 && !inOrder {
		check = false // HP-UX 11 checks in-order segments only
	}
	if ts == 0 {
		// Some systems take a zero TSval as no timestamp at all.
		return pol.zeroTSAllowed()
	}
	if !check {
		return true
	}
	diff := int32(ts - s.tsRecent)
	if pol == Linux {
		diff++ // Linux takes a TSval one below TS.Recent
	}
	if diff < 0 && c.ns-s.tsRecentAt <= int64(paws24Days) {
		return false
	}
	if o <= int64(s.rcvNxt()) {
		s.tsRecent, s.tsRecentAt = ts, c.ns
	}
	return true
}

// ack follows the acknowledgement and window of a packet sent in direction
// d: they concern the other direction's data. It reports false when the
// destination discards the packet for acknowledging data never sent.
func (c *call) ack(f *Flow, d Dir, p *packet.Parsed) bool {
	s, o := &f.sides[d], &f.sides[1-d]
	a := p.TCPAck
	if !o.known {
		o.setBase(a)
	}
	if o.sndSet && o.edgeOK && seqGT(a, o.sndMax) && seqGT(a, o.edge) {
		c.emit(f, d, KindInvalidAck, 0, 0)
		c.drop()
		return false
	}
	if s.scaleOK {
		e := a + uint32(p.TCPWindow)<<s.wscale
		if !o.edgeOK || seqGT(e, o.edge) {
			o.edge, o.edgeOK = e, true
		}
	}
	ao := o.offset(a)
	if ao < 0 || (o.acked && uint64(ao) <= o.ackOff) {
		return true
	}
	o.acked, o.ackOff = true, uint64(ao)
	if o.fin && o.ackOff > o.finOff {
		o.finFinal = true
	}
	// Everything below the acknowledgement is final: what was seen is
	// handed on, what was not is a gap (the capture lost it). Prevent
	// has handed on what it forwarded already and now lets go of it.
	// An acknowledgement makes gaps only below data seen: it may not
	// skip a stream forward over bytes nobody has seen sent.
	to := o.ackOff
	if o.fin {
		to = min(to, o.finOff)
	}
	if sent := o.offset(o.sndMax); sent >= 0 {
		to = min(to, uint64(sent))
	}
	if c.t.cfg.Mode == Detect {
		c.deliver(f, 1-d, to, KindGap)
	} else {
		if to > o.dlv {
			c.deliver(f, 1-d, to, KindGap)
		}
		c.settle(f, 1-d)
		if o.finFinal {
			c.deliver(f, 1-d, o.dlv, KindNone)
		}
	}
	return true
}

// urgent deals with urgent data: hosts deliver the byte at the urgent
// pointer in line or out of band as a socket option says, which no
// observer knows. Detect keeps it in line and reports it; Prevent clears
// URG and the pointer so that every host keeps it in line.
func (c *call) urgent(f *Flow, d Dir, p *packet.Parsed) {
	urg := p.TCPFlags&packet.TCPURG != 0
	if !urg && p.TCPUrgent == 0 {
		return
	}
	if urg {
		c.emit(f, d, KindUrgent, 0, 0)
	}
	if c.t.cfg.Mode == Prevent && c.r.Verdict == Forward && clearUrgent(p) {
		c.r.Norm |= NormUrgent
	}
}

// holeLimit gives up a hole that has kept data waiting past the limits.
func (c *call) holeLimit(f *Flow, d Dir) {
	s := &f.sides[d]
	if s.holeSince == 0 {
		return
	}
	cfg := &c.t.cfg
	if c.ns-s.holeSince <= int64(cfg.HoleTimeout) && s.outOfOrder() <= uint64(cfg.HoleBytes) && s.holeSegs <= cfg.HoleSegments {
		return
	}
	c.deliver(f, d, s.lastEnd(), KindHoleLimit)
}
