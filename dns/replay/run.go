package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
)

// Resolver is the system under test: it answers a client query.
// Returning nil means the resolver dropped the query.
type Resolver interface {
	Resolve(ctx context.Context, q *dns.Msg) *dns.Msg
}

// Factory builds a fresh resolver for one scenario run.
// Returning an error that wraps ErrSkip reports the scenario as skipped
// with the error text as the reason.
type Factory func(env Env) (Resolver, error)

// Transport sends a query to an upstream server. tcp selects the transport
// the scenario's MATCH UDP/TCP criteria see.
type Transport interface {
	Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error)
}

// Env is what a scenario gives the resolver.
type Env struct {
	// Transport answers from the scenario's RANGE blocks and REPLY steps.
	// When nothing answers it returns a *NoReplyError, which stands for a
	// time-out (errors.Is(err, os.ErrDeadlineExceeded) holds).
	Transport Transport
	// Clock starts at Config.ValOverrideDate, or Options.Epoch, or
	// DefaultEpoch, and moves only on TIME_PASSES steps.
	Clock clock.Clock
	// RootHints are the root server addresses the scenario names (its stub
	// zone for "."); nil means the resolver's built-in hints.
	RootHints []netip.AddrPort
	// Config is the scenario's configuration section. Do not modify it.
	Config *Config
	// Trace is Options.Trace: where a resolver may write what it does,
	// for someone reading why a scenario failed; nil when nobody reads.
	Trace io.Writer
}

// DNSSECValidator is implemented by resolvers that validate DNSSEC.
// Scenarios that configure trust anchors are skipped for resolvers that do
// not implement it or return false.
type DNSSECValidator interface {
	ValidatesDNSSEC() bool
}

// MessageCache is implemented by resolvers whose cache can be manipulated
// by FLUSH_MESSAGE and EXPIRE_MESSAGE steps; scenarios with those steps are
// skipped for other resolvers.
type MessageCache interface {
	// FlushMessage removes the cached answer to q.
	FlushMessage(q dns.Question)
	// ExpireMessage makes the cached answer to q expired but keeps it.
	ExpireMessage(q dns.Question)
}

// ErrSkip marks a Factory error as a reason to skip the scenario.
var ErrSkip = errors.New("skipped")

// DefaultEpoch is where the clock starts when the scenario gives no
// val-override-date.
var DefaultEpoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Defaults for Options.
const (
	DefaultMaxExchanges = 1000
	DefaultStepTimeout  = 10 * time.Second
	// maxUnansweredKept bounds Result.Unanswered; the total is still counted.
	maxUnansweredKept = 64
)

// Options tune a run. The zero value is ready to use.
type Options struct {
	// MaxExchanges bounds the upstream queries of one step (testbound
	// bounds its event loop the same way); beyond it the run fails as a
	// resolver loop. Zero means DefaultMaxExchanges.
	MaxExchanges int
	// StepTimeout bounds, in real time, how long one Resolve call may take.
	// The resolver must not wait on real time; this only catches hangs.
	// Zero means DefaultStepTimeout.
	StepTimeout time.Duration
	// Epoch replaces DefaultEpoch.
	Epoch time.Time
	// Trace, when set, receives a line per step run and per upstream
	// query with its reply (or why it got none), and is passed to the
	// factory as Env.Trace.
	Trace io.Writer
}

// Status is the outcome of a run.
type Status uint8

// Outcomes. The zero Status is invalid so that an unset Result never reads
// as passed.
const (
	Passed Status = iota + 1
	Failed
	Skipped
)

