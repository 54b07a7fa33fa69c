package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/classify"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/router"
)

// Verdict is what happens to a frame.
type Verdict uint8

// Verdicts.
const (
	Forward Verdict = iota // send it out the other side unchanged
	Drop                   // discard it
	Reject                 // discard it and answer the sender (TCP RST or ICMP unreachable)
	// Hold: a fragment kept until its datagram is complete; the datagram
	// then gets one of the verdicts above, and its fragments with it.
	Hold
	// Proxy: discard it; the SYN proxy answered in its place (a SYN/ACK
	// with a cookie to a client's SYN, the SYN to the server for a
	// client's valid ACK, the ACK and window update for a server's
	// SYN/ACK).
	Proxy
	numVerdicts
)

func (v Verdict) String() string {
	switch v {
	case Forward:
		return "forward"
	case Drop:
		return "drop"
	case Reject:
		return "reject"
	case Hold:
		return "hold"
	case Proxy:
		return "proxy"
	}
	return "?"
}

// Reason says why a frame got its verdict; it labels the counters.
type Reason uint8

// Reasons.
const (
	ReasonEstablished  Reason = iota // packet of a tracked connection
	ReasonRelated                    // ICMP error about a tracked connection
	ReasonRule                       // a rule of the policy decided
	ReasonDefault                    // the default of the direction decided
	ReasonLimit                      // a limit rule refused a source over its rate
	ReasonInvalid                    // connection tracking found the packet invalid
	ReasonMalformed                  // the frame failed to decode
	ReasonAnomaly                    // impossible flag combinations, LAND, source routes
	ReasonFragment                   // a fragment: held for reassembly, or refused by the defragmenter (overlap, quota, time-out, malformed)
	ReasonNonIP                      // neither IP nor ARP
	ReasonARP                        // ARP passes, as on any bridge
	ReasonUntracked                  // ICMPv6 neighbour discovery and MLD
	ReasonTableFull                  // no room in the connection table
	ReasonICMPRedirect               // ICMP or ICMPv6 redirect: routes are not changed through the perimeter
	ReasonSourceQuench               // ICMP source quench: deprecated (RFC 6633), only ever an attack on throughput
	ReasonNDHopLimit                 // ICMPv6 neighbour discovery with a hop limit other than 255: it crossed a router (RFC 4861)
	ReasonBadChecksum                // a wrong IPv4 header or transport checksum: no host would accept the packet
	ReasonSourceLimit                // the source address holds its bound of connections
	ReasonPrefixLimit                // the source's prefix holds its bound of connections
	ReasonNAT                        // the NAT refused: an inbound packet to no mapping, filtered, a host's quota or the ports exhausted, a packet it cannot translate (package nat counts which)
	ReasonNATMapping                 // a new inbound connection to a mapping whose filtering admits it
	ReasonIDS                        // the IDS in line: a drop or reject rule matched, or the normaliser refused the packet
	ReasonGuard                      // the guard dropped it: Decision.Guard says why (spoofed source, smurf, rate limit, feature rule, bad cookie)
	ReasonSYNProxy                   // the SYN proxy's handshake
	numReasons
)

var reasonNames = [numReasons]string{"established", "related", "rule", "default", "limit", "invalid", "malformed", "anomaly", "fragment", "non_ip", "arp", "untracked", "table_full",
	"icmp_redirect", "source_quench", "nd_hop_limit", "bad_checksum", "source_limit", "prefix_limit", "nat", "nat_mapping", "ids", "guard", "synproxy"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "?"
}

// Decision is the outcome for one frame.
type Decision struct {
	Verdict Verdict
	Reason  Reason
	// Rule is the index of the deciding rule in the policy's rules, or -1.
	Rule int
	Dir  policy.Direction
	// Guard is the guard's reason for a drop the guard decided (Reason
	// is then ReasonGuard, or for the logic attacks gateway kept names for,
	// ReasonAnomaly, ReasonICMPRedirect, ReasonSourceQuench or
	// ReasonNDHopLimit).
	Guard guard.Reason
}

