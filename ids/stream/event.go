package stream

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/rampart-fw/rampart/flow"
)

// Kind is what an Event reports.
type Kind uint8

// Kinds of events. Those marked "dropped inline" make Process return
// Drop in prevention mode; in detection mode the segment is left out of
// the reassembled stream, as the destination would leave it out.
const (
	KindNone Kind = iota
	// KindOverlapDiff: a segment covers bytes held from an earlier one
	// with other content, the signature of an insertion or evasion
	// attempt. Detection resolves it by the destination's policy;
	// prevention rewrites the segment to the bytes already inspected.
	KindOverlapDiff
	// KindOverlap: a segment covers bytes held from an earlier one with
	// the same content (a retransmission or a repacketisation).
	KindOverlap
	// KindRetransmitDiff: a segment carrying no new byte repeats held
	// bytes with other content (dropped inline).
	KindRetransmitDiff
	// KindGap: bytes were never seen and never will be: the receiver
	// acknowledged them (the capture lost them), or the flow ended with a
	// hole. The consumer gets a gap for them.
	KindGap
	// KindHoleLimit: data waited behind a hole longer, or in more bytes
	// or segments, than Config allows; the hole became a gap (detection)
	// or the segment that would have exceeded it was dropped (prevention).
	KindHoleLimit
	// KindLateData: a segment arrived for bytes given up as a gap, too
	// late to be inspected.
	KindLateData
	// KindBadWindow: a segment lies beyond the receive window the
	// destination advertised (dropped inline).
	KindBadWindow
	// KindPAWS: a segment's timestamp is older than the sender's last one
	// (RFC 7323 PAWS), so the destination discards it (dropped inline).
	KindPAWS
	// KindInvalidAck: a segment acknowledges data its peer never sent,
	// so the peer discards it (dropped inline).
	KindInvalidAck
	// KindInvalidRST: a reset the destination does not accept, by its
	// policy (dropped inline).
	KindInvalidRST
	// KindDataAfterFIN: data past a direction's FIN. Before the FIN is
	// acknowledged the FIN is taken as not received and the data goes on;
	// after, it is dropped inline and left out.
	KindDataAfterFIN
	// KindDataAfterReset: data on a flow after a reset that was taken as
	// accepted: the host ignored the reset (or it was injected), and the
	// stream goes on.
	KindDataAfterReset
	// KindMidstream: a flow was picked up without its handshake.
	KindMidstream
	// KindMidstreamRefused: a segment of an unknown flow was not picked up
	// (prevention drops it).
	KindMidstreamRefused
	// KindMemcap: the memory cap kept a segment out (prevention drops it),
	// or made a flow deliver what it held at once.
	KindMemcap
	// KindDepth: the direction reached Config.Depth; later bytes are
	// neither reassembled nor normalised.
	KindDepth
	// KindUrgent: a segment with urgent data, which hosts deliver in line
	// or out of band by socket option; detection keeps it in line,
	// prevention clears URG and the urgent pointer.
	KindUrgent
	// KindSYNData: a SYN carries data without a TCP Fast Open cookie,
	// data the destination ignores.
	KindSYNData
	// KindFlowLimit: the flow table was full; the oldest flow of the
	// least valuable class was ended to make room.
	KindFlowLimit
	numKinds
)

// NumKinds is the number of event kinds, for iterating over Stats.Events.
const NumKinds = int(numKinds)

var kindNames = [numKinds]string{"none", "overlap_different_data", "overlap", "retransmission_different_data", "gap", "hole_limit", "late_data", "bad_window", "paws", "invalid_ack", "invalid_rst", "data_after_fin", "data_after_reset", "midstream", "midstream_refused", "memcap", "depth", "urgent", "syn_data", "flow_limit"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Kinds is a set of event kinds: those a packet raised.
type Kinds uint32

// Has reports whether k is in s.
func (s Kinds) Has(k Kind) bool { return s&(1<<k) != 0 }

func (s *Kinds) add(k Kind) { *s |= 1 << k }

// Len returns the number of kinds in s.
func (s Kinds) Len() int { return bits.OnesCount32(uint32(s)) }

// Event is one thing worth reporting about a flow: the IDS turns it into
// an EVE record. Start and End are the stream offsets concerned in
// direction Dir (0, 0 when the event is about the flow or packet as a
// whole).
type Event struct {
	Kind       Kind
	Key        flow.Key // the flow, client to server
	FlowID     uint64
	Dir        Dir
	Policy     Policy // of the destination of Dir
	Start, End uint64
	Time       time.Time
}
