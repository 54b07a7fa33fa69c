package conntrack

import (
	"time"

	"github.com/rampart-fw/rampart/packet"
)

// TCP tracking: the state machine and window checks of Linux's
// nf_conntrack_proto_tcp.c (as of Linux 6.1), which follows Guido van
// Rooij's "Real Stateful TCP Packet Filtering in IP Filter". The
// tracker sits in the middle: a segment it passes may still be lost
// before it reaches its destination, so it keeps the loosest state that
// is consistent with what it saw, and lets the end points' own checks
// (and the RST or challenge ACK they answer with) settle doubtful cases.
//
// Where this port deliberately differs from Linux:
//   - A segment that starts beyond the receiver's window is Invalid.
//     Linux lets it through as "ignored" when it overshoots by less than
//     a window, to humour stacks that overrun windows; a receiver that
//     honours its own window discards such data and the sender resends
//     it once the window opens.
//   - An in-window RST that does not hit the expected sequence number
//     exactly keeps the connection's state (as Linux, so the end point
//     can send its RFC 5961 challenge ACK) but shortens the idle timeout
//     only to TCPUnacknowledged, not TCPClose: a blind in-window reset
//     must not make an idle long-lived session expire within seconds.
//   - An ignored packet changes nothing, not even the "seen a reply"
//     mark that Linux sets for any accepted reply-direction packet: a
//     spoofed ACK towards a SYN_SENT entry must not make it look answered.
//   - TCP options arrive pre-parsed in the Packet.

// Flag classes, Linux's enum tcp_bit_set: the row of the transition table.
const (
	tcpSynSet = iota
	tcpSynAckSet
	tcpFinSet
	tcpAckSet
	tcpRstSet
	tcpNoneSet
	numTCPIndexes
)

// tcpValidFlags lists the flag combinations, ignoring PSH, ECE and CWR,
// that a TCP may send. Anything else (SYN+FIN, SYN+RST, FIN alone, no
// flags) is a scan or an attack.
var tcpValidFlags = [0x40]bool{
	packet.TCPSYN:                                 true,
	packet.TCPSYN | packet.TCPURG:                 true,
	packet.TCPSYN | packet.TCPACK:                 true,
	packet.TCPRST:                                 true,
	packet.TCPRST | packet.TCPACK:                 true,
	packet.TCPFIN | packet.TCPACK:                 true,
	packet.TCPFIN | packet.TCPACK | packet.TCPURG: true,
	packet.TCPACK:                                 true,
	packet.TCPACK | packet.TCPURG:                 true,
}

func tcpFlagIndex(flags packet.TCPFlags) (uint8, bool) {
	f := flags &^ (packet.TCPPSH | packet.TCPECE | packet.TCPCWR)
	if !tcpValidFlags[f&0x3f] {
		return tcpNoneSet, false
	}
	switch {
	case f&packet.TCPRST != 0:
		return tcpRstSet, true
	case f&packet.TCPSYN != 0:
		if f&packet.TCPACK != 0 {
			return tcpSynAckSet, true
		}
		return tcpSynSet, true
	case f&packet.TCPFIN != 0:
		return tcpFinSet, true
	case f&packet.TCPACK != 0:
		return tcpAckSet, true
	}
	return tcpNoneSet, true
}

// Pseudo-states of the transition table.
const (
	tcpInvalid TCPState = numTCPStates     // packet is invalid
	tcpIgnore  TCPState = numTCPStates + 1 // may be valid; pass it, touch nothing
)

