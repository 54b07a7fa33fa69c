package dnssec

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// Limits bound the work validation may cost, against KeyTrap
// (CVE-2023-50387: many keys sharing a key tag times many signatures) and
// NSEC3 hash exhaustion (CVE-2023-50868: many labels times many
// iterations). A zero field takes its default.
type Limits struct {
	// MaxValidations bounds the signature checks (one RRSIG against one
	// DNSKEY, the expensive step) a Budget allows in total: all the
	// validation one client query causes, across the chain of trust, the
	// answer, CNAME targets and denial proofs. Default 64.
	MaxValidations int
	// MaxValidationsPerCall bounds the signature checks of one call: one
	// RRset, one DNSKEY RRset or one denial proof. Default 8, Unbound's
	// MAX_VALIDATE_RRSIGS: an honest RRset needs one check, two during an
	// algorithm rollover.
	MaxValidationsPerCall int
	// MaxKeyTagCollisions bounds how many DNSKEYs that share key tag and
	// algorithm are tried for one RRSIG, and hashed for one DS. Default 4,
	// Unbound's MAX_DS_MATCH_FAILURES. Key tags are a 16-bit checksum, so
	// an honest zone rarely has two keys with one tag and never five.
	MaxKeyTagCollisions int
	// MaxNSEC3Hashes bounds the NSEC3 hash computations a Budget allows.
	// Default 128: a closest-encloser proof hashes each label of the query
	// name below the zone once, plus the wildcard, and ip6.arpa names
	// have 34 labels.
	MaxNSEC3Hashes int
	// NSEC3Iterations: a denial proof that rests on NSEC3 records with
	// more additional iterations is Insecure with EDE 27, after their
	// signatures have been checked and before anything is hashed (RFC
	// 9276 section 3.2). Default 150, as BIND and Unbound; a negative value
	// means 0, accepting only what RFC 9276 tells signers to publish.
	NSEC3Iterations int
	// NSEC3MaxIterations: above it such a proof is Bogus with EDE 27
	// (SERVFAIL). Default 2500, the most RFC 5155 section 10.3 ever allowed
	// (for 4096-bit keys): no zone signed by the rules ever had more. It
	// is raised to NSEC3Iterations when lower.
	NSEC3MaxIterations int
	// MinSkew and MaxSkew bound the clock skew tolerated at both ends of
	// an RRSIG's validity period, which is 10% of that period: Unbound's
	// val-sig-skew-min and val-sig-skew-max. Defaults 1 hour and 1 day; a
	// negative value means none.
	MinSkew, MaxSkew time.Duration
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{}.withDefaults()
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxValidations, 64)
	def(&l.MaxValidationsPerCall, 8)
	def(&l.MaxKeyTagCollisions, 4)
	def(&l.MaxNSEC3Hashes, 128)
	switch {
	case l.NSEC3Iterations == 0:
		l.NSEC3Iterations = 150
	case l.NSEC3Iterations < 0:
		l.NSEC3Iterations = 0
	}
	if l.NSEC3MaxIterations <= 0 {
		l.NSEC3MaxIterations = 2500
	}
	l.NSEC3MaxIterations = max(l.NSEC3MaxIterations, l.NSEC3Iterations)
	switch {
	case l.MinSkew == 0:
		l.MinSkew = time.Hour
	case l.MinSkew < 0:
		l.MinSkew = 0
	}
	switch {
	case l.MaxSkew == 0:
		l.MaxSkew = 24 * time.Hour
	case l.MaxSkew < 0:
		l.MaxSkew = 0
	}
	l.MaxSkew = max(l.MaxSkew, l.MinSkew)
	return l
}

// Budget is the validation work one client query may still cause. The
// resolver makes one per client query with Validator.NewBudget and passes
// it to every call made on that query's behalf; once it is spent, every
// further call that would need a signature check or an NSEC3 hash returns
// Bogus. A nil *Budget gives each call a fresh budget of its own, which
// still enforces the per-call limits. Safe for concurrent use.
type Budget struct {
	maxValidations int64
	maxHashes      int64
	validations    atomic.Int64
	hashes         atomic.Int64
	exhausted      atomic.Bool
}

func (b *Budget) init(l Limits) {
	b.maxValidations = int64(l.MaxValidations)
	b.maxHashes = int64(l.MaxNSEC3Hashes)
}

// Validations is the number of signature checks charged so far.
func (b *Budget) Validations() int { return int(min(b.validations.Load(), b.maxValidations)) }

// NSEC3Hashes is the number of NSEC3 hashes charged so far.
func (b *Budget) NSEC3Hashes() int { return int(min(b.hashes.Load(), b.maxHashes)) }

// Exhausted reports whether the budget ran out: a call was refused a
// signature check or a hash it needed. (A call stopped by a per-call
// limit leaves the rest of the budget to the query's other calls.)
func (b *Budget) Exhausted() bool { return b.exhausted.Load() }

func (b *Budget) takeValidation() bool {
	if b.validations.Add(1) > b.maxValidations {
		b.exhausted.Store(true)
		return false
	}
	return true
}

func (b *Budget) takeHash() bool {
	if b.hashes.Add(1) > b.maxHashes {
		b.exhausted.Store(true)
		return false
	}
	return true
}

