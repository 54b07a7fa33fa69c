package resolver

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// pending is an upstream query awaiting its response: what was asked, of
// which zone's servers, and how.
type pending struct {
	zone   string // the zone whose servers were asked: the bailiwick
	qname  string // lowercase, as sent
	qtype  uint16
	qclass uint16
	id     uint16
	edns   bool
	tcp    bool
	now    time.Time // for the zone-cut table
}

type replyKind uint8

const (
	replyBad       replyKind = iota // unusable response: ask another server
	replyLame                       // server not authoritative for the zone
	replyTimeout                    // no response in time, or unreachable
	replyTruncated                  // TC over UDP: retry over TCP
	replyFormErr                    // FORMERR: retry without EDNS
	replyChainErr                   // CNAME/DNAME loop or chain too long
	replyReferral                   // delegation to a child zone
	replyAnswer                     // positive answer at the end of the chain
	replyCNAME                      // chain leaves the bailiwick: continue at next
	replyNXDomain
	replyNoData
)

var replyKindNames = [...]string{"bad", "lame", "timeout", "truncated", "formerr", "chain-error", "referral", "answer", "cname", "nxdomain", "nodata"}

func (k replyKind) String() string {
	if int(k) < len(replyKindNames) {
		return replyKindNames[k]
	}
	return "kind?"
}

// reply is the accepted part of one upstream response.
type reply struct {
	kind  replyKind
	why   string // for bad and lame: the reason, for logs
	err   error  // for replyChainErr
	chain []dns.RR
	links int      // CNAME and DNAME links in chain
	names []string // owners the chain passed through, for loop detection
	next  string   // replyCNAME: the name to continue with
	// authority is the SOA and denial records of a negative answer.
	authority []dns.RR
	// zone, ns and glue describe a referral; siblingGlue is the glue it
	// gave in sibling zones known to be delegated, used only as the last
	// resort (see collectGlue).
	zone        string
	ns          []*dns.NS
	glue        []dns.RR
	siblingGlue []dns.RR
	// sets and neg are what may be cached.
	sets []RRset
	neg  *Negative
	// udp: the response came over UDP, so nothing of it is cached for a
	// name under suspicion of spoofing.
	udp bool
	// recLame: the answer of a server that offers recursion without
	// claiming authority (see recursionLame), used only when no other
	// server of the zone answers.
	recLame bool
	// repeat: the reply sends again data a validator found bogus (see
	// Retry); it is never cached.
	repeat bool
}

func badReply(format string, args ...any) *reply {
	return &reply{kind: replyBad, why: fmt.Sprintf(format, args...)}
}

func lameReply(why string) *reply { return &reply{kind: replyLame, why: why} }

// Bounds on what one response may make the resolver remember, so that a
// hostile server filling 64 KiB with records costs little. The NS records
// followed per delegation are Config.MaxDelegationNS.
const (
	maxGlue        = 64
	maxDenialProof = 16
	// maxLabForeign bounds what the lab's weakened acceptance takes from
	// one response: enough for any demonstration, and the weakened
	// resolver stays bounded like the real one.
	maxLabForeign = 64
)

// classify applies the acceptance rules to a response for p and returns what
// it means and what of it may be cached. It never modifies m (responses can
// be shared between de-duplicated queries): kept records are copies.
//
// The rules: the response must be a response to p (ID, opcode, question);
// records outside the bailiwick p.zone or of another class are ignored; the
// answer section is read only along the CNAME/DNAME chain from p.qname,
// stopping where the chain leaves the bailiwick; answers and negative answers
// need the AA bit; a referral must go strictly below p.zone and towards
// p.qname; glue is taken only for the referral's name servers; an RRset is
// cached with the rank its section and the AA bit give it.
func (r *Resolver) classify(p *pending, m *dns.Msg) *reply {
	if p.now.IsZero() {
		p.now = r.clock.Now()
	}
	rep := r.classifyResponse(p, m)
	switch rep.kind {
	case replyAnswer, replyCNAME, replyNXDomain, replyNoData:
		rep.recLame = recursionLame(m)
	}
	if r.cfg.LabAcceptOutOfBailiwick {
		r.labAcceptForeign(p, m, rep)
	}
	// An RRset larger than any sane zone holds is refused, as BIND and
	// PowerDNS refuse them (max-records-per-type): caching it would let one
	// response fill the cache, and every answer from it cost as much.
	for i := range rep.sets {
		if n := len(rep.sets[i].RRs); n > r.cfg.MaxRRsetRecords {
			r.stats.oversized.Add(1)
			return badReply("RRset %s/%s of %d records exceeds %d", rep.sets[i].Name, dns.Type(rep.sets[i].Type), n, r.cfg.MaxRRsetRecords)
		}
	}
	return rep
}