// tcpTransitions[dir][flag class][state] is the next state. The table is
// Linux's; the reasoning for the less obvious cells:
//   - original SYN in SYN_RECV..LAST_ACK is ignored: either the table is
//     out of sync, or the receiver will answer with a RST we then see.
//   - original SYN in TIME_WAIT or CLOSE reopens the connection (RFC 1122).
//   - reply SYN/ACK after SYN_RECV is a retransmission: ignored.
//   - reply ACK in SYN_SENT may be a challenge ACK or a half-open
//     connection answering: ignored.
//   - ACK in LAST_ACK moves to TIME_WAIT, unless it is recognised as the
//     challenge ACK answering a SYN we let through.
var tcpTransitions = [2][numTCPIndexes][numTCPStates]TCPState{
	{ // original direction
		//            sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
		tcpSynSet:    {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		tcpSynAckSet: {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		tcpFinSet:    {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		tcpAckSet:    {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		tcpRstSet:    {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoneSet:   {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{ // reply direction
		//            sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
		tcpSynSet:    {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		tcpSynAckSet: {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		tcpFinSet:    {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		tcpAckSet:    {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		tcpRstSet:    {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		tcpNoneSet:   {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// Short names for the transition table, as in Linux's source, so the
// table can be checked against it cell by cell.
const (
	sNO = TCPNone
	sSS = TCPSynSent
	sSR = TCPSynRecv
	sES = TCPEstablished
	sFW = TCPFinWait
	sCW = TCPCloseWait
	sLA = TCPLastAck
	sTW = TCPTimeWait
	sCL = TCPClose
	sS2 = TCPSynSent2
	sIV = tcpInvalid
	sIG = tcpIgnore
)

// Per-direction flags (tcpPeer.flags), Linux's IP_CT_TCP_FLAG_*, and the
// two that only live in tcpConn.lastFlags.
const (
	tfWindowScale  = 0x01 // sent the window scale option
	tfSACKPerm     = 0x02 // sent SACK-permitted
	tfCloseInit    = 0x04 // sent the first FIN
	tfLiberal      = 0x08 // skip window checks for this sender
	tfDataUnack    = 0x10 // has data in flight
	tfMaxAckSet    = 0x20 // maxack is meaningful
	tfChallengeAck = 0x40 // lastFlags: a challenge ACK is expected
	tfSimOpen      = 0x80 // lastFlags: simultaneous open seen
)

// tcpPeer is what the tracker knows of one direction's sender.
type tcpPeer struct {
	end    uint32 // highest seq+len sent
	maxend uint32 // highest right edge the receiver allowed (ack+win)
	maxwin uint32 // largest window (scaled) seen from this sender
	maxack uint32 // highest ack sent
	scale  uint8  // window shift this sender applies
	flags  uint8
}

type tcpConn struct {
	seen [2]tcpPeer
	// The last in-window or ignored segment, used to recognise
	// retransmissions, resynchronise after an ignored SYN, and judge RSTs.
	lastSeq, lastAck, lastEnd uint32
	lastWin                   uint16
	state                     uint8
	lastIndex                 uint8
	lastDir                   uint8
	lastWScale                uint8
	lastFlags                 uint8
	retrans                   uint8
}

// Sequence-space comparisons, modulo 2^32.
func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

// maxAckWinConst: an ACK may lag the data by this much even when the
// windows seen are smaller, e.g. with delayed ACKs over a large send.
const maxAckWinConst = 66000

func maxAckWindow(p *tcpPeer) uint32 {
	if p.maxwin > maxAckWinConst {
		return p.maxwin
	}
	return maxAckWinConst
}

// segment holds a TCP packet's numbers.
type segment struct {
	seq, ack, end uint32
	win           uint32
	sackRight     uint32
	hasSACK       bool
	syn, hasAck   bool
	fin, rst      bool
}

func segmentOf(p *Packet) segment {
	f := p.TCPFlags
	sg := segment{
		seq:       p.Seq,
		ack:       p.Ack,
		win:       uint32(p.Window),
		sackRight: p.SACKRight,
		hasSACK:   p.HasSACK,
		syn:       f&packet.TCPSYN != 0,
		hasAck:    f&packet.TCPACK != 0,
		fin:       f&packet.TCPFIN != 0,
		rst:       f&packet.TCPRST != 0,
	}
	// SYN and FIN each occupy one sequence number.
	sg.end = p.Seq + uint32(p.PayloadLen)
	if sg.syn {
		sg.end++
	}
	if sg.fin {
		sg.end++
	}
	return sg
}

func wscaleOf(p *Packet) (uint8, bool) {
	if p.WScale < 0 {
		return 0, false
	}
	return uint8(min(p.WScale, 14)), true
}

// tcpOptions records a SYN's options for its sender.
func tcpOptions(p *Packet, peer *tcpPeer) {
	peer.scale = 0
	peer.flags &= tfLiberal
	if ws, ok := wscaleOf(p); ok {
		peer.scale = ws
		peer.flags |= tfWindowScale
	}
	if p.SACKPermitted {
		peer.flags |= tfSACKPerm
	}
}

// initSender starts tracking a direction from its SYN or SYN/ACK.
func initSender(sender, receiver *tcpPeer, p *Packet, end, win uint32, dir Dir) {
	sender.end, sender.maxend = end, end
	sender.maxwin = max(win, 1)
	tcpOptions(p, sender)
	// RFC 7323: scaling applies only if both ends offered it.
	if dir == DirReply && (sender.flags&tfWindowScale == 0 || receiver.flags&tfWindowScale == 0) {
		sender.scale, receiver.scale = 0, 0
	}
}

// tcpNew initialises a fresh entry from its first segment: a SYN, or with
// Config.Pickup an ACK of a connection already under way.
func (t *Table) tcpNew(e *entry, p *Packet, pk *parsed) {
	c := &e.tcp
	*c = tcpConn{lastIndex: tcpNoneSet}
	sg := segmentOf(p)
	s0 := &c.seen[DirOriginal]
	s0.end = sg.end
	s0.maxwin = max(sg.win, 1)
	if pk.tcpIndex == tcpSynSet {
		s0.maxend = s0.end
		tcpOptions(p, s0)
		return
	}
	// Mid-stream: the window scale is unknown, so windows cannot be
	// checked; track this connection liberally, as Linux does.
	s0.maxend = s0.end + s0.maxwin
	c.seen[DirOriginal].flags = tfSACKPerm | tfLiberal
	c.seen[DirReply].flags = tfSACKPerm | tfLiberal
}

// Window check outcomes.
const (
	winAccept = iota
	winIgnore
	winInvalid
)

// tcpInWindow checks a segment against the tracked windows and, if it
// fits, widens them. With s = sender, r = receiver:
//
//	I.   seq      <= s.maxend                      (data starts inside the window)
//	II.  seq+len  >= s.end - r.maxwin              (not all of it long acknowledged)
//	III. sack     <= r.end                         (acknowledges only data sent)
//	IV.  sack     >= r.end - max(s.maxwin, 66000)  (not absurdly old)
//
// I and III failing make the segment Invalid; II and IV mark harmless
// retransmissions and late ACKs, which pass without updating anything.
func (t *Table) tcpInWindow(c *tcpConn, dir Dir, index uint8, sg *segment, p *Packet) (int, Reason) {
	sender, receiver := &c.seen[dir], &c.seen[1-dir]
	seq, ack, end, win := sg.seq, sg.ack, sg.end, sg.win
	sack := ack
	if receiver.flags&tfSACKPerm != 0 && sg.hasSACK && after(sg.sackRight, sack) {
		sack = sg.sackRight
	}
	state := TCPState(c.state)

	if sender.maxwin == 0 {
		if sg.syn {
			// SYN/ACK answering the SYN, or the reply side's SYN in a
			// simultaneous open.
			initSender(sender, receiver, p, end, win, dir)
			if !sg.hasAck {
				return winAccept, ReasonNone
			}
		} else {
			// First segment seen from this side of a picked-up
			// connection: take its word for the window.
			sender.end = end
			swin := win << sender.scale
			if swin == 0 {
				swin = 1
			}
			sender.maxwin = swin
			sender.maxend = end + swin
			if receiver.maxwin == 0 {
				// Nothing seen the other way yet; make III and IV pass
				// until something is.
				receiver.end, receiver.maxend = sack, sack
			} else if sack == receiver.end+1 {
				// Probably the answer to a keepalive.
				receiver.end++
			}
		}
	} else if sg.syn && after(end, sender.end) && (state == TCPSynSent || state == TCPSynRecv) {
		// A new SYN (or SYN/ACK) with a higher sequence number: the end
		// point restarted the handshake (RFC 793 allows it), possibly
		// with other options. Start this side afresh.
		initSender(sender, receiver, p, end, win, dir)
		if dir == DirReply && !sg.hasAck {
			return winAccept, ReasonNone
		}
	}

	if !sg.hasAck || (sg.rst && ack == 0) {
		// No acknowledgement (or a RST from a stack that sets ACK with a
		// zero value): pretend it acknowledges everything, which passes.
		ack, sack = receiver.end, receiver.end
	}
	if sg.rst && seq == 0 && state == TCPSynSent {
		// RST answering a SYN, from a stack that sends seq 0.
		seq, end = sender.end, sender.end
	}

	liberal := t.liberal || sender.flags&tfLiberal != 0
	fail := func(v int, r Reason) (int, Reason) {
		if liberal {
			return winAccept, ReasonNone
		}
		return v, r
	}
	if !before(seq, sender.maxend+1) {
		return fail(winInvalid, ReasonSeqOver)
	}
	if !before(sack, receiver.end+1) {
		return fail(winInvalid, ReasonAckOver)
	}
	if receiver.maxwin != 0 && !after(end, sender.end-receiver.maxwin-1) {
		return fail(winIgnore, ReasonSeqUnder)
	}
	if !after(sack, receiver.end-maxAckWindow(sender)-1) {
		return fail(winIgnore, ReasonAckUnder)
	}

	if !sg.syn {
		// The window field of a SYN is never scaled (RFC 7323 2.2).
		win <<= sender.scale
	}
	if swin := win + (sack - ack); sender.maxwin < swin {
		sender.maxwin = swin
	}
	if after(end, sender.end) {
		sender.end = end
		sender.flags |= tfDataUnack
	}
	if sg.hasAck {
		if sender.flags&tfMaxAckSet == 0 {
			sender.maxack = ack
			sender.flags |= tfMaxAckSet
		} else if after(ack, sender.maxack) {
			sender.maxack = ack
		}
	}
	if receiver.maxwin != 0 && after(end, sender.maxend) {
		receiver.maxwin += end - sender.maxend
	}
	if after(sack+win, receiver.maxend-1) {
		receiver.maxend = sack + win
		if win == 0 {
			// Leave room for a zero-window probe.
			receiver.maxend++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tfDataUnack
	}
	if index == tcpAckSet {
		if c.lastDir == uint8(dir) && c.lastSeq == seq && c.lastAck == ack &&
			c.lastEnd == end && c.lastWin == p.Window {
			if c.retrans < 0xff {
				c.retrans++
			}
		} else {
			c.lastDir, c.lastSeq, c.lastAck, c.lastEnd, c.lastWin = uint8(dir), seq, ack, end, p.Window
			c.retrans = 0
		}
	}
	return winAccept, ReasonNone
}

// tcpRST judges a RST that would close the connection. It reports
// whether the window check is to be skipped (the RST answers a segment
// we let through without tracking it), whether the state is to be kept
// (in window but not at the exact expected sequence number: the end
// point will answer with a challenge ACK, RFC 5961 3.2), and whether the
// RST is invalid (below what the receiver already acknowledged).
func tcpRST(c *tcpConn, dir Dir, old TCPState, sg *segment, replied, assured bool) (skip, keep, bad bool) {
	if old.closing() {
		// A closing entry's numbers may belong to a previous incarnation
		// of the tuple; do not judge by them.
		return true, false, false
	}
	rcv := &c.seen[1-dir]
	if rcv.flags&tfMaxAckSet != 0 && c.lastIndex != tcpSynSet {
		established := old == TCPEstablished && assured
		switch {
		case sg.seq == 0 && !established:
			// Most likely answers a SYN we let through.
			return false, false, false
		case before(sg.seq, rcv.maxack):
			return false, false, true
		case !established || sg.seq == rcv.maxack:
			return false, false, false
		case c.lastIndex == tcpAckSet && c.lastDir == uint8(dir) && sg.seq == c.lastEnd:
			// Ends a train: data, then a RST right after it.
			return false, false, false
		}
		keep = true
	}
	if ((replied && c.lastIndex == tcpSynSet) || (!assured && c.lastIndex == tcpAckSet)) && sg.ack == c.lastEnd {
		// Answers a SYN or ACK we let through untracked.
		return true, keep, false
	}
	if old == TCPSynSent && c.lastIndex == tcpAckSet && c.lastDir == uint8(DirReply) && sg.seq == c.lastAck {
		// Answers a challenge ACK we let through.
		return true, keep, false
	}
	return false, keep, false
}

func (s *shard) ignored(res Result, replied bool, r Reason) Result {
	s.ctr.ignored[r].Add(1)
	res.State = stateFor(res.Dir, replied)
	res.Ignored = true
	res.Reason = r
	return res
}

func (s *shard) invalid(res Result, r Reason) Result {
	s.ctr.invalid[r].Add(1)
	res.State = StateInvalid
	res.Reason = r
	return res
}

// tcpPacket runs one segment of entry idx through the state machine and
// the window checks. The shard lock is held.
func (t *Table) tcpPacket(s *shard, idx int32, dir Dir, p *Packet, pk *parsed, now int64) Result {
	e := &s.entries[idx]
	c := &e.tcp
	index := pk.tcpIndex
	old := TCPState(c.state)
	next := tcpTransitions[dir][index][old]
	sg := segmentOf(p)
	replied := e.status&stReplied != 0
	assured := e.status&stAssured != 0
	res := Result{ID: s.id(idx), Dir: dir, TCP: old}
	if e.status&stSpliced != 0 {
		res.Spliced = true
		if dir == DirOriginal {
			s.spliceSegment(idx, &sg)
		}
	}

	if next == TCPSynSent && old >= TCPTimeWait {
		// A SYN on a closed connection. If it was closed by a FIN or
		// aborted by this side's RST, the client has moved on: drop the
		// old entry and let the SYN be judged as the new flow it is.
		if (c.seen[dir].flags|c.seen[1-dir].flags)&tfCloseInit != 0 ||
			(c.lastDir == uint8(dir) && c.lastIndex == tcpRstSet) {
			s.remove(idx, &s.ctr.deleted)
			return Result{State: StateNew, Dir: DirOriginal}
		}
		next = tcpIgnore
	}

	if next == tcpIgnore {
		if index == tcpSynAckSet && c.lastIndex == tcpSynSet && c.lastDir != uint8(dir) && sg.ack == c.lastEnd {
			// This SYN/ACK answers the SYN we ignored: the end points
			// are in sync and we were not. Resynchronise from the SYN's
			// numbers, noted when it passed.
			old, next = TCPSynSent, TCPSynRecv
			ld := c.lastDir
			lp := &c.seen[ld]
			lp.end, lp.maxend = c.lastEnd, c.lastEnd
			lp.maxwin = max(uint32(c.lastWin), 1)
			lp.scale = c.lastWScale
			c.lastFlags &^= tfChallengeAck
			lp.flags = c.lastFlags
			c.seen[dir] = tcpPeer{flags: c.seen[dir].flags & tfLiberal}
		} else {
			c.lastIndex, c.lastDir = index, uint8(dir)
			c.lastSeq, c.lastEnd, c.lastWin = sg.seq, sg.end, p.Window
			if index == tcpSynSet && dir == DirOriginal {
				// Note the SYN's options in case the server accepts it.
				c.lastFlags, c.lastWScale = 0, 0
				if ws, ok := wscaleOf(p); ok {
					c.lastFlags |= tfWindowScale
					c.lastWScale = ws
				}
				if p.SACKPermitted {
					c.lastFlags |= tfSACKPerm
				}
				if old == TCPLastAck {
					// The ACK answering it is a challenge ACK, not the
					// last ACK of the close.
					c.lastFlags |= tfChallengeAck
				}
			}
			if old == TCPSynSent && index == tcpAckSet && dir == DirReply {
				// Perhaps a challenge ACK to our SYN; a RST may follow.
				c.lastAck = sg.ack
			}
			return s.ignored(res, replied, ReasonTCPIgnored)
		}
	}

	skipWindow, rstInexact := false, false
	switch next {
	case tcpInvalid:
		return s.invalid(res, ReasonTCPState)
	case TCPTimeWait:
		if old == TCPLastAck && index == tcpAckSet && c.lastDir != uint8(dir) &&
			c.lastIndex == tcpSynSet && c.lastFlags&tfChallengeAck != 0 {
			c.lastFlags &^= tfChallengeAck
			return s.ignored(res, replied, ReasonTCPIgnored)
		}
	case TCPSynSent2:
		c.lastFlags |= tfSimOpen
	case TCPSynRecv:
		// The transition table cannot tell the final ACK of a
		// simultaneous open from a late one.
		if dir == DirReply && index == tcpAckSet && c.lastFlags&tfSimOpen != 0 {
			next = TCPEstablished
		}
	case TCPClose:
		if index == tcpRstSet {
			var bad bool
			skipWindow, rstInexact, bad = tcpRST(c, dir, old, &sg, replied, assured)
			if bad {
				return s.invalid(res, ReasonRST)
			}
			if rstInexact {
				next = old
			}
		}
	}

	if !skipWindow {
		switch v, r := t.tcpInWindow(c, dir, index, &sg, p); v {
		case winIgnore:
			return s.ignored(res, replied, r)
		case winInvalid:
			t.tcpHandleInvalid(s, idx, dir, index, now, assured)
			return s.invalid(res, r)
		}
	}

	c.lastIndex, c.lastDir = index, uint8(dir)
	c.state = uint8(next)
	res.TCP = next
	if next == TCPTimeWait || next == TCPClose {
		// A closed connection no longer counts against its source's
		// bounds, as in Linux's connlimit: a client that opens and
		// closes connections quickly is bounded by what it holds open,
		// not by its TIME_WAIT entries. No state leads back from here
		// but through a new entry.
		s.uncount(idx)
	}
	if old != next && next == TCPFinWait {
		c.seen[dir].flags |= tfCloseInit
	}
	to := t.profileTimeouts(e)
	cls := t.tcpClass(c, to, next, index, rstInexact)
	if !replied {
		if sg.rst {
			// Reset before any answer: there never was a connection.
			// The result keeps the (now stale) ID: the packet did
			// belong to an entry, there is nothing to Create.
			s.remove(idx, &s.ctr.deleted)
			res.State, res.TCP = stateFor(dir, false), TCPClose
			return res
		}
		if index == tcpSynSet && old == TCPSynSent {
			// A retransmitted SYN does not extend the entry's life, or
			// a client (or NAT) reusing its port could keep it forever.
			// (In a simultaneous open this is the other end's SYN.)
			s.account(idx, dir, p, now)
			if dir == DirReply {
				e.status |= stReplied
			}
			res.State = stateFor(dir, false)
			return res
		}
		if next == TCPEstablished && to[cls] > to[clsUnack] {
			// Picked up mid-stream and never answered.
			cls = clsUnack
		}
	} else if !assured && (old == TCPSynRecv || old == TCPEstablished) && next == TCPEstablished {
		e.status |= stAssured
	}
	s.refresh(idx, cls, now, &t.timeouts)
	s.account(idx, dir, p, now)
	if dir == DirReply {
		e.status |= stReplied
	}
	s.fixDrop(idx)
	res.State = stateFor(dir, replied)
	return res
}

// tcpClass picks the timeout for a connection now in state st, whose
// time-outs (of its profile) are to.
func (t *Table) tcpClass(c *tcpConn, to *[numClasses]int64, st TCPState, index uint8, rstInexact bool) uint8 {
	cls := uint8(st)
	switch {
	case c.retrans >= t.maxRetrans && to[cls] > to[clsRetrans]:
		return clsRetrans
	case rstInexact:
		if to[cls] > to[clsUnack] {
			return clsUnack
		}
		return cls
	case index == tcpRstSet:
		return uint8(TCPClose)
	case (c.seen[0].flags|c.seen[1].flags)&tfDataUnack != 0 && to[cls] > to[clsUnack]:
		return clsUnack
	case c.lastWin == 0 && to[cls] > to[clsRetrans]:
		// The receiver closed its window; the connection may be dead.
		return clsRetrans
	}
	return cls
}

// tcpHandleInvalid shortens the life of an assured connection whose FIN
// or RST fell outside the window in answer to the other side's FIN or
// RST: the tracker and the end points are out of sync, and the entry
// should not sit in ESTABLISHED for days because of it.
func (t *Table) tcpHandleInvalid(s *shard, idx int32, dir Dir, index uint8, now int64, assured bool) {
	if !assured || (index != tcpRstSet && index != tcpFinSet) {
		return
	}
	e := &s.entries[idx]
	c := &e.tcp
	if c.lastDir != uint8(dir) && (c.lastIndex == tcpFinSet || c.lastIndex == tcpRstSet) {
		left := e.deadline - now
		if left < int64(120*time.Second) {
			return
		}
		if left > t.profileTimeouts(e)[clsUnack] {
			s.refresh(idx, clsUnack, now, &t.timeouts)
			s.fixDrop(idx)
		}
		return
	}
	c.lastIndex, c.lastDir = index, uint8(dir)
}
