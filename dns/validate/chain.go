package validate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// query is the state of one client query's validation: its budget of
// signature checks (KeyTrap) and of fetches, and the clock reading the key
// cache is judged by. It is used by one goroutine.
type query struct {
	r       *Resolver
	ctx     context.Context
	budget  *dnssec.Budget // &work
	work    dnssec.Budget
	now     time.Time
	fetches int
	limited bool
	// blamed is the data the last validation found bogus (see blame);
	// retries counts the tries again, against Config.MaxRetries.
	blamed  []dns.RR
	retries int
}

func (r *Resolver) newQuery(ctx context.Context) *query {
	q := &query{r: r, ctx: ctx, now: r.cfg.Clock.Now()}
	r.v.InitBudget(&q.work)
	q.budget = &q.work
	return q
}

var errFetchLimit = errors.New("validate: fetch limit reached")

func (q *query) noteLimited() {
	if !q.limited {
		q.limited = true
		q.r.stats.fetchLimited.Add(1)
	}
}

// fetch asks the inner resolver for name/qtype with DO, within the
// query's fetch budget. A response that is neither NOERROR nor NXDOMAIN is
// an error: it proves nothing.
func (q *query) fetch(name string, qtype uint16) (*dns.Msg, error) {
	if q.fetches >= q.r.cfg.MaxFetches {
		q.noteLimited()
		return nil, fmt.Errorf("%w (%d)", errFetchLimit, q.r.cfg.MaxFetches)
	}
	q.fetches++
	q.r.stats.fetches.Add(1)
	m, err := q.r.inner.Resolve(q.ctx, name, qtype, dns.ClassINET, true)
	switch {
	case err != nil:
		return nil, err
	case m == nil:
		return nil, errors.New("inner resolver returned no response")
	case m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError:
		return nil, fmt.Errorf("%s", dns.RcodeToString[m.Rcode])
	}
	return m, nil
}

func bogus(ede uint16, format string, args ...any) dnssec.Result {
	return dnssec.Result{Status: dnssec.Bogus, EDE: ede, Reason: fmt.Sprintf(format, args...)}
}

// expiry turns a result's TTL in seconds into the key cache's deadline.
func (q *query) expiry(ttl uint32) time.Time {
	return q.now.Add(min(time.Duration(ttl)*time.Second, q.r.cfg.MaxKeyTTL))
}

// failed makes the link for a DS or DNSKEY RRset that did not validate.
func (q *query) failed(r dnssec.Result) link {
	if r.Status == dnssec.Insecure {
		return link{kind: zoneInsecure, result: r, expires: q.expiry(r.TTL)}
	}
	if r.Status != dnssec.Bogus {
		r = bogus(dnssec.EDEBogus, "%s", r.Reason)
	}
	return link{kind: zoneBogus, result: r, expires: q.now.Add(q.r.cfg.BogusTTL)}
}

// store caches what the walk learnt, unless it says more about this query
// than about the zone: a failure because this query's budget ran out.
func (q *query) store(name string, l link) {
	if l.kind == 0 || l.kind == zoneBogus && (q.r.cfg.BogusTTL < 0 || q.budget.Exhausted()) {
		return
	}
	q.r.keys.put(name, l, q.now)
}

// chain is where a walk towards a name ended.
type chain struct {
	// status Secure: keys are the validated keys of zone, the deepest zone
	// at or above the target. Otherwise result says why the chain stopped.
	status dnssec.Status
	zone   string
	keys   dnssec.KeySet
	result dnssec.Result
}

