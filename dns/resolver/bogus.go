package resolver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// A validator above the resolver may find that what it answered is bogus:
// a forged response that won its race, a server with broken signatures.
// The resolver cached those records at the rank their section gave them,
// before anyone validated them, so without help they would be the answer,
// and the SERVFAIL, for their whole TTL. Retry and Distrust are that help,
// in the manner of Unbound's validator, which restarts the iterator with
// the offending servers left out and keeps bogus data for val-bogus-ttl:
//   - the cached entries that hold exactly the bogus records are marked
//     (Cache.MarkBogus): below every rank, so that any data replaces them,
//     unused, and gone within a short time however long their TTL;
//   - Retry then resolves the name again, and a server that sends the same
//     bogus records again is passed over for the next one (the last resort
//     when every server does).

// ErrNothingToRetry: Retry found none of the bogus records in the cache
// nor anything to ask again.
var ErrNothingToRetry = errors.New("resolver: nothing to retry")

// maxRepeatCompare bounds the records compared to recognise bogus data
// again; larger groups are never recognised (they are asked for again).
const maxRepeatCompare = 64

// Retry resolves qname, qtype and qclass again after a validator found
// its answer bogus. bogus holds that data, one group of records per
// failure (an RRset with its RRSIGs, or the authority section of a
// negative answer), the latest last. Cached entries along the answer's
// chain that hold exactly one of the groups are marked bogus for keep at
// most (Cache.MarkBogus) and not used; the servers asked are passed over
// when they send one of the groups again, unless no other server answers.
// The response is as Resolve's; the resolution shares the upstream budget
// ctx carries (WithBudget), and does not join resolutions in flight, which
// would hand back the same data.
func (r *Resolver) Retry(ctx context.Context, qname string, qtype, qclass uint16, do bool, bogus [][]dns.RR, keep time.Duration) (*dns.Msg, error) {
	if _, ok := dns.IsDomainName(qname); !ok || qclass != dns.ClassINET || len(bogus) == 0 {
		return r.failure(qname, qtype, qclass, dns.RcodeServerFailure), fmt.Errorf("%w: %s/%s", ErrNothingToRetry, qname, dns.Type(qtype))
	}
	qname = dns.Fqdn(qname)
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		r.stats.overloaded.Add(1)
		return r.failure(qname, qtype, qclass, dns.RcodeServerFailure), fmt.Errorf("%w (%d)", ErrOverloaded, r.cfg.MaxInFlight)
	}
	r.stats.bogusRetries.Add(1)
	wctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	st := &state{r: r, budget: budgetOf(ctx), avoid: bogus, keep: keepSeconds(keep)}
	res, err := st.resolve(wctx, lowerASCII(qname), qtype, false)
	if err != nil {
		r.stats.servfail.Add(1)
		return r.failure(qname, qtype, qclass, dns.RcodeServerFailure), err
	}
	return r.respond(qname, qtype, qclass, res, do), nil
}

// Distrust marks the cached entries along the chain of qname and qtype
// that hold exactly one of the groups of bogus records, as Retry does,
// without asking anything: a validator calls it when it gives up on the
// name, so that the bogus data stops answering within keep, and any
// genuine data that arrives replaces it.
func (r *Resolver) Distrust(qname string, qtype, qclass uint16, bogus [][]dns.RR, keep time.Duration) {
	if _, ok := dns.IsDomainName(qname); !ok || qclass != dns.ClassINET || len(bogus) == 0 {
		return
	}
	st := &state{r: r, avoid: bogus, keep: keepSeconds(keep)}
	_, _ = st.resolve(context.Background(), lowerASCII(dns.Fqdn(qname)), qtype, true)
}

func keepSeconds(d time.Duration) uint32 {
	return uint32(min(max(d/time.Second, 1), 1<<31-1))
}

// distrusted reports whether the records of a cached entry (an RRset of
// name and qtype, or with negative the negative entry of name) repeat one
// of the groups a retry avoids, and marks the entry bogus if so.
func (st *state) distrusted(name string, qtype uint16, negative bool, recs ...[]dns.RR) bool {
	for _, g := range st.avoid {
		if !repeats(g, recs...) {
			continue
		}
		r := st.r
		now := r.clock.Now()
		if r.cache.MarkBogus(name, qtype, dns.ClassINET, negative, st.keep, now) && !negative {
			switch qtype {
			case dns.TypeNS:
				r.delegs.nsStored(name, nil, now)
			case dns.TypeA, dns.TypeAAAA:
				r.delegs.forgetServer(name)
			}
		}
		return true
	}
	return false
}

// repeatsBogus reports whether an upstream reply for the question repeats
// one of the groups a retry avoids.
func (st *state) repeatsBogus(rep *reply) bool {
	if len(st.avoid) == 0 {
		return false
	}
	switch rep.kind {
	case replyAnswer, replyCNAME, replyNXDomain, replyNoData:
	default:
		return false
	}
	for _, g := range st.avoid {
		if repeats(g, rep.chain, rep.authority) {
			return true
		}
	}
	return false
}

// repeats reports whether the records of cand (several slices, read as
// one) hold the group of records g again: for every owner and type of g
// (an RRSIG counting as the type it covers), cand holds the same records,
// no more and no fewer; TTLs do not count. A reply that carries the same
// RRset with other signatures, or a denial with other NSEC records, does
// not repeat it.
func repeats(g []dns.RR, cand ...[]dns.RR) bool {
	if len(g) == 0 || len(g) > maxRepeatCompare {
		return false
	}
	n := 0
	for _, c := range cand {
		n += len(c)
	}
	if n > 4*maxRepeatCompare {
		return false
	}
	for i, rr := range g {
		name, t := repeatKey(rr)
		first := true
		for _, prev := range g[:i] {
			if pn, pt := repeatKey(prev); pt == t && equalName(pn, name) {
				first = false
				break
			}
		}
		if !first {
			continue // this owner and type was compared already
		}
		inG, inCand := 0, 0
		for _, x := range g {
			if xn, xt := repeatKey(x); xt == t && equalName(xn, name) {
				inG++
				if !holds(cand, x) {
					return false
				}
			}
		}
		for _, c := range cand {
			for _, x := range c {
				if xn, xt := repeatKey(x); xt == t && equalName(xn, name) {
					inCand++
				}
			}
		}
		if inG != inCand {
			return false
		}
	}
	return true
}

// repeatKey is the owner and type a record belongs to for repeats.
func repeatKey(rr dns.RR) (string, uint16) {
	if s, ok := rr.(*dns.RRSIG); ok {
		return s.Hdr.Name, s.TypeCovered
	}
	h := rr.Header()
	return h.Name, h.Rrtype
}

// holds reports whether cand holds rr, TTL aside.
func holds(cand [][]dns.RR, rr dns.RR) bool {
	for _, c := range cand {
		for _, x := range c {
			if dns.IsDuplicate(x, rr) {
				return true
			}
		}
	}
	return false
}
