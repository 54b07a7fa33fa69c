package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/replay"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
	"github.com/spf13/cobra"
)

func newReplayCommand(a *app) *cobra.Command {
	return &cobra.Command{
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
				res := replay.Run(cmd.Context(), path, f, replayFactory)
				f.Close()
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
}

// replayFactory builds, for one scenario, the same resolver, cache and
// response path that `rampart resolver` runs, over the scenario's scripted
// upstream and clock.
func replayFactory(env replay.Env) (replay.Resolver, error) {
	c, err := cache.New(cache.Config{MaxBytes: 4 << 20, Clock: env.Clock})
	if err != nil {
		return nil, err
	}
	cfg := resolver.Config{Transport: env.Transport, Clock: env.Clock, Cache: c.ResolverView(), QNAMEMinimisation: true}
	if q := env.Config.QNameMinimisation; q != nil {
		cfg.QNAMEMinimisation = *q
	}
	if len(env.RootHints) > 0 {
		cfg.RootHints = hintsFromAddrs(env.RootHints)
		cfg.Port = env.RootHints[0].Port()
	}
	r, err := resolver.New(cfg)
	if err != nil {
		return nil, err
	}
	return &replayResolver{r: r, c: c}, nil
}

// hintsFromAddrs makes root hints out of bare addresses: one invented name
// server name per address, with its address as glue.
func hintsFromAddrs(addrs []netip.AddrPort) []dns.RR {
	var rrs []dns.RR
	for i, ap := range addrs {
		name := "hint" + strconv.Itoa(i) + ".root-servers.invalid."
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
	c *cache.Cache
}

// Resolve answers q the way the server does: the wire-form cache first,
// then the resolver, storing cacheable answers.
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
	res, err := rr.r.Resolve(ctx, question.Name, question.Qtype, question.Qclass, opt != nil && opt.Do())
	resp := server.Respond(q, res, err, 1232)
	if err == nil && res != nil && (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError) {
		_ = rr.c.PutAnswer(resp, time.Time{})
	}
	return resp
}