// foreign reports whether name lies outside the zone p was sent to: outside
// its bailiwick, or below a zone cut under it, known from earlier referrals
// or shown by this response's authority section. A server that serves both
// a parent and a child zone speaks for the parent only when it was asked as
// the parent's server (MaginotDNS). The DS set at a cut is the parent's.
func (r *Resolver) foreign(p *pending, m *dns.Msg, name string) bool {
	if !isSubDomain(name, p.zone) {
		return true
	}
	if name == p.zone {
		return false
	}
	atCutOK := p.qtype == dns.TypeDS && name == p.qname
	if r.cuts.cutBetween(name, p.zone, atCutOK, p.now) {
		r.stats.crossZone.Add(1)
		return true
	}
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok && isProperSubDomain(ns.Hdr.Name, p.zone) && isSubDomain(name, ns.Hdr.Name) {
			if atCutOK && equalName(ns.Hdr.Name, name) {
				continue
			}
			return true
		}
	}
	return false
}

// classifyResponse reads a response in the order of the rules in classify:
// first the message as a whole (checkMessage), then the answer section along
// the CNAME/DNAME chain from the query name (chainWalk), and then, by what
// the chain found, one kind of response each with its own function: data of
// the query type (answerReply), a chain that goes on in another zone, or,
// when the chain ends without data, a referral (classifyReferral) or a
// negative answer (negativeReply), which the authority section tells apart.
func (r *Resolver) classifyResponse(p *pending, m *dns.Msg) *reply {
	if rep := checkMessage(p, m); rep != nil {
		return rep
	}
	c := chainWalk{r: r, p: p, m: m}
	if rep := c.walk(); rep != nil {
		return rep
	}
	switch {
	case c.final:
		return r.answerReply(&c)
	case c.left:
		// The chain leaves the bailiwick: the next zone's servers answer
		// for its target.
		return r.leftAt(&c)
	}
	auth, rep := r.readAuthority(p, m, c.cur)
	if rep != nil {
		return rep
	}
	if rep := r.classifyReferral(&c, &auth); rep != nil {
		return rep
	}
	if c.crossed {
		// Not a referral to the zone the name lies in, and nothing else a
		// server of the parent may say about it.
		return badReply("response for %s, below a zone cut under %s, is no referral", p.qname, p.zone)
	}
	return r.negativeReply(&c, auth.soa)
}

// leftAt is the reply for a chain that leaves the bailiwick. When it
// leaves into a child zone of p.zone whose delegation the authority
// section shows (a server of both zones answering as the parent, with the
// child's NS set beside the chain), the delegation is taken as a
// referral's would be, at the same ranks and under the same rules, so
// that the rest of the chain is asked of the child's servers directly;
// the child's data in the answer section stays untaken (MaginotDNS).
func (r *Resolver) leftAt(c *chainWalk) *reply {
	rep := c.continueAt()
	p, m := c.p, c.m
	auth, bad := r.readAuthority(p, m, c.cur)
	if bad != nil || auth.nsOwner == "" || auth.soa != nil {
		return rep
	}
	child := lowerASCII(auth.nsOwner)
	if !isProperSubDomain(child, p.zone) || !isSubDomain(c.cur, child) || r.cuts.cutBetween(parentName(child), p.zone, false, p.now) {
		return rep
	}
	rep.sets = append(rep.sets, r.referral(p, m, child, auth.ns).sets...)
	return rep
}

// checkMessage applies the rules that concern the message as a whole: it
// must answer p (response bit, opcode, ID, the one question), and its
// truncation and rcode must let it be read. It returns nil when the
// sections may be read, and otherwise what the response means: a retry
// over TCP or without EDNS, a lame server, or an unusable response.
func checkMessage(p *pending, m *dns.Msg) *reply {
	if m == nil {
		return badReply("no message")
	}
	if !m.Response || m.Opcode != dns.OpcodeQuery {
		return badReply("not a query response")
	}
	if m.Id != p.id {
		return badReply("id %d does not match %d", m.Id, p.id)
	}
	if len(m.Question) != 1 {
		return badReply("%d questions", len(m.Question))
	}
	if q := m.Question[0]; !equalName(q.Name, p.qname) || q.Qtype != p.qtype || q.Qclass != p.qclass {
		return badReply("question %s/%d does not match %s/%d", q.Name, q.Qtype, p.qname, p.qtype)
	}
	if m.Truncated && !p.tcp {
		return &reply{kind: replyTruncated}
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return nil
	case dns.RcodeFormatError:
		if p.edns {
			return &reply{kind: replyFormErr}
		}
		return badReply("FORMERR without EDNS")
	case dns.RcodeRefused, dns.RcodeNotImplemented:
		return lameReply(dns.RcodeToString[m.Rcode])
	}
	return badReply("rcode %s", rcodeName(m.Rcode))
}

