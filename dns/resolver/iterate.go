package resolver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/miekg/dns"
)

// result is the outcome of a resolution, shared by every caller waiting for
// it; nobody modifies it after it is returned.
type result struct {
	rcode     int
	answer    []dns.RR
	authority []dns.RR
}

// state is the bookkeeping of one client query's resolution, including the
// name-server address lookups it starts. It is used by one goroutine.
type state struct {
	r       *Resolver
	queries int      // upstream queries sent, against MaxUpstreamQueries
	depth   int      // nesting of name-server address lookups
	active  []string // name servers whose addresses are being looked up
}

// errCacheMiss ends a cache-only resolution that needs the network.
var errCacheMiss = errors.New("cache miss")

// fatal reports whether err ends the whole resolution rather than one path of
// it: the budget of queries or time is spent.
func fatal(ctx context.Context, err error) bool {
	return errors.Is(err, ErrBudgetExhausted) || errors.Is(err, ErrTimeout) || ctx.Err() != nil
}

// resolve follows qname through the cache and, unless cacheOnly, the network,
// across CNAME and DNAME links, until an RRset of qtype or a negative answer.
func (st *state) resolve(ctx context.Context, qname string, qtype uint16, cacheOnly bool) (*result, error) {
	r := st.r
	res := &result{rcode: dns.RcodeSuccess}
	name := qname
	links := 0
	var seen []string
	for {
		for _, s := range seen {
			if s == name {
				return nil, fmt.Errorf("%w at %s", ErrCNAMELoop, name)
			}
		}
		seen = append(seen, name)
		if links > r.cfg.MaxCNAMEChain {
			return nil, fmt.Errorf("%w (more than %d links)", ErrChainTooLong, r.cfg.MaxCNAMEChain)
		}
		if qtype != dns.TypeANY {
			now := r.clock.Now()
			if set, ok := r.cache.LookupRRset(name, qtype, dns.ClassINET, now); ok && set.Rank >= RankAnswerNonAuth {
				res.answer = append(append(res.answer, set.RRs...), set.Sigs...)
				return res, nil
			}
			if neg, ok := r.cache.LookupNegative(name, qtype, dns.ClassINET, now); ok {
				res.rcode, res.authority = neg.Rcode, neg.Authority
				return res, nil
			}
			if qtype != dns.TypeCNAME {
				set, ok := r.cache.LookupRRset(name, dns.TypeCNAME, dns.ClassINET, now)
				if ok && set.Rank >= RankAnswerNonAuth && len(set.RRs) > 0 {
					if cn, isCNAME := set.RRs[0].(*dns.CNAME); isCNAME {
						res.answer = append(append(res.answer, set.RRs...), set.Sigs...)
						links++
						name = lowerASCII(cn.Target)
						continue
					}
				}
			}
		}
		if cacheOnly {
			return nil, errCacheMiss
		}
		rep, err := st.iterate(ctx, name, qtype)
		if err != nil {
			return nil, err
		}
		res.answer = append(res.answer, rep.chain...)
		links += rep.links
		if links > r.cfg.MaxCNAMEChain {
			return nil, fmt.Errorf("%w (more than %d links)", ErrChainTooLong, r.cfg.MaxCNAMEChain)
		}
		switch rep.kind {
		case replyAnswer:
			return res, nil
		case replyNXDomain, replyNoData:
			res.rcode = dns.RcodeSuccess
			if rep.kind == replyNXDomain {
				res.rcode = dns.RcodeNameError
			}
			res.authority = rep.authority
			return res, nil
		case replyCNAME:
			// The names the response's chain passed through count for loop
			// detection; the next one is checked at the top of the loop.
			for _, n := range rep.names[1:] {
				if n == rep.next {
					continue // a chain that stopped at next inside the zone
				}
				for _, s := range seen {
					if s == n {
						return nil, fmt.Errorf("%w at %s", ErrCNAMELoop, n)
					}
				}
				seen = append(seen, n)
			}
			name = rep.next
		default:
			return nil, fmt.Errorf("resolver: internal error: iterate returned %s", rep.kind)
		}
	}
}