func (s Status) String() string {
	switch s {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return "invalid"
}

// Result is the outcome of running one scenario.
type Result struct {
	File   string
	Title  string
	Status Status
	// Step is the number of the failing step, 0 when the failure is not
	// tied to one (parse errors, end-of-scenario checks).
	Step int
	// Reason says why the run failed or was skipped, for example
	// "step 30: CHECK_ANSWER: answer section differs: got [...], want [...]"
	// or "scen.rpl:12:7: unknown MATCH criterion \"qnmae\"".
	Reason string
	// Err is the underlying *srcpos.Error (a malformed scenario) or
	// *StepError, if any.
	Err error
	// Steps counts the steps run, including those consumed while the
	// resolver's upstream queries were answered.
	Steps int
	// Unanswered lists upstream queries that found no scripted reply
	// (at most 64; UnansweredTotal counts all).
	Unanswered      []string
	UnansweredTotal int
}

func (r Result) String() string {
	if r.Status == Passed {
		return r.Status.String()
	}
	return r.Status.String() + ": " + r.Reason
}

// StepError is a failure at a step.
type StepError struct {
	Step int
	Kind StepKind
	Msg  string
	// skip turns the failure into a skip: the step tests something that is
	// not the resolver's business.
	skip bool
}

func (e *StepError) Error() string {
	if e.Kind == stepNone {
		return e.Msg
	}
	return fmt.Sprintf("step %d: %s: %s", e.Step, e.Kind, e.Msg)
}

// stepNone marks a StepError that is not tied to a step.
const stepNone StepKind = 255

// NoReplyError is returned by Env.Transport when no scripted reply exists
// for a query (or a TIMEOUT step or ADJUST do_not_answer says to drop it).
// It stands for a lost query: Timeout reports true.
type NoReplyError struct {
	Server   netip.AddrPort
	Question dns.Question
	TCP      bool
	Step     int
}

func (e *NoReplyError) Error() string {
	return fmt.Sprintf("replay: no reply from %s for %s at step %d (time-out)", e.Server, questionString(e.Question), e.Step)
}

// Timeout reports true: a missing reply is a time-out to the resolver.
func (e *NoReplyError) Timeout() bool { return true }

// Temporary reports true, as for any network time-out.
func (e *NoReplyError) Temporary() bool { return true }

// Is makes errors.Is(err, os.ErrDeadlineExceeded) hold.
func (e *NoReplyError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// NetworkError is returned by Env.Transport for an ERROR step: the scripted
// server's connection failed.
type NetworkError struct {
	Server netip.AddrPort
	Step   int
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("replay: network error talking to %s at step %d", e.Server, e.Step)
}

func questionString(q dns.Question) string {
	return fmt.Sprintf("%s %s %s", q.Name, dns.Class(q.Qclass), dns.Type(q.Qtype))
}

// Run parses a scenario and runs it with default Options. A parse error is
// reported as a failed Result whose Reason names file:line.
func Run(ctx context.Context, name string, r io.Reader, factory Factory) Result {
	sc, err := Parse(name, r)
	if err != nil {
		return Result{File: name, Status: Failed, Reason: err.Error(), Err: err}
	}
	return sc.Run(ctx, factory, Options{})
}

// Run runs the scenario against a resolver built by factory. A Scenario
// may be run any number of times; runs do not share state.
func (s *Scenario) Run(ctx context.Context, factory Factory, opts Options) Result {
	res := Result{File: s.File, Title: s.Title}
	skip := func(reason string) Result {
		res.Status, res.Reason = Skipped, reason
		return res
	}
	if len(s.Unsupported) > 0 {
		reason := "uses " + s.Unsupported[0]
		if n := len(s.Unsupported) - 1; n > 0 {
			reason += fmt.Sprintf(" (and %d more unsupported features)", n)
		}
		return skip(reason)
	}
	needsCache := false
	for _, st := range s.Steps {
		switch st.Kind {
		case StepCheckAutotrust, StepCheckTempfile, StepInfraRTT:
			return skip(fmt.Sprintf("step %d %s is not supported", st.Number, st.Kind))
		case StepFlushMessage, StepExpireMessage:
			needsCache = true
		}
	}
	rt := newRunState(s, opts)
	defer rt.close()
	if err := s.checkClockRange(rt.clock.Now()); err != nil {
		res.Status, res.Reason, res.Err = Failed, err.Error(), err
		return res
	}
	env := Env{Transport: rt, Clock: rt.clock, RootHints: s.Config.RootHints(), Config: &s.Config, Trace: opts.Trace}
	resolver, err := factory(env)
	if err != nil {
		if errors.Is(err, ErrSkip) {
			return skip(strings.TrimPrefix(err.Error(), ErrSkip.Error()+": "))
		}
		res.Status, res.Reason, res.Err = Failed, "resolver factory: "+err.Error(), err
		return res
	}
	if resolver == nil {
		res.Status, res.Reason = Failed, "resolver factory returned no resolver"
		return res
	}
	if s.Config.NeedsDNSSEC() {
		if v, ok := resolver.(DNSSECValidator); !ok || !v.ValidatesDNSSEC() {
			return skip("needs DNSSEC validation")
		}
	}
	cache, _ := resolver.(MessageCache)
	if needsCache && cache == nil {
		return skip("FLUSH_MESSAGE/EXPIRE_MESSAGE steps need a resolver implementing replay.MessageCache")
	}

	fail := func(serr *StepError) Result {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		res.Status, res.Step, res.Reason, res.Err = Failed, serr.Step, serr.Error(), serr
		if serr.skip {
			res.Status = Skipped
		}
		res.Steps = rt.stepsDone
		res.Unanswered = append([]string(nil), rt.unanswered...)
		res.UnansweredTotal = rt.unansweredTotal
		return res
	}
	for {
		if err := ctx.Err(); err != nil {
			return fail(&StepError{Kind: stepNone, Msg: "run cancelled: " + err.Error()})
		}
		rt.mu.Lock()
		if rt.failure != nil {
			f := rt.failure
			rt.mu.Unlock()
			return fail(f)
		}
		if rt.cursor >= len(s.Steps) {
			rt.mu.Unlock()
			break
		}
		st := s.Steps[rt.cursor]
		rt.cursor++
		rt.stepsDone++
		rt.current = st
		rt.exchanges = 0
		rt.stepUnanswered = nil
		rt.mu.Unlock()
		if serr := rt.runStep(ctx, st, resolver, cache); serr != nil {
			rt.mu.Lock()
			if rt.failure == nil {
				rt.failure = serr
			}
			rt.mu.Unlock()
		}
	}
	if serr := rt.finish(); serr != nil {
		return fail(serr)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	res.Status, res.Steps = Passed, rt.stepsDone
	res.Unanswered = append([]string(nil), rt.unanswered...)
	res.UnansweredTotal = rt.unansweredTotal
	return res
}

// answer is a resolver answer waiting for its CHECK_ANSWER.
type answer struct {
	step       int
	msg        *dns.Msg
	wire       []byte
	tcp        bool
	raw        bool     // the query was a RAW packet, whose answer nothing has to check
	unanswered []string // upstream queries without reply while it was resolved
}

// runState is the state of one run. The transport may be called from any
// goroutine; mu serialises it with the step driver.
type runState struct {
	sc    *Scenario
	opts  Options
	clock *clock.Fake

	mu              sync.Mutex
	cursor          int   // index of the next step to run
	current         *Step // the step being run
	stepsDone       int
	exchanges       int // upstream queries in the current step
	failure         *StepError
	fired           map[*Entry]int
	answers         []answer
	dropped         []int // QUERY steps whose query the resolver dropped
	unanswered      []string
	unansweredTotal int
	stepUnanswered  []string
	sent            []sentQuery
	sentDropped     int
	closed          bool
}

func newRunState(s *Scenario, opts Options) *runState {
	if opts.MaxExchanges <= 0 {
		opts.MaxExchanges = DefaultMaxExchanges
	}
	if opts.StepTimeout <= 0 {
		opts.StepTimeout = DefaultStepTimeout
	}
	start := opts.Epoch
	if start.IsZero() {
		start = DefaultEpoch
	}
	if !s.Config.ValOverrideDate.IsZero() {
		start = s.Config.ValOverrideDate
	}
	return &runState{sc: s, opts: opts, clock: clock.NewFake(start), fired: make(map[*Entry]int)}
}

// close makes late transport calls (from goroutines of a resolver that
// outlived its step) fail instead of touching a finished run.
func (rt *runState) close() {
	rt.mu.Lock()
	rt.closed = true
	rt.mu.Unlock()
}

// The scenario clock is a clock.Fake, which counts Unix nanoseconds in an
// int64 and so reads only times from 1677 to 2262. A scenario whose clock
// would leave that range is refused: its val-override-date when it is
// parsed, its TIME_PASSES steps before it runs (checkClockRange), so that
// the clock never wraps round in the middle of a run.
var (
	clockMin = time.Unix(0, math.MinInt64).UTC()
	clockMax = time.Unix(0, math.MaxInt64).UTC()
)

// clockReads reports whether the scenario clock can read t.
func clockReads(t time.Time) bool { return !t.Before(clockMin) && !t.After(clockMax) }

// checkClockRange reports an error when the scenario clock, starting at
// start, cannot read every time its TIME_PASSES steps move it to. Steps run
// at most once each, in order, so their sum is the furthest it goes.
func (s *Scenario) checkClockRange(start time.Time) error {
	if !clockReads(start) {
		return fmt.Errorf("replay: the clock would start at %s, outside %s to %s, the times the scenario clock reads", start.Format(time.RFC3339), clockMin.Format(time.RFC3339), clockMax.Format(time.RFC3339))
	}
	t := start
	for _, st := range s.Steps {
		if st.Kind != StepTimePasses {
			continue
		}
		if t = t.Add(st.Elapse); !clockReads(t) {
			return fmt.Errorf("replay: step %d TIME_PASSES would move the clock from %s past %s, the last time the scenario clock reads", st.Number, start.Format(time.RFC3339), clockMax.Format(time.RFC3339))
		}
	}
	return nil
}

var (
	errClosed           = errors.New("replay: scenario run is over")
	errTooManyExchanges = errors.New("replay: too many upstream queries in one step")
)

// Exchange answers an upstream query from the scenario. See Env.Transport.
func (rt *runState) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q == nil {
		return nil, errors.New("replay: nil query")
	}
	// Pass the query through the wire form, as a network would: the
	// scenario sees exactly what could be sent, and shares no memory with
	// the resolver.
	qwire, perr := q.Copy().Pack()
	query := new(dns.Msg)
	if perr == nil {
		perr = query.Unpack(qwire)
	}

	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, errClosed
	}
	stepNum, kind := rt.currentStep()
	if perr != nil {
		rt.failOnce(&StepError{Step: stepNum, Kind: kind, Msg: fmt.Sprintf("upstream query to %s does not pack: %v", server, perr)})
		return nil, fmt.Errorf("replay: query does not pack: %w", perr)
	}
	rt.exchanges++
	if rt.exchanges > rt.opts.MaxExchanges {
		rt.failOnce(&StepError{Step: stepNum, Kind: kind, Msg: fmt.Sprintf("more than %d upstream queries in one step; the resolver loops", rt.opts.MaxExchanges)})
		return nil, errTooManyExchanges
	}
	reply, consumed, err := rt.answerQuery(server, query, tcp, stepNum)
	rt.logSent(sentQuery{server: server, msg: query, tcp: tcp, answered: reply != nil, consumed: consumed})
	if rt.opts.Trace != nil {
		rt.traceExchange(server, query, tcp, stepNum, reply, err)
	}
	return reply, err
}

// answerQuery mirrors testbound's event loop for one pending query: a
// matching CHECK_OUT_QUERY moment first, then the ranges, then the moment
// itself. consumed reports that a CHECK_OUT_QUERY step accounted for the
// query. Called with mu held.
func (rt *runState) answerQuery(server netip.AddrPort, query *dns.Msg, tcp bool, stepNum int) (reply *dns.Msg, consumed bool, err error) {
	for guard := 0; guard <= len(rt.sc.Steps); guard++ {
		mom := rt.moment()
		if !consumed && mom != nil && mom.Kind == StepCheckOutQuery && mom.outQueryMatches(server, query, tcp) {
			rt.cursor++
			rt.stepsDone++
			consumed = true
			if mom.Entry.Adjust&AdjustCopyID != 0 {
				reply, err = rt.reply(mom.Entry, mom.Entry.Packets[0], server, query, tcp, mom.Number)
				return reply, consumed, err
			}
			continue
		}
		if e := rt.rangeEntry(server, query, tcp, stepNum); e != nil {
			rt.fired[e]++
			reply, err = rt.reply(e, e.Packets[0], server, query, tcp, stepNum)
			return reply, consumed, err
		}
		if mom == nil {
			break
		}
		switch mom.Kind {
		case StepReply:
			rt.cursor++
			rt.stepsDone++
			reply, err = rt.reply(mom.Entry, mom.Entry.Packets[0], server, query, tcp, mom.Number)
			return reply, consumed, err
		case StepTimeout:
			rt.cursor++
			rt.stepsDone++
			return nil, consumed, &NoReplyError{Server: server, Question: firstQuestion(query), TCP: tcp, Step: mom.Number}
		case StepNetworkError:
			rt.cursor++
			rt.stepsDone++
			return nil, consumed, &NetworkError{Server: server, Step: mom.Number}
		case StepTimePasses:
			rt.cursor++
			rt.stepsDone++
			rt.clock.Advance(mom.Elapse)
			continue
		case StepNothing, StepTraffic:
			rt.cursor++
			rt.stepsDone++
			continue
		}
		// A QUERY or CHECK_ANSWER moment needs the resolver to finish, and
		// a CHECK_OUT_QUERY that did not match may be meant for another
		// query: leave this one unanswered. An unmatched CHECK_OUT_QUERY is
		// judged when the driver reaches it.
		break
	}
	return nil, consumed, rt.noReply(server, query, tcp, stepNum)
}

func (st *Step) outQueryMatches(server netip.AddrPort, query *dns.Msg, tcp bool) bool {
	return (!st.Addr.IsValid() || st.Addr == server) && st.Entry.mismatch(query, tcp) == mmNone
}

// sentQuery is an upstream query in the log that top-level CHECK_OUT_QUERY
// and TIMEOUT steps are checked against.
type sentQuery struct {
	server   netip.AddrPort
	msg      *dns.Msg
	tcp      bool
	answered bool
	consumed bool
}

// maxSentKept bounds the upstream query log; older queries fall off.
const maxSentKept = 1024

func (rt *runState) logSent(s sentQuery) {
	if len(rt.sent) >= maxSentKept {
		n := copy(rt.sent, rt.sent[1:])
		rt.sent = rt.sent[:n]
		rt.sentDropped++
	}
	rt.sent = append(rt.sent, s)
}

// currentStep is the number and kind of the step being run.
func (rt *runState) currentStep() (int, StepKind) {
	if rt.current == nil {
		return 0, StepNothing
	}
	return rt.current.Number, rt.current.Kind
}

// moment is the next step not yet run: the moment testbound's event loop
// is at while the current QUERY waits for upstream replies.
func (rt *runState) moment() *Step {
	if rt.cursor < len(rt.sc.Steps) {
		return rt.sc.Steps[rt.cursor]
	}
	return nil
}

// rangeEntry finds the entry that answers query. Ranges are tried from the
// last defined to the first, as testbound does, at the moment's step number
// and then, if that differs and nothing matched, at the current step's
// number (Deckard).
func (rt *runState) rangeEntry(server netip.AddrPort, query *dns.Msg, tcp bool, stepNum int) *Entry {
	at := stepNum
	if mom := rt.moment(); mom != nil {
		at = mom.Number
	}
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			if at == stepNum {
				break
			}
			at = stepNum
		}
		for i := len(rt.sc.Ranges) - 1; i >= 0; i-- {
			r := rt.sc.Ranges[i]
			if !r.eligible(at, server) {
				continue
			}
			for _, e := range r.Entries {
				if e.mismatch(query, tcp) == mmNone {
					return e
				}
			}
		}
	}
	return nil
}

