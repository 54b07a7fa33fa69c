package resolver

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/internal/deadline"
)

// Errors that Resolve wraps; the response that accompanies them is SERVFAIL
// unless stated otherwise.
var (
	// ErrBadQuery: the query name is not a valid domain name (FORMERR).
	ErrBadQuery = errors.New("resolver: invalid query")
	// ErrUnsupported: a class other than IN, or a meta type such as AXFR
	// (REFUSED or NOTIMP).
	ErrUnsupported = errors.New("resolver: unsupported query")
	// ErrBudgetExhausted: the query needed more upstream queries than
	// Config.MaxUpstreamQueries allows.
	ErrBudgetExhausted = errors.New("resolver: upstream query budget exhausted")
	// ErrOverloaded: Config.MaxInFlight resolutions were already running.
	ErrOverloaded = errors.New("resolver: too many resolutions in flight")
	// ErrTimeout: Config.Timeout, or the caller's deadline, passed.
	ErrTimeout = errors.New("resolver: time budget exhausted")
	// ErrNoServers: no server of a zone gave a usable response, or none
	// could be reached or its address found.
	ErrNoServers = errors.New("resolver: no usable name server")
	// ErrCNAMELoop: a CNAME or DNAME chain leads back to a name on it.
	ErrCNAMELoop = errors.New("resolver: CNAME/DNAME loop")
	// ErrChainTooLong: a chain has more than Config.MaxCNAMEChain links.
	ErrChainTooLong = errors.New("resolver: CNAME/DNAME chain too long")
)

