package validate

import (
	"encoding/base32"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// Aggressive use of the DNSSEC-validated cache (RFC 8198): the NSEC and
// NSEC3 records of a secure zone that validated as part of a denial say
// that no name exists between their owner and next name, for as long as
// their TTL lasts. A later query for a name inside such a span, or for a
// type an NSEC's bitmap lacks, is answered NXDOMAIN or NODATA from them,
// with AD and the proof, without asking upstream. A random-subdomain flood
// against a signed zone then costs the zone's servers one query per span,
// not one per name.
//
// What may not be synthesised, and is asked upstream as before: names in
// an NSEC3 opt-out span (an unsigned delegation may sit there, RFC 8198
// section 5.2), NSEC3 chains above the iteration limit, names below a
// delegation or DNAME the chain shows, and answers from a wildcard that
// exists (a positive answer would need the wildcard's data, RFC 8198
// section 5.3; only its NODATA is synthesised, from the wildcard's own
// NSEC). dnssec.Validator.Synthesize runs the proofs; this file keeps the
// records and picks the ones a question needs.

// maxDenialPerZone bounds the records kept per zone; a zone whose spans
// fill it starts over.
const maxDenialPerZone = 1024

// denialRecord is one cached NSEC or NSEC3 record.
type denialRecord struct {
	// key orders the records of a zone: the owner, canonical, for NSEC;
	// the hashed owner label in upper case (base32hex keeps the order of
	// the hashes) for NSEC3.
	key     string
	rr      dns.RR   // *dns.NSEC or *dns.NSEC3, a copy
	sigs    []dns.RR // its RRSIGs, copies
	expires time.Time
}

// zoneDenial is what is kept for one zone.
type zoneDenial struct {
	zone       string
	nsec       []denialRecord // sorted by key
	nsec3      []denialRecord // sorted by key, all with the same parameters
	soa        []dns.RR       // the zone's SOA and its RRSIGs, validated
	soaExpires time.Time
	prev, next *zoneDenial // LRU list
}

func (z *zoneDenial) size() int { return len(z.nsec) + len(z.nsec3) }

// denialCache holds the zones' records under one bound, evicting the
// least recently used zone beyond it. Safe for concurrent use.
type denialCache struct {
	mu      sync.Mutex
	max     int                    // immutable: records in all
	zones   map[string]*zoneDenial // guarded by mu, and so are the zones
	head    zoneDenial             // guarded by mu: LRU sentinel, head.next the most recent
	records int                    // guarded by mu
}

func newDenialCache(max int) *denialCache {
	c := &denialCache{max: max, zones: map[string]*zoneDenial{}}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

func (c *denialCache) touch(z *zoneDenial) {
	if z.prev != nil {
		z.prev.next, z.next.prev = z.next, z.prev
	}
	z.prev, z.next = &c.head, c.head.next
	c.head.next.prev = z
	c.head.next = z
}

func (c *denialCache) drop(z *zoneDenial) {
	z.prev.next, z.next.prev = z.next, z.prev
	z.prev, z.next = nil, nil
	c.records -= z.size()
	delete(c.zones, z.zone)
}

// flush forgets everything.
func (c *denialCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.zones)
	c.head.prev, c.head.next = &c.head, &c.head
	c.records = 0
}

var hashEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// add keeps the NSEC and NSEC3 records among rrs that belong to zone
// (canonical), with the RRSIGs among rrs that cover them, and the zone's
// SOA when soa holds it with its RRSIGs: all of them validated, for ttl
// seconds. rrs is not modified.
func (c *denialCache) add(zone string, rrs []dns.RR, soa []dns.RR, ttl uint32, now time.Time) {
	if ttl == 0 {
		return
	}
	expires := now.Add(time.Duration(ttl) * time.Second)
	var recs []denialRecord
	for _, rr := range rrs {
		h := rr.Header()
		var key string
		switch rr := rr.(type) {
		case *dns.NSEC:
			if !dns.IsSubDomain(zone, h.Name) {
				continue
			}
			key = canonicalName(h.Name)
		case *dns.NSEC3:
			off, end := dns.NextLabel(h.Name, 0)
			if end || !equalName(h.Name[off:], zone) || rr.Flags > 1 || rr.Hash != dns.SHA1 {
				continue
			}
			key = strings.ToUpper(h.Name[:off-1])
		default:
			continue
		}
		recs = append(recs, denialRecord{key: key, rr: dns.Copy(rr), sigs: copies(sigsOf(rrs, h.Name, h.Rrtype)), expires: expires})
	}
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	z := c.zones[zone]
	if z == nil {
		z = &zoneDenial{zone: zone}
		c.zones[zone] = z
	}
	c.touch(z)
	if len(soa) > 0 {
		z.soa, z.soaExpires = copies(soa), expires
	}
	before := z.size()
	for _, r := range recs {
		if _, ok := r.rr.(*dns.NSEC); ok {
			z.nsec = insertRecord(z.nsec, r, now, func(a, b string) int { return dnssec.CanonicalCompare(a, b) })
			continue
		}
		if len(z.nsec3) > 0 && !sameParams(z.nsec3[0].rr.(*dns.NSEC3), r.rr.(*dns.NSEC3)) {
			z.nsec3 = nil // the zone's chain changed its salt or iterations
		}
		z.nsec3 = insertRecord(z.nsec3, r, now, strings.Compare)
	}
	c.records += z.size() - before
	for c.records > c.max && c.head.prev != &c.head {
		old := c.head.prev
		c.drop(old)
	}
}

func sameParams(a, b *dns.NSEC3) bool {
	return a.Iterations == b.Iterations && strings.EqualFold(a.Salt, b.Salt)
}

func copies(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// insertRecord puts r into the sorted list recs, replacing a record with
// its key; a full list drops its expired records first, and starts over
// when none had expired.
func insertRecord(recs []denialRecord, r denialRecord, now time.Time, cmp func(a, b string) int) []denialRecord {
	i := sort.Search(len(recs), func(i int) bool { return cmp(recs[i].key, r.key) >= 0 })
	if i < len(recs) && recs[i].key == r.key {
		recs[i] = r
		return recs
	}
	if len(recs) >= maxDenialPerZone {
		live := recs[:0]
		for _, x := range recs {
			if now.Before(x.expires) {
				live = append(live, x)
			}
		}
		clear(recs[len(live):])
		recs = live
		if len(recs) >= maxDenialPerZone {
			recs = recs[:0]
		}
		i = sort.Search(len(recs), func(i int) bool { return cmp(recs[i].key, r.key) >= 0 })
	}
	recs = append(recs, denialRecord{})
	copy(recs[i+1:], recs[i:])
	recs[i] = r
	return recs
}

// floor returns the index of the last record whose key sorts at or before
// key, wrapping to the last record of the list (the NSEC or NSEC3 record
// whose span wraps around the end of the chain) when none does; -1 for an
// empty list.
func floor(recs []denialRecord, key string, cmp func(a, b string) int) int {
	i := sort.Search(len(recs), func(i int) bool { return cmp(recs[i].key, key) > 0 }) - 1
	if i < 0 {
		i = len(recs) - 1
	}
	return i
}

// candidates are the cached records a question may be answered from.
type candidates struct {
	proof []dns.RR // NSEC or NSEC3 records, for Synthesize
	sigs  []dns.RR // their RRSIGs
	soa   []dns.RR
	ttl   uint32 // the least time left of all of them, in seconds
}

func (cd *candidates) take(r *denialRecord, now time.Time) bool {
	if !now.Before(r.expires) {
		return false
	}
	for _, p := range cd.proof {
		if p == r.rr {
			return true
		}
	}
	cd.proof = append(cd.proof, r.rr)
	cd.sigs = append(cd.sigs, r.sigs...)
	cd.ttl = min(cd.ttl, uint32(r.expires.Sub(now)/time.Second))
	return true
}

// lookup picks the records of zone that may prove qname/qtype absent:
// with NSEC, the record at or before qname and the one at or before the
// wildcard at the closest encloser they imply; with NSEC3, the closest
// encloser's match, the next closer name's cover and the wildcard's match
// or cover. maxIterations and maxHashes bound the NSEC3 work; needSOA asks
// for the zone's SOA too, which a synthesised answer carries. ok is false
// when there is nothing usable.
func (c *denialCache) lookup(zone, qname string, now time.Time, maxIterations, maxHashes int, needSOA bool) (candidates, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	z := c.zones[zone]
	hasSOA := z != nil && len(z.soa) > 0 && now.Before(z.soaExpires)
	if z == nil || needSOA && !hasSOA {
		return candidates{}, false
	}
	c.touch(z)
	cd := candidates{ttl: math.MaxUint32}
	if hasSOA {
		cd.soa, cd.ttl = z.soa, uint32(z.soaExpires.Sub(now)/time.Second)
	}
	if len(z.nsec) > 0 {
		cmp := dnssec.CanonicalCompare
		r := &z.nsec[floor(z.nsec, qname, cmp)]
		if !cd.take(r, now) {
			return candidates{}, false
		}
		n := r.rr.(*dns.NSEC)
		ce := suffix(qname, max(dns.CompareDomainName(qname, n.Hdr.Name), dns.CompareDomainName(qname, n.NextDomain)))
		if ce != qname {
			if w := &z.nsec[floor(z.nsec, "*."+ce, cmp)]; !cd.take(w, now) {
				return candidates{}, false
			}
		}
		return cd, true
	}
	if len(z.nsec3) == 0 {
		return candidates{}, false
	}
	n3 := z.nsec3[0].rr.(*dns.NSEC3)
	if int(n3.Iterations) > maxIterations {
		return candidates{}, false
	}
	hashes := 0
	hash := func(name string) (string, bool) {
		if hashes++; hashes > maxHashes {
			return "", false
		}
		h, ok := dnssec.NSEC3Hash(name, n3.Salt, n3.Iterations)
		return hashEncoding.EncodeToString(h[:]), ok
	}
	cover := -1
	ce := ""
	for k := dns.CountLabel(qname); k >= dns.CountLabel(zone); k-- {
		cand := suffix(qname, k)
		h, ok := hash(cand)
		if !ok {
			return candidates{}, false
		}
		i := floor(z.nsec3, h, strings.Compare)
		if z.nsec3[i].key == h {
			if !cd.take(&z.nsec3[i], now) {
				return candidates{}, false
			}
			ce = cand
			break
		}
		cover = i
	}
	if ce == "" {
		return candidates{}, false
	}
	if ce != qname {
		if cover < 0 || !cd.take(&z.nsec3[cover], now) {
			return candidates{}, false
		}
		h, ok := hash("*." + ce)
		if !ok {
			return candidates{}, false
		}
		if !cd.take(&z.nsec3[floor(z.nsec3, h, strings.Compare)], now) {
			return candidates{}, false
		}
	}
	return cd, true
}

// suffix returns the last labels labels of name (the root for 0).
func suffix(name string, labels int) string {
	idx := dns.Split(name)
	if labels >= len(idx) {
		return name
	}
	if labels <= 0 {
		return "."
	}
	return name[idx[len(idx)-labels]:]
}

// secureZone returns the deepest zone above or at target that the key
// cache knows to be secure, walking only what is cached: no fetch. ok is
// false when no anchor covers target, or the walk meets an insecure or
// bogus link on the way (the name may lie in an unsigned zone, whose
// absence a signed parent cannot prove). Where the walk meets a name it
// knows nothing about it stops with the zone so far: if the name is a
// delegation the zone's chain shows it (an NSEC or NSEC3 with NS and no
// SOA), and the proofs refuse to speak beyond it.
func (q *query) secureZone(target string) (string, bool) {
	anchor, ok := q.r.v.ClosestAnchor(target)
	if !ok {
		return "", false
	}
	anchor = canonicalName(anchor)
	l, ok := q.r.keys.get(anchor, q.now)
	if !ok || l.kind != zoneSecure {
		return "", false
	}
	zone := anchor
	for pos := anchor; pos != target; {
		child := labelBelow(target, pos)
		l, ok := q.r.keys.get(child, q.now)
		if !ok {
			return zone, true
		}
		switch l.kind {
		case zoneSecure:
			zone = child
		case notACut:
		case nonexistent:
			return zone, true
		default:
			return "", false
		}
		pos = child
	}
	return zone, true
}

// synthesize answers qname/qtype from the cached denials of its zone
// (RFC 8198), or reports false. The response is NXDOMAIN or NODATA with
// AD, the zone's SOA and the proof in the authority section, every TTL the
// least time any of them has left.
func (q *query) synthesize(qname string, qtype uint16) (*dns.Msg, bool) {
	if q.r.cfg.DisableAggressiveNSEC {
		return nil, false
	}
	name := canonicalName(qname)
	target := name
	if qtype == dns.TypeDS && name != "." {
		target = parentName(name) // the parent's data
	}
	zone, ok := q.secureZone(target)
	if !ok {
		return nil, false
	}
	lim := q.r.v.Limits()
	cd, ok := q.r.denials.lookup(zone, name, q.now, lim.NSEC3Iterations, lim.MaxNSEC3Hashes, true)
	if !ok {
		return nil, false
	}
	rcode, res := q.r.v.Synthesize(name, qtype, zone, cd.proof, q.budget)
	if rcode < 0 || res.Status != dnssec.Secure {
		return nil, false
	}
	ttl := min(cd.ttl, res.TTL)
	if s, ok := cd.soa[0].(*dns.SOA); ok {
		ttl = min(ttl, s.Minttl)
	}
	if ttl == 0 {
		return nil, false
	}
	m := failure(dns.Fqdn(qname), qtype, dns.ClassINET, rcode)
	m.AuthenticatedData = true
	for _, set := range [3][]dns.RR{cd.soa, cd.proof, cd.sigs} {
		for _, rr := range set {
			cp := dns.Copy(rr)
			cp.Header().Ttl = ttl
			m.Ns = append(m.Ns, cp)
		}
	}
	return m, true
}

// learn keeps the NSEC and NSEC3 records of a denial that validated with
// the keys of zone, for ttl seconds; soa is the zone's SOA with its
// RRSIGs, validated, or nil.
func (q *query) learn(zone string, authority, soa []dns.RR, ttl uint32) {
	if q.r.cfg.DisableAggressiveNSEC {
		return
	}
	q.r.denials.add(canonicalName(zone), authority, soa, ttl, q.now)
}