// reply builds the scripted reply; called with mu held.
func (rt *runState) reply(e *Entry, pkt *Packet, server netip.AddrPort, query *dns.Msg, tcp bool, step int) (*dns.Msg, error) {
	if e.Adjust&AdjustDoNotAnswer != 0 {
		return nil, &NoReplyError{Server: server, Question: firstQuestion(query), TCP: tcp, Step: step}
	}
	m, _, err := buildReply(e, pkt, query)
	if err != nil {
		return nil, fmt.Errorf("replay: malformed reply from %s (entry at %s:%d): %w", server, rt.sc.File, e.Line, err)
	}
	return m, nil
}

// noReply records a query nothing answered; called with mu held.
func (rt *runState) noReply(server netip.AddrPort, query *dns.Msg, tcp bool, step int) error {
	q := firstQuestion(query)
	proto := "UDP"
	if tcp {
		proto = "TCP"
	}
	note := fmt.Sprintf("step %d: %s to %s over %s", step, questionString(q), server, proto)
	rt.unansweredTotal++
	if len(rt.unanswered) < maxUnansweredKept {
		rt.unanswered = append(rt.unanswered, note)
	}
	if len(rt.stepUnanswered) < maxUnansweredKept {
		rt.stepUnanswered = append(rt.stepUnanswered, note)
	}
	return &NoReplyError{Server: server, Question: q, TCP: tcp, Step: step}
}