// Config configures a Resolver. The zero value of every field except RootHints
// selects a default; New validates the whole of it before the resolver starts.
type Config struct {
	// RootHints are NS records for the root and A/AAAA records for their
	// targets, as ParseRootHints returns. Nil means DefaultRootHints.
	RootHints []dns.RR
	// Transport reaches upstream servers; nil means a NetTransport.
	Transport Transport
	// Cache holds RRsets and negative answers; nil means a MemCache of
	// DefaultCacheEntries.
	Cache Cache
	// Clock tells the time: TTL expiry, infra-cache ages and the round-trip
	// times the resolver measures all read it, so a scripted clock governs
	// them. Deadlines of upstream tries use real time through context. Nil
	// means the system clock.
	Clock clock.Clock
	// Logger receives debug logs of upstream queries, lame servers and
	// failed resolutions, and a warning when priming fails; nil discards
	// them.
	Logger *slog.Logger

	// QNAMEMinimisation sends each zone's servers only one label more than
	// the zone (RFC 9156), in relaxed mode: an NXDOMAIN for a minimised
	// name is re-asked with the full name, since some servers answer
	// NXDOMAIN for empty non-terminals.
	QNAMEMinimisation bool
	// DNSSECOK sets the DO bit upstream, so that RRSIG, NSEC and NSEC3
	// records are fetched, cached and passed to clients that set DO.
	DNSSECOK bool
	// EDNSBufferSize is the UDP payload size advertised upstream; 0 means
	// 1232 (the DNS flag day 2020 value, which avoids IP fragmentation).
	EDNSBufferSize uint16

	// Timeout is the time budget of one client query, over all its upstream
	// work; 0 means 10 s.
	Timeout time.Duration
	// MinTryTimeout and MaxTryTimeout bound the time-out of one upstream
	// try, which adapts to the server's measured RTT; 0 means 400 ms and
	// 1.5 s.
	MinTryTimeout, MaxTryTimeout time.Duration
	// MaxInFlight bounds the resolutions running at once (identical
	// queries share one); a query that would start another is answered
	// SERVFAIL at once. 0 means 4096.
	MaxInFlight int
	// MaxUpstreamQueries bounds the upstream queries of one client query,
	// including those for name-server addresses and, when the caller
	// shares one budget between its Resolve calls (WithBudget, as
	// dns/validate does for a query's DS and DNSKEY fetches), those of
	// every resolution made for it; 0 means 64. Priming the root is the
	// resolver's own work and charged to nobody.
	MaxUpstreamQueries int
	// MaxCNAMEChain bounds the CNAME and DNAME links of an answer; 0 means 12.
	MaxCNAMEChain int
	// MaxDepth bounds the nesting of name-server address lookups (an address
	// needed to find an address ...); 0 means 5.
	MaxDepth int
	// MaxTTL caps the TTL of cached records and MaxNegativeTTL that of
	// negative answers, in seconds; 0 means one day and one hour.
	MaxTTL, MaxNegativeTTL uint32

	// InfraMaxHosts bounds the servers (and, separately, the server-zone
	// lameness entries) the infra cache remembers; 0 means 10000.
	InfraMaxHosts int
	// InfraTTL is how long the infra cache remembers a server; 0 means
	// 15 minutes.
	InfraTTL time.Duration

	// Port is the upstream servers' port; 0 means 53. Labs and tests that
	// run authoritative servers on other ports set it.
	Port uint16
	// DisableIPv6 ignores IPv6 addresses of name servers, for hosts without
	// IPv6 connectivity.
	DisableIPv6 bool

	// Disable0x20 sends query names in lower case instead of randomising the
	// case of their letters; only for upstreams known to mangle case.
	Disable0x20 bool
	// DisableCookies sends no DNS cookies (RFC 7873) upstream.
	DisableCookies bool
	// SpoofHoldDown is how long a query name stays under suspicion after a
	// near miss (see SpoofReason): its upstream queries go over TCP and
	// nothing learnt over UDP for it is cached. 0 means 60 s.
	SpoofHoldDown time.Duration
	// MaxSuspects bounds the names under suspicion; 0 means 10000.
	MaxSuspects int
	// MaxRRsetRecords is the largest RRset accepted; a response with a
	// larger one is refused. 0 means 1000.
	MaxRRsetRecords int
	// MaxDelegationNS bounds the NS records of a delegation that are
	// followed; 0 means 13.
	MaxDelegationNS int
	// MaxGluelessLookups bounds the name-server address lookups one
	// delegation may cause, so that a referral to many names without glue
	// costs a few queries rather than one per name (NXNS); 0 means 3.
	MaxGluelessLookups int
	// MaxZoneTries bounds the queries sent to one zone's servers in one
	// step of a resolution; 0 means 16.
	MaxZoneTries int
	// FetchesPerZone bounds the upstream queries in flight to the
	// servers of one zone, over all resolutions (BIND's fetches-per-zone);
	// a resolution that would send one more is answered SERVFAIL
	// (ErrZoneFetchLimit). 0 means no bound.
	FetchesPerZone int

	// LabAcceptOutOfBailiwick turns the bailiwick rule off, the way
	// resolvers worked before 1997: records a server put in its
	// response about names outside the zone it was asked as (authority NS
	// sets, additional-section addresses) and answer records off the
	// CNAME/DNAME chain are cached too. It exists only so that the lab can
	// show its bailiwick attack succeeding against such a resolver; only
	// `rampart resolver --lab-weaken-bailiwick`, which the lab must consent
	// to through the environment, sets it, and no configuration file can.
	LabAcceptOutOfBailiwick bool
}

