package conntrack

import "github.com/rampart-fw/rampart/packet"

// SCTP tracking: the association states, transitions, time-outs and
// verification tag checks of Linux's nf_conntrack_proto_sctp.c (Linux
// 6.x, after the heartbeat-based multihoming and INIT collision fixes).
// The tracker watches the four-way handshake (INIT, INIT ACK, COOKIE
// ECHO, COOKIE ACK), learns each direction's verification tag from the
// Initiate Tag the other end announced in its INIT or INIT ACK, and
// checks it on every later packet (RFC 9260 8.5): a blind attacker who
// knows the ports still has to guess 32 bits to reach a tracked
// association, and a packet to another port is another flow.
//
// The packet arrives with its chunks already walked by the decoder
// (packet.SCTPInfo): the lengths are checked there; the rules on which
// chunks may travel together (RFC 9260 6.10) are checked here, as
// netfilter does.
//
// Where this port deliberately differs from Linux:
//   - An INIT or INIT ACK whose Initiate Tag is 0 is Invalid: RFC 9260
//     3.3.2 and 3.3.3 tell the receiver to discard it, and a zero tag
//     would disable the check of every later packet in its direction.
//   - A packet with more than packet.MaxSCTPControl chunks that open,
//     close or probe an association is Invalid: no stack bundles that
//     many, and each one is a state transition to check in order.

// SCTPState is the state of a tracked SCTP association. The values and
// their meaning are those of Linux's enum sctp_conntrack, so that logs
// and tests compare with conntrack(8) output.
type SCTPState uint8

const (
	SCTPNone            SCTPState = iota // not an SCTP entry
	SCTPClosed                           // seen an INIT, an ABORT or a SHUTDOWN COMPLETE
	SCTPCookieWait                       // seen the INIT ACK answering an INIT
	SCTPCookieEchoed                     // seen the COOKIE ECHO
	SCTPEstablished                      // seen the COOKIE ACK
	SCTPShutdownSent                     // seen a SHUTDOWN from the originator
	SCTPShutdownRecd                     // seen a SHUTDOWN from the responder
	SCTPShutdownAckSent                  // seen the SHUTDOWN ACK answering it
	SCTPHeartbeatSent                    // the entry was made by a HEARTBEAT: another path of a multihomed association
	numSCTPStates
)

var sctpStateNames = [...]string{
	"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
	"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
}

func (s SCTPState) String() string { return stateName(sctpStateNames[:], uint8(s)) }

// closing reports the states in which an association may be evicted
// under pressure even when assured (Linux's sctp_can_early_drop).
func (s SCTPState) closing() bool {
	return s == SCTPShutdownSent || s == SCTPShutdownRecd || s == SCTPShutdownAckSent
}

// sctpInvalid marks a forbidden transition in the table.
const sctpInvalid = numSCTPStates

// Rows of the transition table: the chunk types that move an association.
const (
	scInit = iota
	scInitAck
	scAbort
	scShutdown
	scShutdownAck
	scError
	scCookieEcho
	scCookieAck
	scShutdownComplete
	scHeartbeat
	scHeartbeatAck
	numSCTPRows
)

// sctpRow maps a chunk type to its row, or -1 for chunks that leave the
// state alone (DATA, SACK and the rest).
func sctpRow(typ uint8) int {
	switch typ {
	case packet.SCTPInit:
		return scInit
	case packet.SCTPInitAck:
		return scInitAck
	case packet.SCTPAbort:
		return scAbort
	case packet.SCTPShutdown:
		return scShutdown
	case packet.SCTPShutdownAck:
		return scShutdownAck
	case packet.SCTPError:
		return scError
	case packet.SCTPCookieEcho:
		return scCookieEcho
	case packet.SCTPCookieAck:
		return scCookieAck
	case packet.SCTPShutdownComplete:
		return scShutdownComplete
	case packet.SCTPHeartbeat:
		return scHeartbeat
	case packet.SCTPHeartbeatAck:
		return scHeartbeatAck
	}
	return -1
}

// Short names for the transition table, as in Linux's source, so that
// the table can be compared with it cell by cell.
const (
	xNO = SCTPNone
	xCL = SCTPClosed
	xCW = SCTPCookieWait
	xCE = SCTPCookieEchoed
	xES = SCTPEstablished
	xSS = SCTPShutdownSent
	xSR = SCTPShutdownRecd
	xSA = SCTPShutdownAckSent
	xHS = SCTPHeartbeatSent
	xIV = sctpInvalid
)

