package dnssec

import (
	"crypto/sha1"
	"fmt"
	"strconv"

	"github.com/miekg/dns"
)

// maxDenialRecords bounds the NSEC or NSEC3 records one proof considers.
// The largest honest proof, an NSEC3 closest-encloser proof with wildcard
// denial, uses three; a response carrying more for one zone is refused
// before any of them costs a signature check.
const maxDenialRecords = 8

// denial holds the NSEC or NSEC3 records of one zone that a proof may
// use, each already checked against the zone's keys (or, for Synthesize,
// taken from the cache as validated before). It lives on the stack.
type denial struct {
	zone  name
	nsec  [maxDenialRecords]*dns.NSEC
	nn    int
	nsec3 [maxDenialRecords]nsec3Record
	n3    int
	ttl   uint32
	// maxIterations is the largest NSEC3 iteration count among the
	// records, checked against the limits before anything is hashed.
	maxIterations int
	params        [maxDenialRecords]nsec3Params
	np            int
}

type nsec3Record struct {
	rr    *dns.NSEC3
	owner [sha1.Size]byte
	next  [sha1.Size]byte
	param int // index into denial.params
}

type nsec3Params struct {
	iterations uint16
	salt       [255]byte
	saltLen    int
}

// collect gathers the NSEC and NSEC3 records of authority that belong to
// the zone of keys and checks each one's signature; everything else in
// authority (SOA, RRSIGs, records of other zones) is passed over. Like
// Unbound, it requires every such record to validate, not only the ones
// a proof ends up using: a response with a forged denial record is Bogus.
// verify is false for Synthesize, whose records were validated when they
// were cached.
func (c *call) collect(d *denial, authority []dns.RR, ks *KeySet, verify bool) (Result, bool) {
	if verify {
		switch ks.status {
		case Secure:
		case Insecure:
			return ks.why, false
		default:
			return bogus(EDEDNSKEYMissing, "no validated DNSKEY RRset to check the denial with"), false
		}
	}
	if !d.zone.parse(ks.zone) {
		return bogus(EDEBogus, fmt.Sprintf("malformed zone name %q", ks.zone)), false
	}
	// First the form of every record, so that a response with too many
	// costs no signature check at all; then the signatures.
	var idx [maxDenialRecords]int
	for i, rr := range authority {
		if rr == nil {
			continue
		}
		h := rr.Header()
		if h.Rrtype != dns.TypeNSEC && h.Rrtype != dns.TypeNSEC3 {
			continue
		}
		var owner name
		if !owner.parse(h.Name) || !isSubdomain(&owner, &d.zone) {
			continue
		}
		before := d.nn + d.n3
		if r, ok := c.admit(d, rr, &owner); !ok {
			return r, false
		}
		if n := d.nn + d.n3; n > maxDenialRecords {
			return bogus(EDEBogus, fmt.Sprintf("more than %d NSEC/NSEC3 records for %s in one response", maxDenialRecords, d.zone.String())), false
		} else if n > before {
			idx[before] = i
		}
	}
	for k, i := range idx[:d.nn+d.n3] {
		h := authority[i].Header()
		ttl := h.Ttl
		if verify {
			r := c.verifySet(authority[i:i+1], authority, &d.zone, ks.keys, false)
			if r.Status != Secure {
				return r, false
			}
			if r.Wildcard != "" {
				return bogus(EDEBogus, fmt.Sprintf("%s/%s was synthesised from wildcard %s and proves nothing", h.Name, dns.Type(h.Rrtype), r.Wildcard)), false
			}
			ttl = min(ttl, r.TTL)
		}
		if k == 0 || ttl < d.ttl {
			d.ttl = ttl
		}
	}
	return Result{}, true
}

