package authoritative

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/rrtext"
	"github.com/rampart-fw/rampart/srcpos"
)

// Bounds on one zone, so that a hostile or mistaken file ($GENERATE makes
// 65535 records a line) fails to load instead of exhausting memory.
const (
	MaxZoneRecords = 1 << 20
	// MaxZoneNames counts owner names and the empty non-terminals
	// between them and the apex.
	MaxZoneNames = 1 << 20
)

// Delegation describes one zone cut below the apex as the zone file draws
// it, so that an operator (or the lab) can see which delegations carry
// their glue.
type Delegation struct {
	Name string   // owner of the NS RRset, canonical form
	NS   []string // name server names, canonical form
	// Glue holds the address records this zone has for name servers in
	// its bailiwick, which go into the additional section of referrals.
	Glue []dns.RR
	// MissingGlue lists name servers under the cut itself without any
	// address in the zone: a resolver cannot follow such a delegation.
	MissingGlue []string
	// Glueless lists name servers outside this zone; the resolver must
	// resolve them separately.
	Glueless []string
}

// Zone is one zone's data, checked and indexed for answering. A Zone is
// read-only once handed to a Store or Server; SignZone must run before.
type Zone struct {
	origin string // canonical form
	file   string
	nodes  map[string]*node
	apex   *node
	soa    *dns.SOA

	negSOA     []dns.RR // SOA with the RFC 2308 negative TTL
	negSOASigs []dns.RR

	nsecOrder  []*node       // nodes owning an NSEC RRset, canonical order
	nsec3      []*nsec3Entry // sorted by hash once indexed
	nsec3Hash  map[string]*nsec3Entry
	nsec3Param *dns.NSEC3PARAM

	warnings    []string
	delegations []Delegation
}

// node is one owner name. An empty node (no rrsets, no sigs) is an empty
// non-terminal: it exists for the purposes of RFC 1034 name matching.
type node struct {
	name     string // canonical form
	rrsets   map[uint16][]dns.RR
	sigs     map[uint16][]dns.RR // RRSIGs keyed by the type they cover
	types    []uint16            // keys of rrsets, ascending
	cut      bool                // NS RRset below the apex
	occluded bool                // strictly below a cut: glue only
	key      [][]byte            // canonical-order key, see wireLabels
}

func (n *node) empty() bool { return len(n.rrsets) == 0 && len(n.sigs) == 0 }

// nsec3Entry is kept apart from the nodes because NSEC3 owner names are not
// part of the zone's ordinary name space (RFC 5155 section 7.2.8).
type nsec3Entry struct {
	hash string // first label, upper case base32hex
	set  []dns.RR
	sigs []dns.RR
}

// MaxZoneFile bounds the size of a zone file, which is read whole.
const MaxZoneFile = 1 << 28

// LoadZone reads a master file. origin may be empty when every name in the
// file is absolute; the owner of the SOA then names the zone. $INCLUDE is
// honoured because the file comes from the operator. A zone that fails to
// load gives a srcpos.List of every problem found, each naming its file
// and, when it is about one record or line, where that is.
func LoadZone(path, origin string) (*Zone, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseZone(f, origin, path, true)
}

// ParseZone reads a master file from r; file names it in errors. $INCLUDE
// is refused because r may hold text from anywhere.
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	return parseZone(r, origin, file, false)
}

func parseZone(r io.Reader, origin, file string, include bool) (*Zone, error) {
	if file == "" {
		file = "<zone>"
	}
	text, err := io.ReadAll(io.LimitReader(r, MaxZoneFile+1))
	if err != nil {
		return nil, err
	}
	if len(text) > MaxZoneFile {
		return nil, srcpos.List{srcpos.Pos{File: file}.Errorf("larger than %d bytes", MaxZoneFile)}
	}
	recs, errs := rrtext.ReadMaster(file, text, rrtext.Options{
		Origin: origin, Include: include, Generate: true,
		MaxRecords: MaxZoneRecords, What: "zone text that is not read from a file",
	})
	return newZone(origin, file, recs, errs)
}

