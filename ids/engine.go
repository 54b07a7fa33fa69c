package ids

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/applayer"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/stream"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Mode is where the engine stands: beside the traffic or in line.
type Mode = stream.Mode

// The modes.
const (
	Detect  = stream.Detect
	Prevent = stream.Prevent
)

// Defaults of Config.
const (
	DefaultMaxFlows    = 1 << 16
	DefaultUDPTimeout  = 60 * time.Second // between Suricata's udp new (30s) and established (300s)
	DefaultICMPTimeout = 30 * time.Second // Suricata's icmp new and established
)

// Config configures an Engine. Zero fields take the defaults of the parts.
type Config struct {
	Mode Mode
	// Rules is the compiled rule set; nil inspects nothing (the parts
	// still reassemble, parse and report events).
	Rules *detect.Engine
	// Defrag configures IP reassembly; its Policies come from the
	// configuration's defrag policies per destination (nil: bsd for all,
	// Suricata's default, since an IDS must reassemble what the host
	// does; the gateway's Drop is its own choice).
	Defrag defrag.Config
	// Stream configures TCP reassembly, Policies and Mode included (Mode
	// is set from Mode above).
	Stream stream.Config
	// App bounds the application-layer parsers.
	App applayer.Config
	// MaxFlows bounds the flows of other protocols than TCP (UDP, ICMP,
	// ...) followed at once; the least recently active goes first
	// [65536].
	MaxFlows int
	// UDPTimeout and ICMPTimeout end such a flow after that long without
	// a packet (other protocols take UDPTimeout) [60s, 30s].
	UDPTimeout  time.Duration
	ICMPTimeout time.Duration
	// VerifyChecksums drops, uninspected, packets with a wrong IPv4
	// header or transport checksum, which no host would accept; off,
	// they are inspected as they are, as Suricata's automatic checksum
	// mode does with captures (a capture taken on a sender with checksum
	// offload shows its checksums unfinished). PartialChecksums then
	// takes a TCP or UDP checksum that holds only the pseudo-header sum
	// (offload's unfinished value) as good.
	VerifyChecksums  bool
	PartialChecksums bool
	// Output receives alerts and events; nil discards them (the counters
	// still count).
	Output Output
	// Hops gives the routers between the engine and each destination;
	// nil puts every destination on the engine's link (0). A packet
	// whose TTL or hop limit is at most its destination's hops (plus
	// one when Routed) expires before it and is not inspected as if
	// delivered: it feeds neither reassembly nor detection, a TCP
	// segment or an IP fragment raises the engine event
	// EventTTLEvasion, and prevention drops it.
	Hops *HostHops
	// Routed says the engine runs inside a router that takes one more
	// hop off what it forwards, after inspection (the gateway in router
	// mode, which leaves a TTL of 1 or less to the router's time
	// exceeded and never to the engine).
	Routed bool
	// MinTTL, in prevention mode, raises the TTL or hop limit of a
	// packet that would leave the engine below it to it (to MinTTL+1
	// before a router's decrement), in the packet, the IPv4 header
	// checksum adjusted, as Handley, Paxson and Kreibich's normaliser
	// does: every inspected packet then reaches destinations up to
	// MinTTL-1 hops away, whatever Hops says. The check of Hops takes
	// the raised value. 0 raises nothing. Fragments of a datagram are
	// not raised (what the engine inspects is their reassembly).
	MinTTL uint8
}

// Verdict is what to do with a packet in prevention mode; detection
// always passes.
type Verdict uint8

// The verdicts.
const (
	Pass   Verdict = iota
	Drop           // a drop rule, or a packet the normaliser refuses
	Reject         // a reject rule: drop, and answer the sender (TCP RST or ICMP unreachable)
)

var verdictNames = [...]string{Pass: "pass", Drop: "drop", Reject: "reject"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict?"
}