func (rt *runState) failOnce(e *StepError) {
	if rt.failure == nil {
		rt.failure = e
	}
}

func firstQuestion(m *dns.Msg) dns.Question {
	if len(m.Question) == 0 {
		return dns.Question{Name: "."}
	}
	return m.Question[0]
}

// traceExchange writes an upstream query and its reply to Options.Trace;
// called with mu held.
func (rt *runState) traceExchange(server netip.AddrPort, query *dns.Msg, tcp bool, step int, reply *dns.Msg, err error) {
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	fmt.Fprintf(rt.opts.Trace, "step %d: query %s to %s/%s (%s)\n", step, questionString(firstQuestion(query)), server, proto, headerString(query))
	if reply == nil {
		fmt.Fprintf(rt.opts.Trace, "  no reply: %v\n", err)
		return
	}
	fmt.Fprintf(rt.opts.Trace, "  reply %s (%s)\n", rcodeString(reply.Rcode), headerString(reply))
	for _, sec := range [...]struct {
		name string
		rrs  []dns.RR
	}{{"answer", reply.Answer}, {"authority", reply.Ns}, {"additional", reply.Extra}} {
		for _, rr := range sec.rrs {
			if rr.Header().Rrtype != dns.TypeOPT {
				fmt.Fprintf(rt.opts.Trace, "    %s: %s\n", sec.name, rrString(rr))
			}
		}
	}
}

