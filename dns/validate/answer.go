package validate

import (
	"math"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// rrset is one RRset of an answer section, records in their order.
type rrset struct {
	owner string // canonical
	rtype uint16
	rrs   []dns.RR
}

// maxAnswerSets bounds the RRsets of one answer that are validated; an
// honest chain has at most a few dozen (the inner resolver's CNAME limit),
// and more would only multiply the work.
const maxAnswerSets = 64

// groupRRsets splits the records of section other than RRSIGs into
// RRsets (class IN), keeping the order of first appearance.
func groupRRsets(section []dns.RR) ([]rrset, bool) {
	var sets []rrset
	for _, rr := range section {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG || h.Class != dns.ClassINET {
			continue
		}
		i := 0
		for ; i < len(sets); i++ {
			if sets[i].rtype == h.Rrtype && equalName(sets[i].owner, h.Name) {
				break
			}
		}
		if i == len(sets) {
			if len(sets) == maxAnswerSets {
				return nil, false
			}
			sets = append(sets, rrset{owner: canonicalName(h.Name), rtype: h.Rrtype})
		}
		sets[i].rrs = append(sets[i].rrs, rr)
	}
	return sets, true
}

// severity orders statuses for combining the results of an answer's
// parts: the answer is as good as its worst part.
func severity(s dnssec.Status) int {
	switch s {
	case dnssec.Secure:
		return 0
	case dnssec.Indeterminate:
		return 1
	case dnssec.Insecure:
		return 2
	}
	return 3
}

// validateResponse validates every RRset of the answer section, each with
// the keys of its own signer, and the proof of a negative answer at the
// end of the chain.
func (q *query) validateResponse(qname string, qtype uint16, m *dns.Msg) dnssec.Result {
	worst := dnssec.Result{Status: dnssec.Secure}
	merge := func(r dnssec.Result) {
		if severity(r.Status) > severity(worst.Status) {
			worst = r
		}
	}
	sets, ok := groupRRsets(m.Answer)
	if !ok {
		return bogus(dnssec.EDEBogus, "answer holds more than %d RRsets", maxAnswerSets)
	}
	for i := range sets {
		if sets[i].rtype == dns.TypeCNAME && synthesised(&sets[i], sets) >= 0 {
			// Its security is the DNAME's (RFC 4035 section 5.3.4 does
			// not apply: servers make these CNAMEs unsigned, RFC 6672
			// section 5.3.1), checked in its turn.
			continue
		}
		merge(q.validateRRset(&sets[i], m))
		if worst.Status == dnssec.Bogus {
			return worst
		}
	}
	for i := range sets {
		// A CNAME made from a DNAME lives no longer than the DNAME,
		// whose TTL validation may have lowered.
		if sets[i].rtype == dns.TypeCNAME {
			if d := synthesised(&sets[i], sets); d >= 0 {
				capTTL(sets[i].rrs, sets[d].rrs[0].Header().Ttl)
			}
		}
	}

	// Follow the chain to the name the answer ends at.
	name := canonicalName(qname)
	for range sets {
		next := ""
		for i := range sets {
			if sets[i].rtype == dns.TypeCNAME && sets[i].owner == name {
				if cn, ok := sets[i].rrs[0].(*dns.CNAME); ok {
					next = canonicalName(cn.Target)
				}
				break
			}
		}
		if next == "" || next == name {
			break
		}
		name = next
	}
	positive := false
	for i := range sets {
		if sets[i].owner == name && (sets[i].rtype == qtype || qtype == dns.TypeANY) || qtype == dns.TypeCNAME && sets[i].rtype == dns.TypeCNAME {
			positive = true
		}
	}
	if m.Rcode == dns.RcodeNameError || !positive {
		merge(q.validateNegative(name, qtype, m))
	}
	return worst
}

// synthesised returns the index in sets of the DNAME set that makes the
// CNAME set for its owner (RFC 6672 section 2.2), or -1.
func synthesised(cn *rrset, sets []rrset) int {
	c, ok := cn.rrs[0].(*dns.CNAME)
	if !ok || len(cn.rrs) != 1 {
		return -1
	}
	for i := range sets {
		if sets[i].rtype != dns.TypeDNAME {
			continue
		}
		d, ok := sets[i].rrs[0].(*dns.DNAME)
		if !ok || !dns.IsSubDomain(sets[i].owner, cn.owner) || sets[i].owner == cn.owner {
			continue
		}
		if equalName(dnameTarget(cn.owner, sets[i].owner, d.Target), canonicalName(c.Target)) {
			return i
		}
	}
	return -1
}

// dnameTarget is name with its suffix owner, a DNAME's owner, replaced by
// the DNAME's target (RFC 6672 section 2.2), the root on either side
// included.
func dnameTarget(name, owner, target string) string {
	prefix := name[:len(name)-len(owner)]
	if owner == "." {
		prefix = name
	}
	if target = canonicalName(target); target == "." {
		return prefix
	}
	return prefix + target
}

// signerOf returns the signer of the first RRSIG in section covering
// owner/rtype (any type when rtype is 0).
func signerOf(section []dns.RR, owner string, rtype uint16) (string, bool) {
	for _, rr := range section {
		s, ok := rr.(*dns.RRSIG)
		if !ok || s.Hdr.Class != dns.ClassINET || (rtype != 0 && (s.TypeCovered != rtype || !equalName(s.Hdr.Name, owner))) {
			continue
		}
		if _, ok := dns.IsDomainName(s.SignerName); !ok {
			continue
		}
		return canonicalName(s.SignerName), true
	}
	return "", false
}

// zoneOf walks to signer, the zone an RRSIG names for data about name,
// and checks that the walk reached it as a zone. The trust anchor closest
// to name decides where the chain of trust starts: a signer above it (an
// operator's anchor for a zone below an unsigned delegation, and an RRSIG
// naming the insecure parent) would lead the walk out of the anchored
// chain to where everything is Insecure, so it is Bogus instead.
// When the walk does not reach signer, the chain says why, or the data is
// at fault (its RRSIG names a signer that cannot sign it): fault says
// which.
func (q *query) zoneOf(signer, name, what string) (c chain, r dnssec.Result, ok, fault bool) {
	if anchor, ok := q.r.v.ClosestAnchor(name); ok && !dns.IsSubDomain(anchor, signer) {
		return chain{status: dnssec.Bogus}, bogus(dnssec.EDEBogus, "%s is signed by %s, above the trust anchor %s that covers it", what, signer, anchor), false, true
	}
	c = q.walk(signer)
	if c.status != dnssec.Secure {
		return c, c.result, false, false
	}
	if c.zone != signer {
		return c, bogus(dnssec.EDEBogus, "%s is signed by %s, which is no zone of the chain of trust (it ends at %s)", what, signer, c.zone), false, true
	}
	return c, dnssec.Result{}, true, false
}

// unsigned judges data without RRSIGs: fine below an insecure cut, Bogus
// in a zone whose keys validate (signatures stripped).
func (q *query) unsigned(target, what string) (chain, dnssec.Result) {
	c := q.walk(target)
	if c.status != dnssec.Secure {
		return c, c.result
	}
	return c, bogus(dnssec.EDERRSIGsMissing, "%s has no RRSIG, but zone %s is signed", what, c.zone)
}

// validateRRset validates one RRset of the answer with the keys of its
// signer. When the RRset itself is Bogus (rather than the chain of trust
// to its zone), its records and RRSIGs are what the query blames (see
// query.blame).
func (q *query) validateRRset(set *rrset, m *dns.Msg) dnssec.Result {
	r, fault := q.checkRRset(set, m)
	if r.Status == dnssec.Bogus && fault {
		q.blame(append(append([]dns.RR(nil), set.rrs...), sigsOf(m.Answer, set.owner, set.rtype)...))
	}
	return r
}

func (q *query) checkRRset(set *rrset, m *dns.Msg) (r dnssec.Result, fault bool) {
	what := set.owner + "/" + dns.Type(set.rtype).String()
	signer, ok := signerOf(m.Answer, set.owner, set.rtype)
	if !ok {
		target := set.owner
		if set.rtype == dns.TypeDS {
			target = parentName(target) // RFC 4035 section 3.1.4.1: the parent's data
		}
		c, r := q.unsigned(target, what)
		return r, c.status == dnssec.Secure
	}
	if !dns.IsSubDomain(signer, set.owner) || set.rtype == dns.TypeDS && signer == set.owner && signer != "." {
		return bogus(dnssec.EDEBogus, "%s is signed by %s, which may not sign it", what, signer), true
	}
	name := set.owner
	if set.rtype == dns.TypeDS {
		name = parentName(name)
	}
	c, r, ok, fault := q.zoneOf(signer, name, what)
	if !ok {
		return r, fault
	}
	r = q.r.v.VerifyRRset(set.rrs, m.Answer, c.keys, q.budget)
	if r.Status == dnssec.Secure && r.Wildcard != "" {
		ttl := r.TTL
		r = q.proveWildcard(set, r.Wildcard, m, c.keys)
		r.TTL = min(r.TTL, ttl)
	}
	if r.Status == dnssec.Secure {
		capTTL(set.rrs, r.TTL)
		capSigTTL(m.Answer, set.owner, set.rtype, r.TTL)
	}
	return r, true
}

// sigsOf returns the RRSIGs in section that cover owner/rtype.
func sigsOf(section []dns.RR, owner string, rtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == rtype && equalName(s.Hdr.Name, owner) {
			out = append(out, rr)
		}
	}
	return out
}

