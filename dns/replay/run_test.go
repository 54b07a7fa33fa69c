package replay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestScenarioFiles(t *testing.T) {
	tests := []struct {
		file       string
		status     Status
		step       int
		reasonPart string
	}{
		{file: "resolve_referral.rpl", status: Passed},
		{file: "cname_chain.rpl", status: Passed},
		{file: "nxdomain_cache.rpl", status: Passed},
		{file: "ttl_countdown.rpl", status: Passed},
		{file: "nodata.rpl", status: Passed},
		{file: "out_query_reply.rpl", status: Passed},
		{
			file: "must_fail.rpl", status: Failed, step: 10,
			reasonPart: "step 10: CHECK_ANSWER: answer section differs: got [www.example.com. 3600 IN A 10.20.30.40], want [www.example.com. 3600 IN A 10.20.30.41]",
		},
	}
	files, err := filepath.Glob("testdata/*.rpl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata has %d scenarios, the table %d: keep them in step", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res := Run(context.Background(), tt.file, f, newFakeResolver)
			if res.Status != tt.status || res.Step != tt.step || !strings.Contains(res.Reason, tt.reasonPart) {
				t.Fatalf("got %v (step %d), want %v (step %d) with reason containing %q\nunanswered: %v",
					res, res.Step, tt.status, tt.step, tt.reasonPart, res.Unanswered)
			}
			if res.Status == Passed && res.Steps == 0 {
				t.Errorf("passed without running a step")
			}
		})
	}
}

