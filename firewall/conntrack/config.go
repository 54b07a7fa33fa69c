package conntrack

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// Timeouts are the idle timeouts per protocol state. A zero field takes
// its default, which is Linux's (net.netfilter.nf_conntrack_*_timeout_*).
type Timeouts struct {
	TCPSynSent     time.Duration // 120s
	TCPSynRecv     time.Duration // 60s
	TCPEstablished time.Duration // 5 days
	TCPFinWait     time.Duration // 120s
	TCPCloseWait   time.Duration // 60s
	TCPLastAck     time.Duration // 30s
	TCPTimeWait    time.Duration // 120s
	TCPClose       time.Duration // 10s
	TCPSynSent2    time.Duration // 120s
	// TCPRetrans caps the timeout of a connection whose segments are
	// being retransmitted (MaxRetrans identical segments in a row) or
	// whose receiver advertised a zero window.
	TCPRetrans time.Duration // 300s
	// TCPUnacknowledged caps the timeout while data is in flight, and of
	// a connection picked up mid-stream that has not been answered.
	TCPUnacknowledged time.Duration // 300s
	UDP               time.Duration // 30s: not answered, or answered within 2s
	UDPStream         time.Duration // 120s: answered and alive past 2s
	ICMP              time.Duration // 30s, ICMP and ICMPv6 queries
	Generic           time.Duration // 600s, every other protocol

	// SCTP association states (Linux's nf_conntrack_sctp_timeout_*).
	SCTPClosed          time.Duration // 10s
	SCTPCookieWait      time.Duration // 3s
	SCTPCookieEchoed    time.Duration // 3s
	SCTPEstablished     time.Duration // 210s: heartbeats every 30s keep an idle association alive
	SCTPShutdownSent    time.Duration // 3s
	SCTPShutdownRecd    time.Duration // 3s
	SCTPShutdownAckSent time.Duration // 3s
	SCTPHeartbeatSent   time.Duration // 30s

	// DCCP connection states (Linux's nf_conntrack_dccp_timeout_*, from
	// RFC 4340's MSL of 2 minutes).
	DCCPRequest  time.Duration // 240s
	DCCPRespond  time.Duration // 480s
	DCCPPartOpen time.Duration // 480s
	DCCPOpen     time.Duration // 12h
	DCCPCloseReq time.Duration // 64s
	DCCPClosing  time.Duration // 64s
	DCCPTimeWait time.Duration // 240s
}

// DefaultTimeouts returns Linux's default timeouts.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:        120 * time.Second,
		TCPSynRecv:        60 * time.Second,
		TCPEstablished:    432000 * time.Second,
		TCPFinWait:        120 * time.Second,
		TCPCloseWait:      60 * time.Second,
		TCPLastAck:        30 * time.Second,
		TCPTimeWait:       120 * time.Second,
		TCPClose:          10 * time.Second,
		TCPSynSent2:       120 * time.Second,
		TCPRetrans:        300 * time.Second,
		TCPUnacknowledged: 300 * time.Second,
		UDP:               30 * time.Second,
		UDPStream:         120 * time.Second,
		ICMP:              30 * time.Second,
		Generic:           600 * time.Second,

		SCTPClosed:          10 * time.Second,
		SCTPCookieWait:      3 * time.Second,
		SCTPCookieEchoed:    3 * time.Second,
		SCTPEstablished:     210 * time.Second,
		SCTPShutdownSent:    3 * time.Second,
		SCTPShutdownRecd:    3 * time.Second,
		SCTPShutdownAckSent: 3 * time.Second,
		SCTPHeartbeatSent:   30 * time.Second,

		DCCPRequest:  240 * time.Second,
		DCCPRespond:  480 * time.Second,
		DCCPPartOpen: 480 * time.Second,
		DCCPOpen:     12 * time.Hour,
		DCCPCloseReq: 64 * time.Second,
		DCCPClosing:  64 * time.Second,
		DCCPTimeWait: 240 * time.Second,
	}
}