func (c *Config) setDefaults() {
	if c.EDNSBufferSize == 0 {
		c.EDNSBufferSize = 1232
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MinTryTimeout == 0 {
		c.MinTryTimeout = 400 * time.Millisecond
	}
	if c.MaxTryTimeout == 0 {
		c.MaxTryTimeout = 1500 * time.Millisecond
	}
	if c.MaxUpstreamQueries == 0 {
		c.MaxUpstreamQueries = 64
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.MaxCNAMEChain == 0 {
		c.MaxCNAMEChain = 12
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 5
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = 86400
	}
	if c.MaxNegativeTTL == 0 {
		c.MaxNegativeTTL = 3600
	}
	if c.InfraMaxHosts == 0 {
		c.InfraMaxHosts = 10000
	}
	if c.InfraTTL == 0 {
		c.InfraTTL = 15 * time.Minute
	}
	if c.Port == 0 {
		c.Port = 53
	}
	if c.SpoofHoldDown == 0 {
		c.SpoofHoldDown = 60 * time.Second
	}
	if c.MaxSuspects == 0 {
		c.MaxSuspects = 10000
	}
	if c.MaxRRsetRecords == 0 {
		c.MaxRRsetRecords = 1000
	}
	if c.MaxDelegationNS == 0 {
		c.MaxDelegationNS = 13
	}
	if c.MaxGluelessLookups == 0 {
		c.MaxGluelessLookups = 3
	}
	if c.MaxZoneTries == 0 {
		c.MaxZoneTries = 16
	}
}

func (c *Config) validate() error {
	switch {
	case c.EDNSBufferSize < 512:
		return fmt.Errorf("EDNSBufferSize %d is below 512", c.EDNSBufferSize)
	case c.Timeout < 0:
		return fmt.Errorf("the query time-out %v is negative", c.Timeout)
	case c.MinTryTimeout < 0 || c.MaxTryTimeout < 0:
		return fmt.Errorf("try time-outs %v and %v must not be negative", c.MinTryTimeout, c.MaxTryTimeout)
	case c.MinTryTimeout > c.MaxTryTimeout:
		return fmt.Errorf("MinTryTimeout %v exceeds MaxTryTimeout %v", c.MinTryTimeout, c.MaxTryTimeout)
	case c.MaxTryTimeout > c.Timeout:
		return fmt.Errorf("MaxTryTimeout %v exceeds Timeout %v", c.MaxTryTimeout, c.Timeout)
	case c.MaxInFlight < 1:
		return fmt.Errorf("MaxInFlight %d must be positive", c.MaxInFlight)
	case c.MaxUpstreamQueries < 1:
		return fmt.Errorf("MaxUpstreamQueries %d must be positive", c.MaxUpstreamQueries)
	case c.MaxCNAMEChain < 1 || c.MaxCNAMEChain > 64:
		return fmt.Errorf("MaxCNAMEChain %d is outside 1..64", c.MaxCNAMEChain)
	case c.MaxDepth < 1 || c.MaxDepth > 16:
		return fmt.Errorf("MaxDepth %d is outside 1..16", c.MaxDepth)
	case c.InfraMaxHosts < 1:
		return fmt.Errorf("InfraMaxHosts %d must be positive", c.InfraMaxHosts)
	case c.InfraTTL < 0:
		return fmt.Errorf("InfraTTL %v is negative", c.InfraTTL)
	case c.SpoofHoldDown < 0:
		return fmt.Errorf("SpoofHoldDown %v is negative", c.SpoofHoldDown)
	case c.MaxSuspects < 1:
		return fmt.Errorf("MaxSuspects %d must be positive", c.MaxSuspects)
	case c.MaxRRsetRecords < 1 || c.MaxRRsetRecords > 65535:
		return fmt.Errorf("MaxRRsetRecords %d is outside 1..65535", c.MaxRRsetRecords)
	case c.MaxDelegationNS < 1 || c.MaxDelegationNS > 64:
		return fmt.Errorf("MaxDelegationNS %d is outside 1..64", c.MaxDelegationNS)
	case c.MaxGluelessLookups < 1 || c.MaxGluelessLookups > 64:
		return fmt.Errorf("MaxGluelessLookups %d is outside 1..64", c.MaxGluelessLookups)
	case c.MaxZoneTries < 1:
		return fmt.Errorf("MaxZoneTries %d must be positive", c.MaxZoneTries)
	case c.FetchesPerZone < 0:
		return fmt.Errorf("FetchesPerZone %d is negative", c.FetchesPerZone)
	}
	return nil
}

// Resolver resolves queries iteratively from the root hints. It is safe for
// concurrent use.
type Resolver struct {
	// Immutable after New, and read by every resolution without a lock.
	cfg       Config
	transport Transport
	cache     Cache
	clock     clock.Clock
	log       *slog.Logger
	hints     *zoneServers  // resolutions copy its candidates before use
	slots     chan struct{} // one per resolution in flight

	// Shared state that synchronises itself: each of these has its own
	// mutex, and says which fields it guards.
	infra     *infraCache
	flights   flightGroup[flightKey, *result]
	primes    flightGroup[struct{}, struct{}]
	exchanges flightGroup[exchangeKey, exchangeResult]
	cuts      *zoneCuts
	delegs    *delegations
	suspects  *suspects
	warns     warnLimiter
	fetches   *zoneFetches // nil: no bound per zone

	cookieSecret [32]byte // immutable after New: for client cookies; never leaves the process

	// sawDNAME is set once a DNAME has been cached: until then a cache
	// miss looks for no DNAME above the name (dnameFromCache).
	sawDNAME atomic.Bool

	stats counters // atomics, read without a lock
}

type flightKey struct {
	name          string
	qtype, qclass uint16
}

type counters struct {
	queries, cacheAnswers, upstream, timeouts, netErrors, tcpFallbacks,
	ednsFallbacks, lame, bad, referrals, minFallbacks, budget, servfail,
	primings, overloaded atomic.Uint64

	// spoof counts near misses by reason; its SpoofNone element counts
	// them all.
	spoof                                       [spoofReasons]atomic.Uint64
	spoofTCP, spoofNotCached, caseFallbacks     atomic.Uint64
	oversized, crossZone, rankRejected, ttlCaps atomic.Uint64
	labForeign                                  atomic.Uint64
	gluelessLimited, zoneTriesLimited           atomic.Uint64
	bogusRetries, bogusRepeats                  atomic.Uint64
}

// Stats are the resolver's counters since New.
type Stats struct {
	Queries           uint64 // Resolve calls
	CacheAnswers      uint64 // answered from the cache without upstream work
	UpstreamQueries   uint64 // queries sent upstream
	Timeouts          uint64 // upstream tries without a response in time
	NetworkErrors     uint64 // upstream tries that failed otherwise (unreachable, refused connection)
	TCPFallbacks      uint64 // retries over TCP after a truncated UDP response
	EDNSFallbacks     uint64 // retries without EDNS after FORMERR
	LameServers       uint64 // responses that showed a server lame for a zone
	BadResponses      uint64 // responses rejected by the acceptance rules, and SERVFAILs
	Referrals         uint64
	QNAMEMinFallbacks uint64 // minimised queries re-asked with the full name
	Deduplicated      uint64 // Resolve calls that joined identical work in flight
	DedupUpstream     uint64 // upstream queries joined instead of sent
	BudgetExhausted   uint64
	Overloaded        uint64 // resolutions refused for lack of a MaxInFlight slot
	ServFail          uint64 // Resolve calls answered SERVFAIL
	Primings          uint64 // successful root primings
	InfraHosts        int    // servers in the infra cache
	InfraLame         int    // server-zone lameness entries
	InfraEvictions    uint64 // infra entries dropped to stay within InfraMaxHosts

	// SpoofSuspected counts near misses: responses from the address and
	// port a query went to that failed matching. The fields after it count
	// them by reason.
	SpoofSuspected     uint64
	SpoofWrongID       uint64
	SpoofWrongQuestion uint64
	SpoofWrongCase     uint64 // 0x20 case not echoed over UDP
	SpoofBadCookie     uint64 // client cookie not ours
	SpoofMissingCookie uint64 // no cookie from a server that sent one before
	SpoofTCPRetries    uint64 // queries re-asked over TCP after a near miss
	SpoofNotCached     uint64 // RRsets from UDP not cached for a suspect name
	SuspectNames       int    // names under suspicion now
	SuspectsDropped    uint64 // suspects evicted to stay within MaxSuspects
	// CaseFallbacks counts servers found over TCP not to preserve case, for
	// which 0x20 was turned off for a while.
	CaseFallbacks uint64
	// OversizedRRsets counts responses refused for an RRset above
	// MaxRRsetRecords.
	OversizedRRsets uint64
	// CrossZoneRejected counts records and referrals refused because they
	// lie below a zone cut under the zone the query was sent to.
	CrossZoneRejected uint64
	// RankRejected counts RRsets not cached because a set of higher
	// credibility was; TTLCapped counts NS and glue sets whose TTL was cut
	// to what was left of the cached set they replace (ghost domains).
	RankRejected uint64
	TTLCapped    uint64
	// GluelessLimited counts delegations whose name servers without glue
	// exceeded MaxGluelessLookups; ZoneTriesLimited, zone steps that hit
	// MaxZoneTries.
	GluelessLimited  uint64
	ZoneTriesLimited uint64
	// BogusRetries counts resolutions asked again because a validator
	// found their answer bogus (Retry); BogusRepeats, the upstream replies
	// passed over during them for sending the bogus data again.
	BogusRetries uint64
	BogusRepeats uint64
	// ZoneFetchLimited counts upstream queries not sent because
	// FetchesPerZone were in flight to the zone's servers.
	ZoneFetchLimited uint64
	ZoneCuts         int    // zone cuts remembered
	ZoneCutEvictions uint64 // cuts dropped to stay within InfraMaxHosts
	// Delegations counts the zones whose servers are remembered (see
	// Forget); DelegationEvictions, those dropped to stay within
	// InfraMaxHosts.
	Delegations         int
	DelegationEvictions uint64
	// LabOutOfBailiwick counts records taken against the bailiwick rule by
	// a resolver with Config.LabAcceptOutOfBailiwick; always 0 otherwise.
	LabOutOfBailiwick uint64
}

// New validates cfg, fills in defaults and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("resolver: config: %w", err)
	}
	if cfg.RootHints == nil {
		cfg.RootHints = DefaultRootHints()
	}
	r := &Resolver{
		cfg:       cfg,
		transport: cfg.Transport,
		cache:     cfg.Cache,
		clock:     clock.Or(cfg.Clock),
		log:       cfg.Logger,
		infra:     newInfraCache(cfg.InfraMaxHosts, cfg.InfraTTL),
		slots:     make(chan struct{}, cfg.MaxInFlight),
		cuts:      newZoneCuts(cfg.InfraMaxHosts),
		delegs:    newDelegations(cfg.InfraMaxHosts),
		suspects:  newSuspects(cfg.MaxSuspects, cfg.SpoofHoldDown),
		fetches:   newZoneFetches(cfg.FetchesPerZone),
	}
	_, _ = crand.Read(r.cookieSecret[:]) // never fails (crypto/rand, Go 1.24+)
	if r.transport == nil {
		r.transport = NewNetTransport()
	}
	if r.cache == nil {
		r.cache = NewMemCache(DefaultCacheEntries)
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	hints, err := r.hintServers(cfg.RootHints)
	if err != nil {
		return nil, fmt.Errorf("resolver: config: %w", err)
	}
	r.hints = hints
	return r, nil
}

// hintServers turns the root hints into the candidate servers used for
// priming, and for resolution when priming fails.
func (r *Resolver) hintServers(hints []dns.RR) (*zoneServers, error) {
	names := make(map[string]bool)
	for _, rr := range hints {
		if ns, ok := rr.(*dns.NS); ok {
			if !equalName(ns.Hdr.Name, ".") {
				return nil, fmt.Errorf("root hint %q is not an NS record of the root", rr.String())
			}
			names[lowerASCII(ns.Ns)] = true
		}
	}
	if len(names) == 0 {
		return nil, errors.New("root hints hold no NS record for the root")
	}
	zs := &zoneServers{zone: "."}
	for _, rr := range hints {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.NS:
			continue
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		default:
			return nil, fmt.Errorf("root hint %q is neither NS, A nor AAAA", rr.String())
		}
		if !names[lowerASCII(rr.Header().Name)] {
			return nil, fmt.Errorf("root hint %q is the address of no root name server", rr.String())
		}
		zs.add(r, a)
	}
	if len(zs.cands) == 0 {
		return nil, errors.New("root hints hold no usable address")
	}
	return zs, nil
}

