package stream

import (
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/packet"
)

// Dir is a direction of a flow.
type Dir uint8

const (
	ToServer Dir = iota // from the client, which sent the SYN
	ToClient
)

func (d Dir) String() string {
	if d == ToClient {
		return "to_client"
	}
	return "to_server"
}

// State is the state of a flow's connection as the engine follows it.
type State uint8

const (
	StateNone        State = iota
	StateSynSent           // the client's SYN seen
	StateSynRecv           // the server's SYN/ACK seen
	StateEstablished       // the handshake completed, or the flow was picked up midstream
	StateReset             // a reset was accepted; kept for Config.ClosedTimeout
	StateClosed            // both directions' FINs acknowledged
)

var stateNames = [...]string{"none", "syn_sent", "syn_recv", "established", "reset", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "?"
}

// EndReason says why a flow's stream ended.
type EndReason uint8

const (
	EndClosed  EndReason = iota // both FINs acknowledged
	EndReset                    // a reset, once Config.ClosedTimeout passed without more data
	EndTimeout                  // no packet for the state's time-out
	EndEvicted                  // the flow table was full
	EndFlush                    // Table.Flush: the capture or the engine ended
)

var endNames = [...]string{"closed", "reset", "timeout", "evicted", "flush"}

func (r EndReason) String() string {
	if int(r) < len(endNames) {
		return endNames[r]
	}
	return "?"
}

// Verdict is what the gateway should do with a packet (Prevent mode;
// Detect always forwards).
type Verdict uint8

const (
	Forward Verdict = iota
	Drop
)

func (v Verdict) String() string {
	if v == Drop {
		return "drop"
	}
	return "forward"
}

// Norm records what normalisation changed in a forwarded packet.
type Norm uint8

const (
	// NormPayload: payload bytes that overlapped bytes already forwarded
	// were rewritten to those bytes, and the TCP checksum adjusted.
	NormPayload Norm = 1 << iota
	// NormUrgent: the URG flag and the urgent pointer were cleared.
	NormUrgent
)

// Result is what Process made of a packet.
type Result struct {
	// Flow is the packet's flow, nil when the packet is not tracked (not
	// TCP, invalid, a fragment, or a flow that was not picked up). It is
	// safe to use in the Consumer's callbacks; once Process has returned,
	// another goroutine may end the flow and reuse it. FlowID names it for
	// good.
	Flow   *Flow
	FlowID uint64
	Dir    Dir
	// Verdict is Drop in Prevent mode for packets the destination would
	// discard or whose bytes contradict those inspected (see Kind), for
	// segments over the limits, and for every packet of a flow that was
	// dropped with Flow.Drop.
	Verdict Verdict
	Norm    Norm
	// Events are the kinds of event the packet raised.
	Events Kinds
}

// Chunk is one piece of a reassembled direction: Data at stream offset
// Off (the number of bytes of the direction before it, gaps included;
// offset 0 is the byte after the SYN, or the first byte seen of a flow
// picked up midstream); or, when Gap is non-zero, Gap bytes at Off that
// will never be delivered; or, with FIN, the end of the direction at Off.
// Data is valid only during the call.
type Chunk struct {
	Dir  Dir
	Off  uint64
	Data []byte
	Gap  uint64
	FIN  bool
}

// Consumer receives the reassembled streams: the detection engine and
// the application-layer parsers. Its methods are called synchronously from
// Process, Sweep and Flush with the lock of the flow's shard held: they
// may use the Flow and its User field, and must not call the Table.
//
// For each direction of a flow, chunks come in order and contiguous (the
// next Off is the previous Off plus its Data or Gap length), and a FIN
// chunk is the last; past Config.Depth nothing is handed on but the FIN,
// whose Off is then where the direction ended. In Detect mode the data of one direction usually
// arrives while Process handles a packet of the other direction: the
// acknowledgement that confirms it.
type Consumer interface {
	// Stream hands on the next chunk of one direction of f.
	Stream(f *Flow, c Chunk)
	// Packet is called once for every packet of a tracked flow, after its
	// stream processing (any chunks it released came first). In Prevent
	// mode the consumer may set r.Verdict to Drop (an inline drop rule):
	// that drops the rest of the flow too, since the packet's bytes now
	// count as inspected and a copy sent again would not be handed on.
	Packet(f *Flow, p *packet.Parsed, r *Result)
	// End is called once when f's stream is over; f is reused afterwards.
	End(f *Flow, why EndReason)
}

// Flow is one TCP connection followed by the Table.
type Flow struct {
	// User is the consumer's, for its per-flow state; the Table sets it
	// to nil when the flow starts and never reads it.
	User any

	key     flow.Key // client to server
	tk      tkey
	id      uint64
	state   State
	before  State // the state a reset interrupted
	ts      bool  // both ends use timestamps
	mid     bool  // picked up midstream
	dropped bool
	ended   bool // End was called
	seen    [2]bool
	sides   [2]side
	created int64 // unix ns of the first packet
	last    int64 // unix ns of the last packet
	packets [2]uint64
	bytes   [2]uint64 // IP bytes

	// Bookkeeping of the shard.
	class      uint8
	prev, next *Flow
	heapIdx    int
	charged    int // buffer bytes held by both sides
}

// Key returns the flow's key in the client-to-server direction.
func (f *Flow) Key() flow.Key { return f.key }

// ID returns a number that names the flow for its lifetime and is never
// reused by the same Table: EVE's flow_id. It is below 2^51.
func (f *Flow) ID() uint64 { return f.id }

// Start returns the time of the flow's first packet.
func (f *Flow) Start() time.Time { return time.Unix(0, f.created).UTC() }

// Last returns the time of the flow's latest packet.
func (f *Flow) Last() time.Time { return time.Unix(0, f.last).UTC() }

// Packets returns the packets seen in direction d, and their bytes (IP
// headers included), counted before anything is decided about them.
func (f *Flow) Packets(d Dir) (packets, bytes uint64) { return f.packets[d], f.bytes[d] }

// State returns the connection's state.
func (f *Flow) State() State { return f.state }

// Midstream reports whether the flow was picked up without its handshake.
func (f *Flow) Midstream() bool { return f.mid }

// Policy returns the policy of the destination of direction d.
func (f *Flow) Policy(d Dir) Policy { return f.sides[d].policy }

// Delivered returns how many bytes of direction d have been handed to the
// consumer, gaps included: the offset of the next chunk.
func (f *Flow) Delivered(d Dir) uint64 { return f.sides[d].dlv }

// Drop makes every later packet of the flow Drop (Prevent mode) and stops
// its reassembly, as an inline drop rule does to the rest of a flow. It
// may be called from a Consumer's methods only; a Drop verdict on a packet
// does it too.
func (f *Flow) Drop() { f.dropped = true }

// Dropped reports whether Drop was called.
func (f *Flow) Dropped() bool { return f.dropped }
