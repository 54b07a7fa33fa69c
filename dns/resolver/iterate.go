package resolver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"

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
	queries int // upstream queries sent, against MaxUpstreamQueries
	// budget, when the caller shares one between its resolutions, is
	// charged every upstream query too (see WithBudget).
	budget *budget
	depth  int      // nesting of name-server address lookups
	active []string // name servers whose addresses are being looked up
	// avoid, in a resolution that retries after a validator found its
	// answer bogus (Retry, Distrust), holds that data, one group of
	// records per failure: cached entries that hold a group again are
	// marked bogus for keep seconds and not used, and a server that sends
	// one again is passed over for this question.
	avoid [][]dns.RR
	keep  uint32
	// checked says the cache was just searched for the query name and
	// type and held nothing for them, so that resolve starts with the
	// network rather than asking the cache the same three questions again
	// (a cold name's lookups were a tenth of its CPU time).
	checked bool
}

// errCacheMiss ends a cache-only resolution that needs the network;
// errCacheMissAtStart says that the cache had nothing for the query name
// itself (no CNAME followed).
var (
	errCacheMiss        = errors.New("cache miss")
	errCacheMissAtStart = fmt.Errorf("%w at the query name", errCacheMiss)
)

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
	var seenBuf [4]string // on the stack: most names have no CNAME
	seen := seenBuf[:0]
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
		if st.checked && links == 0 {
			st.checked = false
		} else if qtype != dns.TypeANY {
			now := r.clock.Now()
			if set, ok := r.cache.LookupRRset(name, qtype, dns.ClassINET, now); ok && answers(&set) && !st.distrusted(name, qtype, false, set.RRs, set.Sigs) {
				answer, ok := res.answer, true
				if cn, isCNAME := set.RRs[0].(*dns.CNAME); isCNAME && len(set.Sigs) == 0 && set.Rank == RankAnswerNonAuth {
					// A CNAME query answered by a CNAME a DNAME made.
					answer, ok = st.appendDNAME(answer, name, cn.Target, now)
				}
				if ok {
					res.answer = append(append(answer, set.RRs...), set.Sigs...)
					return res, nil
				}
			}
			if neg, ok := r.cache.LookupNegative(name, qtype, dns.ClassINET, now); ok && !neg.Bogus && !st.distrusted(name, qtype, true, neg.Authority) {
				res.rcode, res.authority = neg.Rcode, neg.Authority
				return res, nil
			}
			if qtype != dns.TypeCNAME {
				set, ok := r.cache.LookupRRset(name, dns.TypeCNAME, dns.ClassINET, now)
				if ok && set.Rank >= RankAnswerNonAuth && len(set.RRs) > 0 && !st.distrusted(name, dns.TypeCNAME, false, set.RRs, set.Sigs) {
					if cn, isCNAME := set.RRs[0].(*dns.CNAME); isCNAME {
						ok := true
						if len(set.Sigs) == 0 && set.Rank == RankAnswerNonAuth {
							res.answer, ok = st.appendDNAME(res.answer, name, cn.Target, now)
						}
						if ok {
							res.answer = append(append(res.answer, set.RRs...), set.Sigs...)
							links++
							name = lowerASCII(cn.Target)
							continue
						}
					}
				}
			}
			if answer, target, ok := st.dnameFromCache(res.answer, name, now); ok {
				res.answer = answer
				if qtype == dns.TypeCNAME {
					return res, nil // the CNAME the DNAME makes is the answer
				}
				links++
				name = target
				continue
			}
		}
		if cacheOnly {
			if links == 0 {
				return nil, errCacheMissAtStart
			}
			return nil, errCacheMiss
		}
		rep, err := st.iterate(ctx, name, qtype)
		if err != nil {
			return nil, err
		}
		res.answer = append(res.answer, rep.chain...)
		if rep.kind == replyCNAME {
			res.authority = append(res.authority, rep.authority...)
		}
		links += rep.links
		if links > r.cfg.MaxCNAMEChain {
			return nil, fmt.Errorf("%w (more than %d links)", ErrChainTooLong, r.cfg.MaxCNAMEChain)
		}
		switch rep.kind {
		case replyAnswer:
			res.authority = append(res.authority, rep.authority...)
			return res, nil
		case replyNXDomain, replyNoData:
			res.rcode = dns.RcodeSuccess
			if rep.kind == replyNXDomain {
				res.rcode = dns.RcodeNameError
			}
			// The denial first, then the proofs of wildcard
			// expansions on the way, if any.
			if len(res.authority) == 0 {
				res.authority = rep.authority
			} else {
				res.authority = append(append([]dns.RR(nil), rep.authority...), res.authority...)
			}
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

// appendOnce appends a DNAME set and its RRSIGs to answer, unless the
// chain passed that DNAME already (a name redirected below its owner
// again), which then appears once.
func appendOnce(answer []dns.RR, set RRset) []dns.RR {
	for _, rr := range answer {
		if dns.IsDuplicate(rr, set.RRs[0]) {
			return answer
		}
	}
	return append(append(answer, set.RRs...), set.Sigs...)
}

// ownsDNAME reports whether an NSEC record at name in rrs lists a DNAME.
func ownsDNAME(rrs []dns.RR, name string) bool {
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NSEC); ok && equalName(n.Hdr.Name, name) && hasType(n.TypeBitMap, dns.TypeDNAME) {
			return true
		}
	}
	return false
}