// Stats returns a snapshot of the counters.
func (r *Resolver) Stats() Stats {
	s := &r.stats
	hosts, lame := r.infra.sizes()
	return Stats{
		Queries:           s.queries.Load(),
		CacheAnswers:      s.cacheAnswers.Load(),
		UpstreamQueries:   s.upstream.Load(),
		Timeouts:          s.timeouts.Load(),
		NetworkErrors:     s.netErrors.Load(),
		TCPFallbacks:      s.tcpFallbacks.Load(),
		EDNSFallbacks:     s.ednsFallbacks.Load(),
		LameServers:       s.lame.Load(),
		BadResponses:      s.bad.Load(),
		Referrals:         s.referrals.Load(),
		QNAMEMinFallbacks: s.minFallbacks.Load(),
		Deduplicated:      r.flights.joined.Load(),
		DedupUpstream:     r.exchanges.joined.Load(),
		BudgetExhausted:   s.budget.Load(),
		Overloaded:        s.overloaded.Load(),
		ServFail:          s.servfail.Load(),
		Primings:          s.primings.Load(),
		InfraHosts:        hosts,
		InfraLame:         lame,
		InfraEvictions:    r.infra.evictions.Load(),

		SpoofSuspected:     s.spoof[SpoofNone].Load(),
		SpoofWrongID:       s.spoof[SpoofID].Load(),
		SpoofWrongQuestion: s.spoof[SpoofQuestion].Load(),
		SpoofWrongCase:     s.spoof[SpoofCase].Load(),
		SpoofBadCookie:     s.spoof[SpoofCookie].Load(),
		SpoofMissingCookie: s.spoof[SpoofNoCookie].Load(),
		SpoofTCPRetries:    s.spoofTCP.Load(),
		SpoofNotCached:     s.spoofNotCached.Load(),
		SuspectNames:       int(r.suspects.live.Load()),
		SuspectsDropped:    r.suspects.dropped.Load(),
		CaseFallbacks:      s.caseFallbacks.Load(),
		OversizedRRsets:    s.oversized.Load(),
		CrossZoneRejected:  s.crossZone.Load(),
		LabOutOfBailiwick:  s.labForeign.Load(),
		RankRejected:       s.rankRejected.Load(),
		TTLCapped:          s.ttlCaps.Load(),
		GluelessLimited:    s.gluelessLimited.Load(),
		ZoneTriesLimited:   s.zoneTriesLimited.Load(),
		BogusRetries:       s.bogusRetries.Load(),
		BogusRepeats:       s.bogusRepeats.Load(),
		ZoneFetchLimited:   r.fetches.refused(),
		ZoneCuts:           r.cuts.len(),
		ZoneCutEvictions:   r.cuts.evicted.Load(),

		Delegations:         r.delegs.len(),
		DelegationEvictions: r.delegs.evicted.Load(),
	}
}