// NewZone checks records and builds a zone from them; origin may be empty
// to take it from the SOA. file only names the zone in errors. The records
// become the zone's: the caller must not modify them afterwards.
func NewZone(origin, file string, rrs []dns.RR) (*Zone, error) {
	if file == "" {
		file = "<zone>"
	}
	recs := make([]rrtext.Record, len(rrs))
	for i, rr := range rrs {
		recs[i] = rrtext.Record{RR: rr, Pos: srcpos.Pos{File: file}}
	}
	return newZone(origin, file, recs, nil)
}

// newZone checks the records of a zone file and builds the zone. Every
// problem is reported. When records are missing (lines that did not parse,
// records refused), the checks that look for what is absent (an SOA and NS
// at the apex, the delegation a DS needs) are left out, since they would
// report what was only lost.
func newZone(origin, file string, recs []rrtext.Record, errs srcpos.List) (*Zone, error) {
	whole := srcpos.Pos{File: file}
	if origin == "" {
		for _, r := range recs {
			if r.RR.Header().Rrtype == dns.TypeSOA {
				origin = r.RR.Header().Name
				break
			}
		}
		if origin == "" && len(errs) == 0 {
			errs.Add(whole.Errorf("no origin given and no SOA record to take it from"))
		}
		if origin == "" {
			errs.Sort()
			return nil, errs
		}
	}
	if _, ok := dns.IsDomainName(origin); !ok {
		errs.Add(whole.Errorf("bad origin %q", origin))
		return nil, errs
	}
	if len(recs) > MaxZoneRecords {
		errs.Add(whole.Errorf("%d records, more than %d", len(recs), MaxZoneRecords))
		return nil, errs
	}
	z := &Zone{origin: canonicalName(origin), file: file, nodes: make(map[string]*node)}
	z.apex = z.node(z.origin)

	// RFC 2181 section 5: an RRset holds no duplicates. The key is the
	// record without its TTL, so that dedup stays linear in big RRsets.
	seen := make(map[string]struct{}, len(recs))
	for _, rec := range recs {
		rr, h := rec.RR, rec.RR.Header()
		name := canonicalName(h.Name)
		rdata := strings.TrimPrefix(rr.String(), h.String())
		problem := ""
		switch {
		case h.Class != dns.ClassINET:
			problem = fmt.Sprintf("%s %s: class %s: only IN is served", h.Name, dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class])
		case strings.TrimSpace(rdata) == "" && h.Rrtype != dns.TypeNULL:
			// miekg accepts a record without RDATA (the RFC 2136 form of
			// a delete); as zone data it would be served as garbage.
			problem = fmt.Sprintf("%s %s: no RDATA", h.Name, dns.TypeToString[h.Rrtype])
		case !dns.IsSubDomain(z.origin, name):
			problem = fmt.Sprintf("%s %s: out of zone %s", h.Name, dns.TypeToString[h.Rrtype], z.origin)
		case h.Rrtype == dns.TypeOPT || h.Rrtype == dns.TypeTSIG || h.Rrtype == dns.TypeTKEY:
			problem = fmt.Sprintf("%s: %s is a meta type and cannot be zone data", h.Name, dns.TypeToString[h.Rrtype])
		}
		if problem != "" {
			if !errs.Add(rec.Pos.Errorf("%s", problem)) {
				break
			}
			continue
		}
		key := name + " " + strconv.Itoa(int(h.Rrtype)) + " " + rdata
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		switch h.Rrtype {
		case dns.TypeRRSIG:
			sig := rr.(*dns.RRSIG)
			if sig.TypeCovered == dns.TypeNSEC3 {
				e := z.nsec3Entry(name)
				e.sigs = append(e.sigs, rr)
				continue
			}
			n := z.node(name)
			if n.sigs == nil {
				n.sigs = make(map[uint16][]dns.RR)
			}
			n.sigs[sig.TypeCovered] = append(n.sigs[sig.TypeCovered], rr)
		case dns.TypeNSEC3:
			e := z.nsec3Entry(name)
			e.set = append(e.set, rr)
		default:
			n := z.node(name)
			if n.rrsets == nil {
				n.rrsets = make(map[uint16][]dns.RR)
			}
			n.rrsets[h.Rrtype] = append(n.rrsets[h.Rrtype], rr)
		}
	}
	errs.Add(z.check(recs, len(errs) == 0).Err())
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	z.index()
	return z, nil
}

