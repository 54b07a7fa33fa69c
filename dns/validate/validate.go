package validate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// Inner is the resolver this package validates the answers of:
// dns/resolver's Resolver in production. It must return RRSIG, NSEC and
// NSEC3 records when do is set (resolver.Config.DNSSECOK), and a non-nil
// response whatever the error.
type Inner interface {
	Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error)
}

// Budgeter is an Inner that bounds the upstream work of one client query
// as a whole: every resolution asked with the context WithBudget returns
// draws on one budget (dns/resolver's Config.MaxUpstreamQueries), so that
// the DS and DNSKEY fetches of a validation do not each get a fresh one.
// dns/resolver's Resolver is one.
type Budgeter interface {
	WithBudget(ctx context.Context) context.Context
}

// ErrBogus is wrapped by the error Resolve returns with a SERVFAIL for an
// answer that failed validation; the response carries the EDE.
var ErrBogus = errors.New("validate: DNSSEC validation failed")

// Config configures a Resolver. Zero fields take their defaults.
type Config struct {
	// Logger receives a warning per Bogus answer (qname, qtype, ede,
	// reason); nil discards them.
	Logger *slog.Logger
	// MaxZones bounds the key cache: zones with validated keys, insecure
	// cuts and names known to be no cut. The least recently used entry
	// is evicted beyond it. Default 10000.
	MaxZones int
	// Clock is the clock of the key cache's TTLs; nil means the system
	// clock. The dnssec.Validator has its own, for signature validity.
	Clock clock.Clock
	// MaxKeyTTL caps how long a key cache entry lives, whatever the
	// records' TTLs say. Default 24 hours.
	MaxKeyTTL time.Duration
	// BogusTTL is how long an answer, DS or DNSKEY RRset that failed
	// validation is remembered as bogus (Unbound's val-bogus-ttl): the
	// same question is answered SERVFAIL without upstream work, and the
	// inner resolver keeps the bogus records no longer. Default 60 s; a
	// negative value means it is not remembered (and the records are
	// kept a second).
	BogusTTL time.Duration
	// DisableAggressiveNSEC turns off the aggressive use of validated
	// NSEC and NSEC3 records (RFC 8198), which is on by default as in
	// Unbound: NXDOMAIN and NODATA answers synthesised from the cached
	// denials of secure zones without asking upstream.
	DisableAggressiveNSEC bool
	// MaxDenialRecords bounds the NSEC and NSEC3 records kept for
	// aggressive use (a few hundred octets each with their RRSIGs); the
	// least recently used zone's go first. Default 20000.
	MaxDenialRecords int
	// MaxRetries bounds how often one client query asks the inner
	// resolver again for data that failed validation (see Retrier),
	// answer and DS/DNSKEY fetches together. Default 5, Unbound's
	// restarts of the iterator; each retry draws on the query's budget of
	// upstream queries too.
	MaxRetries int
	// MaxChainDepth bounds the zone cuts one chain of trust may cross
	// below its trust anchor. Default 16.
	MaxChainDepth int
	// MaxFetches bounds the DS and DNSKEY queries (and wildcard proof
	// queries) to the inner resolver one client query may cause. Default
	// 32; the walk towards an unsigned name asks one DS per label.
	MaxFetches int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxZones <= 0 {
		c.MaxZones = 10000
	}
	c.Clock = clock.Or(c.Clock)
	if c.MaxKeyTTL <= 0 {
		c.MaxKeyTTL = 24 * time.Hour
	}
	if c.BogusTTL == 0 {
		c.BogusTTL = time.Minute
	}
	if c.MaxChainDepth <= 0 {
		c.MaxChainDepth = 16
	}
	if c.MaxFetches <= 0 {
		c.MaxFetches = 32
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.MaxDenialRecords <= 0 {
		c.MaxDenialRecords = 20000
	}
}

// Resolver validates the answers of an Inner resolver. It has the
// Inner's Resolve method, so dns/server can use it in its place. Safe for
// concurrent use.
type Resolver struct {
	inner Inner
	v     *dnssec.Validator
	cfg   Config
	keys  *keyCache[string]
	// bogus remembers the answers found bogus, for Config.BogusTTL.
	bogus *keyCache[answerKey]
	// denials are the validated NSEC and NSEC3 records kept for RFC 8198.
	denials *denialCache
	stats   counters
}

// New makes a Resolver that validates inner's answers with v, whose trust
// anchors start every chain of trust.
func New(inner Inner, v *dnssec.Validator, cfg Config) *Resolver {
	cfg.setDefaults()
	return &Resolver{inner: inner, v: v, cfg: cfg, keys: newKeyCache[string](cfg.MaxZones), bogus: newKeyCache[answerKey](cfg.MaxZones),
		denials: newDenialCache(cfg.MaxDenialRecords)}
}

// Resolve answers the query for a client with the CD bit clear; see
// ResolveCD.
func (r *Resolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	return r.ResolveCD(ctx, qname, qtype, qclass, do, false)
}

// ResolveCD asks the inner resolver with DO set and validates its answer
// (RFC 4035 section 5):
//   - Secure: the response has AuthenticatedData set; the server sets AD
//     towards the client only if the client sent DO or AD.
//   - Insecure or Indeterminate (no trust anchor covers the name): the
//     response without AD.
//   - Bogus: a SERVFAIL response whose OPT record carries the EDE code
//     and reason, and an error wrapping ErrBogus; nothing of the bogus
//     data is returned.
//
// cd is the client's Checking Disabled bit: the data is returned
// unvalidated and without AD (RFC 4035 section 3.2.2). do is the client's
// DO bit: without it RRSIG, NSEC and NSEC3 records are removed unless
// they are the query type. Responses the inner resolver failed (err set,
// or an RCODE other than NOERROR and NXDOMAIN) pass through unvalidated.
func (r *Resolver) ResolveCD(ctx context.Context, qname string, qtype, qclass uint16, do, cd bool) (*dns.Msg, error) {
	if !cd && qclass == dns.ClassINET && r.cfg.BogusTTL > 0 {
		// An answer found bogus a moment ago is bogus still: asking
		// again, and validating, would cost the same to fail the same.
		if l, ok := r.bogus.get(answerKey{canonicalName(qname), qtype}, r.cfg.Clock.Now()); ok {
			r.stats.count(l.result)
			r.stats.bogusRemembered.Add(1)
			return bogusResponse(qname, qtype, qclass, l.result), fmt.Errorf("%w: %s/%s: %s (remembered)", ErrBogus, qname, dns.Type(qtype), l.result.Reason)
		}
	}
	if b, ok := r.inner.(Budgeter); ok {
		ctx = b.WithBudget(ctx)
	}
	var q *query
	if !cd && qclass == dns.ClassINET {
		q = r.newQuery(ctx)
		if m, ok := q.synthesize(qname, qtype); ok {
			r.stats.count(dnssec.Result{Status: dnssec.Secure})
			r.stats.synthesized.Add(1)
			stripDNSSEC(m, qtype, do)
			return m, nil
		}
	}
	resp, err := r.inner.Resolve(ctx, qname, qtype, qclass, true)
	if resp == nil {
		resp = failure(qname, qtype, qclass, dns.RcodeServerFailure)
		if err == nil {
			err = errors.New("validate: inner resolver returned no response")
		}
	}
	resp.AuthenticatedData = false
	if err != nil || (resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError) || qclass != dns.ClassINET {
		stripDNSSEC(resp, qtype, do)
		return resp, err
	}
	if cd {
		r.stats.unchecked.Add(1)
		stripDNSSEC(resp, qtype, do)
		return resp, nil
	}
	if qtype == dns.TypeRRSIG && hasOwn(resp.Answer, qname, dns.TypeRRSIG) {
		// RRSIG records are not signed (RFC 4035 section 2.2): the answer
		// to a query for them has nothing to validate, and goes out
		// without AD, as data nobody vouched for.
		r.stats.unchecked.Add(1)
		stripDNSSEC(resp, qtype, do)
		return resp, nil
	}
	name := dns.Fqdn(qname)
	res := q.validateResponse(name, qtype, resp)
	if res.Status == dnssec.Bogus {
		resp, res = q.again(name, qtype, resp, res, func(m *dns.Msg) dnssec.Result {
			return q.validateResponse(name, qtype, m)
		})
		if res.Status == dnssec.Bogus && r.cfg.BogusTTL > 0 && !q.budget.Exhausted() && !q.limited {
			r.bogus.put(answerKey{canonicalName(name), qtype}, link{kind: zoneBogus, result: res, expires: q.now.Add(r.cfg.BogusTTL)}, q.now)
		}
	}
	r.stats.count(res)
	switch res.Status {
	case dnssec.Secure:
		if r.sentinelFails(qname, qtype) {
			r.stats.sentinel.Add(1)
			return failure(qname, qtype, qclass, dns.RcodeServerFailure), nil
		}
		resp.AuthenticatedData = true
	case dnssec.Bogus:
		r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "DNSSEC validation failed",
			slog.String("qname", qname), slog.String("qtype", dns.Type(qtype).String()),
			slog.Int("ede", int(res.EDE)), slog.String("reason", res.Reason))
		return bogusResponse(qname, qtype, qclass, res), fmt.Errorf("%w: %s/%s: %s", ErrBogus, qname, dns.Type(qtype), res.Reason)
	}
	stripDNSSEC(resp, qtype, do)
	return resp, nil
}