// Engine is the IDS: the parts, the flows and the counters. It is safe for
// concurrent use by one Worker per goroutine.
type Engine struct {
	cfg    Config
	rules  *detect.Engine
	defrag *defrag.Defragmenter
	stream *stream.Table
	app    *applayer.Parsers
	flows  *flowTable
	out    Output

	// sweeper is the scratch space of Sweep and Flush, whose stream
	// callbacks run on their caller's goroutine.
	sweepMu sync.Mutex
	sweeper *scratch // guarded by sweepMu

	mu       sync.Mutex
	free     []*flowState // guarded by mu: states of ended flows, for reuse
	scratchs []*scratch   // guarded by mu: every scratch, for their counters

	lastSweep atomic.Int64 // unix nanoseconds of the last sweep

	ttl ttl

	c counters
}

// counters are the engine's own counts, read without a lock.
type counters struct {
	packets, bytes     atomic.Uint64
	invalid, notIP     atomic.Uint64
	badChecksum        atomic.Uint64
	fragments, defrags atomic.Uint64
	alerts, blocked    atomic.Uint64
	events             [3]atomic.Uint64 // by Layer
	tcpUntracked       atomic.Uint64
	ttlRaised          atomic.Uint64
	ttlUnreachable     atomic.Uint64
	normIPv4Reserved   atomic.Uint64
	normIPv4Options    atomic.Uint64
	normTCPReserved    atomic.Uint64
}

// New returns an engine configured by cfg.
func New(cfg Config) (*Engine, error) {
	if cfg.MaxFlows < 0 || cfg.UDPTimeout < 0 || cfg.ICMPTimeout < 0 {
		return nil, errors.New("ids: negative flow bound or time-out")
	}
	if cfg.MaxFlows == 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.UDPTimeout == 0 {
		cfg.UDPTimeout = DefaultUDPTimeout
	}
	if cfg.ICMPTimeout == 0 {
		cfg.ICMPTimeout = DefaultICMPTimeout
	}
	e := &Engine{cfg: cfg, rules: cfg.Rules, out: cfg.Output, ttl: newTTL(&cfg)}
	if e.out == nil {
		e.out = nopOutput{}
	}
	dc := cfg.Defrag
	if dc.Policies == nil {
		dc.Policies = defrag.NewHostPolicies(defrag.BSD)
	}
	dc.OnEvent = e.defragEvent
	var err error
	if e.defrag, err = defrag.New(dc); err != nil {
		return nil, fmt.Errorf("ids: %w", err)
	}
	sc := cfg.Stream
	sc.Mode = cfg.Mode
	sc.OnEvent = e.streamEvent
	e.sweeper = e.newScratch()
	e.sweeper.sweeper = true
	if e.stream, err = stream.New(sc, sweepConsumer{e}); err != nil {
		return nil, fmt.Errorf("ids: %w", err)
	}
	if e.app, err = applayer.New(cfg.App); err != nil {
		return nil, fmt.Errorf("ids: %w", err)
	}
	// The sweeper was made before the parsers existed.
	e.sweeper.app = e.app.NewWorker()
	e.flows = newFlowTable(e, cfg.MaxFlows)
	return e, nil
}

// Mode returns the engine's mode.
func (e *Engine) Mode() Mode { return e.cfg.Mode }

// Worker processes frames on one goroutine. Its scratch space (decoded
// packets, the reassembled datagram, detection's and the parsers' working
// memory) is its own: nothing in it is shared.
type Worker struct {
	e     *Engine
	p     packet.Parsed
	whole packet.Parsed
	wbuf  []byte // the reassembled datagram that whole decodes
	sc    *scratch
	// frames counts the frames given to Process: with one worker over a
	// capture, the number of the frame in it (EVE's pcap_cnt).
	frames uint64
}

// NewWorker returns a worker for one goroutine.
func (e *Engine) NewWorker() *Worker {
	return &Worker{e: e, wbuf: make([]byte, 0, 65535+64), sc: e.newScratch()}
}