// headerString names a message's flags and whether it has EDNS and DO.
func headerString(m *dns.Msg) string {
	s := flagString(flagBits(m))
	if opt := findOPT(m); opt != nil {
		s += " EDNS"
		if opt.Do() {
			s += " DO"
		}
	}
	return s
}

// runStep runs one step outside the transport.
func (rt *runState) runStep(ctx context.Context, st *Step, r Resolver, cache MessageCache) *StepError {
	if rt.opts.Trace != nil {
		fmt.Fprintf(rt.opts.Trace, "STEP %d %s (line %d)\n", st.Number, st.Kind, st.Line)
	}
	fail := func(format string, args ...any) *StepError {
		return &StepError{Step: st.Number, Kind: st.Kind, Msg: fmt.Sprintf(format, args...)}
	}
	switch st.Kind {
	case StepQuery:
		return rt.query(ctx, st, r)
	case StepCheckAnswer:
		return rt.checkAnswer(st)
	case StepCheckOutQuery:
		return rt.checkSent(st)
	case StepTimeout, StepNetworkError:
		// The runner answers upstream queries synchronously, so a query
		// that is still "pending" in testbound's terms is one that got no
		// reply: it has timed out already.
		rt.mu.Lock()
		defer rt.mu.Unlock()
		for i := range rt.sent {
			if s := &rt.sent[i]; !s.consumed && !s.answered {
				s.consumed = true
				return nil
			}
		}
		return fail("no upstream query is waiting for a reply")
	case StepReply:
		return fail("no upstream query is pending: upstream queries are answered while the QUERY that causes them runs, so REPLY must come before that query's CHECK_ANSWER")
	case StepTimePasses:
		rt.clock.Advance(st.Elapse)
	case StepFlushMessage:
		cache.FlushMessage(st.Question)
	case StepExpireMessage:
		cache.ExpireMessage(st.Question)
	case StepNothing, StepTraffic:
	default:
		return fail("not supported")
	}
	return nil
}

