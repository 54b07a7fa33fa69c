package authoritative

import (
	"sort"

	"github.com/miekg/dns"
)

// MaxCNAMEChain bounds how many CNAME links one answer follows, so that a
// loop or a long chain across served zones cannot make a response grow
// without limit.
const MaxCNAMEChain = 8

// Answer fills the answer, authority and additional sections, the rcode
// and the AA bit of resp for resp.Question[0], which the caller copied
// from the query (dns.Msg.SetReply does). do asks for DNSSEC records
// (the query's DO bit); tcp lifts the RFC 8482 restriction on ANY. It
// neither sizes nor truncates the message: Server.Handle does that.
func (s *Store) Answer(resp *dns.Msg, do, tcp bool) {
	if len(resp.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return
	}
	q := resp.Question[0]
	lname := canonicalName(q.Name)
	z := s.zoneFor(lname, q.Qtype)
	if z == nil {
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	a := answerer{resp: resp, qtype: q.Qtype, do: do, tcp: tcp}
	name := q.Name
	var seen [MaxCNAMEChain]string
	for hops := 0; ; hops++ {
		seen[hops] = lname
		target, follow := a.step(z, name, lname, hops)
		if !follow || hops+1 >= MaxCNAMEChain {
			return
		}
		lname = canonicalName(target)
		for _, s := range seen[:hops+1] {
			if s == lname {
				return
			}
		}
		if z = s.zoneFor(lname, q.Qtype); z == nil {
			return
		}
		name = target
	}
}

type answerer struct {
	resp  *dns.Msg
	qtype uint16
	do    bool
	tcp   bool
	// added remembers the first record of every RRset placed in the
	// authority section: NSEC proofs for different names often share a
	// record.
	added []dns.RR
}

// find walks from the apex towards name, one label at a time, as RFC 1034
// section 4.3.2 step 3 does. It returns the node for name when it exists,
// otherwise the closest encloser; cut is set when the walk meets a
// delegation first. A DS query for the cut itself is answered from this,
// the parent, side.
func (z *Zone) find(name string, qtype uint16) (n, encloser, cut *node) {
	encloser = z.apex
	if name == z.origin {
		return z.apex, z.apex, nil
	}
	idx := dns.Split(name)
	depth := len(idx) - dns.CountLabel(z.origin)
	for i := depth - 1; i >= 0; i-- {
		suffix := name[idx[i]:]
		n := z.nodes[suffix]
		if n == nil {
			return nil, encloser, nil
		}
		if n.cut && (i > 0 || qtype != dns.TypeDS) {
			return nil, encloser, n
		}
		encloser = n
	}
	return encloser, encloser, nil
}

// step answers name in zone z and returns the CNAME target when the
// answer continues with one.
func (a *answerer) step(z *Zone, name, lname string, hops int) (string, bool) {
	n, encloser, cut := z.find(lname, a.qtype)
	switch {
	case cut != nil:
		// A chain that leads into a delegation ends here; the resolver
		// follows the last CNAME itself.
		if hops == 0 {
			a.referral(z, cut)
		}
		return "", false
	case n != nil:
		return a.fromNode(z, n, "", lname, nil)
	}
	wild := z.nodes[wildcardOf(encloser.name)]
	if wild == nil {
		a.nxdomain(z, lname, encloser)
		return "", false
	}
	return a.fromNode(z, wild, name, lname, encloser)
}

func wildcardOf(name string) string {
	if name == "." {
		return "*."
	}
	return "*." + name
}

// fromNode answers from node n. For a wildcard, owner is the name to
// synthesise records for and encloser the closest encloser; both are
// empty for an exact match.
func (a *answerer) fromNode(z *Zone, n *node, owner, lname string, encloser *node) (string, bool) {
	switch a.qtype {
	case dns.TypeANY:
		if len(n.types) == 0 {
			a.nodata(z, n, lname, encloser)
			return "", false
		}
		// RFC 8482: over UDP, one RRset is enough and keeps ANY from
		// being an amplifier; TCP gets everything.
		types := n.types
		if !a.tcp {
			types = types[:1]
		}
		for _, t := range types {
			a.answer(n.rrsets[t], n.sigs[t], owner)
		}
		a.wildcardProof(z, lname, encloser)
		return "", false
	case dns.TypeRRSIG:
		if len(n.sigs) == 0 {
			a.nodata(z, n, lname, encloser)
			return "", false
		}
		for _, t := range typesOf(n.sigs) {
			a.answer(n.sigs[t], nil, owner)
		}
		a.wildcardProof(z, lname, encloser)
		return "", false
	}
	if set := n.rrsets[a.qtype]; len(set) > 0 {
		a.answer(set, n.sigs[a.qtype], owner)
		a.wildcardProof(z, lname, encloser)
		a.additional(z, set)
		return "", false
	}
	if cn := n.rrsets[dns.TypeCNAME]; len(cn) > 0 {
		a.answer(cn, n.sigs[dns.TypeCNAME], owner)
		a.wildcardProof(z, lname, encloser)
		return cn[0].(*dns.CNAME).Target, true
	}
	a.nodata(z, n, lname, encloser)
	return "", false
}

func (a *answerer) answer(set, sigs []dns.RR, owner string) {
	a.resp.Answer = appendOwned(a.resp.Answer, set, owner)
	if a.do {
		a.resp.Answer = appendOwned(a.resp.Answer, sigs, owner)
	}
}

// appendOwned appends set, renamed to owner when owner is not empty
// (wildcard synthesis, RFC 4592 section 3.3.1). The zone's records are
// shared with concurrent answers, so renaming works on copies.
func appendOwned(dst, set []dns.RR, owner string) []dns.RR {
	if owner == "" {
		return append(dst, set...)
	}
	for _, rr := range set {
		c := dns.Copy(rr)
		c.Header().Name = owner
		dst = append(dst, c)
	}
	return dst
}

func (a *answerer) authority(set, sigs []dns.RR) {
	if len(set) == 0 {
		return
	}
	for _, rr := range a.added {
		if rr == set[0] {
			return
		}
	}
	a.added = append(a.added, set[0])
	a.resp.Ns = append(a.resp.Ns, set...)
	if a.do {
		a.resp.Ns = append(a.resp.Ns, sigs...)
	}
}

// additional adds the addresses of in-zone targets of NS, MX and SRV
// answers (RFC 1034 section 4.3.2 step 6), saving the client a query.
func (a *answerer) additional(z *Zone, set []dns.RR) {
	for _, rr := range set {
		var target string
		switch rr := rr.(type) {
		case *dns.NS:
			target = rr.Ns
		case *dns.MX:
			target = rr.Mx
		case *dns.SRV:
			target = rr.Target
		default:
			return
		}
		n := z.nodes[canonicalName(target)]
		if n == nil || n.occluded || n.cut {
			continue
		}
		for _, t := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
			a.resp.Extra = append(a.resp.Extra, n.rrsets[t]...)
			if a.do {
				a.resp.Extra = append(a.resp.Extra, n.sigs[t]...)
			}
		}
	}
}