// recursionLame reports whether a response is the answer of a server that
// offers recursion and does not claim authority: a recursive resolver
// deployed where an authoritative server should be, answering from its
// cache (Unbound's RESPONSE_TYPE_REC_LAME). Queries upstream never set RD,
// so no honest server of the zone answers that way. Such an answer is
// taken only when no other server of the zone gives one (queryZone), as
// Unbound uses a recursion-lame server only as the last resort.
//
// Otherwise an answer without the AA bit is taken, as Unbound and Knot
// Resolver take it: many load balancers and some authoritative servers
// leave the bit off. It changes nothing the matching and bailiwick rules
// decide (a forger can set AA as easily as leave it off); what it changes
// is credibility: its records rank as RankAnswerNonAuth (RFC 2181 section
// 5.4.1), below what an authoritative answer says, so they never replace
// authoritative data and are replaced by the next authoritative answer.
func recursionLame(m *dns.Msg) bool {
	return m.RecursionAvailable && !m.Authoritative
}

// answerReply is the reply to a response with data of the query type at the
// end of the chain, never with NXDOMAIN. The answer to an NS query brings
// the addresses of the name servers with it, as a referral does.
func (r *Resolver) answerReply(c *chainWalk) *reply {
	p, m := c.p, c.m
	if m.Rcode != dns.RcodeSuccess {
		return badReply("answer data with rcode %s", rcodeName(m.Rcode))
	}
	rep := c.reply(replyAnswer)
	if p.qtype == dns.TypeNS {
		rep.glue, _, rep.sets = r.collectGlue(p, m, c.cur, c.finalNS(), rep.sets)
	} else if m.Authoritative {
		rep.sets = r.zoneNS(p, m, rep.sets)
	}
	c.wildcardProof(rep)
	return rep
}

// zoneNS takes from the authority section of an authoritative answer the
// zone's own NS set (its owner the zone asked) and the glue for it: the
// child's word on its servers, which may name servers the parent's
// referral did not (when those fail, these are asked). It ranks as answer
// data without AA, below what an NS query's authoritative answer says,
// and admit gives it no more life than the delegation already cached has
// (ghost domains): without one it is not taken.
func (r *Resolver) zoneNS(p *pending, m *dns.Msg, sets []RRset) []RRset {
	ns := RRset{Name: p.zone, Type: dns.TypeNS, Class: p.qclass, Rank: RankAnswerNonAuth}
	var names []*dns.NS
	for _, rr := range m.Ns {
		n, ok := rr.(*dns.NS)
		if !ok || n.Hdr.Class != p.qclass || !equalName(n.Hdr.Name, p.zone) || len(names) >= r.cfg.MaxDelegationNS {
			continue
		}
		cp := r.capTTL(n).(*dns.NS)
		cp.Hdr.Name = p.zone
		cp.Ns = lowerASCII(cp.Ns)
		ns.RRs = append(ns.RRs, cp)
		names = append(names, cp)
	}
	if len(names) == 0 {
		return sets
	}
	sets = append(sets, ns)
	_, _, sets = r.collectGlue(p, m, p.zone, names, sets)
	return sets
}

// wildcardProof gives a reply whose chain holds a wildcard expansion the
// proof, from the authority section, that the name itself does not exist
// (RFC 4035 section 3.1.3.3): it goes with the answer, for the validator
// and for clients that validate, and is not cached.
func (c *chainWalk) wildcardProof(rep *reply) {
	if expandsWildcard(rep.chain) {
		rep.authority = c.r.denialRecords(c.p, c.m, c.p.zone, c.r.cfg.MaxTTL, nil)
	}
}

// expandsWildcard reports whether an RRSIG in chain shows a wildcard
// expansion: a Labels field below its owner's label count.
func expandsWildcard(chain []dns.RR) bool {
	for _, rr := range chain {
		if s, ok := rr.(*dns.RRSIG); ok && int(s.Labels) < labelCount(s.Hdr.Name) {
			return true
		}
	}
	return false
}