// sctpTransitions[dir][row][state] is the next state. The tracker sits
// between the end points, so it follows the association's messages, not
// one end point's state machine: the original direction is the INIT's.
// The reply direction cannot start anything (NONE and HEARTBEAT_SENT are
// Invalid there, but for the HEARTBEAT ACK that confirms a new path).
var sctpTransitions = [2][numSCTPRows][numSCTPStates]SCTPState{
	{ // original direction
		//                  xNO  xCL  xCW  xCE  xES  xSS  xSR  xSA  xHS
		scInit:             {xCL, xCL, xCW, xCE, xES, xCL, xCL, xSA, xCW},
		scInitAck:          {xCL, xCL, xCW, xCE, xES, xSS, xSR, xSA, xCL},
		scAbort:            {xCL, xCL, xCL, xCL, xCL, xCL, xCL, xCL, xCL},
		scShutdown:         {xCL, xCL, xCW, xCE, xSS, xSS, xSR, xSA, xCL},
		scShutdownAck:      {xSA, xCL, xCW, xCE, xES, xSA, xSA, xSA, xSA},
		scError:            {xCL, xCL, xCW, xCE, xES, xSS, xSR, xSA, xCL},
		scCookieEcho:       {xCL, xCL, xCE, xCE, xES, xSS, xSR, xSA, xCL},
		scCookieAck:        {xCL, xCL, xCW, xES, xES, xSS, xSR, xSA, xCL},
		scShutdownComplete: {xCL, xCL, xCW, xCE, xES, xSS, xSR, xCL, xCL},
		scHeartbeat:        {xHS, xCL, xCW, xCE, xES, xSS, xSR, xSA, xHS},
		scHeartbeatAck:     {xCL, xCL, xCW, xCE, xES, xSS, xSR, xSA, xHS},
	},
	{ // reply direction
		//                  xNO  xCL  xCW  xCE  xES  xSS  xSR  xSA  xHS
		scInit:             {xIV, xCL, xCW, xCE, xES, xSS, xSR, xSA, xIV},
		scInitAck:          {xIV, xCW, xCW, xCE, xES, xSS, xSR, xSA, xIV},
		scAbort:            {xIV, xCL, xCL, xCL, xCL, xCL, xCL, xCL, xIV},
		scShutdown:         {xIV, xCL, xCW, xCE, xSR, xSS, xSR, xSA, xIV},
		scShutdownAck:      {xIV, xCL, xCW, xCE, xES, xSA, xSA, xSA, xIV},
		scError:            {xIV, xCL, xCW, xCL, xES, xSS, xSR, xSA, xIV},
		scCookieEcho:       {xIV, xCL, xCE, xCE, xES, xSS, xSR, xSA, xIV},
		scCookieAck:        {xIV, xCL, xCW, xES, xES, xSS, xSR, xSA, xIV},
		scShutdownComplete: {xIV, xCL, xCW, xCE, xES, xSS, xSR, xCL, xIV},
		scHeartbeat:        {xIV, xCL, xCW, xCE, xES, xSS, xSR, xSA, xHS},
		scHeartbeatAck:     {xIV, xCL, xCW, xCE, xES, xSS, xSR, xSA, xES},
	},
}

// sctpConn is what the tracker keeps of an association.
type sctpConn struct {
	// vtag[d] is the verification tag packets travelling in direction d
	// must carry: the Initiate Tag their receiver announced; 0 while
	// unknown.
	vtag    [2]uint32
	state   uint8
	flags   uint8
	lastDir uint8 // direction of the HEARTBEAT whose tag did not match
}

// sctpConn.flags.
const (
	sfInit0        = 1 << iota // an INIT was seen from the original direction
	sfInit1                    // ... from the reply direction
	sfHeartbeatTag             // a HEARTBEAT with an unknown tag passed: a new path may be answering
)

func sfInit(d Dir) uint8 { return sfInit0 << d }

// sctpCheck applies the bundling rules to a packet's chunks (RFC 9260
// 6.10, as netfilter's do_basic_checks): at least one chunk; INIT, INIT
// ACK and SHUTDOWN COMPLETE alone; COOKIE ECHO and COOKIE ACK only
// first. It also refuses what the table would have to take on trust: a
// control chunk beyond those listed, an Initiate Tag of 0.
func sctpCheck(s *packet.SCTPInfo) Reason {
	if s.NumChunks == 0 || int(s.NumControl) > len(s.Control) {
		return ReasonSCTPChunks
	}
	if (s.Has(packet.SCTPInit) || s.Has(packet.SCTPInitAck) || s.Has(packet.SCTPShutdownComplete)) && s.NumChunks != 1 {
		return ReasonSCTPChunks
	}
	cookies := 0
	for _, c := range s.Control[:s.NumControl] {
		if c.Type == packet.SCTPCookieEcho || c.Type == packet.SCTPCookieAck {
			cookies++
		}
	}
	if cookies > 1 || cookies == 1 && s.First != packet.SCTPCookieEcho && s.First != packet.SCTPCookieAck {
		return ReasonSCTPChunks
	}
	if (s.Has(packet.SCTPInit) || s.Has(packet.SCTPInitAck)) && s.InitTag == 0 {
		return ReasonSCTPChunks
	}
	return ReasonNone
}

