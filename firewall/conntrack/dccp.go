package conntrack

import "github.com/rampart-fw/rampart/packet"

// DCCP tracking: the connection states, the packet-type transition table
// per role and the time-outs of Linux's nf_conntrack_proto_dccp.c, which
// follow RFC 4340 section 8. Like TCP tracking it sits in the middle: a
// packet it passes may still be lost, so doubtful packets (a Request on
// an open connection, Sync and SyncAck) pass without changing the state,
// and a Response answering such a Request resynchronises the tracker.
//
// Where this port deliberately differs from Linux:
//   - Only a Request starts a connection, whatever Config.Pickup says:
//     DCCP has no mid-stream pick-up worth the name (Linux's loose mode
//     creates an entry in NONE from a Sync, which no later packet can
//     move on), and a policy that lets a peer open connections must see
//     them opened.
//   - A Close retransmitted in CLOSING stays in CLOSING (RFC 4340 8.3:
//     the client repeats its Close until the Reset arrives). Linux's
//     table calls it Invalid although its comment says "Retransmit".

// DCCPState is the state of a tracked DCCP connection, with the values
// and meaning of Linux's enum ct_dccp_states.
type DCCPState uint8

const (
	DCCPNone     DCCPState = iota // not a DCCP entry
	DCCPRequest                   // Request seen, waiting for the Response
	DCCPRespond                   // Response seen, waiting for the client's Ack
	DCCPPartOpen                  // the client acknowledged the Response; waiting for the server's first Ack or Data
	DCCPOpen                      // data may flow both ways
	DCCPCloseReq                  // the server asked the client to close
	DCCPClosing                   // Close seen, waiting for the Reset
	DCCPTimeWait                  // Reset seen
	numDCCPStates
)

var dccpStateNames = [...]string{
	"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT",
}

func (s DCCPState) String() string { return stateName(dccpStateNames[:], uint8(s)) }

// closing reports the states Linux's dccp_can_early_drop lets go under
// pressure even when assured.
func (s DCCPState) closing() bool {
	return s == DCCPCloseReq || s == DCCPClosing || s == DCCPTimeWait
}

// Pseudo-states of the transition table.
const (
	dccpIgnore  = numDCCPStates     // may be valid; pass it, touch nothing
	dccpInvalid = numDCCPStates + 1 // the packet is invalid
)

// Roles: the client sent the Request.
const (
	dccpClient = 0
	dccpServer = 1
)

// Short names for the table, as in Linux's source.
const (
	dNO = DCCPNone
	dRQ = DCCPRequest
	dRS = DCCPRespond
	dPO = DCCPPartOpen
	dOP = DCCPOpen
	dCR = DCCPCloseReq
	dCG = DCCPClosing
	dTW = DCCPTimeWait
	dIG = DCCPState(dccpIgnore)
	dIV = DCCPState(dccpInvalid)
)