// RFC 9156 §2.3 limits on QNAME minimisation: at most maxMinimiseCount
// minimised queries, the first minimiseOneLab of them one label at a time and
// the rest spread over the remaining labels, so that names with many labels
// cost a bounded number of queries.
const (
	maxMinimiseCount = 10
	minimiseOneLab   = 4
)

// nextLabels returns how many labels of the query name to send next, given
// that a name of have labels is known to lie at or above no unvisited zone
// cut and count minimised queries were made.
func nextLabels(have, target, count int) int {
	if count >= maxMinimiseCount || target-have <= 1 {
		return target
	}
	step := 1
	if count >= minimiseOneLab {
		step = max((target-have)/(maxMinimiseCount-count), 1)
	}
	return min(have+step, target)
}

// iterate resolves one name and type by walking down from the closest known
// delegation, and returns the accepted final reply, already cached.
func (st *state) iterate(ctx context.Context, qname string, qtype uint16) (*reply, error) {
	r := st.r
	zs, err := st.findServers(ctx, qname, qtype)
	if err != nil {
		return nil, err
	}
	minimise := r.cfg.QNAMEMinimisation
	target := labelCount(qname)
	have := labelCount(zs.zone)
	count := 0
	for {
		sendName, sendType := qname, qtype
		if minimise {
			if n := nextLabels(have, target, count); n < target {
				// RFC 9156 §3: A rather than NS, since some servers
				// answer NS queries badly and A matches real traffic.
				sendName, sendType = suffixLabels(qname, n), dns.TypeA
				count++
			}
		}
		rep, err := st.queryZone(ctx, zs, sendName, sendType)
		if err != nil {
			return nil, err
		}
		if rep.kind == replyReferral {
			r.stats.referrals.Add(1)
			st.store(rep)
			zs = st.serversFor(rep.zone, rep.ns, rep.glue)
			have = labelCount(rep.zone)
			continue
		}
		if sendName == qname {
			if rep.kind == replyChainErr {
				return nil, rep.err
			}
			st.store(rep)
			return rep, nil
		}
		if rep.kind == replyNXDomain || rep.kind == replyChainErr {
			// Relaxed mode: an NXDOMAIN for a minimised name may come from
			// a server that mishandles empty non-terminals, so the full
			// name decides (and the doubtful answer is not cached). A
			// broken chain at a minimised name says nothing sure either.
			r.stats.minFallbacks.Add(1)
			r.log.LogAttrs(ctx, slog.LevelDebug, "qname minimisation fallback",
				slog.String("zone", zs.zone), slog.String("name", sendName), slog.String("qname", qname))
			minimise = false
			continue
		}
		// The minimised name exists, or is an empty non-terminal, without a
		// cut here: its answer is genuine and cached; go deeper.
		st.store(rep)
		have = labelCount(sendName)
	}
}

// zoneServers are the servers of one zone during one resolution step.
type zoneServers struct {
	zone    string // lowercase
	cands   []candidate
	pending []string // name servers whose addresses are not known yet
}

// maxZoneAddrs bounds the addresses tried for one zone.
const maxZoneAddrs = 32

func (zs *zoneServers) add(r *Resolver, a netip.Addr) {
	a = a.Unmap()
	if !usableAddr(a) || (r.cfg.DisableIPv6 && a.Is6()) || len(zs.cands) >= maxZoneAddrs {
		return
	}
	for _, c := range zs.cands {
		if c.addr == a {
			return
		}
	}
	zs.cands = append(zs.cands, candidate{addr: a})
}

func addrOf(rr dns.RR) (netip.Addr, bool) {
	switch rr := rr.(type) {
	case *dns.A:
		return netip.AddrFromSlice(rr.A.To4())
	case *dns.AAAA:
		return netip.AddrFromSlice(rr.AAAA.To16())
	}
	return netip.Addr{}, false
}

