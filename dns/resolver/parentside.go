package resolver

import (
	"time"

	"github.com/miekg/dns"
)

// The cache holds the child's word on its servers once the child answers
// (its NS set and its servers' addresses rank higher than a referral's),
// and the parent's referral may say otherwise: a zone moved to new servers
// whose old address the child still publishes, a child NS set naming
// servers the parent does not (the parent-child differences of Deckard's
// iter_pc* scenarios). When every server the child's data names has
// failed, the parents' names and addresses are tried as the last resort,
// as Unbound does with its parent-side NS sets and glue. The last referral
// to each cut is kept with the cut (zoneCuts), bounded with it and never
// beyond the referral's TTL; it holds the referral's own records, which
// nothing modifies once classified, so that keeping it costs no copy.

// referral is what a parent said about a delegation: its NS records,
// the glue taken, and the glue in sibling zones that was not (see
// collectGlue).
type referral struct {
	ns      []*dns.NS
	glue    []dns.RR
	sibling []dns.RR
	expires time.Time
}

// glueFor adds to zs the addresses a referral gave as glue for the name
// server name: glue comes with the referral to the zone the name lies in,
// so the referrals to name's ancestors are looked at. It reports whether
// one had glue for it.
func (st *state) glueFor(zs *zoneServers, name string, now time.Time) bool {
	r := st.r
	found := false
	for z := parentName(name); z != "."; z = parentName(z) {
		ref, ok := r.cuts.referralTo(z, now)
		if !ok {
			continue
		}
		for _, g := range ref.glue {
			if a, ok := addrOf(g); ok && equalName(g.Header().Name, name) {
				zs.add(r, a)
				found = true
			}
		}
		if found {
			return true
		}
	}
	return false
}

// addParentSide adds to zs, whose servers have all failed, what the
// parents said instead: the glue their referrals gave for the zone's name
// servers (those the parent's referral names, and those of the cached NS
// set), the sibling glue of the zone's own referral, and the parent's
// names without glue, to look up. It reports
// whether it added any, and does its work once per zoneServers.
func (st *state) addParentSide(zs *zoneServers) bool {
	if zs.parentTried || zs.zone == "." {
		return false
	}
	zs.parentTried = true
	r := st.r
	now := r.clock.Now()
	var names []string
	before, pending := len(zs.cands), len(zs.pending)
	if ref, ok := r.cuts.referralTo(zs.zone, now); ok {
		for _, n := range ref.ns {
			names = append(names, lowerASCII(n.Ns))
		}
		// The referral's own glue in sibling zones: its sibling's
		// servers, which had the say, could not be reached.
		for _, g := range ref.sibling {
			if a, ok := addrOf(g); ok {
				zs.add(r, a)
			}
		}
	}
	parentNames := len(names)
	if set, ok := r.cache.LookupRRset(zs.zone, dns.TypeNS, dns.ClassINET, now); ok && set.Rank != RankBogus {
		names = append(names, nsNames(set.RRs)...)
	}
	for i, n := range names {
		if !st.glueFor(zs, n, now) && i < parentNames {
			zs.pending = append(zs.pending, n)
		}
	}
	return len(zs.cands) > before || len(zs.pending) > pending
}
