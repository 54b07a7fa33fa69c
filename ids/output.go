package ids

import (
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/rules"
)

// Alert is one rule that matched and is to be logged.
type Alert struct {
	Time   time.Time
	FlowID uint64 // 0 for a packet without a flow
	// Key is the inspected data's direction: the packet's source and
	// destination, or, for stream data and transactions, the side that
	// sent them.
	Key  flow.Key
	App  buffer.App
	Rule *rules.Rule
	// Frame is the number of the frame whose processing raised the
	// alert, counted from 1 by Worker.Process (with one worker over a
	// capture, its place in the capture: EVE's pcap_cnt); 0 when no
	// frame did (the end of a capture, a time-out, Worker.Inspect).
	Frame uint64
	// ICMP says the alert is on an ICMP or ICMPv6 packet, whose type and
	// code EVE records beside the addresses.
	ICMP               bool
	ICMPType, ICMPCode uint8
	// Blocked says the packet (and, for TCP, the rest of its flow) was
	// dropped: a drop or reject rule in prevention mode. In detection
	// mode every alert is allowed, as Suricata logs it.
	Blocked bool
}

// Layer is the part of the engine an Event comes from.
type Layer uint8

// The layers, named as Suricata's anomaly records name them.
const (
	LayerDecode   Layer = iota // IP reassembly (package ids/defrag)
	LayerStream                // TCP reassembly (package ids/stream)
	LayerAppLayer              // application-layer parsers (package ids/applayer)
)

var layerNames = [...]string{LayerDecode: "decode", LayerStream: "stream", LayerAppLayer: "applayer"}

// String returns "decode", "stream" or "applayer".
func (l Layer) String() string {
	if int(l) < len(layerNames) {
		return layerNames[l]
	}
	return "layer?"
}

// Event is one anomaly the engine's parts reported: an overlap with
// different data, a gap, a tiny fragment, an HTTP request with both
// Content-Length and Transfer-Encoding.
type Event struct {
	Time   time.Time
	FlowID uint64   // 0 when the event is not about a flow (IP fragments)
	Key    flow.Key // for defrag events the addresses and protocol only
	App    buffer.App
	Layer  Layer
	// Name is the part's name of the kind, snake_case:
	// "overlap_different_data", "tiny_fragment", "cl_and_te".
	Name string
	// Policy is the target policy that resolved an overlap ("" when
	// none applies): "windows", "bsd".
	Policy string
}

// Output receives alerts and events. Its methods may be called from
// several goroutines at once (every worker, and Flush), with locks of the
// engine held: they must not call the Engine, and must copy what they
// keep.
type Output interface {
	Alert(a Alert)
	Event(e Event)
}

type nopOutput struct{}

func (nopOutput) Alert(Alert) {}
func (nopOutput) Event(Event) {}

// Outputs is an Output that hands everything to each of its members in
// turn: an EVE file and a fast.log, say.
type Outputs []Output

// Alert implements Output.
func (o Outputs) Alert(a Alert) {
	for _, out := range o {
		out.Alert(a)
	}
}

// Event implements Output.
func (o Outputs) Event(e Event) {
	for _, out := range o {
		out.Event(e)
	}
}