// walk follows the chain of trust from the closest trust anchor of target
// (canonical) down towards it, one label at a time, and returns the
// deepest secure zone at or above target, or where the chain stops being
// secure. Every step is cached, so a warm walk costs map lookups.
func (q *query) walk(target string) chain {
	anchor, ok := q.r.v.ClosestAnchor(target)
	if !ok {
		return chain{status: dnssec.Indeterminate, result: dnssec.Result{Status: dnssec.Indeterminate, EDE: dnssec.EDEIndeterminate, Reason: "no trust anchor covers " + target}}
	}
	anchor = canonicalName(anchor)
	l, ok := q.r.keys.get(anchor, q.now)
	if !ok {
		l = q.anchorKeys(anchor)
		q.store(anchor, l)
	}
	zone, keys := anchor, l.keys
	if c, stop := stopAt(anchor, l); stop {
		return c
	}
	depth := 0
	for pos := anchor; pos != target; {
		child := labelBelow(target, pos)
		l, ok := q.r.keys.get(child, q.now)
		if !ok {
			l = q.probe(child, keys)
			q.store(child, l)
		}
		switch l.kind {
		case zoneSecure:
			if depth++; depth > q.r.cfg.MaxChainDepth {
				q.noteLimited()
				return chain{status: dnssec.Bogus, zone: child, result: bogus(dnssec.EDEBogus, "chain of trust to %s crosses more than %d zone cuts", target, q.r.cfg.MaxChainDepth)}
			}
			zone, keys = child, l.keys
		case notACut:
		case nonexistent:
			return chain{status: dnssec.Secure, zone: zone, keys: keys}
		default:
			c, _ := stopAt(child, l)
			return c
		}
		pos = child
	}
	return chain{status: dnssec.Secure, zone: zone, keys: keys}
}

// stopAt reports whether the walk ends at a link that is not a secure zone.
func stopAt(name string, l link) (chain, bool) {
	switch l.kind {
	case zoneSecure:
		return chain{status: dnssec.Secure, zone: name, keys: l.keys}, false
	case zoneInsecure:
		return chain{status: dnssec.Insecure, zone: name, result: l.result}, true
	}
	r := l.result
	if r.Status != dnssec.Bogus {
		r = bogus(dnssec.EDEBogus, "chain of trust broken at %s: %s", name, r.Reason)
	}
	return chain{status: dnssec.Bogus, zone: name, result: r}, true
}

// labelBelow returns the name one label longer than pos on the way down to
// target, which pos encloses.
func labelBelow(target, pos string) string {
	n := dns.CountLabel(target) - dns.CountLabel(pos)
	if n <= 0 {
		return target
	}
	idx := dns.Split(target)
	return target[idx[n-1]:]
}

// anchorKeys fetches and validates the DNSKEY RRset of a trust anchor's
// zone.
func (q *query) anchorKeys(zone string) link {
	m, err := q.fetch(zone, dns.TypeDNSKEY)
	if err != nil {
		return link{result: bogus(dnssec.EDEDNSKEYMissing, "DNSKEY of trust anchor %s: %v", zone, err)}
	}
	ks, r := q.zoneKeys(zone, m, nil)
	if r.Status != dnssec.Secure {
		return q.failed(r)
	}
	return link{kind: zoneSecure, keys: ks, expires: q.expiry(r.TTL)}
}

// zoneKeys validates zone's DNSKEY RRset in m against ds (the anchor when
// empty), and asks for it again (see again) when it is Bogus.
func (q *query) zoneKeys(zone string, m *dns.Msg, ds []dns.RR) (dnssec.KeySet, dnssec.Result) {
	var ks dnssec.KeySet
	judge := func(m *dns.Msg) dnssec.Result {
		var r dnssec.Result
		keys := rrsOf(m.Answer, zone, dns.TypeDNSKEY)
		ks, r = q.r.v.VerifyDNSKEY(zone, keys, m.Answer, ds, q.budget)
		if r.Status == dnssec.Bogus && len(keys) > 0 {
			q.blame(append(keys, sigsOf(m.Answer, zone, dns.TypeDNSKEY)...))
		}
		return r
	}
	r := judge(m)
	if r.Status == dnssec.Bogus {
		_, r = q.again(zone, dns.TypeDNSKEY, m, r, judge)
	}
	return ks, r
}