// referral answers for a name at or below cut: NS in authority, the DS
// RRset or its proven absence when DNSSEC is asked for, glue in additional
// (RFC 9471: every in-bailiwick address this zone holds for the servers).
func (a *answerer) referral(z *Zone, cut *node) {
	a.resp.Authoritative = false
	a.resp.Ns = append(a.resp.Ns, cut.rrsets[dns.TypeNS]...)
	if a.do {
		switch {
		case len(cut.rrsets[dns.TypeDS]) > 0:
			a.authority(cut.rrsets[dns.TypeDS], cut.sigs[dns.TypeDS])
		case len(z.nsec3) > 0:
			if e := z.nsec3Matching(cut.name); e != nil {
				a.authority(e.set, e.sigs)
			} else {
				a.closestEncloserProof(z, cut.name)
			}
		case len(cut.rrsets[dns.TypeNSEC]) > 0:
			a.authority(cut.rrsets[dns.TypeNSEC], cut.sigs[dns.TypeNSEC])
		}
	}
	for _, rr := range cut.rrsets[dns.TypeNS] {
		target := canonicalName(rr.(*dns.NS).Ns)
		if !dns.IsSubDomain(z.origin, target) {
			continue
		}
		a.resp.Extra = append(a.resp.Extra, z.addresses(target)...)
	}
}