// appendDNAME appends to answer the cached DNAME (and its RRSIGs) that
// made the unsigned CNAME from name to target, if there is one. The CNAME
// a DNAME synthesises is cached on its own (at RankAnswerNonAuth, without
// RRSIGs: servers make it unsigned, RFC 6672 section 5.3.1), and an answer
// through it must carry the DNAME as the first answer did: a validator
// judges the CNAME by the DNAME's signature, and a client learns the
// redirection. Only unsigned CNAMEs of that rank pay for the lookups, one
// per label above name. ok is false when the DNAME is one a validator
// found bogus (see Retry): the CNAME made from it is not to be used.
func (st *state) appendDNAME(answer []dns.RR, name, target string, now time.Time) (_ []dns.RR, ok bool) {
	for owner := parentName(name); ; owner = parentName(owner) {
		if set, ok := st.r.cache.LookupRRset(owner, dns.TypeDNAME, dns.ClassINET, now); ok && set.Rank >= RankAnswerNonAuth && len(set.RRs) == 1 {
			if d, ok := set.RRs[0].(*dns.DNAME); ok {
				if t, ok := substituteDNAME(name, d); ok && equalName(t, target) {
					if st.distrusted(owner, dns.TypeDNAME, false, set.RRs, set.Sigs) {
						return answer, false
					}
					return appendOnce(answer, set), true
				}
			}
		}
		if owner == "." {
			return answer, true
		}
	}
}

// ReferralDenial returns the signed NSEC record at name, and its RRSIGs,
// that a referral to name carried (referralNSEC) and the cache still
// holds, when it shows a delegation without DS: the parent's proof that
// the child is unsigned (RFC 4035 section 3.1.4.1). A validator walking
// the chain of trust takes it instead of asking the parent for the DS
// again, as Unbound's validator takes it from the referral; clients asking
// for the DS are answered by the parent, with its SOA. The records are
// copies the caller may keep.
func (r *Resolver) ReferralDenial(name string) ([]dns.RR, bool) {
	name = lowerASCII(dns.Fqdn(name))
	set, ok := r.cache.LookupRRset(name, dns.TypeNSEC, dns.ClassINET, r.clock.Now())
	if !ok || set.Rank < RankAuthority || len(set.Sigs) == 0 || len(set.RRs) != 1 {
		return nil, false
	}
	n, ok := set.RRs[0].(*dns.NSEC)
	if !ok || !hasType(n.TypeBitMap, dns.TypeNS) || hasType(n.TypeBitMap, dns.TypeDS) || hasType(n.TypeBitMap, dns.TypeSOA) {
		return nil, false
	}
	return append(set.RRs, set.Sigs...), true
}

func hasType(bitmap []uint16, t uint16) bool {
	for _, b := range bitmap {
		if b == t {
			return true
		}
	}
	return false
}