// DefaultNATTimeouts returns the time-outs of translated entries: Linux's
// raised to the floors the NAT behaviour RFCs set for mapping timers. UDP
// mappings live 5 minutes, answered or not (RFC 4787 REQ-5: never less
// than 2 minutes, 5 recommended); ICMP query mappings 60 seconds (RFC
// 5508 REQ-2); an idle established TCP connection 2 hours 4 minutes, and
// a connection being opened or closed 4 minutes (RFC 5382 REQ-5: no
// shorter than these). Other protocols keep Linux's.
func DefaultNATTimeouts() Timeouts {
	to := DefaultTimeouts()
	const transitory = 4 * time.Minute
	to.TCPSynSent = transitory
	to.TCPSynRecv = transitory
	to.TCPEstablished = 2*time.Hour + 4*time.Minute
	to.TCPFinWait = transitory
	to.TCPCloseWait = transitory
	to.TCPLastAck = transitory
	to.TCPTimeWait = transitory
	to.TCPClose = transitory
	to.TCPSynSent2 = transitory
	to.UDP = 5 * time.Minute
	to.UDPStream = 5 * time.Minute
	to.ICMP = time.Minute
	return to
}

// Timeout classes. Entries refreshed with the same class have the same
// timeout, so a per-class list kept in refresh order is also in deadline
// order: its head is the next entry of that class to expire. The TCP
// classes are numbered by TCPState.
const (
	clsRetrans   = numTCPStates + iota          // TCP retransmissions / zero window
	clsUnack                                    // TCP data in flight
	clsUDP                                      // UDP not (yet) a stream
	clsUDPStream                                // UDP answered and alive
	clsICMP                                     // ICMP queries
	clsGeneric                                  // other protocols
	clsSCTP                                     // SCTP, numbered by SCTPState from here
	clsDCCP      = clsSCTP + int(numSCTPStates) // DCCP, numbered by DCCPState from here
	numClasses   = clsDCCP + int(numDCCPStates)
	clsNone      = 0xff // not in any class list
)

// Timeout profiles: a translated entry (CreateNAT) takes its time-outs
// from Config.NATTimeouts, an untranslated one from Config.Timeouts. The
// profile is an offset added to the class, so each profile's classes
// have lists of their own and every list stays in deadline order.
const (
	profilePlain = 0
	profileNAT   = numClasses
	numProfiles  = 2
	numAllClass  = numProfiles * numClasses
)

func (to *Timeouts) classes() [numClasses]time.Duration {
	var c [numClasses]time.Duration
	c[TCPNone] = to.TCPSynSent // never used: no entry stays in NONE
	c[TCPSynSent] = to.TCPSynSent
	c[TCPSynRecv] = to.TCPSynRecv
	c[TCPEstablished] = to.TCPEstablished
	c[TCPFinWait] = to.TCPFinWait
	c[TCPCloseWait] = to.TCPCloseWait
	c[TCPLastAck] = to.TCPLastAck
	c[TCPTimeWait] = to.TCPTimeWait
	c[TCPClose] = to.TCPClose
	c[TCPSynSent2] = to.TCPSynSent2
	c[clsRetrans] = to.TCPRetrans
	c[clsUnack] = to.TCPUnacknowledged
	c[clsUDP] = to.UDP
	c[clsUDPStream] = to.UDPStream
	c[clsICMP] = to.ICMP
	c[clsGeneric] = to.Generic
	sctp := c[clsSCTP : clsSCTP+int(numSCTPStates)]
	sctp[SCTPNone] = to.SCTPClosed // never used: no entry stays in NONE
	sctp[SCTPClosed] = to.SCTPClosed
	sctp[SCTPCookieWait] = to.SCTPCookieWait
	sctp[SCTPCookieEchoed] = to.SCTPCookieEchoed
	sctp[SCTPEstablished] = to.SCTPEstablished
	sctp[SCTPShutdownSent] = to.SCTPShutdownSent
	sctp[SCTPShutdownRecd] = to.SCTPShutdownRecd
	sctp[SCTPShutdownAckSent] = to.SCTPShutdownAckSent
	sctp[SCTPHeartbeatSent] = to.SCTPHeartbeatSent
	dccp := c[clsDCCP : clsDCCP+int(numDCCPStates)]
	dccp[DCCPNone] = to.DCCPRequest // never used
	dccp[DCCPRequest] = to.DCCPRequest
	dccp[DCCPRespond] = to.DCCPRespond
	dccp[DCCPPartOpen] = to.DCCPPartOpen
	dccp[DCCPOpen] = to.DCCPOpen
	dccp[DCCPCloseReq] = to.DCCPCloseReq
	dccp[DCCPClosing] = to.DCCPClosing
	dccp[DCCPTimeWait] = to.DCCPTimeWait
	return c
}