// serversFor builds the servers of zone from its NS records, with addresses
// from glue and from the cache; names without an address are kept pending.
func (st *state) serversFor(zone string, ns []*dns.NS, glue []dns.RR) *zoneServers {
	r := st.r
	zs := &zoneServers{zone: lowerASCII(zone)}
	now := r.clock.Now()
	for i, n := range ns {
		if i >= maxReferralNS {
			break
		}
		name := lowerASCII(n.Ns)
		before := len(zs.cands)
		for _, g := range glue {
			if equalName(g.Header().Name, name) {
				if a, ok := addrOf(g); ok {
					zs.add(r, a)
				}
			}
		}
		for _, t := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
			if t == dns.TypeAAAA && r.cfg.DisableIPv6 {
				continue
			}
			if set, ok := r.cache.LookupRRset(name, t, dns.ClassINET, now); ok {
				for _, rr := range set.RRs {
					if a, ok := addrOf(rr); ok {
						zs.add(r, a)
					}
				}
			}
		}
		// The root's servers are never looked up: that needs the root.
		if len(zs.cands) == before && zs.zone != "." {
			zs.pending = append(zs.pending, name)
		}
	}
	return zs
}

// usable reports whether the zone has a server to ask, or a name server whose
// address this resolution may still look up.
func (st *state) usable(zs *zoneServers) bool {
	if len(zs.cands) > 0 {
		return true
	}
	for _, n := range zs.pending {
		if st.canLookup(zs, n) {
			return true
		}
	}
	return false
}

// canLookup reports whether the address of name server n of zs may be looked
// up now: not nested too deep, not already being looked up further up this
// resolution (a cycle), and not inside the zone itself, whose servers are
// what the lookup would need.
func (st *state) canLookup(zs *zoneServers, n string) bool {
	if st.depth >= st.r.cfg.MaxDepth || isSubDomain(n, zs.zone) {
		return false
	}
	for _, a := range st.active {
		if a == n {
			return false
		}
	}
	return true
}

// findServers returns the servers of the closest enclosing zone of qname
// known in the cache, priming the root when none is.
func (st *state) findServers(ctx context.Context, qname string, qtype uint16) (*zoneServers, error) {
	r := st.r
	start := qname
	if qtype == dns.TypeDS && qname != "." {
		// The DS set lives on the parent side of the cut.
		start = parentName(qname)
	}
	now := r.clock.Now()
	for n := start; ; n = parentName(n) {
		if set, ok := r.cache.LookupRRset(n, dns.TypeNS, dns.ClassINET, now); ok {
			zs := st.serversFor(n, nsRecords(set.RRs), nil)
			if st.usable(zs) {
				return zs, nil
			}
		}
		if n == "." {
			break
		}
	}
	if err := r.prime(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
	} else if set, ok := r.cache.LookupRRset(".", dns.TypeNS, dns.ClassINET, r.clock.Now()); ok {
		if zs := st.serversFor(".", nsRecords(set.RRs), nil); len(zs.cands) > 0 {
			return zs, nil
		}
	}
	zs := &zoneServers{zone: ".", cands: append([]candidate(nil), r.hints.cands...)}
	return zs, nil
}

func nsRecords(rrs []dns.RR) []*dns.NS {
	var ns []*dns.NS
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NS); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// prime asks a root hint for the root's NS set (RFC 8109) and caches it with
// the addresses from the additional section. Concurrent primings are one.
func (r *Resolver) prime(ctx context.Context) error {
	_, err, _ := r.primes.doDetached(ctx, struct{}{}, func() (struct{}, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
		defer cancel()
		st := &state{r: r}
		zs := &zoneServers{zone: ".", cands: append([]candidate(nil), r.hints.cands...)}
		rep, err := st.queryZone(pctx, zs, ".", dns.TypeNS)
		if err == nil && (rep.kind != replyAnswer || len(rep.glue) == 0) {
			err = fmt.Errorf("%s response without root server addresses", rep.kind)
		}
		if err != nil {
			// Logged here, once per attempt, rather than by every waiter.
			r.log.LogAttrs(pctx, slog.LevelWarn, "priming failed, using the root hints", slog.String("err", err.Error()))
			return struct{}{}, fmt.Errorf("priming: %w", err)
		}
		st.store(rep)
		r.stats.primings.Add(1)
		return struct{}{}, nil
	})
	return err
}