// admit checks one record's form and adds it. NSEC3 records that RFC
// 5155 section 8.1 and 8.2 tell validators to ignore (unknown hash
// algorithm, unknown flags) are left out without failing; so are NSEC3
// records whose owner is not <hash>.<zone>, which cannot belong to the
// zone's chain. An NSEC whose next name leaves the zone is refused: it
// would claim a span of someone else's namespace.
func (c *call) admit(d *denial, rr dns.RR, owner *name) (Result, bool) {
	switch rr := rr.(type) {
	case *dns.NSEC:
		var next name
		if !next.parse(rr.NextDomain) || !isSubdomain(&next, &d.zone) {
			return bogus(EDEBogus, fmt.Sprintf("NSEC at %s has next name %s outside zone %s", rr.Hdr.Name, rr.NextDomain, d.zone.String())), false
		}
		if canonicalCompare(owner, &next) >= 0 && !nameEqual(&next, &d.zone) {
			return bogus(EDEBogus, fmt.Sprintf("NSEC at %s has next name %s before it, and not the apex", rr.Hdr.Name, rr.NextDomain)), false
		}
		if d.nn < maxDenialRecords {
			d.nsec[d.nn] = rr
		}
		d.nn++
	case *dns.NSEC3:
		if rr.Hash != dns.SHA1 || rr.Flags > 1 || int(owner.nl) != int(d.zone.nl)+1 {
			return Result{}, true
		}
		var n nsec3Record
		if k, ok := decodeBase32Hex(n.owner[:], owner.label(0)); !ok || k != sha1.Size {
			return Result{}, true
		}
		if k, ok := decodeBase32Hex(n.next[:], rr.NextDomain); !ok || k != sha1.Size {
			return Result{}, true
		}
		var p nsec3Params
		var ok bool
		if p.saltLen, ok = decodeHex(p.salt[:], rr.Salt); !ok {
			return Result{}, true
		}
		p.iterations = rr.Iterations
		n.rr = rr
		n.param = -1
		for i := 0; i < d.np; i++ {
			q := &d.params[i]
			if q.iterations == p.iterations && q.saltLen == p.saltLen && q.salt == p.salt {
				n.param = i
				break
			}
		}
		if d.n3 < maxDenialRecords {
			if n.param < 0 {
				n.param = d.np
				d.params[d.np] = p
				d.np++
			}
			d.nsec3[d.n3] = n
		}
		d.n3++
		d.maxIterations = max(d.maxIterations, int(rr.Iterations))
	}
	return Result{}, true
}

// iterationsAllowed applies RFC 9276 section 3.2 once the NSEC3 records'
// signatures have been checked: above the limit the proof is Insecure,
// above the hard maximum Bogus, both with EDE 27, and nothing is hashed.
func (c *call) iterationsAllowed(d *denial) (Result, bool) {
	switch {
	case d.maxIterations > c.v.limits.NSEC3MaxIterations:
		return bogus(EDEUnsupportedNSEC3Iterations, fmt.Sprintf("NSEC3 of %s use %d iterations, above the maximum of %d", d.zone.String(), d.maxIterations, c.v.limits.NSEC3MaxIterations)), false
	case d.maxIterations > c.v.limits.NSEC3Iterations:
		r := insecure(EDEUnsupportedNSEC3Iterations, fmt.Sprintf("NSEC3 of %s use %d iterations, above the limit of %d", d.zone.String(), d.maxIterations, c.v.limits.NSEC3Iterations))
		r.TTL = d.ttl
		return r, false
	}
	return Result{}, true
}

// proof says what is being proven, for reasons.
type proof struct {
	what  string // "NXDOMAIN", "NODATA", ...
	qname string
	qtype uint16
}

func (p proof) String() string {
	s := p.what + " for " + p.qname
	if p.what == "NODATA" {
		s += "/" + dns.Type(p.qtype).String()
	}
	return s
}

func (p proof) fail(d *denial, why string) Result {
	if d.nn == 0 && d.n3 == 0 {
		return bogus(EDENSECMissing, fmt.Sprintf("no NSEC or NSEC3 records of %s to prove %s", d.zone.String(), p))
	}
	return bogus(EDEBogus, p.String()+": "+why)
}

// invalid reports a request that cannot hold whatever the records say.
func (p proof) invalid(why string) Result { return bogus(EDEBogus, p.String()+": "+why) }

func (p proof) secure(d *denial) Result { return Result{Status: Secure, TTL: d.ttl} }

// ProveNXDOMAIN checks that authority proves qname does not exist in the
// zone of keys: with NSEC, a record covering qname and one covering the
// wildcard at the closest encloser (RFC 4035 section 5.4); with NSEC3, a
// closest encloser proof and an NSEC3 covering the wildcard (RFC 5155
// section 8.4), Insecure when the next closer name falls in an Opt-Out
// span. Every NSEC and NSEC3 of the zone in authority must validate.
func (v *Validator) ProveNXDOMAIN(qname string, authority []dns.RR, keys KeySet, b *Budget) Result {
	var local Budget
	c := v.begin(b, &local)
	var d denial
	if r, ok := c.collect(&d, authority, &keys, true); !ok {
		return c.done(r)
	}
	return c.done(c.proveNXDOMAIN(&d, qname))
}