// sentinelFails applies the root key sentinel of RFC 8509 to a Secure
// answer to an A or AAAA query: a name whose first label is
// root-key-sentinel-is-ta-NNNNN fails (SERVFAIL) unless NNNNN is the key
// tag of a root trust anchor, and one that is
// root-key-sentinel-not-ta-NNNNN fails if it is, so that a client can
// learn which root keys its resolver trusts. Queries with CD never reach
// here (section 3.2).
func (r *Resolver) sentinelFails(qname string, qtype uint16) bool {
	if qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return false
	}
	end, _ := dns.NextLabel(qname, 0)
	if end == 0 {
		return false
	}
	label := qname[:end-1]
	const isTA, notTA = "root-key-sentinel-is-ta-", "root-key-sentinel-not-ta-"
	var digits string
	var is bool
	switch {
	case len(label) == len(isTA)+5 && strings.EqualFold(label[:len(isTA)], isTA):
		digits, is = label[len(isTA):], true
	case len(label) == len(notTA)+5 && strings.EqualFold(label[:len(notTA)], notTA):
		digits = label[len(notTA):]
	default:
		return false
	}
	tag, err := strconv.ParseUint(digits, 10, 16)
	if err != nil || digits[0] == '+' || digits[0] == '-' {
		return false
	}
	return r.v.HasAnchorKeyTag(".", uint16(tag)) != is
}