// queryZone asks the zone's servers, best first, until one gives a usable
// response, and returns it; looking up name-server addresses when the known
// ones are exhausted.
func (st *state) queryZone(ctx context.Context, zs *zoneServers, name string, qtype uint16) (*reply, error) {
	r := st.r
	var last string
	for {
		i := r.infra.pick(zs.zone, zs.cands, r.clock.Now())
		if i < 0 {
			more, err := st.lookupPending(ctx, zs)
			if err != nil {
				return nil, err
			}
			if more {
				continue
			}
			if last == "" {
				last = "every server lame, failed or without an address"
			}
			return nil, fmt.Errorf("%w for %s (%s %s): last: %s", ErrNoServers, zs.zone, name, dns.Type(qtype), last)
		}
		cd := &zs.cands[i]
		cd.tries++
		rep, err := st.ask(ctx, zs.zone, cd.addr, name, qtype)
		if err != nil {
			return nil, err
		}
		switch rep.kind {
		case replyTimeout:
			last = cd.addr.String() + ": " + rep.why
		case replyLame:
			cd.bad = true
			r.infra.markLame(cd.addr, zs.zone, r.clock.Now())
			r.stats.lame.Add(1)
			last = cd.addr.String() + ": lame: " + rep.why
			r.log.LogAttrs(ctx, slog.LevelDebug, "lame server", slog.String("server", cd.addr.String()),
				slog.String("zone", zs.zone), slog.String("why", rep.why))
		case replyBad, replyTruncated, replyFormErr:
			cd.bad = true
			r.stats.bad.Add(1)
			last = cd.addr.String() + ": " + rep.kind.String() + " " + rep.why
			r.log.LogAttrs(ctx, slog.LevelDebug, "bad response", slog.String("server", cd.addr.String()),
				slog.String("zone", zs.zone), slog.String("why", rep.why))
		default:
			return rep, nil
		}
	}
}

// lookupPending looks up the addresses of the zone's pending name servers, one
// name at a time, until one yields an address. It reports whether it found
// any; its error is fatal to the resolution.
func (st *state) lookupPending(ctx context.Context, zs *zoneServers) (bool, error) {
	for len(zs.pending) > 0 {
		n := zs.pending[0]
		zs.pending = zs.pending[1:]
		if !st.canLookup(zs, n) {
			continue
		}
		before := len(zs.cands)
		if err := st.lookupAddrs(ctx, zs, n); err != nil {
			return false, err
		}
		if len(zs.cands) > before {
			return true, nil
		}
	}
	return false, nil
}

// lookupAddrs resolves name server n's addresses (A, then AAAA if A gave
// none) into zs.
func (st *state) lookupAddrs(ctx context.Context, zs *zoneServers, n string) error {
	st.depth++
	st.active = append(st.active, n)
	defer func() {
		st.depth--
		st.active = st.active[:len(st.active)-1]
	}()
	before := len(zs.cands)
	for _, t := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
		if t == dns.TypeAAAA && (st.r.cfg.DisableIPv6 || len(zs.cands) > before) {
			break
		}
		res, err := st.resolve(ctx, n, t, false)
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			st.r.log.LogAttrs(ctx, slog.LevelDebug, "name server address lookup failed",
				slog.String("ns", n), slog.String("type", dns.Type(t).String()), slog.String("err", err.Error()))
			continue
		}
		for _, rr := range res.answer {
			if a, ok := addrOf(rr); ok {
				zs.add(st.r, a)
			}
		}
	}
	return nil
}