// authority is what the authority section says about a response whose chain
// ended without data: the NS set of a referral (the first owner's, at most
// Config.MaxDelegationNS records) and the SOA of a negative answer.
type authority struct {
	nsOwner string // as written in the response
	ns      []*dns.NS
	soa     *dns.SOA // in the bailiwick and at or above cur
}

// readAuthority collects the authority section of m for a chain ending at
// cur. A section with the NS sets of two owners is refused: no referral
// delegates two zones.
func (r *Resolver) readAuthority(p *pending, m *dns.Msg, cur string) (authority, *reply) {
	var a authority
	for _, rr := range m.Ns {
		h := rr.Header()
		if h.Class != p.qclass {
			continue
		}
		switch rr := rr.(type) {
		case *dns.NS:
			switch {
			case a.nsOwner == "":
				a.nsOwner = h.Name
			case !equalName(a.nsOwner, h.Name):
				return a, badReply("authority holds NS sets of %s and %s", a.nsOwner, h.Name)
			}
			if len(a.ns) < r.cfg.MaxDelegationNS {
				a.ns = append(a.ns, rr)
			}
		case *dns.SOA:
			if a.soa == nil && isSubDomain(cur, h.Name) && !r.foreign(p, m, lowerASCII(h.Name)) {
				a.soa = rr
			}
		}
	}
	return a, nil
}

// classifyReferral decides whether a response whose chain ended without
// data is a referral: NOERROR, an NS set and no SOA. A referral must go
// strictly below the zone p was sent to and towards the name, must not
// answer a DS query with the child's servers (the parent holds the DS set)
// and must not delegate below a zone cut already known under p.zone. It
// returns the referral or why it was refused, or nil when the response is
// no referral and may be a negative answer.
func (r *Resolver) classifyReferral(c *chainWalk, a *authority) *reply {
	p, m := c.p, c.m
	if m.Rcode != dns.RcodeSuccess || a.soa != nil || a.nsOwner == "" {
		return nil
	}
	child := lowerASCII(a.nsOwner)
	switch {
	case !isProperSubDomain(child, p.zone) || !isSubDomain(c.cur, child):
		if m.Authoritative && child == p.zone {
			// An authoritative NODATA that lists the zone's own NS set
			// in the authority section, without an SOA.
			return nil
		}
		// An upward referral (to the root, say), AA or not: the server
		// is not authoritative for the zone, whatever it claims.
		return lameReply("referral to " + child + " is not below " + p.zone + " towards " + c.cur)
	case p.qtype == dns.TypeDS && child == c.cur:
		// The parent holds the DS set; a referral to the child for it
		// comes from a server that is not authoritative for the parent.
		return lameReply("referral for a DS query")
	case r.cuts.cutBetween(parentName(child), p.zone, false, p.now):
		// A delegation below a cut we know of, from the servers above
		// it: they speak for a zone they were not asked about.
		r.stats.crossZone.Add(1)
		return badReply("referral to %s crosses a known zone cut below %s", child, p.zone)
	}
	// A chain into a delegated child never gets here: the child's NS set
	// makes its target foreign, and the walk stops there (c.left).
	return r.referral(p, m, child, a.ns)
}

// negativeReply is the reply to a response that has no data for the name at
// the end of the chain and is no referral: NXDOMAIN or NODATA. It is cached
// (RFC 2308) only with the zone's SOA and the AA bit, and then with the
// NSEC, NSEC3 and RRSIG records that prove it, their TTLs capped by the
// negative TTL. A
// chain that stops inside the zone with neither data nor SOA is no negative
// answer: the server gave up chasing it (servers limit chains too), and the
// rest is asked for.
func (r *Resolver) negativeReply(c *chainWalk, soa *dns.SOA) *reply {
	p, m := c.p, c.m
	if len(c.chain) > 0 && soa == nil && m.Rcode == dns.RcodeSuccess {
		return c.continueAt()
	}
	kind := replyNoData
	if m.Rcode == dns.RcodeNameError {
		kind = replyNXDomain
	}
	rep := c.reply(kind)
	if soa == nil {
		// RFC 2308 §5: without an SOA a negative answer is not cached;
		// its denial records, if any, still go to the client, whose
		// validator may prove the answer with them.
		rep.authority = r.denialRecords(p, m, p.zone, r.cfg.MaxNegativeTTL, nil)
		return rep
	}
	negTTL := min(soa.Hdr.Ttl, soa.Minttl, r.cfg.MaxNegativeTTL)
	s := dns.Copy(soa).(*dns.SOA)
	s.Hdr.Ttl = negTTL
	rep.authority = r.denialRecords(p, m, soa.Hdr.Name, negTTL, append(rep.authority, s))
	if !m.Authoritative {
		// The client gets it, but a negative entry has no rank to keep
		// it below what an authoritative server says, so it is not
		// remembered: the next question asks again.
		return rep
	}
	neg := &Negative{Name: c.cur, Type: p.qtype, Class: p.qclass, Rcode: m.Rcode, TTL: negTTL, Authority: rep.authority}
	if kind == replyNXDomain {
		neg.Type = dns.TypeNone
	}
	rep.neg = neg
	return rep
}