// inlineUntil is the deadline from which a caller of Resolve runs the
// resolution in its own goroutine (see flightGroup.doDetached): one that
// waits for at least nine tenths of the resolution's time budget. The
// server gives each client query as long as the budget, so its workers
// resolve themselves; a caller with less time hands the work over, which
// then goes on, and fills the cache, after the caller gives up.
func (r *Resolver) inlineUntil() time.Time {
	return time.Now().Add(r.cfg.Timeout * 9 / 10)
}

// Forget drops what the resolver remembers, outside the cache, about the
// servers of zones at or below name: call it when the cache is flushed
// there, so that the next resolution finds the zones' servers in the cache
// (or asks for them) rather than in the resolver's memory of them.
func (r *Resolver) Forget(name string) {
	r.delegs.forgetBelow(lowerASCII(dns.Fqdn(name)))
}

// ServerInfo returns what the infra cache knows about an upstream server.
func (r *Resolver) ServerInfo(addr netip.Addr) (ServerInfo, bool) {
	return r.infra.info(addr, r.clock.Now())
}

// IsLame reports whether the infra cache holds addr lame for zone.
func (r *Resolver) IsLame(addr netip.Addr, zone string) bool {
	return r.infra.isLameLocked(addr, dns.Fqdn(zone), r.clock.Now())
}