// sctpStarts reports whether a packet without an entry may create one.
// Every chunk must be one that moves the state from NONE (a DATA chunk
// means the association exists elsewhere), and an out-of-the-blue ABORT,
// SHUTDOWN COMPLETE or COOKIE ACK is answered by nobody (RFC 9260 8.4).
func sctpStarts(s *packet.SCTPInfo) bool {
	if s.Has(packet.SCTPAbort) || s.Has(packet.SCTPShutdownComplete) || s.Has(packet.SCTPCookieAck) {
		return false
	}
	return s.NumControl > 0 && uint16(s.NumControl) == s.NumChunks
}

// sctpNew initialises a fresh entry from its first packet, which
// sctpStarts accepted, with the tags it reveals.
func sctpNew(c *sctpConn, s *packet.SCTPInfo) Reason {
	*c = sctpConn{}
	for _, ch := range s.Control[:s.NumControl] {
		switch ch.Type {
		case packet.SCTPInit:
			// RFC 9260 8.5.1 (A): an INIT carries tag 0; the reply
			// direction must carry the tag it announces.
			if s.VTag != 0 {
				return ReasonSCTPVTag
			}
			c.vtag[DirReply] = s.InitTag
		case packet.SCTPHeartbeat:
			// A new path of an association: its tag is the one the
			// originator already uses.
			c.vtag[DirOriginal] = s.VTag
		case packet.SCTPShutdownAck:
			// Out of the blue (RFC 9260 8.4 (5)): the SHUTDOWN COMPLETE
			// answering it reflects its tag.
			c.vtag[DirReply] = s.VTag
		}
	}
	return ReasonNone
}

// sctpTagExempt are the chunks whose packets carry a tag other than the
// association's own (RFC 9260 8.5.1), checked chunk by chunk instead.
func sctpTagExempt(s *packet.SCTPInfo) bool {
	return s.Has(packet.SCTPInit) || s.Has(packet.SCTPShutdownComplete) || s.Has(packet.SCTPCookieEcho) ||
		s.Has(packet.SCTPAbort) || s.Has(packet.SCTPShutdownAck) || s.Has(packet.SCTPHeartbeat) || s.Has(packet.SCTPHeartbeatAck)
}