// ChecksumMode says which checksums the gateway verifies before a packet
// may touch connection state.
type ChecksumMode uint8

const (
	// ChecksumsVerify, the default: the IPv4 header checksum of every
	// packet and fragment, and the TCP, UDP, ICMP and ICMPv6 checksum of
	// every packet (of a fragmented datagram once it is whole), except a
	// transport checksum the kernel says an offload owns
	// (datapath.CaptureInfo.ChecksumOffloaded). A packet with a wrong one
	// is dropped (ReasonBadChecksum) before connection tracking sees it,
	// as Linux's nf_conntrack_checksum does: the host it is addressed to
	// would discard it, so it must neither create nor change state.
	ChecksumsVerify ChecksumMode = iota
	// ChecksumsOffload verifies as ChecksumsVerify does, but takes a TCP
	// or UDP checksum that holds just the pseudo-header sum for one left
	// to offload (packet.ChecksumPartial): for captures taken on a host
	// that sends with checksum offload, whose outgoing packets all look
	// like that. Anyone can forge that value, so this is for offline
	// inspection only; a live port learns it from the kernel.
	ChecksumsOffload
	// ChecksumsIgnore verifies nothing (Linux's nf_conntrack_checksum=0).
	ChecksumsIgnore
)

var checksumModes = [...]string{"verify", "offload", "ignore"}

func (m ChecksumMode) String() string {
	if int(m) < len(checksumModes) {
		return checksumModes[m]
	}
	return "?"
}