// Resolve answers the query (qname, qtype, qclass) and returns a complete
// response for the client: RCODE, the answer chain (CNAMEs and DNAMEs with
// the final RRset) and, for NXDOMAIN and NODATA, the SOA in the authority
// section. Positive responses are minimal: no authority or additional
// records. RRSIG, NSEC and NSEC3 records are included only when do is set
// (and Config.DNSSECOK fetched them). The response has ID 0, RD and RA set and
// no OPT record: the server fills in the ID, the client's case and EDNS.
//
// The response is never nil. When err is not nil it explains why the response
// is SERVFAIL (or FORMERR, REFUSED, NOTIMP for queries the resolver does not
// take); the server should send the response anyway.
//
// Identical queries in flight share one resolution, which runs with its own
// time budget (Config.Timeout) so that it completes and fills the cache even
// when the caller that started it gives up; each caller waits only as long as
// ctx allows.
func (r *Resolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	r.stats.queries.Add(1)
	if _, ok := dns.IsDomainName(qname); !ok {
		return r.failure(qname, qtype, qclass, dns.RcodeFormatError), fmt.Errorf("%w: bad name %q", ErrBadQuery, qname)
	}
	qname = dns.Fqdn(qname)
	switch {
	case qclass != dns.ClassINET:
		return r.failure(qname, qtype, qclass, dns.RcodeRefused), fmt.Errorf("%w: class %s", ErrUnsupported, dns.Class(qclass))
	case qtype == dns.TypeOPT || qtype == dns.TypeTSIG || qtype == dns.TypeTKEY:
		return r.failure(qname, qtype, qclass, dns.RcodeFormatError), fmt.Errorf("%w: type %s in a question", ErrBadQuery, dns.Type(qtype))
	case qtype == dns.TypeAXFR || qtype == dns.TypeIXFR || qtype == dns.TypeMAILA || qtype == dns.TypeMAILB:
		return r.failure(qname, qtype, qclass, dns.RcodeNotImplemented), fmt.Errorf("%w: type %s", ErrUnsupported, dns.Type(qtype))
	}
	name := lowerASCII(qname)

	st := &state{r: r}
	res, err := st.resolve(ctx, name, qtype, true)
	if err == nil {
		r.stats.cacheAnswers.Add(1)
		return r.respond(qname, qtype, qclass, res, do), nil
	}
	missedAtStart := err == errCacheMissAtStart
	res, err, _ = r.flights.doDetached(ctx, flightKey{name, qtype, qclass}, r.inlineUntil(), func() (*result, error) {
		select {
		case r.slots <- struct{}{}:
			defer func() { <-r.slots }()
		default:
			r.stats.overloaded.Add(1)
			return nil, fmt.Errorf("%w (%d)", ErrOverloaded, r.cfg.MaxInFlight)
		}
		// The resolution's own budget, which the caller's end does not
		// cut short; a timer only if someone waits on its Done.
		wctx := deadline.Detached(ctx, time.Now().Add(r.cfg.Timeout))
		defer wctx.Cancel()
		st := &state{r: r, checked: missedAtStart, budget: budgetOf(ctx)}
		res, err := st.resolve(wctx, name, qtype, false)
		if err != nil && wctx.Err() != nil && !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w (%v): %w", ErrTimeout, r.cfg.Timeout, err)
		}
		return res, err
	})
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		r.stats.servfail.Add(1)
		// Debug, not warning: clients choose which names fail, and must
		// not be able to flood the log.
		r.log.LogAttrs(ctx, slog.LevelDebug, "resolution failed",
			slog.String("qname", qname), slog.String("qtype", dns.Type(qtype).String()), slog.String("err", err.Error()))
		return r.failure(qname, qtype, qclass, dns.RcodeServerFailure), err
	}
	return r.respond(qname, qtype, qclass, res, do), nil
}

