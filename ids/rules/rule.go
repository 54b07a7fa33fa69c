package rules

import (
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/srcpos"
)

// Action is what a rule does when it matches.
type Action uint8

// The actions, in Suricata's default order of precedence (pass first).
const (
	Pass       Action = iota + 1 // stop inspecting: no alert, the flow passes
	Drop                         // alert and drop (inline)
	Reject                       // alert, drop and answer: TCP RST or ICMP unreachable to the sender
	RejectSrc                    // same as Reject
	RejectDst                    // alert, drop and answer the receiver
	RejectBoth                   // alert, drop and answer both sides
	Alert                        // alert only
)

var actionNames = [...]string{Pass: "pass", Drop: "drop", Reject: "reject", RejectSrc: "rejectsrc",
	RejectDst: "rejectdst", RejectBoth: "rejectboth", Alert: "alert"}

// String returns the keyword of the action.
func (a Action) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return "action?"
}

// Blocks reports whether the action stops the packet in inline mode.
func (a Action) Blocks() bool { return a >= Drop && a <= RejectBoth }

// Protos is a set of IP protocols: the protocols a rule's header admits.
type Protos [4]uint64

// Has reports whether p is in the set.
func (s *Protos) Has(p ipproto.Proto) bool { return s[p>>6]&(1<<(p&63)) != 0 }

func (s *Protos) add(ps ...ipproto.Proto) {
	for _, p := range ps {
		s[p>>6] |= 1 << (p & 63)
	}
}

// Any reports whether every protocol is in the set (the header said ip).
func (s *Protos) Any() bool { return s[0]&s[1]&s[2]&s[3] == ^uint64(0) }

// Rule is one parsed signature.
type Rule struct {
	Pos  srcpos.Pos // where the rule starts
	Text string     // the rule as written, continuation lines joined

	// Header.
	Action        Action
	Protos        Protos     // IP protocols the rule applies to
	App           buffer.App // application protocol the header or a keyword requires; AppNone for none
	PacketOnly    bool       // tcp-pkt: packets only, never the reassembled stream
	StreamOnly    bool       // tcp-stream: the reassembled stream only
	Src, Dst      AddrSet
	SrcPorts      PortSet
	DstPorts      PortSet
	Bidirectional bool // <>: the rule also matches with source and destination swapped

	// Meta options.
	Msg        string
	SID        uint32
	GID        uint32 // 1 unless the rule says otherwise
	Rev        uint32
	Classtype  string
	Category   string // the classtype's description; "" without one
	Priority   int    // the rule's priority, else its classtype's, else DefaultPriority
	References []Reference
	Metadata   []string

	// Lists holds the payload keywords (content, pcre, byte_test, isdataat)
	// grouped by the buffer they inspect, each list in rule order, lists
	// in the order of their first keyword in the rule.
	Lists []List

	// Non-payload keywords; nil or zero when absent.
	Flow            Flow
	Flowbits        []Flowbit
	NoAlert         bool // flowbits:noalert: match (and set bits) without alerting
	Dsize           *IntTest
	TCPFlags        *IntTest // flags: a bitmask test on the TCP flags byte
	TTL             *IntTest
	IType           *IntTest
	ICode           *IntTest
	Threshold       *Threshold
	DetectionFilter *Threshold
}

// Reference is one reference option: "reference:cve,2021-44228".
type Reference struct {
	System, ID string
}

// List is the payload keywords of one buffer, in rule order.
type List struct {
	Buffer buffer.ID
	Items  []Item
}

// Item is one payload keyword: *Content, *PCRE, *ByteTest or *IsDataAt.
type Item interface {
	// Position returns where the keyword starts.
	Position() srcpos.Pos
}

// Content is a content keyword with its modifiers.
type Content struct {
	Pos     srcpos.Pos
	Pattern []byte // the bytes to find, escapes and |hex| resolved
	Negated bool   // content:!"..."
	Nocase  bool

	// Absolute placement, counted from the start of the buffer. Depth is
	// counted from Offset, as Suricata does: the match must end within
	// Offset+Depth bytes. Zero Depth means none.
	Offset, Depth int
	// Relative placement, counted from the end of the previous content or
	// pcre match in the same buffer (from the start of the buffer if there
	// is none). Within is counted from the end of the previous match plus
	// Distance. Zero Within means none.
	Distance, Within         int
	HasDistance, HasWithin   bool
	HasOffset, HasDepth      bool
	StartsWith, EndsWith     bool // startswith (= offset 0, depth the length), endswith: ends the buffer
	FastPattern              bool // fast_pattern was given
	FastPatternOnly          bool // fast_pattern:only (still verified: Suricata 7 treats it as fast_pattern)
	FastPatternOff, FastLen  int  // fast_pattern:off,len: the prefilter uses Pattern[off:off+len]
	HasFastPatternChop       bool
	relativeNext, withinNext bool
}

// Single reports whether the content stands alone: not placed, and with
// nothing relative to it. A negated single content that is found ends
// the inspection of its buffer, as in Suricata.
func (c *Content) Single() bool {
	return !c.Relative() && !c.relativeNext && !c.HasOffset && !c.HasDepth && !c.StartsWith
}

// Position implements Item.
func (c *Content) Position() srcpos.Pos { return c.Pos }

// Relative reports whether the content is placed relative to the previous
// match.
func (c *Content) Relative() bool { return c.HasDistance || c.HasWithin }