// dnameFromCache redirects name through a DNAME cached at one of its
// ancestors (RFC 6672 section 2.2), as a server would: it appends the
// DNAME with its RRSIGs and the CNAME it makes for name (unsigned, with
// the DNAME's TTL) to answer, and returns the CNAME's target, so that a
// name below a DNAME that was learnt once costs no query to the DNAME's
// zone, whose servers would only repeat it (Unbound synthesises the same
// from its cache). Until the resolver has cached a DNAME at all, no
// lookup is made.
func (st *state) dnameFromCache(answer []dns.RR, name string, now time.Time) ([]dns.RR, string, bool) {
	r := st.r
	if !r.sawDNAME.Load() || name == "." {
		return answer, "", false
	}
	for owner := parentName(name); ; owner = parentName(owner) {
		set, ok := r.cache.LookupRRset(owner, dns.TypeDNAME, dns.ClassINET, now)
		if ok && set.Rank >= RankAnswerNonAuth && len(set.RRs) == 1 && !st.distrusted(owner, dns.TypeDNAME, false, set.RRs, set.Sigs) {
			d, isDNAME := set.RRs[0].(*dns.DNAME)
			target, substituted := "", false
			if isDNAME {
				target, substituted = substituteDNAME(name, d)
			}
			if !substituted {
				return answer, "", false
			}
			answer = appendOnce(answer, set)
			answer = append(answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl},
				Target: target,
			})
			return answer, lowerASCII(target), true
		}
		if owner == "." {
			return answer, "", false
		}
	}
}

// answers reports whether a cached set may answer a query for its name
// and type: answer data, or a signed DS set from a referral, which is the
// parent zone's authoritative data (RFC 4035 section 3.1.4: the parent
// sends it with the delegation) and which the validator checks with the
// parent's keys like any other answer; asking the parent again for it
// would only repeat the referral.
func answers(set *RRset) bool {
	return set.Rank >= RankAnswerNonAuth || set.Type == dns.TypeDS && set.Rank >= RankAuthority && len(set.Sigs) > 0
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
			if sendName == qname || fatal(ctx, err) {
				return nil, err
			}
			// Relaxed mode (RFC 9156 section 2.3, as Unbound without
			// qname-minimisation-strict): a minimised query no server
			// answered is asked with the full name, which some servers
			// answer when they drop or garble others.
			r.stats.minFallbacks.Add(1)
			r.log.LogAttrs(ctx, slog.LevelDebug, "qname minimisation fallback after failure",
				slog.String("zone", zs.zone), slog.String("name", sendName), slog.String("qname", qname), slog.String("err", err.Error()))
			minimise = false
			continue
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
		if rep.kind == replyNoData && ownsDNAME(rep.authority, sendName) {
			// The name owns a DNAME (its NSEC says so): every name
			// below it is redirected (RFC 6672 section 2.4), and only
			// the full name shows where to.
			minimise = false
		}
	}
}