// denialRecords appends to out the NSEC and NSEC3 records of m's authority
// section at or below zone and the RRSIGs over them and the SOA, their
// TTLs capped by ttl, at most maxDenialProof records in all.
func (r *Resolver) denialRecords(p *pending, m *dns.Msg, zone string, ttl uint32, out []dns.RR) []dns.RR {
	for _, rr := range m.Ns {
		if len(out) > maxDenialProof {
			break
		}
		h := rr.Header()
		if h.Class != p.qclass || !isSubDomain(h.Name, zone) {
			continue
		}
		switch h.Rrtype {
		case dns.TypeRRSIG:
			switch rr.(*dns.RRSIG).TypeCovered {
			case dns.TypeSOA, dns.TypeNSEC, dns.TypeNSEC3:
			default:
				continue // the signature of a set not taken
			}
		case dns.TypeNSEC, dns.TypeNSEC3:
		default:
			continue
		}
		cp := dns.Copy(rr)
		cp.Header().Ttl = min(cp.Header().Ttl, ttl)
		out = append(out, cp)
	}
	return out
}

// labAcceptForeign is Config.LabAcceptOutOfBailiwick: the acceptance of a
// pre-1997 resolver, for the lab's demonstration only. To a usable reply it
// adds, as cacheable sets, the records the rules above refused for their
// owner alone: answer-section records off the chain, and authority and
// additional records whose owner lies outside the zone p was sent to. The
// credibility ranks stay those of the section (an off-chain record in an
// authoritative answer ranks as an answer), since that is what made such
// records win: a resolver that believed them served them as it served the
// answer. The message checks (ID, question, rcode, AA) still apply; only
// the bailiwick is given up, so that the lab shows that rule alone.
func (r *Resolver) labAcceptForeign(p *pending, m *dns.Msg, rep *reply) {
	switch rep.kind {
	case replyAnswer, replyCNAME, replyReferral, replyNXDomain, replyNoData:
	default:
		return
	}
	answerRank := RankAnswerNonAuth
	if m.Authoritative {
		answerRank = RankAnswerAuth
	}
	sections := [...]struct {
		rrs    []dns.RR
		rank   Rank
		inZone bool // in-bailiwick records of the section are taken too
	}{
		{m.Answer, answerRank, true},
		{m.Ns, RankAuthority, false},
		{m.Extra, RankAdditional, false},
	}
	kept := len(rep.sets)
	taken := 0
	for _, sec := range sections {
		for _, rr := range sec.rrs {
			if taken >= maxLabForeign {
				return
			}
			h := rr.Header()
			switch h.Rrtype {
			case dns.TypeOPT, dns.TypeRRSIG, dns.TypeTSIG, dns.TypeSIG:
				// Signatures travel with the sets they cover, and the
				// others are not data.
				continue
			}
			if h.Class != p.qclass {
				continue
			}
			name := lowerASCII(h.Name)
			if !sec.inZone && !r.foreign(p, m, name) {
				continue // in the bailiwick: the normal rules decided
			}
			if hasSet(rep.sets[:kept], name, h.Rrtype) {
				continue // on the chain, or a referral's own set
			}
			cp := r.capTTL(rr)
			cp.Header().Name = name
			rep.sets = addToSet(rep.sets, cp, sec.rank)
			taken++
			r.stats.labForeign.Add(1)
		}
	}
}

// hasSet reports whether sets holds an RRset of name and type.
func hasSet(sets []RRset, name string, rrtype uint16) bool {
	for i := range sets {
		if sets[i].Type == rrtype && sets[i].Name == name {
			return true
		}
	}
	return false
}