// capTTL lowers the TTLs of rrs to ttl where they are higher: validated
// data lives no longer than its RRSIG's Original TTL and the signature's
// expiry allow (RFC 4035 section 5.3.3), which dnssec.Result.TTL says. The
// response carries the capped TTLs, so that a client, and the wire-form
// answer cache (which sees no RRSIG when the client did not set DO), keep
// it no longer either.
func capTTL(rrs []dns.RR, ttl uint32) {
	for _, rr := range rrs {
		if h := rr.Header(); h.Ttl > ttl {
			h.Ttl = ttl
		}
	}
}

// capSigTTL applies capTTL to the RRSIGs in section that cover owner/rtype.
func capSigTTL(section []dns.RR, owner string, rtype uint16, ttl uint32) {
	for _, rr := range section {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == rtype && s.Hdr.Ttl > ttl && equalName(s.Hdr.Name, owner) {
			s.Hdr.Ttl = ttl
		}
	}
}

// proveWildcard completes a wildcard answer with the proof that the name
// itself does not exist. The inner resolver keeps no authority section for
// positive answers, so when the response lacks the proof it asks for DS at
// the name: that query matches the same wildcard, which has no DS (RFC
// 4592 section 4.6), and the NODATA answer carries the proof.
func (q *query) proveWildcard(set *rrset, wildcard string, m *dns.Msg, keys dnssec.KeySet) dnssec.Result {
	v := q.r.v
	r := v.ProveWildcard(set.owner, wildcard, m.Ns, keys, q.budget)
	if r.Status == dnssec.Secure {
		q.learn(keys.Zone(), m.Ns, nil, r.TTL)
	}
	if r.Status == dnssec.Secure || r.Status == dnssec.Insecure || hasDenial(m.Ns) || set.rtype == dns.TypeDS {
		return r
	}
	// The proof an earlier answer carried may be among the denials kept
	// for RFC 8198.
	if cd, ok := q.r.denials.lookup(canonicalName(keys.Zone()), set.owner, q.now, q.r.v.Limits().NSEC3Iterations, q.r.v.Limits().MaxNSEC3Hashes, false); ok {
		if cr := v.ProveWildcard(set.owner, wildcard, append(cd.proof, cd.sigs...), keys, q.budget); cr.Status == dnssec.Secure || cr.Status == dnssec.Insecure {
			return cr
		}
	}
	pm, err := q.fetch(set.owner, dns.TypeDS)
	if err != nil || pm.Rcode != dns.RcodeSuccess {
		return r
	}
	r = v.ProveWildcard(set.owner, wildcard, pm.Ns, keys, q.budget)
	if r.Status == dnssec.Secure {
		q.learn(keys.Zone(), pm.Ns, nil, r.TTL)
	}
	return r
}