// TestRunOutcomes covers runner behaviour on small inline scenarios.
func TestRunOutcomes(t *testing.T) {
	const head = "stub-zone:\n\tname: \".\"\n\tstub-addr: 193.0.14.129\nCONFIG_END\nSCENARIO_BEGIN t\n"
	const rootA = `RANGE_BEGIN 0 100
ADDRESS 193.0.14.129
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR AA NOERROR
SECTION QUESTION
a.example. IN A
SECTION ANSWER
a.example. 60 IN A 192.0.2.1
ENTRY_END
RANGE_END
`
	const query = "STEP 1 QUERY\nENTRY_BEGIN\nREPLY RD\nSECTION QUESTION\na.example. IN A\nENTRY_END\n"
	rawQuery := func() string {
		q := new(dns.Msg).SetQuestion("a.example.", dns.TypeA)
		q.Id = 0
		b, _ := q.Pack()
		return hex.EncodeToString(b)
	}()
	const checkOK = "STEP 2 CHECK_ANSWER\nENTRY_BEGIN\nMATCH all\nREPLY QR RD RA NOERROR\nSECTION QUESTION\na.example. IN A\nSECTION ANSWER\na.example. IN A 192.0.2.1\nENTRY_END\n"
	tests := []struct {
		name       string
		text       string
		factory    Factory
		status     Status
		step       int
		reasonPart string
	}{
		{
			name: "passes", text: head + rootA + query + checkOK + "SCENARIO_END\n",
			status: Passed,
		},
		{
			name: "rcode differs", status: Failed, step: 2,
			text: head + rootA + query +
				"STEP 2 CHECK_ANSWER\nENTRY_BEGIN\nMATCH rcode\nREPLY NXDOMAIN\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "step 2: CHECK_ANSWER: rcode differs: got NOERROR, want NXDOMAIN",
		},
		{
			name: "flags differ", status: Failed, step: 2,
			text: head + rootA + query +
				"STEP 2 CHECK_ANSWER\nENTRY_BEGIN\nMATCH flags\nREPLY QR AA RD RA\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "flags differ: got QR RD RA, want QR AA RD RA",
		},
		{
			name: "ttl differs only with MATCH ttl", status: Failed, step: 2,
			text: head + rootA + query +
				"STEP 2 CHECK_ANSWER\nENTRY_BEGIN\nMATCH answer ttl\nSECTION ANSWER\na.example. 61 IN A 192.0.2.1\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "answer section differs: got [a.example. 60 IN A 192.0.2.1], want [a.example. 61 IN A 192.0.2.1]",
		},
		{
			name: "no scripted reply explains the failure", status: Failed, step: 2,
			text:       head + query + checkOK + "SCENARIO_END\n",
			reasonPart: "rcode differs: got SERVFAIL, want NOERROR; no scripted reply for: step 1: a.example. IN A to 193.0.14.129:53 over UDP",
		},
		{
			name: "unchecked answer", status: Failed, step: 1,
			text:       head + rootA + query + "SCENARIO_END\n",
			reasonPart: "step 1: QUERY: end of scenario: the answer was never checked",
		},
		{
			name: "check without a query", status: Failed, step: 2,
			text:       head + rootA + checkOK + "SCENARIO_END\n",
			reasonPart: "step 2: CHECK_ANSWER: no answer to check",
		},
		{
			name: "CHECK_OUT_QUERY after the answer", status: Passed,
			text: head + rootA + query + checkOK +
				"STEP 3 CHECK_OUT_QUERY ADDRESS 193.0.14.129\nENTRY_BEGIN\nMATCH qname qtype\nSECTION QUESTION\na.example. IN A\nENTRY_END\nSCENARIO_END\n",
		},
		{
			name: "CHECK_OUT_QUERY consumes each query once", status: Failed, step: 4,
			text: head + rootA + query + checkOK +
				"STEP 3 CHECK_OUT_QUERY\nENTRY_BEGIN\nMATCH qname\nSECTION QUESTION\na.example. IN A\nENTRY_END\n" +
				"STEP 4 CHECK_OUT_QUERY\nENTRY_BEGIN\nMATCH qname\nSECTION QUESTION\na.example. IN A\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "step 4: CHECK_OUT_QUERY: no upstream query matches; none was sent since the last one checked",
		},
		{
			name: "TIMEOUT after the answer takes an unanswered query", status: Passed,
			text: head + query + "STEP 2 CHECK_ANSWER\nENTRY_BEGIN\nMATCH rcode\nREPLY SERVFAIL\nENTRY_END\nSTEP 3 TIMEOUT\nSCENARIO_END\n",
		},
		{
			name: "TIMEOUT with every query answered", status: Failed, step: 3,
			text:       head + rootA + query + checkOK + "STEP 3 TIMEOUT\nSCENARIO_END\n",
			reasonPart: "step 3: TIMEOUT: no upstream query is waiting for a reply",
		},
		{
			name: "reply step with nothing pending", status: Failed, step: 3,
			text: head + rootA + query + checkOK +
				"STEP 3 REPLY\nENTRY_BEGIN\nREPLY QR\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "step 3: REPLY: no upstream query is pending",
		},
		{
			name: "CHECK_OUT_QUERY mismatch", status: Failed, step: 2,
			text: head + query +
				"STEP 2 CHECK_OUT_QUERY\nENTRY_BEGIN\nMATCH qname\nSECTION QUESTION\nb.example. IN A\nENTRY_END\n" +
				"STEP 3 CHECK_ANSWER\nENTRY_BEGIN\nENTRY_END\nSCENARIO_END\n",
			reasonPart: `step 2: CHECK_OUT_QUERY: no upstream query matches: the last, a.example. IN A to 193.0.14.129:53: qname differs: got "a.example.", want "b.example."`,
		},
		{
			name: "CHECK_OUT_QUERY wrong server", status: Failed, step: 2,
			text: head + query +
				"STEP 2 CHECK_OUT_QUERY ADDRESS 192.0.2.53\nENTRY_BEGIN\nMATCH qname\nSECTION QUESTION\na.example. IN A\nENTRY_END\n" +
				"STEP 3 CHECK_ANSWER\nENTRY_BEGIN\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "step 2: CHECK_OUT_QUERY: no upstream query matches: the last, a.example. IN A, went to 193.0.14.129:53, want 192.0.2.53:53",
		},
		{
			name: "mandatory entry never fired", status: Failed,
			text: head + rootA + "RANGE_BEGIN 0 100\nENTRY_BEGIN\nMANDATORY\nMATCH qname\nSECTION QUESTION\nnever.example. IN A\nENTRY_END\nRANGE_END\n" +
				query + checkOK + "SCENARIO_END\n",
			reasonPart: "end of scenario: MANDATORY entry at t.rpl:",
		},
		{
			name: "do_not_answer drops the query", status: Failed, step: 2,
			text:       head + strings.Replace(rootA, "ADJUST copy_id", "ADJUST copy_id do_not_answer", 1) + query + checkOK + "SCENARIO_END\n",
			reasonPart: "rcode differs: got SERVFAIL",
		},
		{
			name: "trust anchors need a validator", status: Skipped,
			text:       "server:\n\ttrust-anchor: \"example. IN DS 1 8 2 0000\"\n" + head + rootA + query + checkOK + "SCENARIO_END\n",
			reasonPart: "needs DNSSEC validation",
		},
		{
			name: "validator runs DNSSEC scenarios", status: Passed,
			text:    "server:\n\ttrust-anchor: \"example. IN DS 1 8 2 0000\"\n" + head + rootA + query + checkOK + "SCENARIO_END\n",
			factory: validatingFactory,
		},
		{
			name: "factory skips", status: Skipped,
			text: head + rootA + query + checkOK + "SCENARIO_END\n",
			factory: func(Env) (Resolver, error) {
				return nil, fmt.Errorf("%w: no IPv6 support", ErrSkip)
			},
			reasonPart: "no IPv6 support",
		},
		{
			name: "factory fails", status: Failed,
			text: head + rootA + query + checkOK + "SCENARIO_END\n",
			factory: func(Env) (Resolver, error) {
				return nil, errors.New("boom")
			},
			reasonPart: "resolver factory: boom",
		},
		{
			name: "autotrust is skipped", status: Skipped,
			text:       head + "STEP 1 CHECK_AUTOTRUST example.\nFILE_BEGIN\nx\nFILE_END\nSCENARIO_END\n",
			reasonPart: "step 1 CHECK_AUTOTRUST is not supported",
		},
		{
			name: "macros are skipped", status: Skipped,
			text:       head + "STEP 1 ASSIGN t0 = ${time}\nSCENARIO_END\n",
			reasonPart: "uses t.rpl:6: ASSIGN (testbound macro)",
		},
		{
			// Junk never reaches the resolver: dropped, and the
			// scenario goes on.
			name: "unparsable raw query is dropped", status: Passed,
			text: head + rootA + "STEP 1 QUERY\nENTRY_BEGIN\nRAW\n0001\nENTRY_END\n" +
				"STEP 2 QUERY\nENTRY_BEGIN\nRAW\n" + rawQuery + "\nENTRY_END\n" + strings.Replace(checkOK, "STEP 2 ", "STEP 3 ", 1) + "SCENARIO_END\n",
		},
		{
			name: "a check of a dropped query fails", status: Failed, step: 2,
			text:       head + "STEP 1 QUERY\nENTRY_BEGIN\nRAW\n0001\nENTRY_END\nSTEP 2 CHECK_ANSWER\nENTRY_BEGIN\nMATCH opcode\nENTRY_END\nSCENARIO_END\n",
			reasonPart: "dropped the query of step 1",
		},
		{
			name: "the answer to a raw query needs no check", status: Passed,
			text: head + rootA + "STEP 1 QUERY\nENTRY_BEGIN\nRAW\n" + rawQuery + "\nENTRY_END\nSCENARIO_END\n",
		},
		{
			name: "raw query is resolved", status: Passed,
			text: head + rootA + "STEP 1 QUERY\nENTRY_BEGIN\nRAW\n" + rawQuery + "\nENTRY_END\n" + checkOK + "SCENARIO_END\n",
		},
		{
			name: "flush needs a MessageCache", status: Skipped,
			text:       head + "STEP 1 FLUSH_MESSAGE a.example. IN A\nSCENARIO_END\n",
			reasonPart: "need a resolver implementing replay.MessageCache",
		},
		{
			name: "resolver panic is a failure", status: Failed, step: 1,
			text: head + query + checkOK + "SCENARIO_END\n",
			factory: func(Env) (Resolver, error) {
				return resolverFunc(func(context.Context, *dns.Msg) *dns.Msg { panic("kaboom") }), nil
			},
			reasonPart: "step 1: QUERY: resolver panicked: kaboom",
		},
		{
			name: "dropped query", status: Failed, step: 2,
			text: head + query + checkOK + "SCENARIO_END\n",
			factory: func(Env) (Resolver, error) {
				return resolverFunc(func(context.Context, *dns.Msg) *dns.Msg { return nil }), nil
			},
			reasonPart: "no answer to check (the resolver dropped the query of step 1)",
		},
		{
			name: "resolver loop is bounded", status: Failed, step: 1,
			text: head + query + checkOK + "SCENARIO_END\n",
			factory: func(env Env) (Resolver, error) {
				return resolverFunc(func(ctx context.Context, q *dns.Msg) *dns.Msg {
					for {
						_, err := env.Transport.Exchange(ctx, env.RootHints[0], q, false)
						if !errors.Is(err, os.ErrDeadlineExceeded) {
							return nil
						}
					}
				}), nil
			},
			reasonPart: "more than 1000 upstream queries in one step",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			factory := tt.factory
			if factory == nil {
				factory = newFakeResolver
			}
			res := Run(context.Background(), "t.rpl", strings.NewReader(tt.text), factory)
			if res.Status != tt.status || res.Step != tt.step || !strings.Contains(res.Reason, tt.reasonPart) {
				t.Fatalf("got %v (step %d), want %v (step %d) with reason containing %q", res, res.Step, tt.status, tt.step, tt.reasonPart)
			}
		})
	}
}