func (z *Zone) node(name string) *node {
	n := z.nodes[name]
	if n == nil {
		n = &node{name: name}
		z.nodes[name] = n
	}
	return n
}

func (z *Zone) nsec3Entry(owner string) *nsec3Entry {
	hash := owner
	if i := strings.IndexByte(owner, '.'); i >= 0 {
		hash = owner[:i]
	}
	hash = strings.ToUpper(hash)
	if z.nsec3Hash == nil {
		z.nsec3Hash = make(map[string]*nsec3Entry)
	}
	e := z.nsec3Hash[hash]
	if e == nil {
		e = &nsec3Entry{hash: hash}
		z.nsec3Hash[hash] = e
		z.nsec3 = append(z.nsec3, e)
	}
	return e
}

func appendUnique(set []dns.RR, rr dns.RR) []dns.RR {
	for _, have := range set {
		if dns.IsDuplicate(have, rr) {
			return set
		}
	}
	return append(set, rr)
}

// check enforces the structure RFC 1034 and RFC 2181 require and that the
// answering code relies on, and marks cuts and occluded names. It reports
// every problem, each at the record it is about (recs gives the places);
// complete says that recs are all of the zone's records.
func (z *Zone) check(recs []rrtext.Record, complete bool) srcpos.List {
	c := &checker{z: z, recs: recs, complete: complete}
	c.apex()
	if !c.names() {
		return c.errs
	}
	for _, name := range sortedNames(z.nodes) {
		c.node(name, z.nodes[name])
	}
	c.nsec3()
	if complete && len(c.errs) == 0 {
		z.noteDelegations()
	}
	return c.errs
}

// checker collects the problems of one zone.
type checker struct {
	z        *Zone
	recs     []rrtext.Record
	complete bool // the checks for what is absent apply
	errs     srcpos.List
}

// pos returns where rr is in the zone file. Only errors ask, so a search
// does, rather than a map of every record kept for the few that fail.
func (c *checker) pos(rr dns.RR) srcpos.Pos {
	for _, r := range c.recs {
		if r.RR == rr {
			return r.Pos
		}
	}
	return srcpos.Pos{File: c.z.file}
}

// errorf reports a problem at rr, or about the whole zone when rr is nil.
func (c *checker) errorf(rr dns.RR, format string, args ...any) {
	p := srcpos.Pos{File: c.z.file}
	if rr != nil {
		p = c.pos(rr)
	}
	c.errs.Add(p.Errorf(format, args...))
}