var classNames = [numClasses]string{
	"tcp_none", "tcp_syn_sent", "tcp_syn_recv", "tcp_established",
	"tcp_fin_wait", "tcp_close_wait", "tcp_last_ack", "tcp_time_wait",
	"tcp_close", "tcp_syn_sent2", "tcp_retrans", "tcp_unacknowledged",
	"udp", "udp_stream", "icmp", "generic",
	"sctp_none", "sctp_closed", "sctp_cookie_wait", "sctp_cookie_echoed", "sctp_established",
	"sctp_shutdown_sent", "sctp_shutdown_recd", "sctp_shutdown_ack_sent", "sctp_heartbeat_sent",
	"dccp_none", "dccp_request", "dccp_respond", "dccp_partopen", "dccp_open",
	"dccp_closereq", "dccp_closing", "dccp_timewait",
}

// Config configures a Table. The zero value is usable: every zero field
// takes its default.
type Config struct {
	// MaxEntries bounds the table. Default 65536. Memory for all of them
	// (about 224 bytes each) is allocated by New.
	MaxEntries int
	// Shards is the number of independently locked parts of the table, a
	// power of two up to 1024. Default: 8 per CPU, at most 256, and at
	// least 256 entries per shard. Eviction under pressure looks first in
	// the shard of the new flow, so with more than one shard which entry
	// is evicted depends on the hash.
	Shards int
	// Timeouts; zero fields take Linux's defaults.
	Timeouts Timeouts
	// Liberal accepts TCP segments that fail the window checks, as Linux's
	// nf_conntrack_tcp_be_liberal; state transitions and the RST checks
	// still apply.
	Liberal bool
	// Pickup lets Create start an entry from a TCP ACK of a connection
	// whose handshake was not seen (Linux's nf_conntrack_tcp_loose). Off by
	// default, as in pf: then a TCP segment other than a SYN without an
	// entry is Invalid, which is what drops a spoofed ACK from outside.
	// Picked-up connections are tracked liberally, since their window
	// scaling is unknown.
	Pickup bool
	// MaxRetrans is the number of identical segments after which the
	// TCPRetrans timeout applies. Default 3.
	MaxRetrans int
	// SweepBatch bounds the number of entries one Sweep call removes.
	// Default 4096.
	SweepBatch int
	// PerSource bounds the entries whose original direction comes from
	// one source address, as pf's max-src-states does: a Create beyond it
	// is refused with ReasonSourceLimit, before anything is evicted for
	// it. A source is counted per zone and per side: an address seen on
	// one side is not the host of that address on the other (one of them
	// is spoofed), so a flood spoofing an inside address from outside
	// cannot use up the inside host's own bound. A TCP connection in
	// TIME_WAIT or CLOSE no longer counts, as in Linux's connlimit. 0, the
	// default, sets no bound.
	PerSource int
	// PerPrefix bounds the entries of all the sources of one prefix
	// together (Linux's connlimit with a mask), against a host that
	// owns a network's worth of addresses; a Create beyond it is refused
	// with ReasonPrefixLimit. 0, the default, sets no bound.
	PerPrefix int
	// PrefixLen4 and PrefixLen6 are the prefix lengths PerPrefix counts
	// by: defaults 24 and 56 (an IPv6 end site's usual allocation, RFC
	// 6177).
	PrefixLen4, PrefixLen6 int
	// AdaptiveStart and AdaptiveEnd scale every time-out down as the
	// table fills, as pf's adaptive.start and adaptive.end do, in percent
	// of MaxEntries: with n entries above the start, a time-out is
	// multiplied by (end - n) / (end - start), reaching zero at the end;
	// an entry idle for longer than its scaled time-out has expired.
	// Defaults 60 and 120, pf's: a full table keeps a third of each
	// time-out. An AdaptiveStart of 100 or more turns scaling off (the
	// table never holds more than 100%).
	AdaptiveStart, AdaptiveEnd int
	// Splices lets entries carry a Splice (Packet.Splice), for a SYN
	// proxy: room for one beside every entry (about 40 bytes each) is
	// allocated by New.
	Splices bool
	// Clock tells the time; nil means the system clock. Offline replay
	// sets it to the capture's clock. The table reads it once per packet.
	Clock clock.Clock

	// NAT makes room for translated entries (CreateNAT): a slab of their
	// translations beside the entries and one of the nodes by which their
	// replies are found (about 128 bytes per entry more). Without it
	// CreateNAT refuses.
	NAT bool
	// NATTimeouts are the time-outs of translated entries; zero fields
	// take DefaultNATTimeouts'. A translation lives exactly as long as
	// its entry, so these are the NAT's mapping timers.
	NATTimeouts Timeouts
	// Release is called with the Ref of a translation when its entry is
	// gone: removed for whatever reason, or refused by CreateNAT. It runs
	// with a shard of the table locked, so it must be quick and must not
	// call the table.
	Release func(ref uint64)
}