// ask sends one query to one server, with the EDNS and TCP fallbacks on that
// server, and returns the classified response. Its error is fatal to the
// resolution; a server's failure is a reply.
func (st *state) ask(ctx context.Context, zone string, addr netip.Addr, name string, qtype uint16) (*reply, error) {
	r := st.r
	edns := !r.infra.noEDNS(addr, r.clock.Now())
	droppedEDNS := false
	tcp := false
	server := netip.AddrPortFrom(addr, r.cfg.Port)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		if st.queries >= r.cfg.MaxUpstreamQueries {
			r.stats.budget.Add(1)
			return nil, fmt.Errorf("%w (%d queries)", ErrBudgetExhausted, r.cfg.MaxUpstreamQueries)
		}
		st.queries++
		q := r.newQuery(name, qtype, edns)
		if r.log.Enabled(ctx, slog.LevelDebug) {
			r.log.LogAttrs(ctx, slog.LevelDebug, "upstream query", slog.String("server", server.String()),
				slog.String("zone", zone), slog.String("qname", name), slog.String("qtype", dns.Type(qtype).String()),
				slog.Bool("tcp", tcp), slog.Bool("edns", edns))
		}
		tctx, cancel := context.WithTimeout(ctx, r.infra.tryTimeout(addr, r.clock.Now(), r.cfg.MinTryTimeout, r.cfg.MaxTryTimeout))
		start := r.clock.Now()
		ex, joined := r.exchange(tctx, server, q, tcp)
		end := r.clock.Now()
		cancel()
		if ex.err != nil {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
			}
			why := ex.err.Error()
			if !joined {
				r.infra.recordTimeout(addr, end)
				if isTimeout(ex.err) {
					r.stats.timeouts.Add(1)
					why = "time-out"
				} else {
					r.stats.netErrors.Add(1)
				}
			}
			return &reply{kind: replyTimeout, why: why}, nil
		}
		if !joined {
			r.infra.recordRTT(addr, end.Sub(start), end)
		}
		p := pending{zone: zone, qname: name, qtype: qtype, qclass: dns.ClassINET, id: ex.query.Id, edns: edns, tcp: tcp}
		rep := r.classify(&p, ex.resp)
		switch {
		case rep.kind == replyTruncated:
			tcp = true
			r.stats.tcpFallbacks.Add(1)
			continue
		case rep.kind == replyFormErr && edns:
			edns, droppedEDNS = false, true
			r.stats.ednsFallbacks.Add(1)
			continue
		}
		if droppedEDNS && rep.kind != replyBad && rep.kind != replyFormErr {
			r.infra.setNoEDNS(addr, end)
		}
		return rep, nil
	}
}

// newQuery builds an upstream query with a random ID from crypto/rand, so
// that an off-path attacker cannot predict it.
func (r *Resolver) newQuery(name string, qtype uint16, edns bool) *dns.Msg {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	q := new(dns.Msg)
	q.Id = binary.BigEndian.Uint16(b[:])
	q.Opcode = dns.OpcodeQuery
	q.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
	if edns {
		q.SetEdns0(r.cfg.EDNSBufferSize, r.cfg.DNSSECOK)
		q.CheckingDisabled = r.cfg.DNSSECOK
	}
	return q
}

type exchangeKey struct {
	server        netip.AddrPort
	name          string
	qtype         uint16
	tcp, edns, do bool
}

type exchangeResult struct {
	query *dns.Msg // the query actually sent, whose ID the response carries
	resp  *dns.Msg
	err   error
}

// exchange sends q, unless an identical query to the same server is in
// flight, in which case it waits for that one's response.
func (r *Resolver) exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (exchangeResult, bool) {
	key := exchangeKey{server: server, name: q.Question[0].Name, qtype: q.Question[0].Qtype,
		tcp: tcp, edns: q.IsEdns0() != nil, do: r.cfg.DNSSECOK}
	ex, err, joined := r.exchanges.do(ctx, key, func() (exchangeResult, error) {
		r.stats.upstream.Add(1)
		resp, err := r.transport.Exchange(ctx, server, q, tcp)
		return exchangeResult{query: q, resp: resp, err: err}, nil
	})
	if joined {
		if err != nil {
			return exchangeResult{err: err}, true
		}
	}
	return ex, joined
}

// store caches what a reply allows.
func (st *state) store(rep *reply) {
	now := st.r.clock.Now()
	for _, s := range rep.sets {
		st.r.cache.StoreRRset(s, now)
	}
	if rep.neg != nil {
		st.r.cache.StoreNegative(*rep.neg, now)
	}
}
