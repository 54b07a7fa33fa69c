package dnssec

import (
	"bytes"
	"crypto/sha1"
	"fmt"

	"github.com/miekg/dns"
)

// NSEC3 proofs (RFC 5155 section 8, RFC 9276). Every function first
// applies the iteration limits, after collect has checked the records'
// signatures and before the first hash, so a zone with costly parameters
// costs one signature check per record and no hashing.

// nsec3OptOut is the Opt-Out flag (RFC 5155 section 3.1.2.1).
const nsec3OptOut = 1

func nsec3Covers(r *nsec3Record, h *[sha1.Size]byte) bool {
	after := bytes.Compare(r.owner[:], h[:]) < 0
	before := bytes.Compare(h[:], r.next[:]) < 0
	if bytes.Compare(r.owner[:], r.next[:]) < 0 {
		return after && before
	}
	// The last record of the chain wraps around to the first hash; a
	// chain of one record covers every hash but its own.
	return after || before
}

// nsec3Lookup hashes w with each parameter set among the records and
// returns the records matching and covering it. ok is false when the
// hash budget ran out.
func (c *call) nsec3Lookup(d *denial, w *name) (match, cover int, ok bool) {
	match, cover = -1, -1
	var h [sha1.Size]byte
	for p := 0; p < d.np; p++ {
		if !c.takeHash() {
			return -1, -1, false
		}
		nsec3Hash(&h, w, d.params[p].salt[:d.params[p].saltLen], d.params[p].iterations)
		for i := 0; i < min(d.n3, maxDenialRecords); i++ {
			r := &d.nsec3[i]
			switch {
			case r.param != p:
			case r.owner == h:
				match = i
			case cover < 0 && nsec3Covers(r, &h):
				cover = i
			}
		}
	}
	return match, cover, true
}

func (c *call) hashesExhausted(p proof, d *denial) Result {
	return bogus(EDEBogus, fmt.Sprintf("%s: NSEC3 hash budget of %d exhausted", p, c.b.maxHashes))
}

// encloser is the outcome of the closest encloser search of RFC 5155
// section 8.3.
type encloser struct {
	labels int // labels of the closest encloser, a suffix of the name
	match  int // the NSEC3 matching it
	cover  int // the NSEC3 covering the next closer name, -1 if none or if the name itself matched
}

// closestEncloser walks from q up to the apex and stops at the first name
// an NSEC3 matches, remembering the record that covers the name one label
// below it, the next closer name. Bottom-up is what RFC 5155 describes;
// each step costs one hash per parameter set, charged to the budget.
func (c *call) closestEncloser(d *denial, q *name, p proof) (encloser, Result, bool) {
	var cand name
	prevCover := -1
	for k := int(q.nl); k >= int(d.zone.nl); k-- {
		cand.setSuffix(q, k)
		m, cv, ok := c.nsec3Lookup(d, &cand)
		if !ok {
			return encloser{}, c.hashesExhausted(p, d), false
		}
		if m >= 0 {
			e := encloser{labels: k, match: m, cover: prevCover}
			if k == int(q.nl) {
				e.cover = -1
			}
			return e, Result{}, true
		}
		prevCover = cv
	}
	return encloser{}, p.fail(d, "no NSEC3 matches any ancestor of the name, not even the apex"), false
}

// enclosingOK refuses a closest encloser that is a delegation or a DNAME:
// the name would lie beyond it, where this zone's chain cannot speak.
func enclosingOK(r *dns.NSEC3, p proof, d *denial) (Result, bool) {
	switch {
	case hasType(r.TypeBitMap, dns.TypeDNAME):
		return p.fail(d, "the closest encloser has a DNAME"), false
	case hasType(r.TypeBitMap, dns.TypeNS) && !hasType(r.TypeBitMap, dns.TypeSOA):
		return p.fail(d, "the closest encloser is a delegation"), false
	}
	return Result{}, true
}

func optOut(d *denial, p proof) Result {
	return Result{Status: Insecure, OptOut: true, TTL: d.ttl, Reason: p.String() + ": the next closer name lies in an NSEC3 opt-out span"}
}

func (c *call) nsec3NXDOMAIN(d *denial, q *name, p proof) Result {
	if r, ok := c.iterationsAllowed(d); !ok {
		return r
	}
	e, r, ok := c.closestEncloser(d, q, p)
	switch {
	case !ok:
		return r
	case e.labels == int(q.nl):
		return p.fail(d, "an NSEC3 matches the name: it exists")
	case e.cover < 0:
		return p.fail(d, "no NSEC3 covers the next closer name")
	}
	if r, ok := enclosingOK(d.nsec3[e.match].rr, p, d); !ok {
		return r
	}
	var ce, wc name
	ce.setSuffix(q, e.labels)
	if !wc.setWildcard(&ce) {
		return p.fail(d, "the wildcard at the closest encloser is not a valid name")
	}
	m, cv, ok := c.nsec3Lookup(d, &wc)
	switch {
	case !ok:
		return c.hashesExhausted(p, d)
	case m >= 0:
		return p.fail(d, fmt.Sprintf("wildcard %s exists", wc.String()))
	case cv < 0:
		return p.fail(d, fmt.Sprintf("no NSEC3 covers wildcard %s", wc.String()))
	}
	if d.nsec3[e.cover].rr.Flags&nsec3OptOut != 0 {
		return optOut(d, p)
	}
	return p.secure(d)
}

