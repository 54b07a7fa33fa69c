package conntrack

import "github.com/rampart-fw/rampart/ipproto"

// State is the verdict of connection tracking on one packet, in the
// sense of Linux's ctstate. The zero value is StateInvalid so that a
// forgotten Result drops rather than passes.
type State uint8

const (
	// StateInvalid: the packet fits no flow, or breaks the rules of the
	// flow it claims to belong to. Result.Reason says why.
	StateInvalid State = iota
	// StateNew: the packet starts a flow, or belongs to a flow that has
	// not been answered yet and travels in the original direction. When
	// Result.ID is zero no entry exists and the caller must call Create
	// once its policy accepts the packet.
	StateNew
	// StateEstablished: the packet belongs to a flow that has seen
	// traffic in both directions, or is a reply.
	StateEstablished
	// StateRelated: an ICMP or ICMPv6 error that quotes a tracked flow
	// and is addressed to the end that sent the quoted packet.
	StateRelated
	// StateUntracked: a message that is never tracked (ICMPv6 neighbour
	// discovery and multicast listener messages); policy decides alone.
	StateUntracked
)

var stateNames = [...]string{"invalid", "new", "established", "related", "untracked"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Dir is the direction of a packet relative to the entry it belongs to.
type Dir uint8

const (
	// DirOriginal is the direction of the packet that created the entry.
	DirOriginal Dir = 0
	// DirReply is the opposite direction.
	DirReply Dir = 1
)

func (d Dir) String() string {
	if d == DirReply {
		return "reply"
	}
	return "original"
}

// Side is the side of the firewall a packet arrived on. An entry
// remembers the side of its original direction: later packets in that
// direction must arrive on the same side and replies on the other, or
// they do not belong to it (pf's if-bound states, for a firewall with two
// sides). A wan frame "from" an inside server is then never taken for that
// server's reply. SideNone, the zero value, is for callers without sides:
// their flows match wherever packets arrive; a caller uses sides for every
// packet or for none.
type Side uint8

const (
	SideNone Side = iota
	// SideLAN and SideWAN are named after the gateway's ports; the table
	// gives them no meaning beyond being the two sides.
	SideLAN
	SideWAN
)

// Other returns the opposite side; SideNone stays SideNone.
func (s Side) Other() Side {
	switch s {
	case SideLAN:
		return SideWAN
	case SideWAN:
		return SideLAN
	}
	return s
}

func (s Side) String() string {
	switch s {
	case SideLAN:
		return "lan"
	case SideWAN:
		return "wan"
	}
	return "none"
}

// TCPState is the state of a tracked TCP connection. The values and
// their meaning are those of Linux's enum tcp_conntrack, so that logs and
// tests can be compared with conntrack(8) output.
type TCPState uint8

const (
	TCPNone        TCPState = iota // no TCP entry
	TCPSynSent                     // SYN seen from the originator
	TCPSynRecv                     // SYN/ACK seen
	TCPEstablished                 // handshake completed
	TCPFinWait                     // FIN seen in one direction
	TCPCloseWait                   // that FIN acknowledged
	TCPLastAck                     // FIN seen in both directions
	TCPTimeWait                    // last ACK seen
	TCPClose                       // reset
	TCPSynSent2                    // SYN seen from both ends: simultaneous open
)

const numTCPStates = 10

var tcpStateNames = [...]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
}

func (s TCPState) String() string { return stateName(tcpStateNames[:], uint8(s)) }

// stateName is names[s], or "UNKNOWN" past its end.
func stateName(names []string, s uint8) string {
	if int(s) < len(names) {
		return names[s]
	}
	return "UNKNOWN"
}

// closing reports whether a connection in state s is on its way out; such
// entries may be evicted under pressure even when assured, as Linux's
// tcp_can_early_drop allows.
func (s TCPState) closing() bool {
	switch s {
	case TCPFinWait, TCPCloseWait, TCPLastAck, TCPTimeWait, TCPClose:
		return true
	}
	return false
}

// Reason says why a packet was Invalid, or why it was let through without
// updating its entry (Result.Ignored).
type Reason uint8

