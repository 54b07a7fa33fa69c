package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/replay"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/dns/validate"
	"github.com/spf13/cobra"
)

func newReplayCommand(a *app) *cobra.Command {
	var trace bool
	cmd := &cobra.Command{
		Use:   "replay FILE.rpl...",
		Short: "Run resolver scenarios in the .rpl format of Unbound's testbound and Deckard",
		Long: `Run resolver scenarios in the .rpl format that Unbound's testbound and CZ-NIC's
Deckard use: scripted upstream servers (RANGE/ENTRY blocks with MATCH and
ADJUST), and steps (QUERY, CHECK_ANSWER, TIME_PASSES ...) that query the
resolver and check its answers. Each scenario runs in-process against a fresh
rampart resolver, cache and response path, with no network and a clock that
moves only when the scenario says so. One line per file: passed, skipped (and
why), or the step that failed and why. Exits 1 if any scenario failed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give at least one .rpl file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, path := range args {
				f, err := os.Open(path)
				if err != nil {
					return usageErrorf("%v", err)
				}
				sc, err := replay.Parse(path, f)
				f.Close()
				var res replay.Result
				if err != nil {
					res = replay.Result{File: path, Status: replay.Failed, Reason: err.Error(), Err: err}
				} else {
					opts := replay.Options{}
					if trace {
						opts.Trace = cmd.ErrOrStderr()
					}
					res = sc.Run(cmd.Context(), replayFactory, opts)
				}
				switch res.Status {
				case replay.Passed:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: passed (%d steps)\n", path, res.Steps)
				case replay.Skipped:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: skipped: %s\n", path, res.Reason)
				default:
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "%s: FAILED: %s\n", path, res.Reason)
				}
			}
			if failed > 0 {
				return &failure{code: 1, msg: fmt.Sprintf("%d of %d scenarios failed", failed, len(args))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&trace, "trace", false, "write every step, upstream query and reply, and the resolver's debug log to standard error")
	return cmd
}

// replayFactory builds, for one scenario, the same resolver, cache and
// response path that `rampart resolver` runs, over the scenario's scripted
// upstream and clock, configured as the scenario's configuration section
// says (see dns/replay's package documentation for the keys): QNAME
// minimisation, the root server's address and name, IPv6 on or off, the
// cache's TTL bounds, and DNSSEC validation when it sets trust anchors,
// with signature validity judged by the scenario's clock.
func replayFactory(env replay.Env) (replay.Resolver, error) {
	sc := env.Config
	ccfg := cache.Config{MaxBytes: 4 << 20, Clock: env.Clock}
	if sc.CacheMinTTL != nil {
		ccfg.MinTTL = time.Duration(*sc.CacheMinTTL) * time.Second
	}
	if sc.CacheMaxTTL != nil {
		ccfg.MaxTTL = time.Duration(*sc.CacheMaxTTL) * time.Second
	}
	c, err := cache.New(ccfg)
	if err != nil {
		return nil, err
	}
	cfg := resolver.Config{Transport: env.Transport, Clock: env.Clock, Cache: c.ResolverView(), QNAMEMinimisation: true}
	var logger *slog.Logger
	if env.Trace != nil {
		logger = slog.New(slog.NewTextHandler(env.Trace, &slog.HandlerOptions{Level: slog.LevelDebug,
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{} // real time says nothing in a replay
				}
				return a
			}}))
		cfg.Logger = logger
	}
	if q := sc.QNameMinimisation; q != nil {
		cfg.QNAMEMinimisation = *q
	}
	if sc.DoIP6 != nil && !*sc.DoIP6 {
		cfg.DisableIPv6 = true
	}
	if sc.CacheMaxTTL != nil {
		cfg.MaxTTL = max(*sc.CacheMaxTTL, 1)
	}
	if len(env.RootHints) > 0 {
		cfg.RootHints = hintsFromAddrs(env.RootHints, sc.RootName)
		cfg.Port = env.RootHints[0].Port()
	}
	anchors, err := replayAnchors(sc)
	if err != nil {
		return nil, err
	}
	cfg.DNSSECOK = anchors != nil
	r, err := resolver.New(cfg)
	if err != nil {
		return nil, err
	}
	rr := &replayResolver{r: r, c: c}
	if anchors != nil {
		// The scenarios' zones were signed with RSA/SHA-1 before RFC 9905
		// deprecated it; the validator's code for it is what they test.
		v := dnssec.New(dnssec.Config{Anchors: anchors, Clock: env.Clock, AllowSHA1: true})
		rr.v = validate.New(r, v, validate.Config{Clock: env.Clock, Logger: logger})
	}
	return rr, nil
}

// replayAnchors reads the scenario's trust-anchor values and
// trust-anchor-file files; nil when it has neither (no validation).
func replayAnchors(sc *replay.Config) (*dnssec.Anchors, error) {
	if !sc.NeedsDNSSEC() {
		return nil, nil
	}
	a := dnssec.NewAnchors()
	if len(sc.TrustAnchors) > 0 {
		// Deckard's anchors often leave out the TTL, which anchors do
		// not use.
		text := "$TTL 3600\n" + strings.Join(sc.TrustAnchors, "\n") + "\n"
		got, err := dnssec.ParseAnchors(strings.NewReader(text), "trust-anchor")
		if err != nil {
			return nil, err
		}
		a = got
	}
	for _, f := range sc.TrustAnchorFiles {
		got, err := dnssec.LoadAnchors(f)
		if err != nil {
			return nil, err
		}
		for _, zone := range got.Zones() {
			ds, keys, _ := got.Lookup(zone)
			for _, d := range ds {
				if err := a.Add(d); err != nil {
					return nil, err
				}
			}
			for _, k := range keys {
				if err := a.Add(k); err != nil {
					return nil, err
				}
			}
		}
	}
	return a, nil
}

// hintsFromAddrs makes root hints out of bare addresses: the scenario's
// root server name (Deckard's stub-name, k.root-servers.net. when it has
// none) for the first address, invented names for the others, each with
// its address as glue.
func hintsFromAddrs(addrs []netip.AddrPort, name0 string) []dns.RR {
	if name0 == "" {
		name0 = "k.root-servers.net."
	}
	var rrs []dns.RR
	for i, ap := range addrs {
		name := name0
		if i > 0 {
			name = "hint" + strconv.Itoa(i) + ".root-servers.invalid."
		}
		rrs = append(rrs, &dns.NS{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600000}, Ns: name})
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: 3600000}
		if ap.Addr().Is4() {
			hdr.Rrtype = dns.TypeA
			rrs = append(rrs, &dns.A{Hdr: hdr, A: ap.Addr().AsSlice()})
		} else {
			hdr.Rrtype = dns.TypeAAAA
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: ap.Addr().AsSlice()})
		}
	}
	return rrs
}

type replayResolver struct {
	r *resolver.Resolver
	v *validate.Resolver // nil: no trust anchor, no validation
	c *cache.Cache
}

// ValidatesDNSSEC implements replay.DNSSECValidator.
func (rr *replayResolver) ValidatesDNSSEC() bool { return rr.v != nil }

// Resolve answers q the way the server does: the wire-form cache first,
// then the validator (honouring CD) or the resolver, storing cacheable
// answers.
func (rr *replayResolver) Resolve(ctx context.Context, q *dns.Msg) *dns.Msg {
	if wire, err := q.Pack(); err == nil {
		out := make([]byte, 65535)
		if n, ok := rr.c.AnswerFromWire(wire, out); ok {
			var m dns.Msg
			if m.Unpack(out[:n]) == nil {
				return &m
			}
		}
	}
	if len(q.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		return m
	}
	question := q.Question[0]
	opt := q.IsEdns0()
	do := opt != nil && opt.Do()
	var res *dns.Msg
	var err error
	if rr.v != nil {
		res, err = rr.v.ResolveCD(ctx, question.Name, question.Qtype, question.Qclass, do, q.CheckingDisabled)
	} else {
		res, err = rr.r.Resolve(ctx, question.Name, question.Qtype, question.Qclass, do)
	}
	resp := server.Respond(q, res, err, 1232)
	if err == nil && res != nil && (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError) {
		_ = rr.c.PutAnswer(resp, time.Time{})
	}
	return resp
}