// Process runs one frame through the engine. link says what the frame
// starts with; now is its time (the capture's clock offline). In detection
// mode the verdict is always Pass.
func (w *Worker) Process(frame []byte, link datapath.LinkType, now time.Time) Verdict {
	e := w.e
	w.frames++
	w.sc.frame = w.frames
	e.c.packets.Add(1)
	e.c.bytes.Add(uint64(len(frame)))
	e.maybeSweep(now)
	p := &w.p
	datapath.Decode(p, frame, link)
	if p.IPVersion == 0 {
		e.c.notIP.Add(1)
		return Pass
	}
	if p.Invalid != packet.Valid && !p.IsFragment {
		e.c.invalid.Add(1)
		return Pass
	}
	if e.badChecksum(p) {
		return Pass
	}
	if p.IsFragment {
		e.c.fragments.Add(1)
		// A fragment that expires before its destination must not
		// take part in the reassembly of what the destination gets.
		if p.TTL <= e.ttl.low && !e.reaches(p, false) {
			e.ttlEvasion(p, LayerDecode, now)
			if e.cfg.Mode == Prevent {
				return Drop
			}
			return Pass
		}
		r := e.defrag.Add(p.Buf, p.L3Off, 0, now)
		if r.Status != defrag.Complete {
			if r.Status == defrag.Dropped && e.cfg.Mode == Prevent {
				return Drop
			}
			return Pass
		}
		dg := r.Datagram
		var err error
		w.wbuf, err = dg.AppendPacket(w.wbuf[:0])
		l3 := dg.L3()
		e.defrag.Release(dg)
		if err != nil {
			return Pass
		}
		e.c.defrags.Add(1)
		p = &w.whole
		p.DecodeIP(w.wbuf[l3:])
		if p.Invalid != packet.Valid {
			e.c.invalid.Add(1)
			return Pass
		}
		if e.badChecksum(p) {
			return Pass
		}
	}
	return w.inspect(p, p == &w.p, now)
}

// badChecksum reports, and counts, a packet whose checksums the
// configuration says to verify and which fails them. A fragment's
// transport checksum is checked on the reassembled datagram.
func (e *Engine) badChecksum(p *packet.Parsed) bool {
	if !e.cfg.VerifyChecksums {
		return false
	}
	st := p.CheckChecksums(true)
	if st == packet.ChecksumOK || st == packet.ChecksumPartial && e.cfg.PartialChecksums {
		return false
	}
	e.c.badChecksum.Add(1)
	return true
}

// Inspect runs one packet that its caller has decoded, reassembled from
// its fragments and checked already (the gateway, in line) through the
// flows, the parsers and detection. In prevention mode the TCP payload
// and header may be rewritten in p.Buf (normalisation), which is what
// must go out; a Drop or Reject verdict means it must not.
func (w *Worker) Inspect(p *packet.Parsed, now time.Time) Verdict {
	e := w.e
	w.sc.frame = 0
	e.c.packets.Add(1)
	e.c.bytes.Add(uint64(len(p.Buf)))
	e.maybeSweep(now)
	if p.IPVersion == 0 || p.Invalid != packet.Valid || p.IsFragment {
		return Pass
	}
	return w.inspect(p, true, now)
}

// Fragment checks an IP fragment that its caller reassembles itself (the
// gateway) before the caller takes it: in prevention mode a TTL below
// MinTTL is raised in p.Buf, and a fragment that cannot reach its
// destination is reported (EventTTLEvasion) and counted. It reports
// whether the fragment reaches; one that does not must not take part in
// the reassembly the engine inspects (the gateway drops it: it would
// expire on the way anyway).
func (w *Worker) Fragment(p *packet.Parsed, now time.Time) bool {
	e := w.e
	if p.TTL > e.ttl.low || e.reaches(p, true) {
		return true
	}
	e.ttlEvasion(p, LayerDecode, now)
	return false
}

// Routed reports whether the engine counts a router's hop to every
// destination (Config.Routed).
func (e *Engine) Routed() bool { return e.cfg.Routed }