// probe finds out what child is, from the DS query to its parent zone,
// whose validated keys are keys: a secure zone cut (then its DNSKEY RRset
// is fetched and validated), an insecure delegation, a name inside the
// parent's zone, or no name at all. A link of kind 0 is a failure to
// fetch, which is not cached. Data that fails validation is asked for
// again (see again) before the link is Bogus.
func (q *query) probe(child string, keys dnssec.KeySet) link {
	// The referral to child, or the parent's cached denials (RFC 8198),
	// may show already that child has no DS: no query then. A referral's
	// proof that does not hold is passed over for the parent's answer.
	if m, ok := q.referralDenial(child); ok {
		if l := q.judgeDS(child, keys, m); l.kind != 0 && l.kind != zoneBogus {
			return l
		}
		q.blamed = nil
	}
	m, ok := q.synthesize(child, dns.TypeDS)
	if !ok {
		var err error
		if m, err = q.fetch(child, dns.TypeDS); err != nil {
			return link{result: bogus(dnssec.EDEBogus, "DS of %s: %v", child, err)}
		}
	}
	var l link
	judge := func(m *dns.Msg) dnssec.Result {
		l = q.judgeDS(child, keys, m)
		if l.kind == 0 || l.kind == zoneBogus {
			return l.result
		}
		return dnssec.Result{Status: dnssec.Secure}
	}
	if r := judge(m); r.Status == dnssec.Bogus {
		q.again(child, dns.TypeDS, m, r, judge)
	}
	return l
}

// ReferralDenials is an Inner that keeps the signed NSEC record a
// referral to an unsigned delegation carried (the parent's proof that the
// child has no DS, RFC 4035 section 3.1.4.1), so that the chain walk
// needs no DS query for the child, as Unbound's validator takes the proof
// from the referral. dns/resolver's Resolver is one.
type ReferralDenials interface {
	ReferralDenial(child string) ([]dns.RR, bool)
}

// referralDenial makes the NODATA response for child's DS out of the
// referral's proof the inner resolver kept, if it did.
func (q *query) referralDenial(child string) (*dns.Msg, bool) {
	rd, ok := q.r.inner.(ReferralDenials)
	if !ok {
		return nil, false
	}
	auth, ok := rd.ReferralDenial(child)
	if !ok {
		return nil, false
	}
	m := failure(child, dns.TypeDS, dns.ClassINET, dns.RcodeSuccess)
	m.Ns = auth
	return m, true
}