// checkSent judges a CHECK_OUT_QUERY reached by the driver against the
// upstream queries sent so far and not yet accounted for.
func (rt *runState) checkSent(st *Step) *StepError {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var last *sentQuery
	for i := range rt.sent {
		s := &rt.sent[i]
		if s.consumed {
			continue
		}
		if st.outQueryMatches(s.server, s.msg, s.tcp) {
			s.consumed = true
			return nil
		}
		last = s
	}
	msg := "no upstream query matches"
	switch {
	case last == nil:
		msg += "; none was sent since the last one checked"
	case st.Addr.IsValid() && st.Addr != last.server:
		msg += fmt.Sprintf(": the last, %s, went to %s, want %s", questionString(firstQuestion(last.msg)), last.server, st.Addr)
	default:
		msg += fmt.Sprintf(": the last, %s to %s: %s", questionString(firstQuestion(last.msg)), last.server, describe(st.Entry.mismatch(last.msg, last.tcp), st.Entry, last.msg, last.tcp))
	}
	if rt.sentDropped > 0 {
		msg += fmt.Sprintf(" (%d older queries fell off the log)", rt.sentDropped)
	}
	return &StepError{Step: st.Number, Kind: st.Kind, Msg: msg}
}

func (rt *runState) query(ctx context.Context, st *Step, r Resolver) *StepError {
	fail := func(format string, args ...any) *StepError {
		return &StepError{Step: st.Number, Kind: st.Kind, Msg: fmt.Sprintf(format, args...)}
	}
	pkt := st.Entry.Packets[0]
	var wire []byte
	if pkt.Raw != nil {
		wire = pkt.Raw
	} else {
		var err error
		if wire, err = pkt.Msg.Copy().Pack(); err != nil {
			return fail("query does not pack: %v", err)
		}
	}
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil {
		// A query that does not parse never reaches a resolver: the
		// server drops it, or answers FORMERR without resolving, which
		// is its own concern (dns/server's tests). It counts as dropped,
		// and the scenario goes on with whatever the junk may have done
		// to the resolver: nothing.
		if rt.opts.Trace != nil {
			fmt.Fprintf(rt.opts.Trace, "step %d: raw query does not parse (%v): dropped before the resolver\n", st.Number, err)
		}
		rt.mu.Lock()
		rt.dropped = append(rt.dropped, st.Number)
		rt.mu.Unlock()
		return nil
	}
	tcp := st.Entry.Match&MatchTCP != 0

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, rt.opts.StepTimeout)
	defer cancel()
	type outcome struct {
		msg   *dns.Msg
		panic string
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{panic: fmt.Sprintf("%v\n%s", p, debug.Stack())}
			}
		}()
		done <- outcome{msg: r.Resolve(ctx, q)}
	}()
	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		if err := parent.Err(); err != nil {
			return fail("run cancelled: %v", err)
		}
		return fail("resolver did not answer within %v of real time (it must not wait on real time)", rt.opts.StepTimeout)
	}
	if out.panic != "" {
		return fail("resolver panicked: %s", out.panic)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if out.msg == nil {
		rt.dropped = append(rt.dropped, st.Number)
		return nil
	}
	awire, err := out.msg.Copy().Pack()
	if err != nil {
		return fail("answer does not pack: %v", err)
	}
	got := new(dns.Msg)
	if err := got.Unpack(awire); err != nil {
		return fail("answer does not parse after packing: %v", err)
	}
	rt.answers = append(rt.answers, answer{
		step: st.Number, msg: got, wire: awire, tcp: tcp, raw: pkt.Raw != nil,
		unanswered: append([]string(nil), rt.stepUnanswered...),
	})
	return nil
}

