package stream

import (
	"fmt"
	"time"
)

// Mode says where the engine stands, which decides when data is handed on
// and what becomes of ambiguous segments.
type Mode uint8

const (
	// Detect: beside the traffic (a tap, a span port, a capture file).
	// Data is handed to the consumer once the receiver acknowledges it
	// (Suricata's ack-based reassembly), so that overlapping segments
	// that arrive before the acknowledgement are resolved by the
	// destination's policy first; ambiguities become events.
	Detect Mode = iota
	// Prevent: in line (the gateway). Data is handed on as soon as it is
	// in order, before the packet that completes it is forwarded, and
	// every forwarded segment is normalised so that the destination
	// receives exactly the bytes inspected, whatever its policy.
	Prevent
)

func (m Mode) String() string {
	if m == Prevent {
		return "prevent"
	}
	return "detect"
}

// Midstream says whether flows whose handshake was not seen are picked up.
type Midstream uint8

const (
	// MidstreamAuto picks them up in Detect mode (a capture often starts
	// in the middle of connections) and not in Prevent mode, where a flow
	// the engine did not see open is dropped, as Suricata's IPS does.
	MidstreamAuto Midstream = iota
	MidstreamOn
	MidstreamOff
)

// Defaults of Config.
const (
	DefaultDepth              = 1 << 20 // Suricata's stream.reassembly.depth
	DefaultMaxBuffer          = 4 << 20 // Snort's max_queued_bytes
	DefaultHoleBytes          = 1 << 20
	DefaultHoleSegments       = 1024
	DefaultHoleTimeout        = 30 * time.Second
	DefaultMemCap             = 256 << 20 // Suricata's stream.reassembly.memcap
	DefaultMaxFlows           = 1 << 17
	DefaultNewTimeout         = 60 * time.Second  // Suricata's flow-timeouts tcp.new
	DefaultEstablishedTimeout = 600 * time.Second // tcp.established
	DefaultClosedTimeout      = 10 * time.Second
)

// NoDepth, as Config.Depth, reassembles every byte of every stream.
const NoDepth = -1

// Config configures a Table. Zero fields take the defaults.
type Config struct {
	Mode Mode
	// Policies picks the policy of each destination; nil gives
	// DefaultPolicy (bsd) to all.
	Policies *HostPolicies
	// Midstream: see the constants [auto].
	Midstream Midstream
	// Depth is how many bytes of each direction of a flow are reassembled
	// and handed on; later bytes are tracked for sequence numbers only
	// (NoDepth: all) [1 MiB].
	Depth int64
	// MaxBuffer bounds the bytes one direction may hold, counted from the
	// oldest byte kept to the newest: out-of-order data, data waiting for
	// its acknowledgement (Detect), data forwarded but not yet
	// acknowledged (Prevent, where it is the normaliser's window: a
	// segment beyond it is dropped until acknowledgements catch up)
	// [4 MiB].
	MaxBuffer int
	// HoleBytes, HoleSegments and HoleTimeout bound the wait for a
	// missing segment: at most HoleBytes of data in at most HoleSegments
	// segments held behind it, for at most HoleTimeout from the first one
	// held. Past any of them, Detect gives the hole up as a gap (an
	// event, KindHoleLimit) and hands on what follows; Prevent drops the
	// segments that would exceed the bytes or segments, and waits
	// [1 MiB, 1024, 30s].
	HoleBytes    int
	HoleSegments int
	HoleTimeout  time.Duration
	// MemCap bounds the bytes held in stream buffers by all flows,
	// counted as the buffers that hold them (kept in power-of-two
	// classes), spare buffers kept for reuse included. When it is
	// reached the flow that holds the most hands on what it holds (Detect)
	// before a segment is refused [256 MiB].
	MemCap int
	// MaxFlows bounds the flows tracked at once; when the table is full,
	// closed flows go first, then half-open ones, then the least recently
	// active [131072].
	MaxFlows int
	// Time-outs after the last packet: of a flow whose handshake is
	// incomplete, of an established flow, and of a closed or reset flow
	// (kept to absorb the last packets; a reset flow is ended when it
	// expires, so that data the host accepted despite the reset is still
	// inspected) [60s, 600s, 10s].
	NewTimeout         time.Duration
	EstablishedTimeout time.Duration
	ClosedTimeout      time.Duration
	// OnEvent, when set, receives every event. It is called synchronously
	// with a lock of the Table held: it must be quick and must not call
	// the Table.
	OnEvent func(Event)
	// Shards is the number of independently locked parts the flows are
	// spread over; zero picks 16.
	Shards int
}

func (c *Config) setDefaults() error {
	if c.Mode > Prevent {
		return fmt.Errorf("stream: invalid mode %d", c.Mode)
	}
	if c.Midstream > MidstreamOff {
		return fmt.Errorf("stream: invalid midstream setting %d", c.Midstream)
	}
	if c.Depth == 0 {
		c.Depth = DefaultDepth
	}
	if c.Depth < NoDepth {
		return fmt.Errorf("stream: depth %d is negative", c.Depth)
	}
	if c.MaxBuffer <= 0 {
		c.MaxBuffer = DefaultMaxBuffer
	}
	if c.HoleBytes <= 0 {
		c.HoleBytes = min(DefaultHoleBytes, c.MaxBuffer)
	}
	if c.HoleSegments <= 0 {
		c.HoleSegments = DefaultHoleSegments
	}
	if c.HoleTimeout <= 0 {
		c.HoleTimeout = DefaultHoleTimeout
	}
	if c.MemCap <= 0 {
		c.MemCap = DefaultMemCap
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.NewTimeout <= 0 {
		c.NewTimeout = DefaultNewTimeout
	}
	if c.EstablishedTimeout <= 0 {
		c.EstablishedTimeout = DefaultEstablishedTimeout
	}
	if c.ClosedTimeout <= 0 {
		c.ClosedTimeout = DefaultClosedTimeout
	}
	if c.Shards <= 0 {
		c.Shards = 16
	}
	c.Shards = min(c.Shards, c.MaxFlows)
	if c.MaxBuffer < maxSegment {
		return fmt.Errorf("stream: max buffer %d is less than one largest segment (%d bytes)", c.MaxBuffer, maxSegment)
	}
	if c.MaxBuffer > maxBufClass {
		return fmt.Errorf("stream: max buffer %d is more than %d", c.MaxBuffer, maxBufClass)
	}
	if c.HoleBytes > c.MaxBuffer {
		return fmt.Errorf("stream: hole bytes %d exceed max buffer %d", c.HoleBytes, c.MaxBuffer)
	}
	if per := c.MemCap / c.Shards; per < 2*sizes.Size(sizes.ClassOf(c.MaxBuffer)) {
		return fmt.Errorf("stream: memcap %d gives each of %d shards %d bytes, less than two buffers of max buffer %d (rounded to %d)", c.MemCap, c.Shards, per, c.MaxBuffer, sizes.Size(sizes.ClassOf(c.MaxBuffer)))
	}
	return nil
}

func (c *Config) midstream() bool {
	switch c.Midstream {
	case MidstreamOn:
		return true
	case MidstreamOff:
		return false
	}
	return c.Mode == Detect
}