// newResponse allocates the message and its question together.
func newResponse(qname string, qtype, qclass uint16, rcode int) *dns.Msg {
	r := new(struct {
		msg      dns.Msg
		question [1]dns.Question
	})
	r.question[0] = dns.Question{Name: qname, Qtype: qtype, Qclass: qclass}
	m := &r.msg
	m.Question = r.question[:]
	m.Response = true
	m.Opcode = dns.OpcodeQuery
	m.RecursionDesired = true
	m.RecursionAvailable = true
	m.Rcode = rcode
	return m
}

func (r *Resolver) failure(qname string, qtype, qclass uint16, rcode int) *dns.Msg {
	return newResponse(qname, qtype, qclass, rcode)
}

// respond builds the client's response from a shared result, copying every
// record so that callers may modify what they get.
func (r *Resolver) respond(qname string, qtype, qclass uint16, res *result, do bool) *dns.Msg {
	m := newResponse(qname, qtype, qclass, res.rcode)
	m.Answer = forClient(res.answer, qtype, do)
	m.Ns = forClient(res.authority, 0, do)
	return m
}

// forClient copies rrs, leaving out DNSSEC records a client without DO did
// not ask for (RFC 4035 §3.2.1).
func forClient(rrs []dns.RR, qtype uint16, do bool) []dns.RR {
	var out []dns.RR
	if len(rrs) > 0 {
		out = make([]dns.RR, 0, len(rrs))
	}
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if !do && t != qtype && qtype != dns.TypeANY &&
			(t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3) {
			continue
		}
		out = append(out, dns.Copy(rr))
	}
	return out
}