// FastBytes returns the bytes the prefilter looks for: the pattern, or
// the part fast_pattern:offset,length names.
func (c *Content) FastBytes() []byte {
	if c.HasFastPatternChop {
		return c.Pattern[c.FastPatternOff : c.FastPatternOff+c.FastLen]
	}
	return c.Pattern
}

// RetryOnFailure reports whether, when the keywords after this content
// fail, the content is searched again at its next occurrence: Suricata
// does so only when the next keyword is a content with within, whose
// window a later occurrence moves.
func (c *Content) RetryOnFailure() bool { return c.withinNext }

// PCRE is a pcre keyword, translated to Go's regexp.
type PCRE struct {
	Pos      srcpos.Pos
	Source   string // the value as written: "/pattern/flags"
	Negated  bool   // pcre:!"/.../"
	Relative bool   // R: start at the end of the previous match
	Re       *Regexp

	relativeNext bool
}

// RetryOnFailure reports whether, when the keywords after this pcre fail,
// the pcre is tried again from one past the start of its match: Suricata
// does so when a keyword after it in its buffer is relative to it.
func (p *PCRE) RetryOnFailure() bool { return p.relativeNext }

// Position implements Item.
func (p *PCRE) Position() srcpos.Pos { return p.Pos }

// ByteOp is a byte_test operator.
type ByteOp uint8

// The byte_test operators.
const (
	OpLT  ByteOp = iota + 1 // <
	OpGT                    // >
	OpEQ                    // =
	OpLE                    // <=
	OpGE                    // >=
	OpAND                   // & (any bit of the value set)
	OpXOR                   // ^ (differs from the value)
)

// ByteTest is a byte_test keyword.
type ByteTest struct {
	Pos          srcpos.Pos
	NBytes       int // 1-8 bytes, or 1-23 characters for string
	Op           ByteOp
	Negated      bool
	Value        uint64
	Offset       int
	Relative     bool
	LittleEndian bool
	String       bool // the bytes are a number written in Base
	Base         int  // 8, 10 or 16 when String
	Bitmask      uint64
	HasBitmask   bool
}

// Position implements Item.
func (b *ByteTest) Position() srcpos.Pos { return b.Pos }

// IsDataAt is an isdataat keyword.
type IsDataAt struct {
	Pos      srcpos.Pos
	N        int
	Relative bool
	Negated  bool
}

// Position implements Item.
func (d *IsDataAt) Position() srcpos.Pos { return d.Pos }

// Flow is the flow keyword; the zero value constrains nothing.
type Flow struct {
	Established    bool
	NotEstablished bool
	ToServer       bool // to_server or from_client
	ToClient       bool // to_client or from_server
	OnlyStream     bool // reassembled stream only
	NoStream       bool // packets only
}

// FlowbitOp is a flowbits command.
type FlowbitOp uint8

// The flowbits commands (noalert is Rule.NoAlert).
const (
	BitSet FlowbitOp = iota + 1
	BitUnset
	BitToggle
	BitIsSet
	BitIsNotSet
)

// Flowbit is one flowbits keyword. Names holds one name, or for isset and
// isnotset several joined by | (Any: any of them) or & (all of them).
type Flowbit struct {
	Pos   srcpos.Pos
	Op    FlowbitOp
	Names []string
	Any   bool
}

// IntMode is the comparison of an IntTest.
type IntMode uint8

// The comparisons, as Suricata's integer keywords have them.
const (
	IntEQ       IntMode = iota + 1 // =a
	IntNE                          // !a, !=a
	IntLT                          // <a
	IntLE                          // <=a
	IntGT                          // >a
	IntGE                          // >=a
	IntRange                       // a<>b, a-b: a < v < b
	IntNotRange                    // !a<>b: v <= a or v >= b
	IntMask                        // &a=b: v&a == b
	IntNotMask                     // &a!=b: v&a != b
)

// IntTest is an integer comparison: dsize, ttl, itype, icode, and the TCP
// flags in their bitmask form.
type IntTest struct {
	Mode IntMode
	A, B uint64
}

// Match reports whether v passes the test.
func (t *IntTest) Match(v uint64) bool {
	switch t.Mode {
	case IntEQ:
		return v == t.A
	case IntNE:
		return v != t.A
	case IntLT:
		return v < t.A
	case IntLE:
		return v <= t.A
	case IntGT:
		return v > t.A
	case IntGE:
		return v >= t.A
	case IntRange:
		return v > t.A && v < t.B
	case IntNotRange:
		return v <= t.A || v >= t.B
	case IntMask:
		return v&t.A == t.B
	case IntNotMask:
		return v&t.A != t.B
	}
	return false
}

// ThresholdType is the type of a threshold.
type ThresholdType uint8

// The threshold types.
const (
	ThresholdLimit     ThresholdType = iota + 1 // alert on the first Count matches per Seconds
	ThresholdThreshold                          // alert on every Count-th match within Seconds
	ThresholdBoth                               // alert once per Seconds, at the Count-th match
	ThresholdDetection                          // detection_filter: alert on each match after the Count-th within Seconds
)

// Track is what a threshold counts by.
type Track uint8

// The trackings.
const (
	BySrc  Track = iota + 1 // source address
	ByDst                   // destination address
	ByRule                  // the rule alone
	ByBoth                  // source and destination pair
)

// Threshold is a threshold or detection_filter keyword.
type Threshold struct {
	Pos     srcpos.Pos
	Type    ThresholdType
	Track   Track
	Count   uint32
	Seconds uint32
}
