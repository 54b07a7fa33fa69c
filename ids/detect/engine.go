package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

// Config configures an Engine. Zero fields take the defaults.
type Config struct {
	// MaxThresholdEntries bounds the entries of the threshold and
	// detection_filter tracking table (one per rule and tracked address
	// or pair) [65536]. When it is full, expired entries are reclaimed;
	// a match that still finds no room is counted in
	// Stats.ThresholdTableFull and judged as the first of a new window.
	MaxThresholdEntries int
	// RecursionLimit bounds the steps of one rule's content inspection,
	// as Suricata's inspection-recursion-limit does: retries of relative
	// contents can otherwise grow exponentially [3000].
	RecursionLimit int
}

// Defaults of Config.
const (
	DefaultMaxThresholdEntries = 65536
	DefaultRecursionLimit      = 3000
)

// Input is one inspection. Key is required; the rest is what the caller
// has: see the package doc.
type Input struct {
	Key  flow.Key  // addresses, ports (ICMP query id per package flow) and protocol
	Time time.Time // for thresholds: the packet's time (the capture's clock offline)
	Flow Flow      // nil: no flow

	// Packet says the header fields and Payload are a packet's.
	Packet   bool
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	TCPFlags uint8
	ICMPType uint8
	ICMPCode uint8
	Payload  []byte

	// Stream is reassembled stream data of this direction, nil when none:
	// a window of it that starts at stream offset StreamBase (offset 0 is
	// the direction's first byte), whose bytes from index StreamNew on
	// are new and the ones before it context already inspected (see
	// Engine.StreamContext). Absolute placements of payload keywords
	// (offset, depth, startswith, byte_test and isdataat without
	// relative) count from the stream's start, and a rule matches only
	// where its match covers a new byte: what lies wholly in the context
	// was reported when it was new.
	Stream     []byte
	StreamBase uint64
	StreamNew  int
	// Reassembled says the packet's flow is reassembled and its bytes
	// inspected as Stream inputs: then, as in Suricata, only rules that
	// need the packet (dsize, flags, ttl, itype, icode, flow:no_stream,
	// tcp-pkt) inspect the packet's Payload, so that one payload match
	// does not alert once on the packet and again on the stream.
	Reassembled bool

	// App is the flow's application protocol as detected; Buffers the
	// transaction's buffers (nil when none).
	App     buffer.App
	Buffers *buffer.Set
}

// Match is a rule that matched an Input.
type Match struct {
	Rule   *rules.Rule
	Action rules.Action
	// Alert is false when the rule matched but is not to be logged: its
	// threshold suppressed the alert (the action still applies, as in
	// Suricata), or the rule is noalert.
	Alert bool
}

// Stats are the engine's counters, read with atomic loads.
type Stats struct {
	Inspections        atomic.Uint64
	Candidates         atomic.Uint64 // rules fully evaluated
	Matches            atomic.Uint64
	RecursionLimit     atomic.Uint64 // inspections cut short by Config.RecursionLimit
	ThresholdTableFull atomic.Uint64
}

// protocol classes: one prefilter per class, so that a TCP packet does
// not make UDP rules candidates.
const (
	classTCP = iota
	classUDP
	classOther
	numClasses
)

func classOf(p ipproto.Proto) int {
	switch p {
	case ipproto.TCP:
		return classTCP
	case ipproto.UDP:
		return classUDP
	}
	return classOther
}

// prefilter is the fast-pattern matcher of one buffer and class.
type prefilter struct {
	m     matcher
	rules []int32 // pattern ID → rule
}

// Engine is a compiled rule set. It is immutable except for its
// threshold table and counters, and is shared by all workers.
type Engine struct {
	cfg   Config
	rules []*crule // in evaluation order

	pre [buffer.Count][numClasses]*prefilter
	// Rules without a usable fast pattern, by class: those for any
	// destination port, and those for a few ports, by port.
	always [numClasses][]int32
	byPort [numClasses]map[uint16][]int32

	// streamContext is the largest span of a rule that inspects the
	// stream: see StreamContext.
	streamContext int

	thresholds *thresholdTable
	Stats      Stats
}

// actionOrder is Suricata's default action-order: pass, drop, reject,
// alert.
func actionOrder(a rules.Action) int {
	switch a {
	case rules.Pass:
		return 0
	case rules.Drop:
		return 1
	case rules.Reject, rules.RejectSrc, rules.RejectDst, rules.RejectBoth:
		return 2
	}
	return 3
}