type resolverFunc func(context.Context, *dns.Msg) *dns.Msg

func (f resolverFunc) Resolve(ctx context.Context, q *dns.Msg) *dns.Msg { return f(ctx, q) }

type validatingResolver struct{ Resolver }

func (validatingResolver) ValidatesDNSSEC() bool { return true }

func validatingFactory(env Env) (Resolver, error) {
	r, err := newFakeResolver(env)
	return validatingResolver{r}, err
}

// flushingResolver records cache steps.
type flushingResolver struct {
	Resolver
	flushed, expired []dns.Question
}

func (f *flushingResolver) FlushMessage(q dns.Question)  { f.flushed = append(f.flushed, q) }
func (f *flushingResolver) ExpireMessage(q dns.Question) { f.expired = append(f.expired, q) }

func TestCacheSteps(t *testing.T) {
	text := "CONFIG_END\nSCENARIO_BEGIN t\nSTEP 1 FLUSH_MESSAGE a.example. IN A\nSTEP 2 EXPIRE_MESSAGE b.example. AAAA\nSCENARIO_END\n"
	fr := &flushingResolver{}
	res := Run(context.Background(), "t.rpl", strings.NewReader(text), func(Env) (Resolver, error) { return fr, nil })
	if res.Status != Passed {
		t.Fatal(res)
	}
	want := []dns.Question{{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	if len(fr.flushed) != 1 || fr.flushed[0] != want[0] {
		t.Errorf("flushed %v, want %v", fr.flushed, want)
	}
	if len(fr.expired) != 1 || fr.expired[0].Qtype != dns.TypeAAAA {
		t.Errorf("expired %v", fr.expired)
	}
}

// TestEnv checks what the factory is given.
func TestEnv(t *testing.T) {
	text := `server:
	val-override-date: "20091011000000"
	qname-minimisation: yes
	harden-glue: no
stub-zone:
	name: "."
	stub-addr: 193.0.14.129
	stub-addr: 2001:7fd::1@5353
CONFIG_END
SCENARIO_BEGIN env
STEP 1 TIME_PASSES ELAPSE 1.5
STEP 2 TIME_PASSES ELAPSE 10
SCENARIO_END
`
	var env Env
	sc, err := Parse("env.rpl", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	res := sc.Run(context.Background(), func(e Env) (Resolver, error) {
		env = e
		return resolverFunc(func(context.Context, *dns.Msg) *dns.Msg { return nil }), nil
	}, Options{})
	if res.Status != Passed {
		t.Fatal(res)
	}
	start := time.Date(2009, 10, 11, 0, 0, 0, 0, time.UTC)
	if got := env.Clock.Now(); !got.Equal(start.Add(11500 * time.Millisecond)) {
		t.Errorf("clock at %v, want start + 11.5s", got)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("193.0.14.129:53"), netip.MustParseAddrPort("[2001:7fd::1]:5353")}
	if fmt.Sprint(env.RootHints) != fmt.Sprint(want) {
		t.Errorf("root hints %v, want %v", env.RootHints, want)
	}
	if env.Config.QNameMinimisation == nil || !*env.Config.QNameMinimisation {
		t.Errorf("qname-minimisation not decoded")
	}
	if v, ok := env.Config.Harden["harden-glue"]; !ok || v {
		t.Errorf("harden-glue = %v, %v", v, ok)
	}

	// Without val-override-date the clock starts at the epoch.
	sc, err = Parse("e.rpl", strings.NewReader("CONFIG_END\nSCENARIO_BEGIN e\nSCENARIO_END\n"))
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sc.Run(context.Background(), func(e Env) (Resolver, error) {
		env = e
		return resolverFunc(func(context.Context, *dns.Msg) *dns.Msg { return nil }), nil
	}, Options{Epoch: epoch})
	if !env.Clock.Now().Equal(epoch) {
		t.Errorf("clock at %v, want %v", env.Clock.Now(), epoch)
	}
}

// TestClockRange: a scenario whose TIME_PASSES steps would carry the clock
// past the last time it reads fails before the resolver is built, instead
// of running with a clock that wrapped round to 1677.
func TestClockRange(t *testing.T) {
	const century = "3153600000" // the largest ELAPSE the parser takes
	tests := []struct {
		name, config, steps string
		want                string // "" means the run passes
	}{
		{"three centuries from 2009", `val-override-date: "20091011000000"`,
			"STEP 1 TIME_PASSES ELAPSE " + century + "\nSTEP 2 TIME_PASSES ELAPSE " + century + "\nSTEP 3 TIME_PASSES ELAPSE " + century + "\n",
			"replay: step 3 TIME_PASSES would move the clock from 2009-10-11T00:00:00Z past 2262-04-11T23:47:16Z, the last time the scenario clock reads"},
		{"two centuries from 2009", `val-override-date: "20091011000000"`,
			"STEP 1 TIME_PASSES ELAPSE " + century + "\nSTEP 2 TIME_PASSES ELAPSE " + century + "\n", ""},
		{"up to the last second", `val-override-timestamp: 9223372000`,
			"STEP 1 TIME_PASSES ELAPSE 36\n", ""},
		{"one second past it", `val-override-timestamp: 9223372000`,
			"STEP 1 TIME_PASSES ELAPSE 36\nSTEP 3 TIME_PASSES ELAPSE 1\n",
			"replay: step 3 TIME_PASSES would move the clock from 2262-04-11T23:46:40Z past 2262-04-11T23:47:16Z, the last time the scenario clock reads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "server:\n\t" + tt.config + "\nCONFIG_END\nSCENARIO_BEGIN c\n" + tt.steps + "SCENARIO_END\n"
			built := false
			var env Env
			res := Run(context.Background(), "c.rpl", strings.NewReader(text), func(e Env) (Resolver, error) {
				built, env = true, e
				return resolverFunc(func(context.Context, *dns.Msg) *dns.Msg { return nil }), nil
			})
			if tt.want == "" {
				if res.Status != Passed {
					t.Fatalf("%v: %s", res.Status, res.Reason)
				}
				if got := env.Clock.Now(); got.Before(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("clock at %v after the run", got)
				}
				return
			}
			if res.Status != Failed || res.Reason != tt.want {
				t.Fatalf("%v: %q, want failed: %q", res.Status, res.Reason, tt.want)
			}
			if built {
				t.Error("the resolver was built for a scenario that cannot run")
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	text := `CONFIG_END
SCENARIO_BEGIN transport
RANGE_BEGIN 0 100
ENTRY_BEGIN
MATCH qname TCP
ADJUST copy_id
REPLY QR NOERROR
SECTION QUESTION
tcp.example. IN A
ENTRY_END
ENTRY_BEGIN
MATCH qname
ADJUST copy_id
SECTION QUESTION
raw.example. IN A
HEX_ANSWER_BEGIN
00 00 84
HEX_ANSWER_END
ENTRY_END
RANGE_END
STEP 1 QUERY
ENTRY_BEGIN
SECTION QUESTION
x. IN A
ENTRY_END
STEP 2 ERROR
STEP 3 CHECK_ANSWER
ENTRY_BEGIN
ENTRY_END
SCENARIO_END
`
	server := netip.MustParseAddrPort("192.0.2.1:53")
	var errs []error
	res := Run(context.Background(), "transport.rpl", strings.NewReader(text), func(env Env) (Resolver, error) {
		return resolverFunc(func(ctx context.Context, q *dns.Msg) *dns.Msg {
			ask := func(name string, tcp bool) {
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				_, err := env.Transport.Exchange(ctx, server, m, tcp)
				errs = append(errs, err)
			}
			ask("tcp.example.", false) // MATCH TCP: no reply over UDP, and the ERROR step answers
			ask("tcp.example.", true)
			ask("raw.example.", false) // truncated hex packet
			ask("none.example.", false)
			r := new(dns.Msg)
			return r.SetReply(q)
		}), nil
	})
	if res.Status != Passed {
		t.Fatal(res)
	}
	var netErr *NetworkError
	if !errors.As(errs[0], &netErr) || netErr.Step != 2 {
		t.Errorf("UDP query: got %v, want the ERROR step's network error", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("TCP query: %v", errs[1])
	}
	if errs[2] == nil || !strings.Contains(errs[2].Error(), "malformed reply") {
		t.Errorf("raw reply: got %v, want malformed reply", errs[2])
	}
	var nr *NoReplyError
	if !errors.As(errs[3], &nr) || !nr.Timeout() || !errors.Is(errs[3], os.ErrDeadlineExceeded) {
		t.Errorf("unmatched query: got %v, want a time-out", errs[3])
	}
	if res.UnansweredTotal != 1 || !strings.Contains(res.Unanswered[0], "none.example. IN A to 192.0.2.1:53 over UDP") {
		t.Errorf("unanswered: %d %v", res.UnansweredTotal, res.Unanswered)
	}
}

// TestAdjust checks the reply adjustments against a query with EDNS.
func TestAdjust(t *testing.T) {
	text := `CONFIG_END
SCENARIO_BEGIN adjust
RANGE_BEGIN 0 100
ENTRY_BEGIN
MATCH qname
ADJUST copy_id copy_query copy_ednsdata_assume_clientsubnet increment_ecs_scope add_server_cookie
REPLY QR AA NOERROR
SECTION QUESTION
www.example.com. IN A
SECTION ANSWER
www.example.com. IN A 192.0.2.1
ENTRY_END
RANGE_END
STEP 1 QUERY
ENTRY_BEGIN
SECTION QUESTION
x. IN A
ENTRY_END
STEP 2 CHECK_ANSWER
ENTRY_BEGIN
ENTRY_END
SCENARIO_END
`
	var reply *dns.Msg
	var q *dns.Msg
	res := Run(context.Background(), "adjust.rpl", strings.NewReader(text), func(env Env) (Resolver, error) {
		return resolverFunc(func(ctx context.Context, cq *dns.Msg) *dns.Msg {
			q = new(dns.Msg)
			q.SetQuestion("wWw.ExAmple.com.", dns.TypeAAAA)
			q.SetEdns0(1232, true)
			opt := q.IsEdns0()
			opt.Option = append(opt.Option,
				&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}},
				&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
			var err error
			reply, err = env.Transport.Exchange(ctx, netip.MustParseAddrPort("192.0.2.9:53"), q, false)
			if err != nil {
				t.Error(err)
			}
			return new(dns.Msg).SetReply(cq)
		}), nil
	})
	if res.Status != Passed || reply == nil {
		t.Fatal(res)
	}
	if reply.Id != q.Id {
		t.Errorf("copy_id: reply ID %d, query ID %d", reply.Id, q.Id)
	}
	if reply.Question[0] != q.Question[0] {
		t.Errorf("copy_query: reply question %v, want %v", reply.Question[0], q.Question[0])
	}
	var ecs *dns.EDNS0_SUBNET
	var cookie *dns.EDNS0_COOKIE
	for _, o := range findOPT(reply).Option {
		switch o := o.(type) {
		case *dns.EDNS0_SUBNET:
			ecs = o
		case *dns.EDNS0_COOKIE:
			cookie = o
		}
	}
	if ecs == nil || ecs.SourceScope != 25 || ecs.SourceNetmask != 24 {
		t.Errorf("client subnet: %v", ecs)
	}
	if cookie == nil || cookie.Cookie != "0102030405060708"+serverCookie {
		t.Errorf("cookie: %v", cookie)
	}
}

// TestCopyIDKeepsCase checks the 0x20 allowance of copy_id.
func TestCopyIDKeepsCase(t *testing.T) {
	e := &Entry{Adjust: AdjustCopyID, Packets: []*Packet{{Msg: new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)}}}
	q := new(dns.Msg).SetQuestion("WwW.eXample.COM.", dns.TypeA)
	m, _, err := buildReply(e, e.Packets[0], q)
	if err != nil {
		t.Fatal(err)
	}
	if m.Question[0].Name != "WwW.eXample.COM." || m.Id != q.Id {
		t.Errorf("got %s id %d", m.Question[0].Name, m.Id)
	}
	// A different name is left alone: copy_id is not copy_query.
	q = new(dns.Msg).SetQuestion("other.example.", dns.TypeA)
	m, _, _ = buildReply(e, e.Packets[0], q)
	if m.Question[0].Name != "www.example.com." {
		t.Errorf("got %s", m.Question[0].Name)
	}
}

func TestStepTimeout(t *testing.T) {
	text := "CONFIG_END\nSCENARIO_BEGIN t\nSTEP 1 QUERY\nENTRY_BEGIN\nSECTION QUESTION\nx. IN A\nENTRY_END\nSCENARIO_END\n"
	sc, err := Parse("t.rpl", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	res := sc.Run(context.Background(), func(Env) (Resolver, error) {
		return resolverFunc(func(context.Context, *dns.Msg) *dns.Msg { <-release; return nil }), nil
	}, Options{StepTimeout: 50 * time.Millisecond})
	if res.Status != Failed || !strings.Contains(res.Reason, "did not answer within 50ms") {
		t.Fatal(res)
	}
}