// sctpPacket runs one packet of entry idx through the association's
// state machine.
func (t *Table) sctpPacket(s *shard, idx int32, dir Dir, p *Packet, now int64) Result {
	e := &s.entries[idx]
	c := &e.sctp
	sc := p.SCTP
	replied := e.status&stReplied != 0
	res := Result{ID: s.id(idx), Dir: dir}

	if !sctpTagExempt(sc) && sc.VTag != c.vtag[dir] {
		return s.invalid(res, ReasonSCTPVTag)
	}
	state := SCTPState(c.state)
	ignore := false
	for _, ch := range sc.Control[:sc.NumControl] {
		tbit := flagT(ch)
		switch ch.Type {
		case packet.SCTPInit:
			if sc.VTag != 0 {
				return s.invalid(res, ReasonSCTPVTag)
			}
		case packet.SCTPAbort, packet.SCTPShutdownComplete:
			// With the T bit the sender had no TCB and reflected the
			// tag it received: its peer's.
			want := c.vtag[dir]
			if tbit {
				want = c.vtag[1-dir]
			}
			if sc.VTag != want {
				return s.invalid(res, ReasonSCTPVTag)
			}
		case packet.SCTPCookieEcho:
			if sc.VTag != c.vtag[dir] {
				return s.invalid(res, ReasonSCTPVTag)
			}
		case packet.SCTPCookieAck:
			c.flags &^= sfInit0 | sfInit1
		case packet.SCTPHeartbeat:
			switch {
			case c.vtag[dir] == 0:
				c.vtag[dir] = sc.VTag
			case sc.VTag != c.vtag[dir]:
				// Perhaps the first packet of a path this entry has
				// not seen the association on: let the probe pass
				// once, without changing anything, and take the tag
				// if the answer confirms it. Never with data, which
				// would then pass unchecked.
				if sc.Has(packet.SCTPData) || ignore {
					return s.invalid(res, ReasonSCTPVTag)
				}
				c.flags |= sfHeartbeatTag
				c.lastDir = uint8(dir)
				ignore = true
				continue
			default:
				c.flags &^= sfHeartbeatTag
			}
		case packet.SCTPHeartbeatAck:
			switch {
			case c.vtag[dir] == 0:
				c.vtag[dir] = sc.VTag
			case sc.VTag != c.vtag[dir]:
				if sc.Has(packet.SCTPData) || ignore || c.flags&sfHeartbeatTag == 0 || c.lastDir == uint8(dir) {
					return s.invalid(res, ReasonSCTPVTag)
				}
				// The answer to the probe that passed: the path belongs
				// to a restarted association, whose tags these are.
				c.flags &^= sfHeartbeatTag
				c.vtag[dir] = sc.VTag
				c.vtag[1-dir] = 0
			default:
				c.flags &^= sfHeartbeatTag
			}
		}

		old := state
		next := sctpTransitions[dir][sctpRow(ch.Type)][old]
		if next == sctpInvalid {
			return s.invalid(res, ReasonSCTPState)
		}
		switch ch.Type {
		case packet.SCTPInit:
			// A retransmitted or stale INIT repeats the tag already
			// noted; a new one restarts the count of INITs seen.
			if old == SCTPNone || c.vtag[1-dir] != sc.InitTag {
				if c.flags&sfInit(dir) != 0 && c.flags&sfInit(1-dir) != 0 {
					c.flags &^= sfInit(1 - dir)
				}
				c.flags |= sfInit(dir)
			}
			c.vtag[1-dir] = sc.InitTag
			// Do not let INITs retransmitted on a closed entry keep it
			// alive (a client reusing its port, or a NAT).
			if next == SCTPClosed && old == SCTPClosed {
				ignore = true
			}
		case packet.SCTPInitAck:
			known := c.vtag[1-dir]
			if c.flags&sfInit(1-dir) == 0 && known != 0 && known != sc.InitTag {
				return s.invalid(res, ReasonSCTPVTag)
			}
			// INITs crossed (RFC 9260 5.2.1): the INIT ACK must
			// carry the tag of the INIT that won.
			if c.flags&sfInit(dir) != 0 && c.flags&sfInit(1-dir) != 0 && known != sc.InitTag {
				return s.invalid(res, ReasonSCTPVTag)
			}
			c.vtag[1-dir] = sc.InitTag
		}
		state = next
		c.state = uint8(next)
		if next == SCTPEstablished && e.status&stAssured == 0 {
			e.status |= stAssured
		}
	}
	if ignore {
		// Accepted, but the entry's life is not extended, nor is it
		// marked answered: a forged probe from the reply side must not
		// make an unanswered INIT look like an association.
		s.account(idx, dir, p, now)
		s.fixDrop(idx)
		return s.ignored(res, replied, ReasonSCTPIgnored)
	}
	return t.accept(s, idx, uint8(clsSCTP)+uint8(state), p, res, replied, now)
}

// accept ends the tracking of a packet that moved its SCTP or DCCP entry
// idx: the entry is marked answered by a reply, gets the time-out of
// class cls, counts the packet, and is put on or off the early-drop list.
// res.Dir is the packet's direction; replied is whether the entry was
// answered before it.
func (t *Table) accept(s *shard, idx int32, cls uint8, p *Packet, res Result, replied bool, now int64) Result {
	if res.Dir == DirReply {
		s.entries[idx].status |= stReplied
	}
	s.refresh(idx, cls, now, &t.timeouts)
	s.account(idx, res.Dir, p, now)
	s.fixDrop(idx)
	res.State = stateFor(res.Dir, replied)
	return res
}

func flagT(c packet.SCTPChunk) bool { return c.Flags&packet.SCTPFlagT != 0 }

// sctpStart tracks the first packet of a fresh entry, which sctpStarts
// accepted. An entry whose first packet turns out Invalid is removed: it
// would have no time-out.
func (t *Table) sctpStart(s *shard, idx int32, p *Packet, now int64) Result {
	r := sctpNew(&s.entries[idx].sctp, p.SCTP)
	if r == ReasonNone {
		res := t.sctpPacket(s, idx, DirOriginal, p, now)
		if res.State != StateInvalid {
			return res
		}
		r = res.Reason
	} else {
		s.ctr.invalid[r].Add(1)
	}
	s.remove(idx, &s.ctr.deleted)
	return Result{State: StateInvalid, Reason: r}
}
