package dnssec

import (
	"fmt"

	"github.com/miekg/dns"
)

// NSEC proofs (RFC 4035 section 5.4, RFC 6840 sections 4.1 and 4.3).
// Each works on the validated records of one zone collected in a denial;
// collect has already refused NSEC records whose next name leaves the
// zone, so the span an NSEC claims is always inside it.

func nsecNames(rr *dns.NSEC, owner, next *name) bool {
	return owner.parse(rr.Hdr.Name) && next.parse(rr.NextDomain)
}

// nsecCovers reports whether q falls strictly between owner and next in
// canonical order. The last NSEC of a chain points back to the apex,
// which sorts before every other name of the zone, so it covers whatever
// sorts after its owner.
func nsecCovers(owner, next, q *name) bool {
	if canonicalCompare(owner, next) < 0 {
		return canonicalCompare(owner, q) < 0 && canonicalCompare(q, next) < 0
	}
	return canonicalCompare(owner, q) < 0
}

// nsecCovering finds the NSEC that covers q; it fails when an NSEC
// matches q, which then exists.
func nsecCovering(d *denial, q *name, p proof) (int, Result, bool) {
	var owner, next name
	cover := -1
	for i := 0; i < d.nn; i++ {
		if !nsecNames(d.nsec[i], &owner, &next) {
			continue
		}
		if nameEqual(&owner, q) {
			return -1, p.fail(d, "an NSEC at the name shows it exists"), false
		}
		if cover < 0 && nsecCovers(&owner, &next, q) {
			cover = i
		}
	}
	if cover < 0 {
		return -1, p.fail(d, "no NSEC covers the name"), false
	}
	return cover, Result{}, true
}

// nsecAncestor refuses a covering NSEC whose owner is an ancestor of q
// with a DNAME, or with NS and no SOA: q then lies beyond a redirection or
// below a zone cut, where this zone's chain cannot speak for it.
func nsecAncestor(rr *dns.NSEC, owner, q *name, p proof, d *denial) (Result, bool) {
	if !isProperSubdomain(q, owner) {
		return Result{}, true
	}
	switch {
	case hasType(rr.TypeBitMap, dns.TypeDNAME):
		return p.fail(d, fmt.Sprintf("the DNAME at %s redirects the name", rr.Hdr.Name)), false
	case hasType(rr.TypeBitMap, dns.TypeNS) && !hasType(rr.TypeBitMap, dns.TypeSOA):
		return p.fail(d, fmt.Sprintf("the name lies below the zone cut at %s", rr.Hdr.Name)), false
	}
	return Result{}, true
}

func (c *call) nsecNXDOMAIN(d *denial, q *name, p proof) Result {
	i, r, ok := nsecCovering(d, q, p)
	if !ok {
		return r
	}
	var owner, next name
	nsecNames(d.nsec[i], &owner, &next)
	if r, ok := nsecAncestor(d.nsec[i], &owner, q, p, d); !ok {
		return r
	}
	if isProperSubdomain(&next, q) {
		return p.fail(d, fmt.Sprintf("the name is an empty non-terminal above %s", d.nsec[i].NextDomain))
	}
	var ce, wc name
	ce.setSuffix(q, max(commonLabels(q, &owner), commonLabels(q, &next)))
	if !wc.setWildcard(&ce) {
		return p.fail(d, "the wildcard at the closest encloser is not a valid name")
	}
	for j := 0; j < d.nn; j++ {
		if !nsecNames(d.nsec[j], &owner, &next) {
			continue
		}
		if nameEqual(&owner, &wc) {
			return p.fail(d, fmt.Sprintf("wildcard %s exists", wc.String()))
		}
		if nsecCovers(&owner, &next, &wc) {
			return p.secure(d)
		}
	}
	return p.fail(d, fmt.Sprintf("no NSEC proves wildcard %s absent", wc.String()))
}

func (c *call) nsecNODATA(d *denial, q *name, qtype uint16, p proof) Result {
	var owner, next name
	for i := 0; i < d.nn; i++ {
		if nsecNames(d.nsec[i], &owner, &next) && nameEqual(&owner, q) {
			if r, ok := nodataBitmap(d.nsec[i].TypeBitMap, q, qtype, p, d); !ok {
				return r
			}
			return p.secure(d)
		}
	}
	i, _, ok := nsecCovering(d, q, p)
	if !ok {
		return p.fail(d, "no NSEC matches or covers the name")
	}
	nsecNames(d.nsec[i], &owner, &next)
	if r, ok := nsecAncestor(d.nsec[i], &owner, q, p, d); !ok {
		return r
	}
	// An empty non-terminal owns no NSEC; the one covering it points at a
	// name below it (RFC 4035 section 3.1.3.2), and it has no types.
	if isProperSubdomain(&next, q) {
		return p.secure(d)
	}
	// A wildcard NODATA: the name does not exist and the wildcard at its
	// closest encloser lacks the type.
	var ce, wc name
	ce.setSuffix(q, max(commonLabels(q, &owner), commonLabels(q, &next)))
	if !wc.setWildcard(&ce) {
		return p.fail(d, "the wildcard at the closest encloser is not a valid name")
	}
	for j := 0; j < d.nn; j++ {
		if nsecNames(d.nsec[j], &owner, &next) && nameEqual(&owner, &wc) {
			if r, ok := nodataBitmap(d.nsec[j].TypeBitMap, &wc, qtype, p, d); !ok {
				return r
			}
			r := p.secure(d)
			r.Wildcard = wc.String()
			return r
		}
	}
	return p.fail(d, fmt.Sprintf("no NSEC matches the name or wildcard %s", wc.String()))
}

// nsecWildcard checks that no name closer to q than the wildcard's parent
// ce exists: an NSEC covers q, and the closest encloser it implies is no
// deeper than ce. Any ancestor of q below ce would sort between ce and q,
// so either the covering span contains it (and it does not exist) or the
// NSEC's owner is its descendant and shares more labels with q than ce.
func (c *call) nsecWildcard(d *denial, q, ce *name, p proof) Result {
	i, r, ok := nsecCovering(d, q, p)
	if !ok {
		return r
	}
	var owner, next name
	nsecNames(d.nsec[i], &owner, &next)
	if r, ok := nsecAncestor(d.nsec[i], &owner, q, p, d); !ok {
		return r
	}
	if k := max(commonLabels(q, &owner), commonLabels(q, &next)); k > int(ce.nl) {
		var closer name
		closer.setSuffix(q, k)
		return p.fail(d, fmt.Sprintf("%s exists, closer to the name than the wildcard's parent %s", closer.String(), ce.String()))
	}
	return p.secure(d)
}

func (c *call) nsecInsecureDelegation(d *denial, q *name, p proof) Result {
	var owner, next name
	for i := 0; i < d.nn; i++ {
		if nsecNames(d.nsec[i], &owner, &next) && nameEqual(&owner, q) {
			if r, ok := delegationBitmap(d.nsec[i].TypeBitMap, p, d); !ok {
				return r
			}
			return Result{Status: Insecure, TTL: d.ttl}
		}
	}
	return p.fail(d, "no NSEC at the delegation")
}