const (
	defaultMaxEntries    = 65536
	defaultSweepBatch    = 4096
	defaultPrefixLen4    = 24
	defaultPrefixLen6    = 56
	defaultAdaptiveStart = 60
	defaultAdaptiveEnd   = 120
	// maxAdaptive bounds the adaptive percentages (pf takes any count).
	maxAdaptive = 1000
	maxShards   = 1 << shardBits
	maxEntries  = 1 << 30
	// maxTimeout keeps deadlines (UnixNano + timeout) far from overflow.
	maxTimeout = 10 * 365 * 24 * time.Hour
)

// errConfig wraps every configuration error so callers can test for it.
var errConfig = errors.New("conntrack: invalid config")

// normalize validates cfg and fills in defaults.
func (cfg Config) normalize() (Config, error) {
	if cfg.MaxEntries < 0 {
		return cfg, fmt.Errorf("%w: MaxEntries %d is negative", errConfig, cfg.MaxEntries)
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = defaultMaxEntries
	}
	if cfg.MaxEntries > maxEntries {
		return cfg, fmt.Errorf("%w: MaxEntries %d exceeds %d", errConfig, cfg.MaxEntries, maxEntries)
	}
	switch {
	case cfg.Shards < 0:
		return cfg, fmt.Errorf("%w: Shards %d is negative", errConfig, cfg.Shards)
	case cfg.Shards == 0:
		cfg.Shards = defaultShards(cfg.MaxEntries)
	case cfg.Shards > maxShards || cfg.Shards&(cfg.Shards-1) != 0:
		return cfg, fmt.Errorf("%w: Shards %d is not a power of two in [1, %d]", errConfig, cfg.Shards, maxShards)
	}
	if per := shardCapacity(cfg.MaxEntries, cfg.Shards); per > slotMask {
		return cfg, fmt.Errorf("%w: %d entries per shard exceed %d; use more Shards", errConfig, per, slotMask)
	}
	if cfg.MaxRetrans < 0 || cfg.MaxRetrans > 255 {
		return cfg, fmt.Errorf("%w: MaxRetrans %d outside [0, 255]", errConfig, cfg.MaxRetrans)
	}
	if cfg.MaxRetrans == 0 {
		cfg.MaxRetrans = 3
	}
	if cfg.SweepBatch < 0 {
		return cfg, fmt.Errorf("%w: SweepBatch %d is negative", errConfig, cfg.SweepBatch)
	}
	if cfg.SweepBatch == 0 {
		cfg.SweepBatch = defaultSweepBatch
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"PerSource", cfg.PerSource}, {"PerPrefix", cfg.PerPrefix}} {
		if v.n < 0 || v.n > maxEntries {
			return cfg, fmt.Errorf("%w: %s %d outside [0, %d]", errConfig, v.name, v.n, maxEntries)
		}
	}
	for _, v := range []struct {
		name     string
		n        *int
		max, def int
	}{{"PrefixLen4", &cfg.PrefixLen4, 32, defaultPrefixLen4}, {"PrefixLen6", &cfg.PrefixLen6, 128, defaultPrefixLen6}} {
		if *v.n == 0 {
			*v.n = v.def
		}
		if *v.n < 1 || *v.n > v.max {
			return cfg, fmt.Errorf("%w: %s %d outside [1, %d]", errConfig, v.name, *v.n, v.max)
		}
	}
	if cfg.AdaptiveStart == 0 {
		cfg.AdaptiveStart = defaultAdaptiveStart
	}
	if cfg.AdaptiveEnd == 0 {
		cfg.AdaptiveEnd = max(defaultAdaptiveEnd, cfg.AdaptiveStart+1)
	}
	if cfg.AdaptiveStart < 1 || cfg.AdaptiveStart > maxAdaptive || cfg.AdaptiveEnd < 1 || cfg.AdaptiveEnd > maxAdaptive {
		return cfg, fmt.Errorf("%w: AdaptiveStart %d and AdaptiveEnd %d must be in [1, %d]", errConfig, cfg.AdaptiveStart, cfg.AdaptiveEnd, maxAdaptive)
	}
	if cfg.AdaptiveStart < 100 && cfg.AdaptiveEnd <= cfg.AdaptiveStart {
		return cfg, fmt.Errorf("%w: AdaptiveEnd %d is not above AdaptiveStart %d", errConfig, cfg.AdaptiveEnd, cfg.AdaptiveStart)
	}
	cfg.Clock = clock.Or(cfg.Clock)
	defaults := DefaultTimeouts()
	if err := fillTimeouts(&cfg.Timeouts, defaults); err != nil {
		return cfg, err
	}
	if err := fillTimeouts(&cfg.NATTimeouts, DefaultNATTimeouts()); err != nil {
		return cfg, fmt.Errorf("%w (NAT)", err)
	}
	return cfg, nil
}