// nodata: the name exists but has no RRset of the type (RFC 2308 section
// 2.2), proven by the NSEC/NSEC3 at the name or, for a wildcard, by the
// proofs of RFC 4035 section 3.1.3.4 and RFC 5155 section 7.2.5.
func (a *answerer) nodata(z *Zone, n *node, lname string, encloser *node) {
	a.authority(z.negSOA, z.negSOASigs)
	if !a.do {
		return
	}
	switch {
	case len(z.nsec3) > 0:
		if encloser != nil {
			a.nsec3Match(z, encloser.name)
			a.nsec3Cover(z, nextCloser(lname, encloser.name))
			a.nsec3Match(z, n.name)
			return
		}
		if e := z.nsec3Matching(n.name); e != nil {
			a.authority(e.set, e.sigs)
		} else {
			// Only an opt-out span can leave a name without its own
			// NSEC3 (a DS query at an insecure delegation).
			a.closestEncloserProof(z, n.name)
		}
	case len(z.nsecOrder) > 0:
		if encloser != nil {
			a.nsecCover(z, lname)
		}
		if len(n.rrsets[dns.TypeNSEC]) > 0 {
			a.authority(n.rrsets[dns.TypeNSEC], n.sigs[dns.TypeNSEC])
		} else {
			// An empty non-terminal owns no NSEC; the one before it
			// in canonical order covers it (RFC 4035 section 3.1.3.2).
			a.nsecCover(z, n.name)
		}
	}
}

// nxdomain: no such name and no wildcard to synthesise from (RFC 2308
// section 2.1), proven by covering the name and the wildcard at its
// closest encloser.
func (a *answerer) nxdomain(z *Zone, lname string, encloser *node) {
	a.resp.Rcode = dns.RcodeNameError
	a.authority(z.negSOA, z.negSOASigs)
	if !a.do {
		return
	}
	switch {
	case len(z.nsec3) > 0:
		a.closestEncloserProof(z, lname)
		a.nsec3Cover(z, wildcardOf(encloser.name))
	case len(z.nsecOrder) > 0:
		a.nsecCover(z, lname)
		a.nsecCover(z, wildcardOf(encloser.name))
	}
}

// wildcardProof shows that the query name itself does not exist, which a
// validator needs before it accepts a synthesised answer (RFC 4035
// section 3.1.3.3, RFC 5155 section 7.2.6).
func (a *answerer) wildcardProof(z *Zone, lname string, encloser *node) {
	if encloser == nil || !a.do {
		return
	}
	switch {
	case len(z.nsec3) > 0:
		a.nsec3Cover(z, nextCloser(lname, encloser.name))
	case len(z.nsecOrder) > 0:
		a.nsecCover(z, lname)
	}
}

// nsecCover adds the NSEC whose owner is the last one at or before name in
// canonical order.
func (a *answerer) nsecCover(z *Zone, name string) {
	key := wireLabels(name)
	i := sort.Search(len(z.nsecOrder), func(i int) bool {
		return compareLabels(z.nsecOrder[i].key, key) > 0
	})
	if i == 0 {
		// Before the apex cannot happen for names in the zone; the
		// last NSEC wraps around to the apex and covers it anyway.
		i = len(z.nsecOrder)
	}
	n := z.nsecOrder[i-1]
	a.authority(n.rrsets[dns.TypeNSEC], n.sigs[dns.TypeNSEC])
}

func (z *Zone) hashOf(name string) string {
	p := z.nsec3Param
	return dns.HashName(name, p.Hash, p.Iterations, p.Salt)
}

func (z *Zone) nsec3Matching(name string) *nsec3Entry {
	return z.nsec3Hash[z.hashOf(name)]
}

func (a *answerer) nsec3Match(z *Zone, name string) {
	if e := z.nsec3Matching(name); e != nil {
		a.authority(e.set, e.sigs)
	}
}

// nsec3Cover adds the NSEC3 whose hash is the last one before the hash of
// name, wrapping around the end of the hash ring.
func (a *answerer) nsec3Cover(z *Zone, name string) {
	h := z.hashOf(name)
	i := sort.Search(len(z.nsec3), func(i int) bool { return z.nsec3[i].hash >= h })
	if i == 0 {
		i = len(z.nsec3)
	}
	e := z.nsec3[i-1]
	a.authority(e.set, e.sigs)
}

// closestEncloserProof (RFC 5155 section 7.2.1): the NSEC3 matching the
// closest provable encloser and the one covering the next closer name.
func (a *answerer) closestEncloserProof(z *Zone, name string) {
	for c := name; ; c = parentName(c) {
		if e := z.nsec3Matching(c); e != nil {
			a.authority(e.set, e.sigs)
			if c != name {
				a.nsec3Cover(z, nextCloser(name, c))
			}
			return
		}
		if c == z.origin || c == "." {
			return
		}
	}
}