// referral builds the reply for a delegation to child.
func (r *Resolver) referral(p *pending, m *dns.Msg, child string, ns []*dns.NS) *reply {
	rep := &reply{kind: replyReferral, zone: child}
	nsSet := RRset{Name: child, Type: dns.TypeNS, Class: p.qclass, Rank: RankAuthority}
	for _, n := range ns {
		cp := r.capTTL(n).(*dns.NS)
		cp.Hdr.Name = child
		cp.Ns = lowerASCII(cp.Ns)
		rep.ns = append(rep.ns, cp)
		nsSet.RRs = append(nsSet.RRs, cp)
	}
	rep.sets = append(rep.sets, nsSet)
	// A signed delegation carries the child's DS set, authoritative data of
	// the parent, which a validator needs.
	ds := RRset{Name: child, Type: dns.TypeDS, Class: p.qclass, Rank: RankAuthority}
	for _, rr := range m.Ns {
		h := rr.Header()
		if h.Class != p.qclass || !equalName(h.Name, child) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.DS:
			ds.RRs = append(ds.RRs, r.capTTL(rr))
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeDS {
				ds.Sigs = append(ds.Sigs, r.capTTL(rr))
			}
		}
	}
	if len(ds.RRs) > 0 {
		rep.sets = append(rep.sets, ds)
	} else if nsec := r.referralNSEC(p, m, child); len(nsec.RRs) > 0 {
		rep.sets = append(rep.sets, nsec)
	}
	rep.glue, rep.siblingGlue, rep.sets = r.collectGlue(p, m, child, rep.ns, rep.sets)
	return rep
}

// referralNSEC takes the signed NSEC record at child that a referral to an
// unsigned delegation carries (RFC 4035 section 3.1.4.1: the parent's
// proof that the child has no DS), at RankAuthority: a DS query for child
// is answered from it (see dsDenial) as from the parent, and a validator
// checks it with the parent's keys like any denial. NSEC3 records are not
// taken: their owners are hashes the resolver does not compute.
func (r *Resolver) referralNSEC(p *pending, m *dns.Msg, child string) RRset {
	set := RRset{Name: child, Type: dns.TypeNSEC, Class: p.qclass, Rank: RankAuthority}
	for _, rr := range m.Ns {
		h := rr.Header()
		if h.Class != p.qclass || !equalName(h.Name, child) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.NSEC:
			if len(set.RRs) == 0 {
				cp := r.capTTL(rr)
				cp.Header().Name = child
				set.RRs = append(set.RRs, cp)
			}
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeNSEC {
				cp := r.capTTL(rr)
				cp.Header().Name = child
				set.Sigs = append(set.Sigs, cp)
			}
		}
	}
	if len(set.Sigs) == 0 {
		return RRset{}
	}
	return set
}

// collectGlue takes from the additional section the addresses of the given
// name servers of zone child that lie in the bailiwick (and, below a zone cut
// under it, only in child itself), and appends them as RRsets of rank
// RankAdditional. Glue in a sibling zone known to be delegated is neither
// cached nor used to reach the servers; it is returned apart (sibling),
// for the parent-side last resort (addParentSide) when the sibling's own
// servers cannot tell the address.
func (r *Resolver) collectGlue(p *pending, m *dns.Msg, child string, ns []*dns.NS, sets []RRset) (glue, sibling []dns.RR, _ []RRset) {
	for _, rr := range m.Extra {
		if len(glue) >= maxGlue {
			break
		}
		h := rr.Header()
		if h.Class != p.qclass || (h.Rrtype != dns.TypeA && h.Rrtype != dns.TypeAAAA) || !isSubDomain(h.Name, p.zone) {
			continue
		}
		wanted := false
		for _, n := range ns {
			if equalName(n.Ns, h.Name) {
				wanted = true
				break
			}
		}
		if !wanted {
			continue
		}
		name := lowerASCII(h.Name)
		cp := r.capTTL(rr)
		cp.Header().Name = name
		if !isSubDomain(name, child) && r.cuts.cutBetween(name, p.zone, false, p.now) {
			// Glue in a sibling zone we know is delegated: its own servers
			// will tell us the address.
			r.stats.crossZone.Add(1)
			sibling = append(sibling, cp)
			continue
		}
		glue = append(glue, cp)
		sets = addToSet(sets, cp, RankAdditional)
	}
	return glue, sibling, sets
}

// addToSet appends rr to the RRset of its owner and type in sets, creating
// the set if needed.
func addToSet(sets []RRset, rr dns.RR, rank Rank) []RRset {
	h := rr.Header()
	for i := range sets {
		s := &sets[i]
		if s.Type == h.Rrtype && s.Class == h.Class && s.Rank == rank && s.Name == h.Name {
			s.RRs = append(s.RRs, rr)
			return sets
		}
	}
	return append(sets, RRset{Name: h.Name, Type: h.Rrtype, Class: h.Class, RRs: []dns.RR{rr}, Rank: rank})
}