// FlushKeys forgets every cached key set and chain finding, the answers
// remembered bogus and the denials kept for RFC 8198, for an operator who
// knows a zone's keys changed.
func (r *Resolver) FlushKeys() {
	r.keys.flush()
	r.bogus.flush()
	r.denials.flush()
}

func failure(qname string, qtype, qclass uint16, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Response = true
	m.Opcode = dns.OpcodeQuery
	m.RecursionDesired = true
	m.RecursionAvailable = true
	m.Rcode = rcode
	m.Question = []dns.Question{{Name: qname, Qtype: qtype, Qclass: qclass}}
	return m
}

// bogusResponse is the SERVFAIL for a Bogus answer. The EDE travels in an
// OPT record of the response, where dns/server.Respond finds it.
func bogusResponse(qname string, qtype, qclass uint16, res dnssec.Result) *dns.Msg {
	m := failure(qname, qtype, qclass, dns.RcodeServerFailure)
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(dns.DefaultMsgSize)
	ede := res.ExtendedError()
	if ede == nil {
		ede = &dns.EDNS0_EDE{InfoCode: dnssec.EDEBogus, ExtraText: res.Reason}
	}
	// RFC 8914 section 2: EXTRA-TEXT is for humans and must stay small
	// enough not to crowd the response.
	if len(ede.ExtraText) > maxExtraText {
		ede.ExtraText = ede.ExtraText[:maxExtraText]
	}
	opt.Option = append(opt.Option, ede)
	m.Extra = append(m.Extra, opt)
	return m
}

const maxExtraText = 200

// hasOwn reports whether rrs holds a record of type t owned by name.
func hasOwn(rrs []dns.RR, name string, t uint16) bool {
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == t && equalName(h.Name, name) {
			return true
		}
	}
	return false
}