// flowbitsOrder ranks rules as Suricata's flowbits orderer does: rules
// that only set bits before rules that set and read, before rules that
// only read, so that a bit set by one rule is seen by another on the
// same packet.
func flowbitsOrder(r *rules.Rule) int {
	set, read := false, false
	for _, f := range r.Flowbits {
		switch f.Op {
		case rules.BitSet, rules.BitUnset, rules.BitToggle:
			set = true
		default:
			read = true
		}
	}
	switch {
	case set && !read:
		return 0
	case set && read:
		return 1
	case read:
		return 2
	}
	return 1
}

// Compile builds an engine from a rule set.
func Compile(set *rules.Set, cfg Config) (*Engine, error) {
	if cfg.MaxThresholdEntries <= 0 {
		cfg.MaxThresholdEntries = DefaultMaxThresholdEntries
	}
	if cfg.RecursionLimit <= 0 {
		cfg.RecursionLimit = DefaultRecursionLimit
	}
	e := &Engine{cfg: cfg, thresholds: newThresholdTable(cfg.MaxThresholdEntries)}
	src := slices.Clone(set.Rules)
	slices.SortStableFunc(src, func(a, b *rules.Rule) int {
		if c := actionOrder(a.Action) - actionOrder(b.Action); c != 0 {
			return c
		}
		if c := flowbitsOrder(a) - flowbitsOrder(b); c != 0 {
			return c
		}
		return a.Priority - b.Priority
	})
	type pending struct {
		pats  []mpm.Pattern
		rules []int32
	}
	var pend [buffer.Count][numClasses]pending
	for i, r := range src {
		cr, err := compileRule(r, int32(i))
		if err != nil {
			return nil, fmt.Errorf("%s: sid %d: %w", r.Pos, r.SID, err)
		}
		e.rules = append(e.rules, cr)
		if cr.inClass(classTCP) && !cr.noStream && !cr.needPacket {
			for _, l := range cr.lists {
				if l.buf == buffer.Payload {
					e.streamContext = max(e.streamContext, l.span())
				}
			}
		}
		for class := range numClasses {
			if !cr.inClass(class) {
				continue
			}
			if cr.fast != nil {
				p := &pend[cr.fastBuf][class]
				p.pats = append(p.pats, mpm.Pattern{Bytes: cr.fast.FastBytes(), Nocase: cr.fast.Nocase})
				p.rules = append(p.rules, int32(i))
				continue
			}
			ports, few := cr.r.DstPorts.Ports(16)
			if cr.r.Bidirectional || !few {
				e.always[class] = append(e.always[class], int32(i))
				continue
			}
			if e.byPort[class] == nil {
				e.byPort[class] = map[uint16][]int32{}
			}
			for _, p := range ports {
				e.byPort[class][p] = append(e.byPort[class][p], int32(i))
			}
		}
	}
	for b := range buffer.Count {
		for c := range numClasses {
			if p := pend[b][c]; len(p.pats) > 0 {
				e.pre[b][c] = &prefilter{m: newMatcher(p.pats), rules: p.rules}
			}
		}
	}
	return e, nil
}

// StreamContext returns how many bytes of a stream the longest match of
// a rule that inspects it can cover, from the first byte one of its
// keywords examines to the last (Unbounded for a pcre, or a relative
// content without within, whose matches can be any length). A caller
// that inspects a stream in chunks keeps that many bytes of each chunk
// as the context of the next (Input.StreamNew), so that a match across
// chunks is found in the one where it ends, and only there.
func (e *Engine) StreamContext() int { return e.streamContext }

// Rules returns the compiled rules in evaluation order.
func (e *Engine) Rules() []*rules.Rule {
	out := make([]*rules.Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.r
	}
	return out
}

// MemoryBytes returns the bytes the prefilter tables take.
func (e *Engine) MemoryBytes() int {
	n := 0
	for b := range e.pre {
		for _, p := range e.pre[b] {
			if p != nil {
				n += p.m.MemoryBytes() + 4*len(p.rules)
			}
		}
	}
	return n
}

// Scratch is a worker's working memory for Inspect; one per goroutine.
type Scratch struct {
	scan    [buffer.Count][numClasses]scanner
	cand    []uint64 // bitset over rules
	list    []int32
	matched []int32
	out     []Match
	pcreBuf []byte
	steps   int
	// The window being inspected: its stream offset and the index of its
	// first new byte (Input.StreamBase, StreamNew); 0 for other buffers.
	base, fresh int
}