// ParseChecksumMode reads "verify", "offload" or "ignore".
func ParseChecksumMode(s string) (ChecksumMode, error) {
	for i, n := range checksumModes {
		if s == n {
			return ChecksumMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown checksum mode %q (want verify, offload or ignore)", s)
}

// Config configures an Engine.
type Config struct {
	Conntrack conntrack.Config
	// Checksums says which checksums are verified [ChecksumsVerify].
	Checksums ChecksumMode
	Limiter   classify.LimiterConfig
	// KeepAnomalies keeps what is otherwise dropped before anything else
	// looks at it: TCP packets with impossible flag combinations (SYN+FIN,
	// SYN+RST, null and Xmas scans), LAND packets, IPv4 source routes and
	// IPv6 type 0 routing headers, and IPv6 segment routing headers with
	// segments left (judged on an outer destination that is not the
	// final one; Linux forwards them only where seg6_enabled is set).
	KeepAnomalies bool
	// Guard configures the checks before connection tracking: source
	// validation, the logic attacks, rate limits, feature rules, the SYN
	// proxy. Its KeepAnomalies is set when the one above is; its clock is
	// the engine's unless it names one.
	Guard guard.Config
	// Fragments configures reassembly, which comes before everything
	// else: a fragmented datagram is judged whole, as netfilter's
	// nf_defrag and pf's scrub do. Its Policies default to drop for every
	// destination (RFC 5722, for IPv4 too), and DropTiny is always on.
	Fragments defrag.Config
	// FragmentForward says what leaves for a fragmented datagram that
	// passes: its original fragments [ForwardOriginal] or the datagram
	// judged [ForwardReassembled].
	FragmentForward FragmentForward
	// MTU is each side's link MTU, indexed by the side a frame leaves
	// by, in bridge mode (zero means 1500): a reassembled datagram
	// larger than it leaves in fragments. Router mode uses the
	// router's.
	MTU [2]int
	// IDS, when set, inspects every packet the firewall forwards, after
	// reassembly (package ids). In its prevention mode a drop or reject
	// rule blocks the packet (ReasonIDS) and TCP streams are normalised
	// in the frame that goes out; in detection mode it only alerts. A
	// packet the IDS finds cannot reach its destination (its TTL runs
	// out on the way: ids.Config.Hops) is dropped in prevention mode,
	// and a fragment such is dropped before reassembly in either; in
	// router mode the engine must be built with ids.Config.Routed.
	IDS    *ids.Engine
	Logger *slog.Logger
	// Router, when set, makes the gateway a router (router mode): it
	// owns the two interfaces' addresses, answers ARP, neighbour
	// discovery and pings of its own addresses, and routes what the
	// pipeline lets through (Worker.Handle). Nil is bridge mode.
	Router *router.Router
	// Clock tells the time; nil means the system clock. Offline
	// inspection sets it to the capture's time. It is the clock of the
	// connection table and the limiter too, unless their own
	// configuration names one.
	Clock clock.Clock
	// NAT, when set, translates: connections are created through it
	// (after the policy, which judges packets as they arrived) and the
	// packets of translated ones are rewritten in place after the
	// connection tracking's verdict. Only a router translates: it owns
	// the public addresses.
	NAT *nat.Translator
}

// FragmentForward is what the gateway forwards for a fragmented datagram
// that passes.
type FragmentForward uint8

const (
	// ForwardOriginal forwards the fragments as they arrived (translated
	// by the NAT), in their order: the bridge stays transparent, and
	// the host reassembles them by its own rules.
	ForwardOriginal FragmentForward = iota
	// ForwardReassembled forwards the datagram as reassembled and
	// judged, after the NAT and the IDS's normalisation, as pf's
	// "scrub fragment reassemble" does: the host receives exactly what
	// was inspected, whatever its own reassembly would have made of
	// overlapping fragments. It leaves whole when it fits the link;
	// otherwise IPv4 is cut to the link's MTU (identification kept),
	// and IPv6 always leaves cut as its source cut it (the largest
	// fragment it sent, at least the IPv6 minimum MTU; identification
	// kept), since no router on the way may cut it again: a bridge cuts
	// it to its link's MTU if that is smaller, a router answers packet
	// too big when the source's fragments did not fit. A datagram that
	// cannot be cut here (IPv4 with DF set, IPv6 with extension
	// headers) leaves as its original fragments.
	ForwardReassembled
)

func (f FragmentForward) String() string {
	if f == ForwardReassembled {
		return "reassembled"
	}
	return "original"
}

// ParseFragmentForward parses "original" or "reassembled".
func ParseFragmentForward(s string) (FragmentForward, error) {
	switch s {
	case "original":
		return ForwardOriginal, nil
	case "reassembled":
		return ForwardReassembled, nil
	}
	return 0, fmt.Errorf("want original or reassembled, not %q", s)
}

// ruleset is one compiled policy with its counters; a reload replaces it
// whole. Everything but hits is immutable once published through
// Engine.rules.
type ruleset struct {
	pol  *policy.Policy
	rs   []classify.Rule
	cls  *classify.Compiled
	hits []atomic.Uint64 // per rule, then one per direction for the defaults; atomic, no lock
}

// Engine decides the fate of frames. Process may be called from many
// goroutines at once, each with its own packet.Parsed.
//
// Sharing: cfg, log, ct, frags and clock are set by New and never
// reassigned; ct and frags lock inside themselves (the defragmenter by
// source address, so fragments of one datagram may reach any worker). rules is swapped whole
// by Reload and read without a lock. The counters are atomics, read
// without a lock. The limiter is the one piece of state behind an
// Engine-level mutex.
type Engine struct {
	cfg   Config       // immutable after New
	log   *slog.Logger // immutable after New
	rules atomic.Pointer[ruleset]
	ct    *conntrack.Table // immutable pointer; the table locks its shards
	// lim is not safe for concurrent use and every worker must count
	// against the same sources (fanout spreads one source's connections
	// over workers), so it sits behind limMu; only new connections that hit
	// a limit rule take the lock.
	limMu sync.Mutex
	lim   *classify.Limiter                      // guarded by limMu
	frags *defrag.Defragmenter                   // immutable pointer; locks its shards
	guard *guard.Guard                           // immutable pointer; safe for concurrent use
	clock clock.Clock                            // immutable after New; safe for concurrent use
	stats [numVerdicts][numReasons]atomic.Uint64 // by verdict and reason; atomic, no lock
}

// New compiles p and builds an engine around it.
func New(p *policy.Policy, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Conntrack.Clock == nil {
		cfg.Conntrack.Clock = cfg.Clock
	}
	if cfg.Limiter.Clock == nil {
		cfg.Limiter.Clock = cfg.Clock
	}
	if cfg.NAT != nil {
		cfg.NAT.Conntrack(&cfg.Conntrack)
	}
	if cfg.KeepAnomalies {
		cfg.Guard.KeepAnomalies = true
	}
	if cfg.Guard.Clock == nil {
		cfg.Guard.Clock = cfg.Clock
	}
	if cfg.Guard.SYNProxy.Mode != guard.ProxyOff {
		cfg.Conntrack.Splices = true
	}
	if cfg.IDS != nil && cfg.IDS.Routed() != (cfg.Router != nil) {
		// The IDS judges which packets reach their destinations by the
		// hops to them: in router mode the gateway is one more.
		return nil, fmt.Errorf("ids: the engine's Routed (%v) must say whether the gateway routes (%v)", cfg.IDS.Routed(), cfg.Router != nil)
	}
	gd, err := guard.New(cfg.Guard)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	ct, err := conntrack.New(cfg.Conntrack)
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	cfg.Fragments.DropTiny = true
	frags, err := defrag.New(cfg.Fragments)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, ct: ct, lim: classify.NewLimiter(cfg.Limiter), frags: frags, guard: gd, clock: cfg.Clock}
	rs, err := compile(p)
	if err != nil {
		return nil, err
	}
	e.rules.Store(rs)
	return e, nil
}

func compile(p *policy.Policy) (*ruleset, error) {
	if p == nil {
		return nil, errors.New("gateway: no policy")
	}
	rules, defaults, err := classify.FromPolicy(p, classify.GatewayInterfaces())
	if err != nil {
		return nil, err
	}
	cls, err := classify.Compile(rules, defaults, classify.Config{})
	if err != nil {
		return nil, err
	}
	return &ruleset{pol: p, rs: rules, cls: cls, hits: make([]atomic.Uint64, len(rules)+policy.NumDirections)}, nil
}

// Policy returns the policy in force.
func (e *Engine) Policy() *policy.Policy { return e.rules.Load().pol }

// Conntrack returns the connection table.
func (e *Engine) Conntrack() *conntrack.Table { return e.ct }

// Reload compiles p and, only if that succeeds, puts it in force at once
// and removes tracked connections that p would not allow to start. It
// returns the number of connections cut. On error the old policy stays.
func (e *Engine) Reload(p *policy.Policy) (cut int, err error) {
	rs, err := compile(p)
	if err != nil {
		return 0, err
	}
	cut = e.install(rs)
	e.log.Info("policy reloaded", "rules", len(p.Rules), "connections_cut", cut)
	return cut, nil
}

// install puts rs in force and cuts the connections it would not allow to
// start.
func (e *Engine) install(rs *ruleset) (cut int) {
	// Store first, then recheck: a worker that decided a new connection
	// under the old policy and creates its entry after Recheck has passed
	// that entry's shard sees the new rules when it looks again (decide),
	// and judges the connection itself.
	e.rules.Store(rs)
	cut = e.ct.Recheck(func(t conntrack.Tuple, mark uint32) bool {
		if mark == markNATMapping {
			// The NAT's filtering admitted it, not the policy.
			return true
		}
		k := keyFromTuple(&t, mark)
		_, act := rs.cls.Lookup(&k)
		return admits(act)
	})
	return cut
}

// admits reports whether a connection that act decided may exist.
func admits(act policy.Action) bool { return act == policy.Allow || act == policy.Limit }

// Connections are marked with the direction they started in (plus one, so
// that an unmarked entry is recognisable): a tuple holds addresses, not the
// side a packet arrived on, and the policy needs the side.
func markOf(d policy.Direction) uint32 { return uint32(d) + 1 }

// keyFromTuple rebuilds the classifier key of a connection's first packet.
func keyFromTuple(t *conntrack.Tuple, mark uint32) classify.Key {
	k := classify.Key{Flow: t.Flow, ICMPType: t.ICMPType, ICMPCode: t.ICMPCode}
	if t.Flow.Proto == ipproto.TCP {
		k.TCPFlags = packet.TCPSYN
	}
	dir := policy.In
	if mark == markOf(policy.Out) {
		dir = policy.Out
	}
	k.Dir = dir
	if dir == policy.In {
		k.InIface, k.OutIface = classify.IfaceWAN, classify.IfaceLAN
	} else {
		k.InIface, k.OutIface = classify.IfaceLAN, classify.IfaceWAN
	}
	return k
}

// Process decides the fate of the packet in p (already decoded), which
// arrived on side in. A fragment cannot be judged alone: Process drops it
// (ReasonFragment); a Worker reassembles fragments and hands Process the
// whole datagram. Every checksum the packet carries is verified (as
// Config.Checksums says): Process has no word from the kernel that an
// offload owns one.
//
// Frames the SYN proxy would send in the packet's place (Verdict Proxy)
// are dropped: a Worker sends them.
func (e *Engine) Process(p *packet.Parsed, in datapath.Side) Decision {
	var out emit
	return e.process(p, in, false, &out)
}

// emit holds the frames of the engine's own that a packet's decision
// sends (the SYN proxy's): back to the side it came from, and on to the
// other. The engine appends to them from length zero.
type emit struct {
	back, on []byte
	// rewritten says that the packet was translated in place (a spliced
	// connection's): a reassembled datagram must carry the change into
	// its fragments. Cleared by process.
	rewritten bool
}

// process is Process for a packet whose transport checksum an offload
// owns when offloaded is true.
func (e *Engine) process(p *packet.Parsed, in datapath.Side, offloaded bool, out *emit) Decision {
	out.rewritten = false
	d := e.decide(p, in, offloaded, out)
	e.count(d)
	return d
}

// badChecksum reports whether p carries a checksum that the mode and the
// kernel's word (offloaded: an offload owns the transport checksum) leave
// no excuse for.
func (e *Engine) badChecksum(p *packet.Parsed, offloaded bool) bool {
	switch e.cfg.Checksums {
	case ChecksumsIgnore:
		return false
	case ChecksumsOffload:
		st := p.CheckChecksums(!offloaded)
		return st != packet.ChecksumOK && st != packet.ChecksumPartial
	}
	return p.CheckChecksums(!offloaded) != packet.ChecksumOK
}

func (e *Engine) count(d Decision) { e.stats[d.Verdict][d.Reason].Add(1) }

// Defragmenter returns the engine's defragmenter.
func (e *Engine) Defragmenter() *defrag.Defragmenter { return e.frags }

// Guard returns the engine's guard.
func (e *Engine) Guard() *guard.Guard { return e.guard }

// guardDrop is the gateway's reason for the guard's r: the logic attacks
// the gateway dropped before the guard existed keep their names.
func guardDrop(r guard.Reason) Reason {
	switch r {
	case guard.ReasonTCPFlags, guard.ReasonSourceRoute, guard.ReasonSegmentRouting, guard.ReasonTinyFragment:
		return ReasonAnomaly
	case guard.ReasonLand:
		return ReasonAnomaly
	case guard.ReasonICMPRedirect:
		return ReasonICMPRedirect
	case guard.ReasonSourceQuench:
		return ReasonSourceQuench
	case guard.ReasonNDHopLimit:
		return ReasonNDHopLimit
	}
	return ReasonGuard
}

func (e *Engine) decide(p *packet.Parsed, in datapath.Side, offloaded bool, out *emit) Decision {
	d := Decision{Rule: -1, Dir: dirOf(in)}
	drop := func(r Reason) Decision { d.Verdict, d.Reason = Drop, r; return d }
	if p.Invalid != packet.Valid {
		return drop(ReasonMalformed)
	}
	if p.IPVersion == 0 {
		if p.EtherType == packet.EtherTypeARP {
			d.Reason = ReasonARP
			return d
		}
		return drop(ReasonNonIP)
	}
	if r := e.guard.Check(p, in); r != guard.Pass {
		d.Guard = r
		return drop(guardDrop(r))
	}
	if p.IsFragment {
		return drop(ReasonFragment)
	}
	if e.badChecksum(p, offloaded) {
		return drop(ReasonBadChecksum)
	}
	var cp conntrack.Packet
	if !fillConntrack(&cp, p, in) {
		// The rarer protocols, behind a test that TCP and UDP pass at
		// once. SCTP's chunks and DCCP's header are read onto this
		// frame, so that no packet pays for clearing them but theirs.
		switch p.Proto {
		case ipproto.SCTP:
			s := p.SCTP()
			cp.SCTP = &s
		case ipproto.DCCP:
			dc := p.DCCP()
			cp.DCCP = &dc
		}
	}
	var res conntrack.Result
	if e.cfg.NAT == nil {
		res = e.ct.Lookup(&cp)
	} else if res = e.lookupNAT(p, &cp); res.NAT && res.State == conntrack.StateInvalid {
		return drop(ReasonNAT)
	}
	if res.Spliced {
		return e.spliced(p, &res, d, out)
	}
	switch res.State {
	case conntrack.StateInvalid:
		if px := e.guard.Proxy(); px != nil && res.ID == 0 && res.Reason == conntrack.ReasonNoEntry &&
			p.Proto == ipproto.TCP && px.Covers(p.Dst.Addr()) {
			return e.cookieACK(p, in, d, out)
		}
		return drop(ReasonInvalid)
	case conntrack.StateEstablished:
		d.Reason = ReasonEstablished
		return d
	case conntrack.StateRelated:
		d.Reason = ReasonRelated
		return d
	case conntrack.StateNew:
		if res.ID != 0 {
			// An unanswered connection retransmitting in its original
			// direction: it was allowed when created.
			d.Reason = ReasonEstablished
			return d
		}
	}
	if e.cfg.NAT != nil && e.cfg.NAT.Admits(&cp) {
		// The NAT's filtering admits it to a mapping an inside host
		// made: the policy would refuse it as unsolicited, and every
		// filtering behaviour would be address-and-port-dependent.
		d.Reason = ReasonNATMapping
		cp.Mark = markNATMapping
		d, _, _ = e.createNAT(p, &cp, d)
		return d
	}
	// A new connection (or an untracked message): the policy decides.
	k := newKey(p, in)
	// The hit is counted on the rule set that decided, so that a reload
	// between lookup and count cannot credit another policy's rule.
	rs := e.rules.Load()
	idx, act := rs.cls.Lookup(&k)
	if idx >= 0 {
		rs.hits[idx].Add(1)
	} else {
		rs.hits[len(rs.rs)+int(d.Dir)].Add(1)
	}
	d.Rule = idx
	d.Reason = ReasonRule
	if idx < 0 {
		d.Reason = ReasonDefault
	}
	switch act {
	case policy.Allow:
	case policy.Limit:
		e.limMu.Lock()
		ok := e.lim.Allow(k.Flow.Src.Addr())
		e.limMu.Unlock()
		if !ok {
			d.Verdict, d.Reason = Drop, ReasonLimit
			return d
		}
	case policy.Reject:
		d.Verdict = Reject
		return d
	default:
		d.Verdict = Drop
		return d
	}
	if res.State == conntrack.StateUntracked {
		if d.Reason == ReasonDefault {
			d.Reason = ReasonUntracked
		}
		return d
	}
	if r := e.guard.AdmitNew(p); r != guard.Pass {
		d.Verdict, d.Reason, d.Guard = Drop, ReasonGuard, r
		return d
	}
	if px := e.guard.Proxy(); px != nil && p.Proto == ipproto.TCP &&
		p.TCPFlags&(packet.TCPSYN|packet.TCPACK|packet.TCPRST|packet.TCPFIN) == packet.TCPSYN && px.Answers(p.Dst.Addr()) {
		// No state for a SYN: a cookie in the SYN/ACK remembers it.
		out.back = px.AnswerSYN(out.back[:0], p)
		d.Verdict, d.Reason = Proxy, ReasonSYNProxy
		return d
	}
	cp.Mark = markOf(d.Dir)
	var r conntrack.Result
	if e.cfg.NAT != nil {
		var ok bool
		if d, r, ok = e.createNAT(p, &cp, d); !ok {
			return d
		}
	} else {
		var ok bool
		if r, ok = e.ct.Create(&cp); !ok {
			d.Verdict, d.Reason = Drop, refusal(r.Reason)
			return d
		}
	}
	if now := e.rules.Load(); now != rs {
		// A reload swapped the policy while this packet was decided, and
		// its Recheck may have passed this entry's shard before the entry
		// existed: the policy now in force judges the connection here.
		if idx, act := now.cls.Lookup(&k); !admits(act) {
			e.ct.Delete(r.ID)
			d.Rule, d.Reason, d.Verdict = idx, ReasonRule, Drop
			if idx < 0 {
				d.Reason = ReasonDefault
			}
			if act == policy.Reject {
				d.Verdict = Reject
			}
			return d
		}
	}
	return d
}

// newKey is the classifier's key of p, which arrived on in.
func newKey(p *packet.Parsed, in datapath.Side) classify.Key {
	k := classify.Key{Dir: dirOf(in), Flow: p.Flow(), TCPFlags: p.TCPFlags, ICMPType: p.ICMPType, ICMPCode: p.ICMPCode}
	if in == datapath.LAN {
		k.InIface, k.OutIface = classify.IfaceLAN, classify.IfaceWAN
	} else {
		k.InIface, k.OutIface = classify.IfaceWAN, classify.IfaceLAN
	}
	return k
}

// refusal is the reason a new connection the policy allowed was not
// tracked.
func refusal(r conntrack.Reason) Reason {
	switch r {
	case conntrack.ReasonTableFull:
		return ReasonTableFull
	case conntrack.ReasonSourceLimit:
		return ReasonSourceLimit
	case conntrack.ReasonPrefixLimit:
		return ReasonPrefixLimit
	}
	return ReasonInvalid
}

// zoneOf is the connection-tracking zone of a frame: its VLAN IDs, the
// outer one in the low 12 bits, so that two VLANs on one trunk never share
// a connection (as Linux's conntrack zones keep them apart). An untagged
// frame and a priority-tagged one (VLAN 0) are in zone 0.
func zoneOf(p *packet.Parsed) uint32 {
	var z uint32
	for i := uint8(0); i < p.NumVLAN && i < 2; i++ {
		z |= uint32(p.VLAN[i].ID()) << (12 * i)
	}
	return z
}

// sideOf is the tracker's name for the port a frame arrived on: entries
// are bound to it.
func sideOf(in datapath.Side) conntrack.Side {
	if in == datapath.LAN {
		return conntrack.SideLAN
	}
	return conntrack.SideWAN
}

// fillConntrack gives the tracker what it needs of p, which arrived on
// in: the flow key as the decoder made it, the side and the zone, and the
// TCP and ICMP fields the key does not hold. cp must be zero: the fields
// are set one by one, since a composite literal of the whole Packet is
// built on the stack and copied (about 65 of the 1,600 instructions an
// established packet costs).
//
// It reports whether p is TCP or UDP, which need nothing more.
func fillConntrack(cp *conntrack.Packet, p *packet.Parsed, in datapath.Side) (done bool) {
	cp.Flow = p.Flow()
	cp.Side = sideOf(in)
	cp.Zone = zoneOf(p)
	cp.WScale = -1
	cp.PayloadLen = p.PayloadLen
	switch p.Proto {
	case ipproto.TCP:
		cp.TCPFlags = p.TCPFlags
		cp.Seq, cp.Ack, cp.Window = p.TCPSeq, p.TCPAck, p.TCPWindow
		if p.TCPOpts.Has&packet.TCPOptWScale != 0 {
			cp.WScale = int8(p.TCPOpts.WScale)
		}
		cp.SACKPermitted = p.TCPOpts.Has&packet.TCPOptSACKPermitted != 0
		if n := p.TCPOpts.NumSACK; n > 0 {
			cp.HasSACK = true
			for i := uint8(0); i < n && i < 4; i++ {
				if r := p.TCPOpts.SACK[i].Right; i == 0 || r-cp.SACKRight < 1<<31 {
					cp.SACKRight = r
				}
			}
		}
		return true
	case ipproto.UDP:
		return true
	case ipproto.ICMP, ipproto.ICMPv6:
		cp.ICMPType, cp.ICMPCode = p.ICMPType, p.ICMPCode
		if p.IsICMPError() {
			q := &p.Quote
			cp.IsICMPError = true
			cp.Inner = conntrack.Inner{Flow: q.Flow(), ICMPType: q.ICMPType, ICMPCode: q.ICMPCode, Seq: q.TCPSeq}
		}
	}
	return false
}

// Counts returns how many frames got each verdict for each reason.
func (e *Engine) Counts() map[string]uint64 {
	out := map[string]uint64{}
	for v := Verdict(0); v < numVerdicts; v++ {
		for r := Reason(0); r < numReasons; r++ {
			if n := e.stats[v][r].Load(); n > 0 {
				out[v.String()+"/"+r.String()] = n
			}
		}
	}
	return out
}

// RuleHit is the counter of one rule (or of a direction's default).
type RuleHit struct {
	Index int // into Policy().Rules; -1 for a default
	Line  int
	Text  string
	Hits  uint64
}

// RuleHits returns the hit counters of the rules in force and of the
// defaults.
func (e *Engine) RuleHits() []RuleHit {
	rs := e.rules.Load()
	var out []RuleHit
	for i := range rs.rs {
		h := RuleHit{Index: i, Hits: rs.hits[i].Load()}
		if r := rs.pol.Rule(i); r != nil {
			h.Line, h.Text = r.Line, r.Text
			if r.Implicit {
				h.Text = "(implicit) " + h.Text
			}
		}
		out = append(out, h)
	}
	for d := 0; d < policy.NumDirections; d++ {
		out = append(out, RuleHit{Index: -1, Text: fmt.Sprintf("default %s %s", rs.pol.Defaults[d], policy.Direction(d)), Hits: rs.hits[len(rs.rs)+d].Load()})
	}
	return out
}

// Sweep expires old connections and unfinished datagrams; call it every
// second or so.
func (e *Engine) Sweep() {
	now := e.clock.Now()
	e.ct.Sweep(now)
	e.frags.Sweep(now)
	if e.cfg.Router != nil {
		e.cfg.Router.Sweep()
	}
	if px := e.guard.Proxy(); px != nil {
		px.Tick(e.ct, nil)
	}
}

// Router returns the router of router mode, nil in bridge mode.
func (e *Engine) Router() *router.Router { return e.cfg.Router }