// ProveNODATA checks that authority proves qname exists without an RRset
// of qtype (or a CNAME): the NSEC or NSEC3 matching qname, an empty
// non-terminal, or a wildcard match (RFC 4035 section 5.4, RFC 5155
// sections 8.5 to 8.7). A record from the parent side of a zone cut (NS
// set, SOA clear) proves nothing about the child's types, and one from the
// child's apex (SOA set) nothing about the parent's DS. For qtype DS an
// Opt-Out span covering qname makes the result Insecure.
func (v *Validator) ProveNODATA(qname string, qtype uint16, authority []dns.RR, keys KeySet, b *Budget) Result {
	var local Budget
	c := v.begin(b, &local)
	var d denial
	if r, ok := c.collect(&d, authority, &keys, true); !ok {
		return c.done(r)
	}
	return c.done(c.proveNODATA(&d, qname, qtype))
}

// ProveWildcard completes a wildcard answer: VerifyRRset reported in
// Result.Wildcard that the answer to qname was synthesised from wildcard,
// and authority must now show that no closer name exists, neither qname
// itself nor the next closer name (RFC 4035 section 5.3.4, RFC 5155
// section 8.8). A wildcard above the zone of keys, or one that does not
// enclose qname, is Bogus; that is what stops a zone from claiming
// another zone's names through a forged Labels count.
func (v *Validator) ProveWildcard(qname, wildcard string, authority []dns.RR, keys KeySet, b *Budget) Result {
	var local Budget
	c := v.begin(b, &local)
	var d denial
	if r, ok := c.collect(&d, authority, &keys, true); !ok {
		return c.done(r)
	}
	return c.done(c.proveWildcard(&d, qname, wildcard))
}

// ProveInsecureDelegation checks that authority, from the parent zone of
// keys, proves the delegation to child has no DS RRset, so that child is
// Insecure: the NSEC or NSEC3 at child has NS and neither DS nor SOA, or
// (NSEC3) child lies in an Opt-Out span. Status Insecure means proven;
// anything else is Bogus, Insecure with EDE 27 when the NSEC3 iterations
// are above the limit.
func (v *Validator) ProveInsecureDelegation(child string, authority []dns.RR, keys KeySet, b *Budget) Result {
	var local Budget
	c := v.begin(b, &local)
	var d denial
	if r, ok := c.collect(&d, authority, &keys, true); !ok {
		return c.done(r)
	}
	return c.done(c.proveInsecureDelegation(&d, child))
}

// Synthesize applies RFC 8198 aggressive negative caching: from NSEC or
// NSEC3 records of zone that were validated earlier and kept in the cache,
// it decides whether qname/qtype is provably NXDOMAIN
// (dns.RcodeNameError) or NODATA (dns.RcodeSuccess) without asking. It
// runs the proofs of ProveNXDOMAIN and ProveNODATA without the signature
// checks, so records must only ever come from validated data. The result
// is Secure when it may answer; otherwise Indeterminate (ask upstream):
// Opt-Out spans and NSEC3 above the iteration limit never synthesise.
// Result.TTL is the records' smallest TTL; RFC 9077 caps it further by the
// SOA's, which the caller has.
func (v *Validator) Synthesize(qname string, qtype uint16, zone string, records []dns.RR, b *Budget) (rcode int, r Result) {
	var local Budget
	c := v.begin(b, &local)
	var d denial
	ks := KeySet{zone: zone}
	if r, ok := c.collect(&d, records, &ks, false); !ok {
		return -1, c.done(Result{Status: Indeterminate, Reason: r.Reason})
	}
	if r := c.proveNXDOMAIN(&d, qname); r.Status == Secure {
		return dns.RcodeNameError, c.done(r)
	}
	if r := c.proveNODATA(&d, qname, qtype); r.Status == Secure {
		return dns.RcodeSuccess, c.done(r)
	}
	return -1, c.done(Result{Status: Indeterminate, Reason: "cached NSEC/NSEC3 records of " + zone + " do not prove " + qname + "/" + dns.Type(qtype).String() + " absent"})
}

func (c *call) proveNXDOMAIN(d *denial, qname string) Result {
	p := proof{what: "NXDOMAIN", qname: qname}
	var q name
	if !q.parse(qname) {
		return bogus(EDEBogus, "malformed query name "+strconv.Quote(qname))
	}
	if !isProperSubdomain(&q, &d.zone) {
		return p.invalid(fmt.Sprintf("the name is not below zone %s", d.zone.String()))
	}
	if d.nn > 0 {
		return c.nsecNXDOMAIN(d, &q, p)
	}
	if d.n3 > 0 {
		return c.nsec3NXDOMAIN(d, &q, p)
	}
	return p.fail(d, "")
}