func hasDenial(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			return true
		}
	}
	return false
}

// validateNegative validates an NXDOMAIN or NODATA answer for name/qtype:
// the SOA, if signed, and the denial proof in the authority section. When
// the proof itself is Bogus, the authority section is what the query
// blames.
func (q *query) validateNegative(name string, qtype uint16, m *dns.Msg) dnssec.Result {
	r, fault := q.checkNegative(name, qtype, m)
	if r.Status == dnssec.Bogus && fault {
		q.blame(append([]dns.RR(nil), m.Ns...))
	}
	return r
}

func (q *query) checkNegative(name string, qtype uint16, m *dns.Msg) (dnssec.Result, bool) {
	what := name + "/" + dns.Type(qtype).String()
	if m.Rcode == dns.RcodeNameError {
		what = name + " (NXDOMAIN)"
	}
	signer, ok := signerOf(m.Ns, "", 0)
	var keys dnssec.KeySet
	soaTTL := uint32(math.MaxUint32)
	var soaRRs []dns.RR
	if !ok {
		target := name
		if qtype == dns.TypeDS && m.Rcode == dns.RcodeSuccess {
			target = parentName(name)
		}
		c := q.walk(target)
		if c.status != dnssec.Secure {
			return c.result, false
		}
		// The proof calls say precisely what is missing: NSEC records
		// (EDE 12) or their signatures (EDE 10).
		keys = c.keys
	} else {
		if !dns.IsSubDomain(signer, name) {
			return bogus(dnssec.EDEBogus, "denial of %s is signed by %s, which does not enclose it", what, signer), true
		}
		target := name
		if qtype == dns.TypeDS && m.Rcode == dns.RcodeSuccess {
			target = parentName(name)
		}
		c, r, ok, fault := q.zoneOf(signer, target, "denial of "+what)
		if !ok {
			return r, fault
		}
		keys = c.keys
		if soa := rrsOf(m.Ns, signer, dns.TypeSOA); len(soa) > 0 {
			r := q.r.v.VerifyRRset(soa, m.Ns, keys, q.budget)
			if r.Status != dnssec.Secure {
				return r, true
			}
			soaTTL = r.TTL
			soaRRs = append(soa, sigsOf(m.Ns, signer, dns.TypeSOA)...)
		}
	}
	var r dnssec.Result
	if m.Rcode == dns.RcodeNameError {
		r = q.r.v.ProveNXDOMAIN(name, m.Ns, keys, q.budget)
	} else {
		r = q.r.v.ProveNODATA(name, qtype, m.Ns, keys, q.budget)
	}
	if r.Status == dnssec.Secure {
		// The proof lasts as long as its shortest-lived part.
		r.TTL = min(r.TTL, soaTTL)
		capTTL(m.Ns, r.TTL)
		if ok {
			q.learn(keys.Zone(), m.Ns, soaRRs, r.TTL)
		}
	}
	return r, true
}