// dccpTransitions[role][type][state] is the next state for a packet of
// type type sent by the end point in role role. The reasoning for the
// cells that are not obvious:
//   - a Request on a connection past RESPOND may be a new incarnation the
//     tracker missed the end of: ignored, and a Response to it
//     resynchronises (dccpPacket);
//   - a Request from the server in TIMEWAIT is a new connection the other
//     way round: the roles swap;
//   - Data from the client in PARTOPEN is Invalid: RFC 4340 8.1.5 says
//     DataAck;
//   - only the server sends CloseReq; a Close after one is the client's,
//     the server's own Close then is Invalid;
//   - Sync and SyncAck are ignored: they repair sequence numbers, which
//     the tracker does not follow.
var dccpTransitions = [2][10][numDCCPStates]DCCPState{
	dccpClient: {
		//                     dNO  dRQ  dRS  dPO  dOP  dCR  dCG  dTW
		packet.DCCPRequest:  {dRQ, dRQ, dRS, dIG, dIG, dIG, dIG, dRQ},
		packet.DCCPResponse: {dIV, dIG, dIG, dIG, dIG, dIG, dIG, dIV},
		packet.DCCPAck:      {dIV, dIV, dPO, dPO, dOP, dCR, dCG, dIV},
		packet.DCCPData:     {dIV, dIV, dIV, dIV, dOP, dCR, dCG, dIV},
		packet.DCCPDataAck:  {dIV, dIV, dPO, dPO, dOP, dCR, dCG, dIV},
		packet.DCCPCloseReq: {dIV, dIV, dIV, dIV, dIV, dIV, dIV, dIV},
		packet.DCCPClose:    {dIV, dIV, dIV, dCG, dCG, dCG, dCG, dIV},
		packet.DCCPReset:    {dIV, dTW, dTW, dTW, dTW, dTW, dTW, dIG},
		packet.DCCPSync:     {dIG, dIG, dIG, dIG, dIG, dIG, dIG, dIG},
		packet.DCCPSyncAck:  {dIG, dIG, dIG, dIG, dIG, dIG, dIG, dIG},
	},
	dccpServer: {
		//                     dNO  dRQ  dRS  dPO  dOP  dCR  dCG  dTW
		packet.DCCPRequest:  {dIV, dIG, dIG, dIG, dIG, dIG, dIG, dRQ},
		packet.DCCPResponse: {dIV, dRS, dRS, dIG, dIG, dIG, dIG, dIV},
		packet.DCCPAck:      {dIV, dIV, dIV, dOP, dOP, dIV, dCG, dIV},
		packet.DCCPData:     {dIV, dIV, dIV, dOP, dOP, dIV, dCG, dIV},
		packet.DCCPDataAck:  {dIV, dIV, dIV, dOP, dOP, dIV, dCG, dIV},
		packet.DCCPCloseReq: {dIV, dIV, dIV, dCR, dCR, dCR, dCR, dIV},
		packet.DCCPClose:    {dIV, dIV, dIV, dCG, dCG, dIV, dCG, dIV},
		packet.DCCPReset:    {dIV, dTW, dTW, dTW, dTW, dTW, dTW, dIG},
		packet.DCCPSync:     {dIG, dIG, dIG, dIG, dIG, dIG, dIG, dIG},
		packet.DCCPSyncAck:  {dIG, dIG, dIG, dIG, dIG, dIG, dIG, dIG},
	},
}

// dccpConn is what the tracker keeps of a connection.
type dccpConn struct {
	// handshakeSeq is the sequence number of the Response, which the
	// client's Ack must acknowledge for the connection to be assured.
	handshakeSeq uint64
	state        uint8
	lastPkt      uint8 // type of the last packet seen (ignored ones included)
	lastDir      uint8
	role         [2]uint8 // by direction
}

// dccpNew initialises a fresh entry from its Request.
func dccpNew(c *dccpConn) {
	*c = dccpConn{lastPkt: packet.DCCPRequest, role: [2]uint8{dccpClient, dccpServer}}
}

// dccpPacket runs one packet of entry idx through the state machine.
func (t *Table) dccpPacket(s *shard, idx int32, dir Dir, p *Packet, now int64) Result {
	e := &s.entries[idx]
	c := &e.dccp
	typ := p.DCCP.Type
	replied := e.status&stReplied != 0
	res := Result{ID: s.id(idx), Dir: dir}

	if typ == packet.DCCPReset && !replied {
		// The only answer is a Reset: there is no connection. The Reset
		// passes (the client must hear it); the entry goes. The result
		// keeps the stale ID, as for a TCP reset before any answer.
		s.remove(idx, &s.ctr.deleted)
		res.State = stateFor(dir, false)
		return res
	}
	role := c.role[dir]
	old := DCCPState(c.state)
	next := dccpTransitions[role][typ][old]
	switch next {
	case DCCPRequest:
		if old == DCCPTimeWait && role == dccpServer {
			c.role[dir], c.role[1-dir] = dccpClient, dccpServer
		}
	case DCCPRespond:
		if old == DCCPRequest {
			c.handshakeSeq = p.DCCP.Seq
		}
	case DCCPPartOpen:
		if old == DCCPRespond && typ == packet.DCCPAck && p.DCCP.Ack == c.handshakeSeq {
			e.status |= stAssured
		}
	case dIG:
		if c.lastDir != uint8(dir) && c.lastPkt == packet.DCCPRequest && typ == packet.DCCPResponse {
			// The Response to a Request that was ignored: the end
			// points started a new connection, with these roles.
			c.role[1-dir], c.role[dir] = dccpClient, dccpServer
			c.handshakeSeq = p.DCCP.Seq
			next = DCCPRespond
			break
		}
		c.lastDir, c.lastPkt = uint8(dir), typ
		return s.ignored(res, replied, ReasonDCCPIgnored)
	case dIV:
		return s.invalid(res, ReasonDCCPState)
	}
	c.lastDir, c.lastPkt, c.state = uint8(dir), typ, uint8(next)
	return t.accept(s, idx, uint8(clsDCCP)+uint8(next), p, res, replied, now)
}