const (
	ReasonNone Reason = iota
	// ReasonMalformed: the Packet's fields contradict each other (address
	// families differ, an address is unset, a length is negative, an ICMP
	// error without its quoted header).
	ReasonMalformed
	// ReasonTCPFlags: a flag combination no TCP sends (SYN+FIN, FIN
	// without ACK, no flags at all).
	ReasonTCPFlags
	// ReasonNoEntry: the packet can only belong to an existing flow and
	// there is none: a TCP segment other than a SYN (a spoofed ACK from
	// outside), an ICMP echo reply nobody asked for.
	ReasonNoEntry
	// ReasonTCPState: flags the connection's state does not allow (data
	// before the handshake, a SYN/ACK from the client).
	ReasonTCPState
	// ReasonSeqOver: data beyond the receiver's advertised window.
	ReasonSeqOver
	// ReasonAckOver: acknowledges data that was never sent.
	ReasonAckOver
	// ReasonRST: a reset below the acknowledged edge of the stream: a
	// blind reset attempt.
	ReasonRST
	// ReasonICMPType: an ICMP type that neither starts nor answers a
	// flow, or an ICMP error offered to Create.
	ReasonICMPType
	// ReasonICMPNoFlow: an ICMP error quoting a flow that is not tracked.
	ReasonICMPNoFlow
	// ReasonICMPDirection: an ICMP error not addressed to the host that
	// sent the quoted packet.
	ReasonICMPDirection
	// ReasonICMPSeq: an ICMP error quoting a TCP sequence number outside
	// the tracked window (RFC 5927 blind connection-reset defence).
	ReasonICMPSeq
	// ReasonICMPInner: the quoted packet is malformed or is itself an
	// ICMP error.
	ReasonICMPInner
	// ReasonTableFull: Create refused, the table is full and nothing
	// could be evicted.
	ReasonTableFull
	// ReasonSeqUnder (ignored): retransmission of data already
	// acknowledged.
	ReasonSeqUnder
	// ReasonAckUnder (ignored): an acknowledgement far behind the stream.
	ReasonAckUnder
	// ReasonTCPIgnored (ignored): flags that may mean the table is out of
	// sync with the end points (a SYN on an established connection, a
	// retransmitted SYN/ACK); the end points will sort it out, the entry
	// is left alone.
	ReasonTCPIgnored
	// ReasonSCTPChunks: chunks bundled against RFC 9260 6.10 (an INIT,
	// INIT ACK or SHUTDOWN COMPLETE with others, a COOKIE ECHO or ACK
	// not first), no chunk at all, an Initiate Tag of 0, or more control
	// chunks than are tracked.
	ReasonSCTPChunks
	// ReasonSCTPVTag: the verification tag is not the one the
	// association's peer announced (RFC 9260 8.5), or an INIT's is not 0.
	ReasonSCTPVTag
	// ReasonSCTPState: a chunk the association's state does not allow (a
	// COOKIE ACK before any INIT, an INIT ACK from the initiator's side
	// of a new entry).
	ReasonSCTPState
	// ReasonDCCPState: a packet type the connection's state and the
	// sender's role do not allow (data before the handshake, a CloseReq
	// from the client).
	ReasonDCCPState
	// ReasonSCTPIgnored (ignored): a retransmitted INIT on a closed
	// entry, or a HEARTBEAT probing a path with an unknown tag: passed,
	// without extending the entry's life.
	ReasonSCTPIgnored
	// ReasonDCCPIgnored (ignored): a packet that may mean the tracker is
	// out of sync (a Request on an open connection, Sync, SyncAck).
	ReasonDCCPIgnored
	// ReasonSourceLimit: Create refused, the packet's source address
	// holds Config.PerSource entries already.
	ReasonSourceLimit
	// ReasonPrefixLimit: Create refused, the sources of the packet's
	// source prefix hold Config.PerPrefix entries already.
	ReasonPrefixLimit
	// ReasonNATCollision: CreateNAT refused, the translated reply tuple
	// already belongs to another entry (the caller's port allocation and
	// the table disagree; never a live mapping reused).
	ReasonNATCollision

	// ReasonCount is the number of reasons; it sizes Stats arrays.
	ReasonCount
)

var reasonNames = [...]string{
	"none", "malformed", "tcp_flags", "no_entry", "tcp_state", "seq_over",
	"ack_over", "rst", "icmp_type", "icmp_no_flow", "icmp_direction",
	"icmp_seq", "icmp_inner", "table_full", "seq_under", "ack_under",
	"tcp_ignored", "sctp_chunks", "sctp_vtag", "sctp_state", "dccp_state",
	"sctp_ignored", "dccp_ignored", "source_limit", "prefix_limit", "nat_collision",
}

// String returns a stable snake_case name, used as a metric label.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Result is what the table says about one packet.
type Result struct {
	// ID is the handle of the entry the packet belongs (or is related)
	// to; zero when there is none.
	ID ID
	// State is the verdict.
	State State
	// TCP is the connection's state after this packet (TCPNone when not
	// TCP or no entry).
	TCP TCPState
	// Dir is the packet's direction within the entry. For Related it is
	// the direction in which the ICMP error travels.
	Dir Dir
	// Reason is set for Invalid, and for Ignored packets.
	Reason Reason
	// Ignored marks a packet that belongs to the entry but was not used
	// to update it (Linux's "ignored" TCP packets: retransmissions of old
	// data, flags that may mean the tracker is out of sync). State is New
	// or Established: the packet should pass.
	Ignored bool
	// NAT says that the entry is translated and that the Packet's NAT
	// field (when set) now holds what this packet must become.
	NAT bool
	// Spliced says that the entry carries a Splice (Table.Splice reads
	// it): its packets are translated on their way. Set for Invalid
	// results too when the packet did find its entry (ID non-zero).
	Spliced bool
}

// ID identifies an entry. It stays unique across reuse of the entry's
// slot: a stale ID no longer matches anything. Zero is never an entry.
type ID uint64

// ignores reports whether r explains an ignored packet rather than an
// invalid one.
func (r Reason) ignores() bool {
	return r == ReasonSeqUnder || r == ReasonAckUnder || r == ReasonTCPIgnored ||
		r == ReasonSCTPIgnored || r == ReasonDCCPIgnored
}

// closing reports whether the entry's connection is on its way out: such
// entries may be evicted under pressure even when assured, as Linux's
// can_early_drop of each protocol allows.
func (e *entry) closing() bool {
	switch e.orig.proto {
	case ipproto.TCP:
		return TCPState(e.tcp.state).closing()
	case ipproto.SCTP:
		return SCTPState(e.sctp.state).closing()
	case ipproto.DCCP:
		return DCCPState(e.dccp.state).closing()
	}
	return false
}