// judgeDS is probe's judgement of one response to the DS query for child.
func (q *query) judgeDS(child string, keys dnssec.KeySet, m *dns.Msg) link {
	v, b := q.r.v, q.budget
	// Below a DNAME no name of the zone exists (RFC 6672 section 2.4):
	// the inner resolver redirected the query, and child is no cut.
	for _, rr := range m.Answer {
		d, ok := rr.(*dns.DNAME)
		if !ok || !dns.IsSubDomain(d.Hdr.Name, child) || equalName(d.Hdr.Name, child) || !dns.IsSubDomain(keys.Zone(), d.Hdr.Name) {
			continue
		}
		dn := rrsOf(m.Answer, d.Hdr.Name, dns.TypeDNAME)
		r := v.VerifyRRset(dn, m.Answer, keys, b)
		if r.Status != dnssec.Secure {
			if r.Status == dnssec.Bogus {
				q.blame(append(dn, sigsOf(m.Answer, d.Hdr.Name, dns.TypeDNAME)...))
			}
			return q.failed(r)
		}
		return link{kind: notACut, expires: q.expiry(r.TTL)}
	}
	// A CNAME owner cannot be a zone cut (RFC 2181 section 10.1); the
	// inner resolver followed it, so the rest of the answer is about
	// another name.
	if cn := rrsOf(m.Answer, child, dns.TypeCNAME); len(cn) > 0 {
		r := v.VerifyRRset(cn, m.Answer, keys, b)
		if r.Status != dnssec.Secure || r.Wildcard != "" {
			if r.Status == dnssec.Bogus {
				q.blame(append(cn, sigsOf(m.Answer, child, dns.TypeCNAME)...))
			}
			return q.failed(r)
		}
		return link{kind: notACut, expires: q.expiry(r.TTL)}
	}
	if m.Rcode == dns.RcodeNameError {
		r := v.ProveNXDOMAIN(child, m.Ns, keys, b)
		if r.Status == dnssec.Bogus {
			// Some servers answer NXDOMAIN for an empty non-terminal;
			// when the NSEC records show one (a name below child
			// exists), child has no DS and is no cut all the same.
			if nr := v.ProveNODATA(child, dns.TypeDS, m.Ns, keys, b); nr.Status == dnssec.Secure {
				return link{kind: notACut, expires: q.expiry(nr.TTL)}
			}
		}
		if r.Status != dnssec.Secure {
			if r.Status == dnssec.Bogus {
				q.blame(append([]dns.RR(nil), m.Ns...))
			}
			return q.failed(r)
		}
		q.learn(keys.Zone(), m.Ns, nil, r.TTL)
		return link{kind: nonexistent, expires: q.expiry(r.TTL)}
	}
	if ds := rrsOf(m.Answer, child, dns.TypeDS); len(ds) > 0 {
		r := v.VerifyRRset(ds, m.Answer, keys, b)
		if r.Status != dnssec.Secure {
			if r.Status == dnssec.Bogus {
				q.blame(append(ds, sigsOf(m.Answer, child, dns.TypeDS)...))
			}
			return q.failed(r)
		}
		if r.Wildcard != "" {
			return q.failed(bogus(dnssec.EDEBogus, "DS of %s was synthesised from wildcard %s", child, r.Wildcard))
		}
		km, err := q.fetch(child, dns.TypeDNSKEY)
		if err != nil {
			return link{result: bogus(dnssec.EDEDNSKEYMissing, "DNSKEY of %s: %v", child, err)}
		}
		ks, kr := q.zoneKeys(child, km, ds)
		switch kr.Status {
		case dnssec.Secure:
			return link{kind: zoneSecure, keys: ks, expires: q.expiry(min(r.TTL, kr.TTL))}
		case dnssec.Insecure:
			// Only algorithms or digests this validator cannot use: the
			// zone counts as unsigned (RFC 4035 section 5.2).
			kr.TTL = min(kr.TTL, r.TTL)
			return q.failed(kr)
		}
		return q.failed(kr)
	}
	// NODATA: child has no DS. Either it is a delegation, and the chain
	// goes insecure, or a name inside the parent's zone. The NSEC at
	// child, when there is one, tells which proof to try; NSEC3 owners
	// are hashed, so then both may be needed.
	found, hasNS := nsecAt(m.Ns, child)
	if !found || hasNS {
		r := v.ProveInsecureDelegation(child, m.Ns, keys, b)
		if r.Status == dnssec.Insecure {
			if !r.OptOut && r.EDE == 0 {
				q.learn(keys.Zone(), m.Ns, nil, r.TTL)
			}
			return link{kind: zoneInsecure, result: r, expires: q.expiry(r.TTL)}
		}
		if found {
			if r.Status == dnssec.Bogus {
				q.blame(append([]dns.RR(nil), m.Ns...))
			}
			return q.failed(r)
		}
	}
	r := v.ProveNODATA(child, dns.TypeDS, m.Ns, keys, b)
	switch r.Status {
	case dnssec.Secure:
		q.learn(keys.Zone(), m.Ns, nil, r.TTL)
		return link{kind: notACut, expires: q.expiry(r.TTL)}
	case dnssec.Insecure:
		// An Opt-Out span: an unsigned delegation may sit there.
		return link{kind: zoneInsecure, result: r, expires: q.expiry(r.TTL)}
	case dnssec.Bogus:
		q.blame(append([]dns.RR(nil), m.Ns...))
	}
	return q.failed(r)
}

// nsecAt looks for an NSEC record owned by name in rrs and whether its
// type bitmap has NS.
func nsecAt(rrs []dns.RR, name string) (found, hasNS bool) {
	for _, rr := range rrs {
		n, ok := rr.(*dns.NSEC)
		if !ok || !equalName(n.Hdr.Name, name) {
			continue
		}
		for _, t := range n.TypeBitMap {
			if t == dns.TypeNS {
				return true, true
			}
		}
		return true, false
	}
	return false, false
}

// rrsOf returns the records of rrs with the given owner and type, class IN.
func rrsOf(rrs []dns.RR, owner string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == t && h.Class == dns.ClassINET && equalName(h.Name, owner) {
			out = append(out, rr)
		}
	}
	return out
}

// equalName compares domain names ASCII-case-insensitively, without
// allocating.
func equalName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func parentName(name string) string {
	if name == "." {
		return "."
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}