// NewScratch returns a Scratch for e.
func (e *Engine) NewScratch() *Scratch {
	s := &Scratch{cand: make([]uint64, (len(e.rules)+63)/64)}
	for b := range e.pre {
		for c, p := range e.pre[b] {
			if p != nil {
				s.scan[b][c] = p.m.newScanner()
			}
		}
	}
	return s
}

func (s *Scratch) add(i int32) {
	if s.cand[i>>6]&(1<<(i&63)) == 0 {
		s.cand[i>>6] |= 1 << (i & 63)
		s.list = append(s.list, i)
	}
}

// Inspect evaluates in against the rules and returns the matches, in
// evaluation order, after thresholds and pass rules: a pass rule that
// matches is the last match returned. The slice is valid until the next
// Inspect with s.
func (e *Engine) Inspect(s *Scratch, in *Input) []Match {
	e.Stats.Inspections.Add(1)
	class := classOf(in.Key.Proto)
	s.list = s.list[:0]
	scan := func(b buffer.ID, data []byte) {
		p := e.pre[b][class]
		if p == nil || len(data) == 0 {
			return
		}
		for _, id := range s.scan[b][class].scan(data) {
			s.add(p.rules[id])
		}
	}
	if in.Packet {
		scan(buffer.Payload, in.Payload)
	}
	scan(buffer.Payload, in.Stream)
	if in.Buffers != nil {
		for b := buffer.ID(1); b < buffer.Count; b++ {
			if data, ok := in.Buffers.Get(b); ok {
				scan(b, data)
			}
		}
	}
	for _, i := range e.always[class] {
		s.add(i)
	}
	if m := e.byPort[class]; m != nil {
		for _, i := range m[in.Key.Dst.Port()] {
			s.add(i)
		}
	}
	slices.Sort(s.list)
	for _, i := range s.list {
		s.cand[i>>6] = 0
	}
	return e.evaluate(s, in, s.list)
}

// inspectAll evaluates every rule, without the prefilter: the reference
// the prefilter is tested against.
func (e *Engine) inspectAll(s *Scratch, in *Input) []Match {
	s.list = s.list[:0]
	for i := range e.rules {
		s.list = append(s.list, int32(i))
	}
	return e.evaluate(s, in, s.list)
}

// evaluate runs the candidates in order, applies flowbits as rules match,
// then thresholds and pass.
func (e *Engine) evaluate(s *Scratch, in *Input, cands []int32) []Match {
	e.Stats.Candidates.Add(uint64(len(cands)))
	s.matched = s.matched[:0]
	for _, i := range cands {
		r := e.rules[i]
		if e.match(s, r, in) {
			r.applyFlowbits(in.Flow)
			s.matched = append(s.matched, i)
		}
	}
	s.out = s.out[:0]
	for _, i := range s.matched {
		r := e.rules[i]
		alert, act := true, true
		if r.r.DetectionFilter != nil {
			alert, act = e.thresholds.check(&e.Stats, r, r.r.DetectionFilter, in)
		}
		if act && r.r.Threshold != nil {
			alert, act = e.thresholds.check(&e.Stats, r, r.r.Threshold, in)
		}
		if !act {
			continue
		}
		s.out = append(s.out, Match{Rule: r.r, Action: r.r.Action, Alert: alert && !r.r.NoAlert && r.r.Action != rules.Pass})
		if r.r.Action == rules.Pass {
			break
		}
	}
	e.Stats.Matches.Add(uint64(len(s.out)))
	return s.out
}

// matchHeader reports whether the addresses and ports fit the rule, in
// either direction for <>.
func (r *crule) matchHeader(k flow.Key) bool {
	if !r.r.Protos.Has(k.Proto) {
		return false
	}
	if !k.Proto.HasPorts() && !r.portsAny {
		return false
	}
	if r.matchDir(k.Src.Addr(), k.Src.Port(), k.Dst.Addr(), k.Dst.Port()) {
		return true
	}
	return r.r.Bidirectional && r.matchDir(k.Dst.Addr(), k.Dst.Port(), k.Src.Addr(), k.Src.Port())
}

func (r *crule) matchDir(sa netip.Addr, sp uint16, da netip.Addr, dp uint16) bool {
	return r.r.SrcPorts.Contains(sp) && r.r.DstPorts.Contains(dp) && r.r.Src.Contains(sa) && r.r.Dst.Contains(da)
}