func (rt *runState) checkAnswer(st *Step) *StepError {
	fail := func(format string, args ...any) *StepError {
		return &StepError{Step: st.Number, Kind: st.Kind, Msg: fmt.Sprintf(format, args...)}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	e := st.Entry
	if len(rt.answers) == 0 {
		msg := "no answer to check"
		if n := len(rt.dropped); n > 0 {
			msg += fmt.Sprintf(" (the resolver dropped the query of step %d)", rt.dropped[n-1])
		}
		return fail("%s", msg)
	}
	raw := e.Packets[0].RawOnly && e.Match == 0
	for i, a := range rt.answers {
		ok := false
		if raw {
			ok = string(a.wire) == string(e.Packets[0].Raw)
		} else {
			ok = e.mismatch(a.msg, a.tcp) == mmNone
		}
		if ok {
			rt.answers = append(rt.answers[:i], rt.answers[i+1:]...)
			return nil
		}
	}
	// Report against the oldest answer, the one this check most likely
	// meant.
	a := rt.answers[0]
	var msg string
	if raw {
		msg = describe(mmRaw, e, a.msg, a.tcp)
	} else {
		msg = describe(e.mismatch(a.msg, a.tcp), e, a.msg, a.tcp)
	}
	if a.step != 0 && len(rt.answers) > 1 {
		msg += fmt.Sprintf(" (answer to the QUERY at step %d; %d answers unchecked)", a.step, len(rt.answers))
	}
	if n := len(a.unanswered); n > 0 {
		msg += "; no scripted reply for: " + strings.Join(a.unanswered[:min(n, 3)], ", ")
		if n > 3 {
			msg += fmt.Sprintf(" (+%d more)", n-3)
		}
	}
	return fail("%s", msg)
}

// finish applies the end-of-scenario checks.
func (rt *runState) finish() *StepError {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.failure != nil {
		return rt.failure
	}
	for _, a := range rt.answers {
		if a.raw {
			// Deckard's RAW queries (iter_badraw's junk from the
			// wild) are sent to see that the resolver survives them;
			// their answers are not for checking.
			continue
		}
		return &StepError{Step: a.step, Kind: StepQuery, Msg: fmt.Sprintf("end of scenario: the answer was never checked: %s", rrsString(a.msg.Answer))}
	}
	for _, r := range rt.sc.Ranges {
		for _, e := range r.Entries {
			if e.Mandatory && rt.fired[e] == 0 {
				return &StepError{Kind: stepNone, Msg: fmt.Sprintf("end of scenario: MANDATORY entry at %s:%d never answered", rt.sc.File, e.Line)}
			}
		}
	}
	return nil
}