// addSig appends an RRSIG to the set it covers, if that set is in sets.
func addSig(sets []RRset, sig *dns.RRSIG) []RRset {
	for i := range sets {
		s := &sets[i]
		if s.Type == sig.TypeCovered && s.Class == sig.Hdr.Class && s.Name == sig.Hdr.Name {
			s.Sigs = append(s.Sigs, sig)
			break
		}
	}
	return sets
}

// capTTL returns a copy of rr with its TTL capped by the configured maximum.
func (r *Resolver) capTTL(rr dns.RR) dns.RR {
	cp := dns.Copy(rr)
	if h := cp.Header(); h.Ttl > r.cfg.MaxTTL {
		h.Ttl = r.cfg.MaxTTL
	}
	return cp
}

// chainWalk follows the CNAME/DNAME chain of an answer section from the
// query name.
type chainWalk struct {
	r *Resolver
	p *pending
	m *dns.Msg

	cur     string // lowercase
	rank    Rank   // of the records the chain takes: the AA bit decides
	chain   []dns.RR
	names   []string
	links   int
	sets    []RRset
	final   bool // data of the query type found at cur
	left    bool // cur is outside the bailiwick
	crossed bool // the query name itself is below a zone cut under the bailiwick
}

// walk runs the chain; it returns a reply only when the chain is broken.
func (c *chainWalk) walk() *reply {
	p := c.p
	c.cur = p.qname
	c.rank = RankAnswerNonAuth
	if c.m.Authoritative {
		c.rank = RankAnswerAuth
	}
	for {
		if c.r.foreign(p, c.m, c.cur) {
			// The chain reached another zone: its servers answer the rest.
			// At the query name itself the answer section is not read at
			// all; the authority section says where the name's zone is.
			c.left = len(c.chain) > 0
			c.crossed = !c.left
			return nil
		}
		for _, n := range c.names {
			if n == c.cur {
				return &reply{kind: replyChainErr, err: fmt.Errorf("%w at %s", ErrCNAMELoop, c.cur)}
			}
		}
		c.names = append(c.names, c.cur)
		if c.links > c.r.cfg.MaxCNAMEChain {
			return &reply{kind: replyChainErr, err: fmt.Errorf("%w (more than %d links)", ErrChainTooLong, c.r.cfg.MaxCNAMEChain)}
		}
		// Names below a DNAME owner are not in the zone (RFC 6672 §2.4),
		// so a DNAME above cur wins over a CNAME at cur, which is only the
		// server's synthesis and is replaced by ours.
		if d := c.findDNAME(); d != nil {
			target, ok := substituteDNAME(c.cur, d)
			if !ok {
				return badReply("DNAME %s substitution of %s is too long", d.Hdr.Name, c.cur)
			}
			dn := c.r.capTTL(d).(*dns.DNAME)
			dn.Hdr.Name = lowerASCII(dn.Hdr.Name)
			if !c.has(dn) {
				// A chain that passes one DNAME twice (a name
				// redirected below the DNAME's owner again) carries
				// it once.
				c.take(dn, c.rank)
			}
			synth := &dns.CNAME{
				Hdr:    dns.RR_Header{Name: c.cur, Rrtype: dns.TypeCNAME, Class: p.qclass, Ttl: dn.Hdr.Ttl},
				Target: target,
			}
			c.chain = append(c.chain, synth)
			c.sets = addToSet(c.sets, synth, RankAnswerNonAuth)
			c.links++
			c.cur = lowerASCII(target)
			continue
		}
		if c.collect() {
			c.final = true
			return nil
		}
		if p.qtype == dns.TypeCNAME {
			return nil
		}
		var cname *dns.CNAME
		for _, rr := range c.m.Answer {
			h := rr.Header()
			if h.Rrtype != dns.TypeCNAME || h.Class != p.qclass || !equalName(h.Name, c.cur) {
				continue
			}
			if cname != nil {
				if equalName(cname.Target, rr.(*dns.CNAME).Target) {
					continue // the same record twice (RFC 2181 section 5)
				}
				return badReply("several CNAMEs at %s", c.cur)
			}
			cname = rr.(*dns.CNAME)
		}
		if cname == nil {
			return nil
		}
		cp := c.r.capTTL(cname).(*dns.CNAME)
		cp.Hdr.Name = c.cur
		c.take(cp, c.rank)
		c.links++
		c.cur = lowerASCII(cname.Target)
	}
}