func (c *call) proveNODATA(d *denial, qname string, qtype uint16) Result {
	p := proof{what: "NODATA", qname: qname, qtype: qtype}
	var q name
	if !q.parse(qname) {
		return bogus(EDEBogus, "malformed query name "+strconv.Quote(qname))
	}
	if !isSubdomain(&q, &d.zone) {
		return p.invalid(fmt.Sprintf("the name is not in zone %s", d.zone.String()))
	}
	if qtype == 0 || qtype == dns.TypeOPT || qtype >= 128 && qtype <= 255 {
		return p.invalid("NODATA cannot be proven for a meta-type or query type (RFC 6895 section 3.1)")
	}
	if qtype == dns.TypeDS && nameEqual(&q, &d.zone) && q.nl > 0 {
		return p.invalid(fmt.Sprintf("the DS of %s is the parent zone's to deny", d.zone.String()))
	}
	if d.nn > 0 {
		return c.nsecNODATA(d, &q, qtype, p)
	}
	if d.n3 > 0 {
		return c.nsec3NODATA(d, &q, qtype, p)
	}
	return p.fail(d, "")
}

func (c *call) proveWildcard(d *denial, qname, wildcard string) Result {
	p := proof{what: "wildcard answer", qname: qname}
	var q, wc, ce name
	if !q.parse(qname) || !wc.parse(wildcard) || !wc.isWildcard() {
		return bogus(EDEBogus, fmt.Sprintf("malformed query name %q or wildcard %q", qname, wildcard))
	}
	ce.setSuffix(&wc, int(wc.nl)-1)
	switch {
	case !isSubdomain(&ce, &d.zone):
		return p.invalid(fmt.Sprintf("wildcard %s lies above zone %s", wildcard, d.zone.String()))
	case !isProperSubdomain(&q, &ce) || nameEqual(&q, &wc):
		return p.invalid(fmt.Sprintf("wildcard %s does not synthesise the name", wildcard))
	}
	if d.nn > 0 {
		return c.nsecWildcard(d, &q, &ce, p)
	}
	if d.n3 > 0 {
		return c.nsec3Wildcard(d, &q, &ce, p)
	}
	return p.fail(d, "")
}

func (c *call) proveInsecureDelegation(d *denial, child string) Result {
	p := proof{what: "no DS", qname: child}
	var q name
	if !q.parse(child) {
		return bogus(EDEBogus, "malformed child zone name "+strconv.Quote(child))
	}
	if !isProperSubdomain(&q, &d.zone) {
		return p.invalid(fmt.Sprintf("it is not below zone %s", d.zone.String()))
	}
	if d.nn > 0 {
		return c.nsecInsecureDelegation(d, &q, p)
	}
	if d.n3 > 0 {
		return c.nsec3InsecureDelegation(d, &q, p)
	}
	return p.fail(d, "")
}

// delegationBitmap judges the types at a name the parent has a record
// for, in a proof that child is an unsigned delegation.
func delegationBitmap(bitmap []uint16, p proof, d *denial) (Result, bool) {
	switch {
	case hasType(bitmap, dns.TypeDS):
		return p.fail(d, "the record at the cut lists a DS RRset"), false
	case hasType(bitmap, dns.TypeSOA):
		return p.fail(d, "the record is the child's apex, not the parent's cut"), false
	case !hasType(bitmap, dns.TypeNS):
		return p.fail(d, "the name is not a delegation (no NS)"), false
	}
	return Result{}, true
}

// nodataBitmap judges the type bitmap matching the query name in a NODATA
// proof.
func nodataBitmap(bitmap []uint16, q *name, qtype uint16, p proof, d *denial) (Result, bool) {
	switch {
	case hasType(bitmap, qtype):
		return p.fail(d, "the type exists"), false
	case hasType(bitmap, dns.TypeCNAME):
		return p.fail(d, "the name has a CNAME"), false
	case qtype != dns.TypeDS && hasType(bitmap, dns.TypeNS) && !hasType(bitmap, dns.TypeSOA):
		return p.fail(d, "the record is from the parent side of a zone cut and says nothing of the child's types"), false
	case qtype == dns.TypeDS && hasType(bitmap, dns.TypeSOA) && q.nl > 0:
		return p.fail(d, "the record is from the child's apex and says nothing of the parent's DS"), false
	}
	return Result{}, true
}