// inspect runs a whole (decoded, reassembled) packet through the flows,
// the parsers and detection. Its TTL decides first whether it reaches its
// destination at all (raised in prevention mode when raise says p.Buf is
// what goes out, where its uncertain header fields are normalised too).
func (w *Worker) inspect(p *packet.Parsed, raise bool, now time.Time) Verdict {
	e := w.e
	if p.TTL <= e.ttl.low && !e.reaches(p, raise) {
		if p.Proto == ipproto.TCP {
			e.ttlEvasion(p, LayerStream, now)
		}
		if e.cfg.Mode == Prevent {
			return Drop
		}
		return Pass
	}
	if raise && e.cfg.Mode == Prevent {
		e.normalise(p)
	}
	sc := w.sc
	sc.now = now
	sc.verdict = Pass
	if p.Proto == ipproto.TCP && p.HasL4 {
		r := e.stream.ProcessWith(p, now, sc)
		if len(sc.ended) > 0 {
			sc.freeEnded()
		}
		if r.Flow == nil {
			// Not followed: a segment of a flow not picked up, or
			// refused. Its packet keywords are still judged, without a
			// flow.
			e.c.tcpUntracked.Add(1)
			sc.packet(nil, p, buffer.Both, false)
		}
		if r.Verdict == stream.Drop && sc.verdict == Pass {
			sc.verdict = Drop
		}
		if e.cfg.Mode != Prevent {
			return Pass
		}
		return sc.verdict
	}
	e.flows.packet(sc, p, now)
	if e.cfg.Mode != Prevent {
		return Pass
	}
	return sc.verdict
}

// maybeSweep retires timed-out flows and datagrams once a second of the
// packets' clock, from whichever worker gets there first.
func (e *Engine) maybeSweep(now time.Time) {
	ns := now.UnixNano()
	last := e.lastSweep.Load()
	if ns-last < int64(time.Second) || !e.lastSweep.CompareAndSwap(last, ns) {
		return
	}
	if last == 0 {
		return // the first packet: nothing to retire yet
	}
	e.Sweep(now)
}

// Sweep retires every flow and datagram whose time-out has passed at now.
func (e *Engine) Sweep(now time.Time) {
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	e.sweeper.now = now
	e.defrag.Sweep(now)
	e.stream.Sweep(now)
	e.flows.sweep(e.sweeper, now, false)
}

// Flush ends every flow at the end of a capture: what each holds is
// inspected, and the parsers see the end of every stream.
func (e *Engine) Flush(now time.Time) {
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	e.sweeper.now = now
	e.stream.Flush(now)
	e.flows.sweep(e.sweeper, now, true)
	e.defrag.Sweep(now.Add(e.defrag.Timeout()))
}

// sweepConsumer is the stream Table's own Consumer: the callbacks of
// Sweep and Flush, which hold sweepMu, on the sweeper's scratch.
type sweepConsumer struct{ e *Engine }

func (c sweepConsumer) Stream(f *stream.Flow, ch stream.Chunk) { c.e.sweeper.Stream(f, ch) }
func (c sweepConsumer) Packet(f *stream.Flow, p *packet.Parsed, r *stream.Result) {
	c.e.sweeper.Packet(f, p, r)
}
func (c sweepConsumer) End(f *stream.Flow, why stream.EndReason) { c.e.sweeper.End(f, why) }