func (c *call) nsec3NODATA(d *denial, q *name, qtype uint16, p proof) Result {
	if r, ok := c.iterationsAllowed(d); !ok {
		return r
	}
	e, r, ok := c.closestEncloser(d, q, p)
	switch {
	case !ok:
		return r
	case e.labels == int(q.nl):
		if r, ok := nodataBitmap(d.nsec3[e.match].rr.TypeBitMap, q, qtype, p, d); !ok {
			return r
		}
		return p.secure(d)
	case e.cover < 0:
		return p.fail(d, "no NSEC3 matches the name or covers the next closer name")
	}
	if r, ok := enclosingOK(d.nsec3[e.match].rr, p, d); !ok {
		return r
	}
	// RFC 5155 section 8.6: no DS where an opt-out span may hide an
	// unsigned delegation.
	if qtype == dns.TypeDS && d.nsec3[e.cover].rr.Flags&nsec3OptOut != 0 {
		return optOut(d, p)
	}
	// RFC 5155 section 8.7: a wildcard that exists without the type.
	var ce, wc name
	ce.setSuffix(q, e.labels)
	if !wc.setWildcard(&ce) {
		return p.fail(d, "the wildcard at the closest encloser is not a valid name")
	}
	// Without a matching wildcard, a next closer name in an Opt-Out span
	// may be an unsigned delegation, or a name below one, that the chain
	// leaves out: the NODATA is Insecure for any type (RFC 5155 section
	// 8.5 as Errata 3441 corrects it; Unbound and Knot Resolver judge it
	// so). With one, the span still keeps the answer from being Secure
	// (section 9.2).
	optedOut := d.nsec3[e.cover].rr.Flags&nsec3OptOut != 0
	m, _, ok := c.nsec3Lookup(d, &wc)
	switch {
	case !ok:
		return c.hashesExhausted(p, d)
	case m < 0 && optedOut:
		return optOut(d, p)
	case m < 0:
		return p.fail(d, fmt.Sprintf("no NSEC3 matches the name or wildcard %s", wc.String()))
	}
	if r, ok := nodataBitmap(d.nsec3[m].rr.TypeBitMap, &wc, qtype, p, d); !ok {
		return r
	}
	if optedOut {
		return optOut(d, p)
	}
	res := p.secure(d)
	res.Wildcard = wc.String()
	return res
}

// nsec3Wildcard checks RFC 5155 section 8.8: an NSEC3 covers the next
// closer name, the child of the wildcard's parent ce on the way to q.
func (c *call) nsec3Wildcard(d *denial, q, ce *name, p proof) Result {
	if r, ok := c.iterationsAllowed(d); !ok {
		return r
	}
	var nc name
	nc.setSuffix(q, int(ce.nl)+1)
	m, cv, ok := c.nsec3Lookup(d, &nc)
	switch {
	case !ok:
		return c.hashesExhausted(p, d)
	case m >= 0:
		return p.fail(d, fmt.Sprintf("%s exists, closer to the name than the wildcard's parent %s", nc.String(), ce.String()))
	case cv < 0:
		return p.fail(d, fmt.Sprintf("no NSEC3 covers the next closer name %s", nc.String()))
	}
	if d.nsec3[cv].rr.Flags&nsec3OptOut != 0 {
		return optOut(d, p)
	}
	return p.secure(d)
}

func (c *call) nsec3InsecureDelegation(d *denial, q *name, p proof) Result {
	if r, ok := c.iterationsAllowed(d); !ok {
		return r
	}
	e, r, ok := c.closestEncloser(d, q, p)
	switch {
	case !ok:
		return r
	case e.labels == int(q.nl):
		if r, ok := delegationBitmap(d.nsec3[e.match].rr.TypeBitMap, p, d); !ok {
			return r
		}
		return Result{Status: Insecure, TTL: d.ttl}
	case e.cover < 0:
		return p.fail(d, "no NSEC3 matches the name or covers the next closer name")
	}
	if r, ok := enclosingOK(d.nsec3[e.match].rr, p, d); !ok {
		return r
	}
	if d.nsec3[e.cover].rr.Flags&nsec3OptOut == 0 {
		return p.fail(d, "the name has no NSEC3 and the span covering it is not opt-out")
	}
	return optOut(d, p)
}