// zoneServers are the servers of one zone during one resolution step.
type zoneServers struct {
	zone    string // lowercase
	cands   []candidate
	pending []string // name servers whose addresses are not known yet
	lookups int      // pending names looked up, against MaxGluelessLookups
	tries   int      // queries sent, against MaxZoneTries
	// ttl is the least remaining TTL of the cached address sets
	// serversFor took addresses from (math.MaxUint32 without any).
	ttl uint32
	// parentTried: the parent's servers for the zone (parentSide) were
	// added, once the child's had all failed.
	parentTried bool
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
	zs := &zoneServers{zone: lowerASCII(zone), ttl: math.MaxUint32}
	now := r.clock.Now()
	for i, n := range ns {
		if i >= r.cfg.MaxDelegationNS {
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
			if set, ok := r.cache.LookupRRset(name, t, dns.ClassINET, now); ok && set.Rank != RankBogus {
				zs.ttl = min(zs.ttl, set.ttl())
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
// up now: not nested too deep, and not already being looked up further up
// this resolution (a cycle). A name inside the zone itself is looked up
// too: its glue may have expired before the NS set, and the zone's other
// servers, or a cached CNAME out of the zone, can still tell its address;
// when only the zone's unreachable servers could, the lookup finds no
// server to ask and ends without a query.
func (st *state) canLookup(zs *zoneServers, n string) bool {
	if st.depth >= st.r.cfg.MaxDepth {
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
		if zs, ok := r.delegs.get(n, now); ok {
			if st.usable(zs) {
				return zs, nil
			}
		} else if set, ok := r.cache.LookupRRset(n, dns.TypeNS, dns.ClassINET, now); ok && set.Rank != RankBogus {
			zs := st.serversFor(n, nsRecords(set.RRs), nil)
			if ttl := min(set.ttl(), zs.ttl); ttl > 0 {
				r.delegs.put(zs, nsNames(set.RRs), rememberUntil(now, ttl))
			}
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
	} else if set, ok := r.cache.LookupRRset(".", dns.TypeNS, dns.ClassINET, r.clock.Now()); ok && set.Rank != RankBogus {
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
	_, err, _ := r.primes.doDetached(ctx, struct{}{}, r.inlineUntil(), func() (struct{}, error) {
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
	// maxTriesPerServer counts the tries of one question: the minimised
	// names asked of one zone's servers one after the other are each
	// a question of their own. Servers found lame or broken stay so.
	for i := range zs.cands {
		zs.cands[i].tries = 0
	}
	// The answer of a recursion-lame server, kept in case no other
	// server answers.
	var lastResort *reply
	for {
		i := r.infra.pick(zs.zone, zs.cands, r.clock.Now())
		if i < 0 {
			more, err := st.lookupPending(ctx, zs)
			if err != nil {
				return nil, err
			}
			if more || st.addParentSide(zs) {
				continue
			}
			if lastResort != nil {
				return lastResort, nil
			}
			if last == "" {
				last = "every server lame, failed or without an address"
			}
			return nil, fmt.Errorf("%w for %s (%s %s): last: %s", ErrNoServers, zs.zone, name, dns.Type(qtype), last)
		}
		if zs.tries >= r.cfg.MaxZoneTries {
			r.stats.zoneTriesLimited.Add(1)
			if lastResort != nil {
				return lastResort, nil
			}
			return nil, fmt.Errorf("%w for %s (%s %s): %d queries to its servers: last: %s", ErrNoServers, zs.zone, name, dns.Type(qtype), zs.tries, last)
		}
		zs.tries++
		cd := &zs.cands[i]
		cd.tries++
		rep, err := st.ask(ctx, zs.zone, cd.addr, name, qtype)
		if err != nil {
			return nil, err
		}
		if st.repeatsBogus(rep) {
			// The data a validator found bogus, again: another server
			// of the zone may have the genuine data. Should none, the
			// reply goes back as it is, for the validator to judge,
			// but is not cached again.
			r.stats.bogusRepeats.Add(1)
			rep.repeat = true
			cd.bad = true
			last = cd.addr.String() + ": sent data that failed validation again"
			if lastResort == nil {
				lastResort = rep
			}
			continue
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
			if rep.recLame {
				cd.bad = true
				r.stats.lame.Add(1)
				last = cd.addr.String() + ": lame: recursion available and no AA"
				r.log.LogAttrs(ctx, slog.LevelDebug, "recursion-lame server, its answer kept as the last resort",
					slog.String("server", cd.addr.String()), slog.String("zone", zs.zone))
				if lastResort == nil {
					lastResort = rep
				}
				continue
			}
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
		if zs.lookups >= st.r.cfg.MaxGluelessLookups {
			// NXNS: a referral to many names without glue would otherwise
			// make every one of them a resolution of its own.
			st.r.stats.gluelessLimited.Add(1)
			zs.pending = nil
			return false, nil
		}
		zs.lookups++
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

// ask sends one query to one server, with the EDNS, cookie and TCP fallbacks
// on that server, and returns the classified response. Its error is fatal to
// the resolution; a server's failure is a reply.
//
// Before the acceptance rules see a response, ask matches it to the query
// (RFC 5452 §9): ID, question, the 0x20 case of the name and the client
// cookie. Over UDP a response that fails any of these is a near miss: it is
// counted, the name comes under suspicion and the query is asked again over
// TCP, which an off-path attacker cannot answer. Over TCP the same failures
// say something true about the server: a name in the wrong case means that
// it does not preserve case (0x20 goes off for it, for a while), a missing
// cookie that it stopped sending them.
func (st *state) ask(ctx context.Context, zone string, addr netip.Addr, name string, qtype uint16) (*reply, error) {
	r := st.r
	now := r.clock.Now()
	hs := r.infra.queryState(addr, now)
	edns := !hs.noEDNS
	droppedEDNS, badCookieRetried, retry := false, false, false
	// A name under attack is asked over TCP only, for as long as the
	// suspicion lasts.
	tcp := r.suspects.has(name, now)
	server := netip.AddrPortFrom(addr, r.cfg.Port)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		if st.queries >= r.cfg.MaxUpstreamQueries || st.budget != nil && !st.budget.take() {
			r.stats.budget.Add(1)
			return nil, fmt.Errorf("%w (%d queries)", ErrBudgetExhausted, r.cfg.MaxUpstreamQueries)
		}
		st.queries++
		if retry {
			// What the last response taught is in the infra cache now.
			hs = r.infra.queryState(addr, r.clock.Now())
		}
		retry = true
		checkCase := !r.cfg.Disable0x20 && !hs.noCase
		sendName := name
		if checkCase {
			sendName = randomiseCase(name)
		}
		var cookie *dns.EDNS0_COOKIE
		if edns && !r.cfg.DisableCookies {
			cookie = cookieOption(r.clientCookie(r.sourceAddr(addr), addr), hs.cookie[:hs.cookieLen])
		}
		q := r.newQuery(sendName, qtype, edns, cookie)
		if r.log.Enabled(ctx, slog.LevelDebug) {
			r.log.LogAttrs(ctx, slog.LevelDebug, "upstream query", slog.String("server", server.String()),
				slog.String("zone", zone), slog.String("qname", sendName), slog.String("qtype", dns.Type(qtype).String()),
				slog.Bool("tcp", tcp), slog.Bool("edns", edns))
		}
		tctx := withTryDeadline(ctx, time.Now().Add(min(max(hs.rto, r.cfg.MinTryTimeout), r.cfg.MaxTryTimeout)))
		start := r.clock.Now()
		ex, joined := r.exchange(tctx, zone, server, name, q, tcp)
		end := r.clock.Now()
		if errors.Is(ex.err, ErrZoneFetchLimit) {
			return nil, ex.err // the resolver's own bound, no fault of the server
		}
		if ex.err != nil {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
			}
			var se *SpoofError
			if errors.As(ex.err, &se) && !tcp {
				r.nearMiss(ctx, addr, name, qtype, se.Reason, end)
				tcp = true
				continue
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
		why, serverCookie := r.match(ex.query, ex.resp, checkCase, hs.cookieLen > 0)
		if why != SpoofNone {
			if !tcp {
				r.nearMiss(ctx, addr, name, qtype, why, end)
				tcp = true
				continue
			}
			switch why {
			case SpoofCase:
				// Only the server can have sent this.
				r.infra.setNoCase(addr, end)
				r.stats.caseFallbacks.Add(1)
				r.log.LogAttrs(ctx, slog.LevelInfo, "server does not preserve case, 0x20 off for a while",
					slog.String("server", server.String()), slog.String("qname", name))
			case SpoofNoCookie:
				r.infra.setCookie(addr, nil, end)
			case SpoofCookie:
				return badReply("client cookie mismatch over TCP"), nil
			}
		}
		if serverCookie != nil {
			r.infra.setCookie(addr, serverCookie, end)
		}
		if ex.resp.Rcode == dns.RcodeBadCookie && !badCookieRetried {
			// RFC 7873 §5.3: the server wants a fresh server cookie, which
			// it sent; one retry with it, then TCP.
			badCookieRetried = true
			if serverCookie == nil {
				tcp = true
			}
			continue
		}
		p := pending{zone: zone, qname: name, qtype: qtype, qclass: dns.ClassINET, id: ex.query.Id, edns: edns, tcp: tcp, now: end}
		rep := r.classify(&p, ex.resp)
		rep.udp = !tcp
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

// match checks that resp answers query: ID, question, and when checkCase the
// exact case of the name; and the client cookie if the query carried one.
// It returns the near-miss reason, or SpoofNone and the server cookie to
// remember.
func (r *Resolver) match(query, resp *dns.Msg, checkCase, cookieServer bool) (SpoofReason, []byte) {
	if resp.Id != query.Id {
		return SpoofID, nil
	}
	// The question is required on every response, FORMERR too.
	if len(resp.Question) != 1 {
		return SpoofQuestion, nil
	}
	q, rq := query.Question[0], resp.Question[0]
	if !equalName(q.Name, rq.Name) || q.Qtype != rq.Qtype || q.Qclass != rq.Qclass {
		return SpoofQuestion, nil
	}
	if checkCase && q.Name != rq.Name {
		return SpoofCase, nil
	}
	if c, ok := queryCookie(query); ok {
		server, why := checkCookie(resp, c, cookieServer)
		return why, server
	}
	return SpoofNone, nil
}

// queryCookie returns the client cookie a query carries.
func queryCookie(q *dns.Msg) ([clientCookieLen]byte, bool) {
	var out [clientCookieLen]byte
	if opt := q.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if c, ok := o.(*dns.EDNS0_COOKIE); ok && len(c.Cookie) >= 2*clientCookieLen {
				if _, err := hex.Decode(out[:], []byte(c.Cookie[:2*clientCookieLen])); err == nil {
					return out, true
				}
			}
		}
	}
	return out, false
}

// nearMiss counts a near miss and puts name under suspicion. The warning is
// logged once per name and hold-down period, and at most maxWarnsPerSecond
// times a second overall, so that a hostile server answering every query
// with a near miss cannot flood the log; the rest go to debug.
func (r *Resolver) nearMiss(ctx context.Context, addr netip.Addr, name string, qtype uint16, why SpoofReason, now time.Time) {
	r.stats.spoof[SpoofNone].Add(1)
	r.stats.spoof[why].Add(1)
	r.stats.spoofTCP.Add(1)
	perServer := r.infra.noteNearMiss(addr, now)
	counts, fresh := r.suspects.note(name, why, now)
	level := slog.LevelDebug
	if fresh && r.warns.allow(now) {
		level = slog.LevelWarn
	}
	if !r.log.Enabled(ctx, level) {
		return
	}
	total := uint32(0)
	for _, c := range counts {
		total += c
	}
	r.log.LogAttrs(ctx, level, "spoofed response suspected, asking over TCP",
		slog.String("server", addr.String()), slog.String("qname", name), slog.String("qtype", dns.Type(qtype).String()),
		slog.String("reason", why.String()), slog.Uint64("server_near_misses", perServer),
		slog.Uint64("qname_near_misses", uint64(total)), slog.Uint64("qname_wrong_id", uint64(counts[SpoofID])),
		slog.Uint64("qname_wrong_question", uint64(counts[SpoofQuestion])), slog.Uint64("qname_wrong_case", uint64(counts[SpoofCase])),
		slog.Uint64("qname_bad_cookie", uint64(counts[SpoofCookie]+counts[SpoofNoCookie])),
		slog.Duration("hold_down", r.cfg.SpoofHoldDown))
}

// tryCtx is the context of one upstream try: the resolution's, with the
// try's earlier time-out as its Deadline. Transports take the time-out from
// Deadline (NetTransport sets it on the socket, whose poller times the
// read), so a context timer of its own per try, which cost as much CPU as
// a cache lookup, would time the same thing twice; Done and Err stay the
// resolution's, which end the try early when the resolution's budget runs
// out.
type tryCtx struct {
	context.Context
	deadline time.Time
}

func withTryDeadline(ctx context.Context, d time.Time) context.Context {
	if pd, ok := ctx.Deadline(); ok && !d.Before(pd) {
		return ctx
	}
	return &tryCtx{ctx, d}
}

func (c *tryCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// waitDone is what a wait until ctx's Deadline must watch besides: ctx's
// Done, or nil when nothing but the deadline can end ctx before the wait
// does (a resolution's own budget, internal/deadline's Detached, which is
// cancelled only after its tries return). Not asking for Done spares that
// context its timer.
func waitDone(ctx context.Context) <-chan struct{} {
	if t, ok := ctx.(*tryCtx); ok {
		ctx = t.Context
	}
	if d, ok := ctx.(interface{ EndsOnlyAtDeadline() bool }); ok && d.EndsOnlyAtDeadline() {
		return nil
	}
	return ctx.Done()
}

// newQuery builds an upstream query with a random ID from a CSPRNG seeded by
// crypto/rand, so that an off-path attacker cannot predict it. The message,
// its question, OPT record and cookie option are one allocation
// (upstreamQuery) instead of seven: a cold name costs at least one query.
func (r *Resolver) newQuery(name string, qtype uint16, edns bool, cookie *dns.EDNS0_COOKIE) *dns.Msg {
	u := new(upstreamQuery)
	q := &u.msg
	q.Id = randUint16()
	q.Opcode = dns.OpcodeQuery
	u.question[0] = dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	q.Question = u.question[:]
	if edns {
		// As q.SetEdns0 would set it.
		u.opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}
		u.opt.SetUDPSize(r.cfg.EDNSBufferSize)
		if r.cfg.DNSSECOK {
			u.opt.SetDo()
		}
		u.extra[0] = &u.opt
		q.Extra = u.extra[:]
		q.CheckingDisabled = r.cfg.DNSSECOK
		if cookie != nil {
			u.cookie = *cookie
			u.options[0] = &u.cookie
			u.opt.Option = u.options[:]
		}
	}
	return q
}

// upstreamQuery is what newQuery builds, in one piece.
type upstreamQuery struct {
	msg      dns.Msg
	question [1]dns.Question
	opt      dns.OPT
	extra    [1]dns.RR
	cookie   dns.EDNS0_COOKIE
	options  [1]dns.EDNS0
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
// flight, in which case it waits for that one's response; q goes to a
// server of zone, which FetchesPerZone bounds. name is the
// question's name in lower case: the key must not depend on the 0x20 case.
func (r *Resolver) exchange(ctx context.Context, zone string, server netip.AddrPort, name string, q *dns.Msg, tcp bool) (exchangeResult, bool) {
	key := exchangeKey{server: server, name: name, qtype: q.Question[0].Qtype,
		tcp: tcp, edns: q.IsEdns0() != nil, do: r.cfg.DNSSECOK}
	ex, err, joined := r.exchanges.do(ctx, key, func() (exchangeResult, error) {
		if !r.fetches.acquire(zone) {
			return exchangeResult{query: q, err: ErrZoneFetchLimit}, nil
		}
		defer r.fetches.release(zone)
		r.stats.upstream.Add(1)
		resp, err := r.transport.Exchange(ctx, server, q, tcp)
		if resp != nil {
			// Before the response is shared with identical queries
			// that joined this one: they all sent q.
			caseRestorer{sent: q.Question[0].Name, orig: name}.restoreCase(resp)
		}
		return exchangeResult{query: q, resp: resp, err: err}, nil
	})
	if joined {
		if err != nil {
			return exchangeResult{err: err}, true
		}
	}
	return ex, joined
}

// store caches what a reply allows, and remembers the zone cuts it shows.
func (st *state) store(rep *reply) {
	if rep.repeat {
		return
	}
	r := st.r
	now := r.clock.Now()
	nsRefused := false
	for _, s := range rep.sets {
		if rep.udp && r.suspects.has(s.Name, now) {
			r.stats.spoofNotCached.Add(1)
			continue
		}
		// The glue of an NS set refused is refused with it (sets lists
		// the NS set before its glue).
		if nsRefused && s.Rank == RankAdditional {
			continue
		}
		switch r.admit(&s, now) {
		case admitRefused:
			nsRefused = nsRefused || s.Type == dns.TypeNS
			continue
		case admitUnchanged:
			continue
		}
		stored := r.cache.StoreRRset(s, now)
		if stored && s.Type == dns.TypeNS && (rep.kind == replyReferral || s.Rank == RankAuthority || s.Rank >= RankAnswerNonAuth) {
			r.cuts.add(s.Name, s.ttl(), now)
			if rep.kind == replyReferral && s.Name == rep.zone {
				r.cuts.setReferral(s.Name, referral{ns: rep.ns, glue: rep.glue, sibling: rep.siblingGlue, expires: now.Add(time.Duration(s.ttl()) * time.Second)})
			}
		}
		if stored && s.Type == dns.TypeDNAME && !r.sawDNAME.Load() {
			r.sawDNAME.Store(true)
		}
		// After the store, so that servers remembered from the old sets
		// while it ran are forgotten too.
		switch s.Type {
		case dns.TypeNS:
			r.delegs.nsStored(s.Name, s.RRs, rememberUntil(now, s.ttl()))
		case dns.TypeA, dns.TypeAAAA:
			r.delegs.forgetServer(s.Name)
		}
	}
	if rep.neg != nil && !(rep.udp && r.suspects.has(rep.neg.Name, now)) {
		r.cache.StoreNegative(*rep.neg, now)
	}
}

// admit applies the credibility rules to a set before it is stored, whatever
// the Cache implementation does: a set never replaces an unexpired one of
// higher rank (RFC 2181 §5.4.1), and an NS set or glue never outlives the
// cached set it replaces. The second rule keeps a revoked delegation from
// living on through answers of the child's servers that refresh its NS set or
// its name servers' addresses (ghost domain names, CVE-2012-1033, and the
// Phoenix domain variants): only the parent, asked again after the set
// expired, can renew it; and an authoritative NS set for a zone whose
// delegation is not cached is not stored at all. It may cap the TTLs of s,
// whose records it copies first since the reply's chain shares them.
//
// A set that would be stored as the cache holds it already (the same
// records, rank and signatures, with no more time than the cached set has
// left) is admitUnchanged: the child's NS set and glue that come with every
// answer from a zone's servers would otherwise be stored again for each
// name, and each store of glue would make the resolver forget the zone's
// servers it remembers.
func (r *Resolver) admit(s *RRset, now time.Time) admission {
	if s.Rank >= RankAnswerAuth && s.Type != dns.TypeNS {
		return admitStore // nothing ranks higher, and no delegation data
	}
	oldRank, left, same, ok := r.compareCached(s, now)
	// Data found bogus counts as none: it neither outranks the new set
	// nor shortens its life.
	if !ok || oldRank == RankBogus {
		// The child's own NS set is believed only while the parent's
		// delegation lives; once that expired, only the parent can say
		// the zone still exists. The root has no parent.
		if s.Type == dns.TypeNS && s.Rank >= RankAnswerNonAuth && s.Name != "." {
			r.stats.ttlCaps.Add(1)
			return admitRefused
		}
		return admitStore
	}
	if oldRank > s.Rank {
		r.stats.rankRejected.Add(1)
		return admitRefused
	}
	if s.Type != dns.TypeNS && s.Rank != RankAdditional {
		return admitStore
	}
	if s.ttl() <= left {
		return admitStore
	}
	r.stats.ttlCaps.Add(1)
	if left == 0 {
		return admitRefused
	}
	if oldRank == s.Rank && same {
		return admitUnchanged
	}
	s.RRs = capped(s.RRs, left)
	s.Sigs = capped(s.Sigs, left)
	return admitStore
}

// setComparer is a Cache that compares a set with the cached one without
// decoding it (cache.ResolverView): CompareRRset reports what LookupRRset
// would of the cached set of s's owner, type and class (found, its rank,
// the seconds it has left) and whether it holds exactly s's records and
// signatures, TTLs aside. A Cache without it is asked with LookupRRset.
type setComparer interface {
	CompareRRset(s RRset, now time.Time) (rank Rank, left uint32, same, ok bool)
}

// compareCached is admit's look at the cached set s would replace.
func (r *Resolver) compareCached(s *RRset, now time.Time) (rank Rank, left uint32, same, ok bool) {
	if c, isComparer := r.cache.(setComparer); isComparer {
		return c.CompareRRset(*s, now)
	}
	old, ok := r.cache.LookupRRset(s.Name, s.Type, s.Class, now)
	if !ok || len(old.RRs) == 0 {
		return RankNone, 0, false, false
	}
	return old.Rank, old.ttl(), sameRecords(old.RRs, s.RRs) && sameRecords(old.Sigs, s.Sigs), true
}

// admission is admit's verdict on a set.
type admission uint8

const (
	admitStore     admission = iota // store the set (admit may have capped its TTLs)
	admitRefused                    // the credibility rules keep it out
	admitUnchanged                  // the cache holds it already, as storing it would leave it
)

// sameRecords reports whether a and b hold the same records, TTLs aside
// and in any order (names compared without regard to case, as miekg/dns's
// IsDuplicate does).
func sameRecords(a, b []dns.RR) bool {
	return len(a) == len(b) && within(a, b) && within(b, a)
}

// within reports whether every record of a is in b, TTLs aside.
func within(a, b []dns.RR) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			if dns.IsDuplicate(x, y) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// capped copies rrs with TTLs no larger than ttl.
func capped(rrs []dns.RR, ttl uint32) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		if h := c.Header(); h.Ttl > ttl {
			h.Ttl = ttl
		}
		out[i] = c
	}
	return out
}