// stripDNSSEC removes RRSIG, NSEC and NSEC3 records for a client without
// DO, except records of the type it asked for (RFC 4035 section 3.2.1).
func stripDNSSEC(m *dns.Msg, qtype uint16, do bool) {
	if do {
		return
	}
	m.Answer = stripSection(m.Answer, qtype)
	m.Ns = stripSection(m.Ns, qtype)
	m.Extra = stripSection(m.Extra, qtype)
}

func stripSection(rrs []dns.RR, qtype uint16) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		switch t := rr.Header().Rrtype; t {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
			if t != qtype {
				continue
			}
		}
		out = append(out, rr)
	}
	clear(rrs[len(out):])
	return out
}

// counters are the validation outcomes since New.
type counters struct {
	secure, insecure, bogus, indeterminate, unchecked atomic.Uint64
	fetches, fetchLimited                             atomic.Uint64
	retries, bogusRemembered, synthesized, sentinel   atomic.Uint64
	// byEDE counts non-Secure results by EDE code; index 0 holds codes
	// too large for the table.
	byEDE [maxEDE + 1]atomic.Uint64
}

const maxEDE = 63

func (c *counters) count(r dnssec.Result) {
	switch r.Status {
	case dnssec.Secure:
		c.secure.Add(1)
	case dnssec.Insecure:
		c.insecure.Add(1)
	case dnssec.Bogus:
		c.bogus.Add(1)
	default:
		c.indeterminate.Add(1)
	}
	if r.Status != dnssec.Secure && r.EDE != 0 {
		i := int(r.EDE)
		if i > maxEDE {
			i = 0
		}
		c.byEDE[i].Add(1)
	}
}

// Stats are counters since New.
type Stats struct {
	// Secure, Insecure, Bogus and Indeterminate count validated answers
	// by outcome; Unchecked counts answers given unvalidated to CD
	// queries.
	Secure, Insecure, Bogus, Indeterminate, Unchecked uint64
	// ByEDE counts the answers that were not Secure by the EDE code that
	// explained them (0 for codes above 63).
	ByEDE map[uint16]uint64
	// KeyCacheEntries is the key cache's size; KeyCacheHits and
	// KeyCacheMisses its lookups; KeyCacheEvictions the entries dropped
	// for room (the bound at work), KeyCacheExpired those dropped for age.
	KeyCacheEntries                                                  int
	KeyCacheHits, KeyCacheMisses, KeyCacheEvictions, KeyCacheExpired uint64
	// Fetches counts DS, DNSKEY and wildcard-proof queries sent to the
	// inner resolver; FetchLimited the client queries that hit
	// Config.MaxFetches or Config.MaxChainDepth.
	Fetches, FetchLimited uint64
	// Retries counts answers and DS/DNSKEY RRsets asked for again after
	// they failed validation (Retrier); BogusRemembered, the queries
	// answered SERVFAIL from the answers found bogus in the last
	// Config.BogusTTL.
	Retries, BogusRemembered uint64
	// Synthesized counts the answers synthesised from cached NSEC and
	// NSEC3 records (RFC 8198), which cost no upstream query.
	Synthesized uint64
	// SentinelFailures counts the Secure answers turned into SERVFAIL by
	// the root key sentinel (RFC 8509).
	SentinelFailures uint64
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	c := &r.stats
	s := Stats{
		Secure: c.secure.Load(), Insecure: c.insecure.Load(), Bogus: c.bogus.Load(),
		Indeterminate: c.indeterminate.Load(), Unchecked: c.unchecked.Load(),
		ByEDE:   map[uint16]uint64{},
		Fetches: c.fetches.Load(), FetchLimited: c.fetchLimited.Load(),
		Retries: c.retries.Load(), BogusRemembered: c.bogusRemembered.Load(), Synthesized: c.synthesized.Load(), SentinelFailures: c.sentinel.Load(),
	}
	for i := range c.byEDE {
		if n := c.byEDE[i].Load(); n > 0 {
			s.ByEDE[uint16(i)] = n
		}
	}
	ks := r.keys.stats()
	s.KeyCacheEntries, s.KeyCacheHits, s.KeyCacheMisses, s.KeyCacheEvictions, s.KeyCacheExpired = ks.Entries, ks.Hits, ks.Misses, ks.Evictions, ks.Expired
	return s
}