// fillTimeouts checks the time-outs in to and gives every zero one its
// value in defaults.
func fillTimeouts(to *Timeouts, defaults Timeouts) error {
	def := defaults.classes()
	got := to.classes()
	for i := range got {
		if got[i] < 0 || got[i] > maxTimeout {
			return fmt.Errorf("%w: timeout %s is %v, outside [0, %v]", errConfig, classNames[i], got[i], maxTimeout)
		}
	}
	fill := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	fill(&to.TCPSynSent, def[TCPSynSent])
	fill(&to.TCPSynRecv, def[TCPSynRecv])
	fill(&to.TCPEstablished, def[TCPEstablished])
	fill(&to.TCPFinWait, def[TCPFinWait])
	fill(&to.TCPCloseWait, def[TCPCloseWait])
	fill(&to.TCPLastAck, def[TCPLastAck])
	fill(&to.TCPTimeWait, def[TCPTimeWait])
	fill(&to.TCPClose, def[TCPClose])
	fill(&to.TCPSynSent2, def[TCPSynSent2])
	fill(&to.TCPRetrans, def[clsRetrans])
	fill(&to.TCPUnacknowledged, def[clsUnack])
	fill(&to.UDP, def[clsUDP])
	fill(&to.UDPStream, def[clsUDPStream])
	fill(&to.ICMP, def[clsICMP])
	fill(&to.Generic, def[clsGeneric])
	fill(&to.SCTPClosed, defaults.SCTPClosed)
	fill(&to.SCTPCookieWait, defaults.SCTPCookieWait)
	fill(&to.SCTPCookieEchoed, defaults.SCTPCookieEchoed)
	fill(&to.SCTPEstablished, defaults.SCTPEstablished)
	fill(&to.SCTPShutdownSent, defaults.SCTPShutdownSent)
	fill(&to.SCTPShutdownRecd, defaults.SCTPShutdownRecd)
	fill(&to.SCTPShutdownAckSent, defaults.SCTPShutdownAckSent)
	fill(&to.SCTPHeartbeatSent, defaults.SCTPHeartbeatSent)
	fill(&to.DCCPRequest, defaults.DCCPRequest)
	fill(&to.DCCPRespond, defaults.DCCPRespond)
	fill(&to.DCCPPartOpen, defaults.DCCPPartOpen)
	fill(&to.DCCPOpen, defaults.DCCPOpen)
	fill(&to.DCCPCloseReq, defaults.DCCPCloseReq)
	fill(&to.DCCPClosing, defaults.DCCPClosing)
	fill(&to.DCCPTimeWait, defaults.DCCPTimeWait)
	return nil
}

// defaultShards picks enough shards that cores rarely meet on a lock,
// but not so many that a small table is cut into slivers, each of which
// would be full long before the table is.
func defaultShards(maxEntries int) int {
	want := 8 * runtime.GOMAXPROCS(0)
	if want > 256 {
		want = 256
	}
	if byEntries := maxEntries / 256; want > byEntries {
		want = byEntries
	}
	n := 1
	for n*2 <= want {
		n *= 2
	}
	return n
}