// where names the place of rr for a message about another record: "line
// 6", or "file:6" when it is in another file.
func (c *checker) where(rr, from dns.RR) string {
	p, q := c.pos(rr), c.pos(from)
	if p.Line == 0 {
		return p.File
	}
	if p.File == q.File {
		return "line " + strconv.Itoa(p.Line)
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// before reports whether a comes before b in the zone file (records of
// unknown place or of different files keep the order given).
func (c *checker) before(a, b dns.RR) bool {
	p, q := c.pos(a), c.pos(b)
	return p.File != q.File || p.Line < q.Line || p.Line == q.Line && p.Column <= q.Column
}

func (c *checker) apex() {
	z, apex := c.z, c.z.apex
	switch soas := apex.rrsets[dns.TypeSOA]; {
	case len(soas) == 0:
		if c.complete {
			c.errorf(nil, "no SOA record at the apex %s", z.origin)
		}
	case len(soas) > 1:
		c.errorf(soas[1], "%d SOA records at the apex %s, want exactly one (the first is at %s)", len(soas), z.origin, c.where(soas[0], soas[1]))
	default:
		z.soa = soas[0].(*dns.SOA)
	}
	if len(apex.rrsets[dns.TypeNS]) == 0 && c.complete {
		c.errorf(nil, "no NS records at the apex %s", z.origin)
	}
	if ds := apex.rrsets[dns.TypeDS]; len(ds) > 0 {
		c.errorf(ds[0], "DS records at the apex %s belong in the parent zone", z.origin)
	}
}

// names adds the empty non-terminals and marks cuts and occluded names.
// It reports false when the zone has too many names to go on.
func (c *checker) names() bool {
	z := c.z
	// Empty non-terminals are nodes too: a name exists when anything
	// exists below it (RFC 4592 section 2.2.2).
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	for _, name := range names {
		for p := name; p != z.origin; {
			p = parentName(p)
			if z.nodes[p] != nil {
				break // its ancestors are in place already
			}
			z.node(p)
		}
		if len(z.nodes) > MaxZoneNames {
			c.errorf(nil, "more than %d names, empty non-terminals included", MaxZoneNames)
			return false
		}
	}
	for name, n := range z.nodes {
		if name != z.origin && len(n.rrsets[dns.TypeNS]) > 0 {
			n.cut = true
		}
	}
	for name, n := range z.nodes {
		for p := name; p != z.origin; {
			p = parentName(p)
			if z.nodes[p].cut {
				n.occluded = true
				break
			}
		}
	}
	return true
}

// node checks the data at one name.
func (c *checker) node(name string, n *node) {
	z := c.z
	if name != z.origin {
		if soa := n.rrsets[dns.TypeSOA]; len(soa) > 0 {
			c.errorf(soa[0], "SOA record at %s, which is not the apex %s", name, z.origin)
		}
		if p := n.rrsets[dns.TypeNSEC3PARAM]; len(p) > 0 {
			c.errorf(p[0], "NSEC3PARAM record at %s, which is not the apex %s", name, z.origin)
		}
		if len(n.rrsets[dns.TypeDNSKEY]) > 0 && !n.cut && !n.occluded {
			// A DNSKEY below the apex is legal but never used for
			// validation; keep it as data.
			z.warnings = append(z.warnings, fmt.Sprintf("%s: DNSKEY below the apex is not a zone key", name))
		}
	}
	if cn := n.rrsets[dns.TypeCNAME]; len(cn) > 0 {
		if len(cn) > 1 {
			c.errorf(cn[1], "%d CNAME records at %s, want at most one (the first is at %s)", len(cn), name, c.where(cn[0], cn[1]))
		}
		for _, t := range typesOf(n.rrsets) {
			if t == dns.TypeCNAME || t == dns.TypeNSEC {
				continue
			}
			// Report at whichever of the two comes second.
			other := n.rrsets[t][0]
			if c.before(cn[0], other) {
				c.errorf(other, "CNAME and other data (%s) at %s: the CNAME is at %s", dns.TypeToString[t], name, c.where(cn[0], other))
			} else {
				c.errorf(cn[0], "CNAME and other data (%s) at %s: the %s record is at %s", dns.TypeToString[t], name, dns.TypeToString[t], c.where(other, cn[0]))
			}
		}
	}
	if ns := n.rrsets[dns.TypeNS]; strings.HasPrefix(name, "*.") && len(ns) > 0 {
		c.errorf(ns[0], "NS records at the wildcard %s: a wildcard cannot be a delegation", name)
	}
	switch {
	case n.occluded:
		for _, t := range typesOf(n.rrsets) {
			if t != dns.TypeA && t != dns.TypeAAAA {
				c.errorf(n.rrsets[t][0], "%s record at %s is below a zone cut: only glue (A, AAAA) may be there", dns.TypeToString[t], name)
			}
		}
		if len(n.sigs) > 0 {
			c.errorf(n.sigs[typesOf(n.sigs)[0]][0], "RRSIG record at %s is below a zone cut", name)
		}
	case n.cut:
		for _, t := range typesOf(n.rrsets) {
			switch t {
			case dns.TypeNS, dns.TypeDS, dns.TypeNSEC, dns.TypeA, dns.TypeAAAA:
			default:
				c.errorf(n.rrsets[t][0], "%s record at the delegation %s belongs in the child zone", dns.TypeToString[t], name)
			}
		}
	default:
		if ds := n.rrsets[dns.TypeDS]; len(ds) > 0 && name != z.origin && c.complete {
			c.errorf(ds[0], "DS records at %s, which is not a delegation", name)
		}
	}
	// RFC 2181 section 5.2: one TTL per RRset. Serving the lowest keeps
	// every copy inside what the zone author allowed.
	for _, t := range typesOf(n.rrsets) {
		set := n.rrsets[t]
		lowest := set[0].Header().Ttl
		mixed := false
		for _, rr := range set[1:] {
			if ttl := rr.Header().Ttl; ttl != lowest {
				mixed = true
				lowest = min(lowest, ttl)
			}
		}
		if mixed {
			z.warnings = append(z.warnings, fmt.Sprintf("%s %s: records with different TTLs, serving all with %d", name, dns.TypeToString[t], lowest))
			for _, rr := range set {
				rr.Header().Ttl = lowest
			}
		}
	}
}

func (c *checker) nsec3() {
	z := c.z
	for _, e := range z.nsec3 {
		switch {
		case len(e.set) == 0:
			if c.complete {
				c.errorf(e.sigs[0], "RRSIG covering NSEC3 at %s.%s without an NSEC3 record", strings.ToLower(e.hash), z.origin)
			}
		case len(e.set) > 1:
			c.errorf(e.set[1], "%d NSEC3 records at %s.%s, want one", len(e.set), strings.ToLower(e.hash), z.origin)
		default:
			if owner := canonicalName(e.set[0].Header().Name); parentName(owner) != z.origin {
				c.errorf(e.set[0], "NSEC3 record at %s is not directly below the apex %s", owner, z.origin)
			}
		}
	}
}

// belowOtherCut reports whether name lies at or below a zone cut of z other
// than cut itself.
func (z *Zone) belowOtherCut(name, cut string) bool {
	for n := name; dns.IsSubDomain(z.origin, n) && n != z.origin; {
		if node, ok := z.nodes[n]; ok && node.cut && n != cut {
			return true
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return false
}

// noteDelegations records glue for every cut. Missing in-domain glue makes
// the delegation unusable, but the lab builds broken delegations on
// purpose, so it is a warning rather than an error.
func (z *Zone) noteDelegations() {
	for _, name := range sortedNames(z.nodes) {
		n := z.nodes[name]
		if !n.cut || n.occluded {
			continue
		}
		d := Delegation{Name: name}
		for _, rr := range n.rrsets[dns.TypeNS] {
			target := canonicalName(rr.(*dns.NS).Ns)
			d.NS = append(d.NS, target)
			addrs := z.addresses(target)
			d.Glue = append(d.Glue, addrs...)
			switch {
			case !dns.IsSubDomain(z.origin, target):
				d.Glueless = append(d.Glueless, target)
			case len(addrs) > 0:
			case dns.IsSubDomain(name, target):
				d.MissingGlue = append(d.MissingGlue, target)
				z.warnings = append(z.warnings, fmt.Sprintf("%s: name server %s is below the cut but has no glue address", name, target))
			case z.belowOtherCut(target, name):
				// The server's name lives in a sibling zone this zone
				// delegates: a glueless delegation the resolver follows
				// through that zone.
				d.Glueless = append(d.Glueless, target)
			default:
				z.warnings = append(z.warnings, fmt.Sprintf("%s: name server %s is in zone %s but has no address there", name, target, z.origin))
			}
		}
		z.delegations = append(z.delegations, d)
	}
	for _, rr := range z.apex.rrsets[dns.TypeNS] {
		target := canonicalName(rr.(*dns.NS).Ns)
		if dns.IsSubDomain(z.origin, target) && len(z.addresses(target)) == 0 {
			z.warnings = append(z.warnings, fmt.Sprintf("%s: name server %s is in the zone but has no address", z.origin, target))
		}
	}
}

func (z *Zone) addresses(name string) []dns.RR {
	n := z.nodes[name]
	if n == nil {
		return nil
	}
	var out []dns.RR
	out = append(out, n.rrsets[dns.TypeA]...)
	out = append(out, n.rrsets[dns.TypeAAAA]...)
	return out
}

func typesOf(m map[uint16][]dns.RR) []uint16 {
	ts := make([]uint16, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

func sortedNames(nodes map[string]*node) []string {
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// index derives everything the answering path reads, so answering never
// sorts or copies: per-node type lists, the negative-answer SOA, the NSEC
// chain in canonical order, NSEC3 records by hash.
func (z *Zone) index() {
	z.nsecOrder = z.nsecOrder[:0]
	for _, n := range z.nodes {
		n.types = typesOf(n.rrsets)
		if len(n.rrsets[dns.TypeNSEC]) > 0 {
			if n.key == nil {
				n.key = wireLabels(n.name)
			}
			z.nsecOrder = append(z.nsecOrder, n)
		}
	}
	slices.SortFunc(z.nsecOrder, func(a, b *node) int { return compareLabels(a.key, b.key) })
	slices.SortFunc(z.nsec3, func(a, b *nsec3Entry) int { return strings.Compare(a.hash, b.hash) })

	// RFC 2308 section 5 with RFC 9077: negative answers live for the
	// lesser of the SOA TTL and its MINIMUM field.
	ttl := min(z.soa.Hdr.Ttl, z.soa.Minttl)
	soa := dns.Copy(z.soa)
	soa.Header().Ttl = ttl
	z.negSOA = []dns.RR{soa}
	z.negSOASigs = nil
	for _, sig := range z.apex.sigs[dns.TypeSOA] {
		c := dns.Copy(sig)
		c.Header().Ttl = ttl
		z.negSOASigs = append(z.negSOASigs, c)
	}

	z.nsec3Param = nil
	for _, rr := range z.apex.rrsets[dns.TypeNSEC3PARAM] {
		if p := rr.(*dns.NSEC3PARAM); p.Flags == 0 {
			z.nsec3Param = p
			break
		}
	}
	if z.nsec3Param == nil && len(z.nsec3) > 0 {
		n3 := z.nsec3[0].set[0].(*dns.NSEC3)
		z.nsec3Param = &dns.NSEC3PARAM{Hash: n3.Hash, Iterations: n3.Iterations, SaltLength: n3.SaltLength, Salt: n3.Salt}
	}
}

// Origin is the zone's name in canonical (lower case, absolute) form.
func (z *Zone) Origin() string { return z.origin }

// File is the name the zone was loaded from, as used in errors.
func (z *Zone) File() string { return z.file }

// SOA returns a copy of the zone's SOA record.
func (z *Zone) SOA() *dns.SOA { return dns.Copy(z.soa).(*dns.SOA) }

// Warnings lists what the checks found odd but servable: missing glue,
// mixed TTLs in an RRset.
func (z *Zone) Warnings() []string { return slices.Clone(z.warnings) }

// Delegations lists the zone cuts below the apex in name order.
func (z *Zone) Delegations() []Delegation { return slices.Clone(z.delegations) }

// Signed reports whether the zone holds DNSSEC signatures.
func (z *Zone) Signed() bool { return len(z.apex.sigs[dns.TypeSOA]) > 0 }

// Lookup returns the RRset of type t at name, nil when there is none.
// It reads the zone data as stored: no wildcard, CNAME or cut processing.
func (z *Zone) Lookup(name string, t uint16) []dns.RR {
	n := z.nodes[canonicalName(name)]
	if n == nil {
		return nil
	}
	if t == dns.TypeRRSIG {
		var out []dns.RR
		for _, ct := range typesOf(n.sigs) {
			out = append(out, n.sigs[ct]...)
		}
		return out
	}
	return slices.Clone(n.rrsets[t])
}

// Records returns every record of the zone in DNSSEC canonical name order,
// the SOA first, each RRset followed by its signatures and NSEC3 records
// last. Writing them one per line gives a master file LoadZone reads back.
func (z *Zone) Records() []dns.RR {
	type keyed struct {
		key [][]byte
		n   *node
	}
	nodes := make([]keyed, 0, len(z.nodes))
	for _, n := range z.nodes {
		nodes = append(nodes, keyed{wireLabels(n.name), n})
	}
	slices.SortFunc(nodes, func(a, b keyed) int { return compareLabels(a.key, b.key) })
	var out []dns.RR
	for _, kn := range nodes {
		n := kn.n
		types := typesOf(n.rrsets)
		if n == z.apex {
			types = slices.DeleteFunc(types, func(t uint16) bool { return t == dns.TypeSOA })
			types = append([]uint16{dns.TypeSOA}, types...)
		}
		for _, t := range types {
			out = append(out, n.rrsets[t]...)
			out = append(out, n.sigs[t]...)
		}
		for _, t := range typesOf(n.sigs) {
			if len(n.rrsets[t]) == 0 {
				out = append(out, n.sigs[t]...)
			}
		}
	}
	for _, e := range z.nsec3 {
		out = append(out, e.set...)
		out = append(out, e.sigs...)
	}
	return out
}

// WriteTo writes the zone as a master file with absolute names.
func (z *Zone) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, rr := range z.Records() {
		n, err := io.WriteString(w, rr.String()+"\n")
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