// Stats are the engine's counters and those of its parts.
type Stats struct {
	Packets, Bytes uint64
	NotIP          uint64 // frames that are not IP (ARP, ...)
	Invalid        uint64 // IP packets that do not decode
	BadChecksum    uint64 // packets left out for a wrong checksum (Config.VerifyChecksums)
	Fragments      uint64 // IP fragments given to defrag
	Reassembled    uint64 // datagrams defrag completed
	TCPUntracked   uint64 // TCP segments of no flow (not picked up)
	// TTLRaised counts packets whose TTL prevention raised to MinTTL;
	// TTLUnreachable, packets left out because their TTL runs out before
	// their destination (dropped in prevention mode).
	TTLRaised, TTLUnreachable uint64
	// Normalised counts the header fields prevention rewrote.
	Normalised Normalised
	Alerts     uint64
	Blocked    uint64 // alerts whose packet was dropped (prevention)
	Events     [3]uint64
	// Flows counts the flows seen: TCP (the stream table's) and the
	// others (UDP, ICMP, ...).
	TCPFlows, OtherFlows uint64
	Flows                FlowStats
	Defrag               defrag.Stats
	Stream               stream.Stats
	App                  applayer.Stats
	AppMemory            int64
}

// Stats returns the counters. The parsers' counts are exact when no
// worker is processing a packet (at the end of a capture).
func (e *Engine) Stats() Stats {
	s := Stats{
		Packets: e.c.packets.Load(), Bytes: e.c.bytes.Load(), NotIP: e.c.notIP.Load(), Invalid: e.c.invalid.Load(), BadChecksum: e.c.badChecksum.Load(),
		Fragments: e.c.fragments.Load(), Reassembled: e.c.defrags.Load(), TCPUntracked: e.c.tcpUntracked.Load(),
		TTLRaised: e.c.ttlRaised.Load(), TTLUnreachable: e.c.ttlUnreachable.Load(),
		Normalised: Normalised{IPv4Reserved: e.c.normIPv4Reserved.Load(), IPv4Options: e.c.normIPv4Options.Load(), TCPReserved: e.c.normTCPReserved.Load()},
		Alerts:     e.c.alerts.Load(), Blocked: e.c.blocked.Load(),
	}
	for i := range s.Events {
		s.Events[i] = e.c.events[i].Load()
	}
	s.Defrag = e.defrag.Stats()
	s.Stream = e.stream.Stats()
	s.Flows = e.flows.stats()
	s.TCPFlows, s.OtherFlows = s.Stream.Flows, s.Flows.Flows
	e.mu.Lock()
	for _, sc := range e.scratchs {
		st := sc.app.Stats()
		s.App.Add(&st)
	}
	e.mu.Unlock()
	s.AppMemory = e.app.MemoryInUse()
	return s
}

// defragEvent turns a defrag event into an Event.
func (e *Engine) defragEvent(ev defrag.Event) {
	if ev.Kind == defrag.KindDuplicate {
		return // a retransmission, counted by defrag
	}
	e.c.events[LayerDecode].Add(1)
	out := Event{Time: ev.Time, Layer: LayerDecode, Name: ev.Kind.String()}
	out.Key.Src = netip.AddrPortFrom(ev.Key.Src, 0)
	out.Key.Dst = netip.AddrPortFrom(ev.Key.Dst, 0)
	out.Key.Proto = ev.Key.Proto
	if ev.Kind == defrag.KindOverlap {
		out.Policy = ev.Policy.String()
	}
	e.out.Event(out)
}

// quietStream are the stream events that are not anomalies worth a
// record: a retransmission of the same bytes, a flow picked up midstream
// (most flows of a capture started before it). They are counted.
const quietStream = 1<<stream.KindOverlap | 1<<stream.KindMidstream

// streamEvent turns a stream event into an Event.
func (e *Engine) streamEvent(ev stream.Event) {
	if quietStream&(1<<ev.Kind) != 0 {
		return
	}
	e.c.events[LayerStream].Add(1)
	k := ev.Key
	if ev.Dir == stream.ToClient {
		k = k.Reverse()
	}
	out := Event{Time: ev.Time, FlowID: ev.FlowID, Key: k, Layer: LayerStream, Name: ev.Kind.String()}
	switch ev.Kind {
	case stream.KindOverlapDiff, stream.KindRetransmitDiff, stream.KindInvalidRST:
		out.Policy = ev.Policy.String()
	}
	e.out.Event(out)
}
