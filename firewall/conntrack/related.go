package conntrack

import "github.com/rampart-fw/rampart/ipproto"

// related matches an ICMP or ICMPv6 error to the flow it quotes. The
// quoted header is the packet as its sender sent it; the error travels
// back to that sender, so it must be addressed to the quoted source, and
// its direction within the entry is the inverse of the quoted packet's.
// An error never refreshes the entry: a stream of forged errors cannot
// keep a flow alive (nor does it end one: RFC 4787 REQ-12, RFC 5382
// REQ-10). The quoted packet of a translated flow is the one that crossed
// the translated side, so it is found through the entry's reply tuple,
// and the error's Rewrite (Packet.NAT) is its direction's.
func (t *Table) related(p *Packet) Result {
	var quoted key
	if r := innerKey(p, &quoted); r != ReasonNone {
		return t.misc.invalidResult(r)
	}
	back := quoted.inverse()
	h := t.hash(&back)
	s := t.shardFor(h)
	now := t.now()
	s.mu.Lock()
	idx, dir, owner := s.find(h, &back, &quoted)
	if owner != 0 {
		s.mu.Unlock()
		s, idx = t.hop(owner)
	}
	if idx != nilIdx && t.dropExpired(s, idx, now, t.scale()) {
		idx = nilIdx
	}
	if idx == nilIdx {
		s.mu.Unlock()
		return s.ctr.invalidResult(ReasonICMPNoFlow)
	}
	if p.Flow.Dst.Addr().As16() != quoted.src {
		s.mu.Unlock()
		return s.ctr.invalidResult(ReasonICMPDirection)
	}
	e := &s.entries[idx]
	res := Result{ID: s.id(idx), State: StateRelated, Dir: dir}
	res.NAT = s.fillNAT(idx, dir, p)
	if quoted.proto == ipproto.TCP {
		res.TCP = TCPState(e.tcp.state)
		seq := p.Inner.Seq
		if e.status&stSpliced != 0 {
			res.Spliced = true
			if sp := &s.splices[idx]; sp.Active && 1-dir == DirReply {
				// The quoted segment went from the server to the
				// client, in the client's view of its numbers.
				seq -= sp.SeqDelta
			}
		}
		if !t.icmpSeqOK(&e.tcp, 1-dir, seq) {
			s.mu.Unlock()
			return s.ctr.invalidResult(ReasonICMPSeq)
		}
	}
	s.mu.Unlock()
	return res
}

// icmpSeqOK checks, as pf does, that the sequence number quoted by an
// ICMP error lies in the window of the side that sent the quoted segment
// (sent by q). A blind attacker forging "port unreachable" or "fragmentation
// needed" to tear down or degrade a connection (RFC 5927) has to guess it.
func (t *Table) icmpSeqOK(c *tcpConn, q Dir, seq uint32) bool {
	snd, rcv := &c.seen[q], &c.seen[1-q]
	if t.liberal || snd.flags&tfLiberal != 0 || snd.maxwin == 0 {
		return true
	}
	if after(seq, snd.maxend) {
		return false
	}
	if rcv.maxwin != 0 && before(seq, snd.end-rcv.maxwin) {
		return false
	}
	return true
}