// has reports whether the chain holds rr already.
func (c *chainWalk) has(rr dns.RR) bool {
	for _, x := range c.chain {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}

// take adds rr and the RRSIGs covering it to the chain and the cacheable sets.
func (c *chainWalk) take(rr dns.RR, rank Rank) {
	c.chain = append(c.chain, rr)
	c.sets = addToSet(c.sets, rr, rank)
	h := rr.Header()
	for _, s := range c.m.Answer {
		sig, ok := s.(*dns.RRSIG)
		if ok && sig.TypeCovered == h.Rrtype && sig.Hdr.Class == h.Class && equalName(sig.Hdr.Name, h.Name) {
			cp := c.r.capTTL(sig).(*dns.RRSIG)
			cp.Hdr.Name = h.Name
			c.chain = append(c.chain, cp)
			c.sets = addSig(c.sets, cp)
		}
	}
}

// collect takes the records of the query type at cur (every type for ANY)
// and reports whether there were any.
func (c *chainWalk) collect() bool {
	p := c.p
	found := false
	var sigs []*dns.RRSIG
	for _, rr := range c.m.Answer {
		h := rr.Header()
		if h.Class != p.qclass || !equalName(h.Name, c.cur) || h.Rrtype == dns.TypeOPT {
			continue
		}
		if sig, ok := rr.(*dns.RRSIG); ok && p.qtype != dns.TypeRRSIG && p.qtype != dns.TypeANY {
			if sig.TypeCovered == p.qtype {
				sigs = append(sigs, sig)
			}
			continue
		}
		if p.qtype != dns.TypeANY && h.Rrtype != p.qtype {
			continue
		}
		cp := c.r.capTTL(rr)
		cp.Header().Name = c.cur
		c.chain = append(c.chain, cp)
		c.sets = addToSet(c.sets, cp, c.rank)
		found = true
	}
	if found {
		for _, sig := range sigs {
			cp := c.r.capTTL(sig).(*dns.RRSIG)
			cp.Hdr.Name = c.cur
			c.chain = append(c.chain, cp)
			c.sets = addSig(c.sets, cp)
		}
	}
	return found
}

// findDNAME returns the DNAME in the answer section, in the bailiwick, whose
// owner is the closest proper ancestor of cur, or nil.
func (c *chainWalk) findDNAME() *dns.DNAME {
	var best *dns.DNAME
	for _, rr := range c.m.Answer {
		d, ok := rr.(*dns.DNAME)
		if !ok || d.Hdr.Class != c.p.qclass || !isProperSubDomain(c.cur, d.Hdr.Name) || c.r.foreign(c.p, c.m, lowerASCII(d.Hdr.Name)) {
			continue
		}
		if best == nil || len(d.Hdr.Name) > len(best.Hdr.Name) {
			best = d
		}
	}
	return best
}

// finalNS returns the NS records of a positive answer to an NS query.
func (c *chainWalk) finalNS() []*dns.NS {
	var ns []*dns.NS
	for _, rr := range c.chain {
		if n, ok := rr.(*dns.NS); ok && n.Hdr.Name == c.cur && len(ns) < c.r.cfg.MaxDelegationNS {
			ns = append(ns, n)
		}
	}
	return ns
}

func (c *chainWalk) reply(kind replyKind) *reply {
	return &reply{kind: kind, chain: c.chain, links: c.links, names: c.names, sets: c.sets}
}

// continueAt is the reply for a chain that another query must go on with,
// at the name where this response left it.
func (c *chainWalk) continueAt() *reply {
	rep := c.reply(replyCNAME)
	rep.next = c.cur
	c.wildcardProof(rep)
	return rep
}

// substituteDNAME replaces the owner of d at the end of name with d's target
// (RFC 6672 §2.2). It fails when the result exceeds the limits of a name.
func substituteDNAME(name string, d *dns.DNAME) (string, bool) {
	prefix := name[:len(name)-len(d.Hdr.Name)]
	if d.Hdr.Name == "." {
		prefix = name
	}
	target := dns.Fqdn(d.Target)
	out := prefix + target
	if target == "." {
		out = prefix
	}
	if _, ok := dns.IsDomainName(out); !ok {
		return "", false
	}
	return out, true
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// usableAddr rejects addresses no name server can have; a hostile referral
// must not make the resolver send to broadcast or multicast groups.
func usableAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