// Config configures a Validator.
type Config struct {
	// Anchors are the trust anchors; nil means RootAnchors, IANA's.
	Anchors *Anchors
	// Clock is the clock RRSIG validity is judged by; nil means the system
	// clock.
	Clock clock.Clock
	// Limits bound the work; see Limits for the defaults.
	Limits Limits
	// AllowSHA1 validates RSA/SHA-1 signatures (algorithms 5 and 7), which
	// are otherwise unsupported, making the zones signed only with them
	// Insecure. RFC 9905 section 2 has operators of validating resolvers
	// treat them as unsupported and implementations keep the code; this is
	// that code, for the replay of test suites whose zones were signed
	// before SHA-1 was deprecated.
	AllowSHA1 bool
}

// Validator checks DNSSEC signatures and denial-of-existence proofs step
// by step along a chain of trust that the resolver walks. It holds no
// state per query (that is the Budget's) and is safe for concurrent use.
type Validator struct {
	anchors *Anchors
	clock   clock.Clock // immutable after New
	limits  Limits
	sha1    bool // Config.AllowSHA1
	stats   counters
}

type counters struct {
	verifications, verifyFailures, hashes, exhausted atomic.Uint64
	byStatus                                         [4]atomic.Uint64
}

// Stats are counters since the Validator was made, for metrics.
type Stats struct {
	// Verifications counts signature checks run (RRSIG against DNSKEY),
	// VerifyFailures those that did not verify.
	Verifications, VerifyFailures uint64
	// NSEC3Hashes counts NSEC3 hash computations.
	NSEC3Hashes uint64
	// BudgetExhausted counts calls a work limit stopped: the drops.
	BudgetExhausted uint64
	// Results returned by the public calls, by status.
	Secure, Insecure, Bogus, Indeterminate uint64
}

// New makes a Validator. Nothing in Config can be invalid: out-of-range
// limits take their defaults (see Limits). The anchors are copied.
func New(cfg Config) *Validator {
	v := &Validator{clock: clock.Or(cfg.Clock), limits: cfg.Limits.withDefaults(), sha1: cfg.AllowSHA1}
	if cfg.Anchors == nil {
		v.anchors = RootAnchors()
	} else {
		v.anchors = cfg.Anchors.clone()
	}
	return v
}

// Limits returns the limits in force, defaults filled in.
func (v *Validator) Limits() Limits { return v.limits }

// NewBudget returns a full budget for one client query.
func (v *Validator) NewBudget() *Budget {
	b := &Budget{}
	b.init(v.limits)
	return b
}

// InitBudget makes b, which must be unused, a full budget for one client
// query, as NewBudget does, for a Budget that lives inside the caller's
// own state of that query (one allocation fewer per query).
func (v *Validator) InitBudget(b *Budget) { b.init(v.limits) }

// HasAnchor reports whether zone has a trust anchor of its own, in which
// case VerifyDNSKEY validates its DNSKEY RRset without a DS.
func (v *Validator) HasAnchor(zone string) bool {
	_, ok := v.anchors.zones[canonical(zone)]
	return ok
}

// ClosestAnchor returns the deepest anchored zone at or above name: where
// the chain of trust for name starts. ok is false when no anchor covers
// name, whose data is then Indeterminate.
func (v *Validator) ClosestAnchor(name string) (zone string, ok bool) {
	return v.anchors.Closest(name)
}

// HasAnchorKeyTag reports whether one of zone's trust anchors has key tag
// tag: a DS anchor's KeyTag, or a DNSKEY anchor's computed tag. RFC 8509's
// root key sentinel asks it of the root.
func (v *Validator) HasAnchorKeyTag(zone string, tag uint16) bool {
	a := v.anchors.zones[canonical(zone)]
	if a == nil {
		return false
	}
	for _, d := range a.ds {
		if d.KeyTag == tag {
			return true
		}
	}
	for _, k := range a.keys {
		if t, ok := keyTag(k); ok && t == tag {
			return true
		}
	}
	return false
}

// Stats returns the counters.
func (v *Validator) Stats() Stats {
	c := &v.stats
	return Stats{
		Verifications:   c.verifications.Load(),
		VerifyFailures:  c.verifyFailures.Load(),
		NSEC3Hashes:     c.hashes.Load(),
		BudgetExhausted: c.exhausted.Load(),
		Indeterminate:   c.byStatus[Indeterminate].Load(),
		Secure:          c.byStatus[Secure].Load(),
		Insecure:        c.byStatus[Insecure].Load(),
		Bogus:           c.byStatus[Bogus].Load(),
	}
}

// call is the state of one public call: the clock reading it judges
// validity periods by, and the work it has done.
type call struct {
	v             *Validator
	b             *Budget
	now           int64
	verifications int
	stopped       bool
}

func (v *Validator) begin(b, local *Budget) call {
	if b == nil {
		local.init(v.limits)
		b = local
	}
	return call{v: v, b: b, now: v.clock.Now().Unix()}
}

// done counts a result on its way out of a public call.
func (c *call) done(r Result) Result {
	if c.stopped {
		c.v.stats.exhausted.Add(1)
	}
	if int(r.Status) < len(c.v.stats.byStatus) {
		c.v.stats.byStatus[r.Status].Add(1)
	}
	return r
}

// takeValidation charges one signature check to the call and the budget.
func (c *call) takeValidation() bool {
	if c.verifications >= c.v.limits.MaxValidationsPerCall || !c.b.takeValidation() {
		c.stopped = true
		return false
	}
	c.verifications++
	return true
}

func (c *call) takeHash() bool {
	if !c.b.takeHash() {
		c.stopped = true
		return false
	}
	c.v.stats.hashes.Add(1)
	return true
}

func canonical(s string) string {
	var w name
	if !w.parse(s) {
		return strings.ToLower(s)
	}
	return w.String()
}
