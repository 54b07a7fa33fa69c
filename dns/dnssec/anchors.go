package dnssec

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/rrtext"
	"github.com/rampart-fw/rampart/srcpos"
)

// maxAnchorFile bounds what ParseAnchors reads: a trust-anchor file holds
// a handful of records, so anything near this size is a mistake.
const maxAnchorFile = 1 << 20

// Anchors is a set of trust anchors: DS or DNSKEY records for any zones,
// the root or otherwise (the lab anchors its own root). The zero value is
// not usable; make one with NewAnchors, RootAnchors or ParseAnchors.
// An Anchors must not be changed while another goroutine reads it; New
// takes a copy, so a Validator never sees later changes.
type Anchors struct {
	zones map[string]*anchor
}

type anchor struct {
	ds   []*dns.DS
	keys []*dns.DNSKEY
}

// NewAnchors returns an empty set.
func NewAnchors() *Anchors { return &Anchors{zones: map[string]*anchor{}} }

// IANA's root zone trust anchors, from root-anchors.xml: KSK-2017 and its
// successor KSK-2024, both RSA/SHA-256 with SHA-256 digests.
var ianaRootDS = []struct {
	tag    uint16
	digest string
}{
	{20326, "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"},
	{38696, "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16"},
}

// RootAnchors returns IANA's root trust anchors (KSK-2017, key tag 20326,
// and KSK-2024, key tag 38696), the default of Config.Anchors. Rolling
// them by RFC 5011 is the operator's business: load a file instead.
func RootAnchors() *Anchors {
	a := NewAnchors()
	for _, d := range ianaRootDS {
		ds := &dns.DS{
			Hdr:        dns.RR_Header{Name: ".", Rrtype: dns.TypeDS, Class: dns.ClassINET, Ttl: 172800},
			KeyTag:     d.tag,
			Algorithm:  dns.RSASHA256,
			DigestType: dns.SHA256,
			Digest:     d.digest,
		}
		a.zones["."] = a.zones["."].with(ds, nil)
	}
	return a
}

func (z *anchor) with(ds *dns.DS, key *dns.DNSKEY) *anchor {
	if z == nil {
		z = &anchor{}
	}
	if ds != nil && !slices.ContainsFunc(z.ds, func(d *dns.DS) bool { return dns.IsDuplicate(d, ds) }) {
		z.ds = append(z.ds, ds)
	}
	if key != nil && !slices.ContainsFunc(z.keys, func(k *dns.DNSKEY) bool { return dns.IsDuplicate(k, key) }) {
		z.keys = append(z.keys, key)
	}
	return z
}

func (a *Anchors) clone() *Anchors {
	c := NewAnchors()
	for zone, z := range a.zones {
		c.zones[zone] = &anchor{ds: slices.Clone(z.ds), keys: slices.Clone(z.keys)}
	}
	return c
}

// Add adds one anchor, a DS or DNSKEY record, after checking it could ever
// match: class IN, a well-formed digest of the right length for SHA-1,
// SHA-256 and SHA-384, a DNSKEY with protocol 3, the Zone Key flag and a
// base64 key. A DNSKEY with the REVOKE flag is skipped without error
// (RFC 5011 section 2.1: it may no longer be trusted, and Unbound's
// auto-trust-anchor-file keeps revoked keys). Algorithms and digests this
// package cannot check are accepted: a zone anchored only by those is
// Insecure, as RFC 4035 section 5.2 says.
func (a *Anchors) Add(rr dns.RR) error {
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return fmt.Errorf("trust anchor for %s: class %s, want IN", h.Name, dns.ClassToString[h.Class])
	}
	zone := canonical(h.Name)
	switch rr := rr.(type) {
	case *dns.DS:
		want := 0
		switch rr.DigestType {
		case dns.SHA1:
			want = 20
		case dns.SHA256:
			want = 32
		case dns.SHA384:
			want = 48
		}
		d, err := hex.DecodeString(rr.Digest)
		switch {
		case err != nil || len(d) == 0:
			return fmt.Errorf("trust anchor DS %s %d: digest is not hex", zone, rr.KeyTag)
		case want != 0 && len(d) != want:
			return fmt.Errorf("trust anchor DS %s %d: %s digest has %d octets, want %d", zone, rr.KeyTag, dns.HashToString[rr.DigestType], len(d), want)
		}
		ds := dns.Copy(rr).(*dns.DS)
		ds.Hdr.Name = zone
		ds.Digest = strings.ToUpper(ds.Digest)
		a.zones[zone] = a.zones[zone].with(ds, nil)
	case *dns.DNSKEY:
		switch {
		case rr.Protocol != 3:
			return fmt.Errorf("trust anchor DNSKEY %s: protocol %d, want 3", zone, rr.Protocol)
		case rr.Flags&dns.ZONE == 0:
			return fmt.Errorf("trust anchor DNSKEY %s: Zone Key flag not set (flags %d)", zone, rr.Flags)
		case rr.Flags&dns.REVOKE != 0:
			return nil
		}
		if k, err := base64.StdEncoding.DecodeString(rr.PublicKey); err != nil || len(k) == 0 {
			return fmt.Errorf("trust anchor DNSKEY %s: public key is not base64", zone)
		}
		key := dns.Copy(rr).(*dns.DNSKEY)
		key.Hdr.Name = zone
		a.zones[zone] = a.zones[zone].with(nil, key)
	default:
		return fmt.Errorf("trust anchor for %s: type %s, want DS or DNSKEY", zone, dns.TypeToString[h.Rrtype])
	}
	return nil
}

// Zones lists the anchored zones in canonical order.
func (a *Anchors) Zones() []string {
	zones := slices.Collect(maps.Keys(a.zones))
	slices.SortFunc(zones, func(x, y string) int {
		var p, q name
		p.parse(x)
		q.parse(y)
		return canonicalCompare(&p, &q)
	})
	return zones
}

// Lookup returns copies of the DS and DNSKEY anchors of exactly zone.
func (a *Anchors) Lookup(zone string) (ds []*dns.DS, keys []*dns.DNSKEY, ok bool) {
	z := a.zones[canonical(zone)]
	if z == nil {
		return nil, nil, false
	}
	return slices.Clone(z.ds), slices.Clone(z.keys), true
}

// Closest returns the deepest anchored zone at or above name.
func (a *Anchors) Closest(s string) (zone string, ok bool) {
	if l, plain := plainLower(s); plain {
		// The common case, a name of letters, digits and hyphens, needs
		// no parsing: its suffixes are substrings of its lower-case form,
		// which is canonical, and looking them up allocates nothing (the
		// validator asks this for every answer).
		for i := 0; ; {
			if _, ok := a.zones[l[i:]]; ok {
				return l[i:], true
			}
			if i == len(l)-1 {
				return "", false
			}
			i += strings.IndexByte(l[i:], '.') + 1
			if i == len(l) {
				i-- // the root
			}
		}
	}
	var w, suffix name
	if !w.parse(s) {
		return "", false
	}
	for k := int(w.nl); k >= 0; k-- {
		suffix.setSuffix(&w, k)
		zone := suffix.String()
		if _, ok := a.zones[zone]; ok {
			return zone, true
		}
	}
	return "", false
}

// Len is the number of anchored zones.
func (a *Anchors) Len() int { return len(a.zones) }

// LoadAnchors reads a trust-anchor file; see ParseAnchors.
func LoadAnchors(path string) (*Anchors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseAnchors(f, path)
}

// ParseAnchors reads trust anchors in zone-file syntax, the form of
// Unbound's trust-anchor-file and of the records in its
// auto-trust-anchor-file (whose state lives in comments, ignored here):
// DS and DNSKEY records, with $ORIGIN and $TTL. Relative names are taken
// relative to the root. $INCLUDE and $GENERATE are refused: a trust anchor
// file should say everything it trusts in one place. file names the input
// in errors. On failure the error is a srcpos.List of every problem, each
// reading file:line:col: message. An empty file is an error: a validator
// without anchors validates nothing.
func ParseAnchors(r io.Reader, file string) (*Anchors, error) {
	if file == "" {
		file = "<anchors>"
	}
	whole := srcpos.Pos{File: file}
	text, err := io.ReadAll(io.LimitReader(r, maxAnchorFile+1))
	if err != nil {
		return nil, srcpos.List{whole.Errorf("%w", err)}
	}
	if len(text) > maxAnchorFile {
		return nil, srcpos.List{whole.Errorf("larger than %d bytes", maxAnchorFile)}
	}
	recs, errs := rrtext.ReadMaster(file, text, rrtext.Options{Origin: ".", What: "a trust-anchor file"})
	a := NewAnchors()
	for _, rec := range recs {
		if err := a.Add(rec.RR); err != nil {
			errs.Add(rec.Pos.Errorf("%w", err))
		}
	}
	if len(recs) == 0 && len(errs) == 0 {
		errs.Add(whole.Errorf("no trust anchors"))
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return a, nil
}

// plainLower returns s in lower case and true when s is a fully qualified
// name of letters, digits, hyphens and underscores only, with no empty
// label, no label over 63 octets and at most 254 octets in all, whose
// canonical form is then its lower-case form. It allocates only when s
// has upper-case letters.
func plainLower(s string) (string, bool) {
	if s == "." {
		return s, true
	}
	if len(s) < 2 || len(s) > 254 || s[len(s)-1] != '.' {
		return "", false
	}
	upper := false
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", false
		}
		if label++; label > 63 {
			return "", false
		}
	}
	if upper {
		return strings.ToLower(s), true
	}
	return s, true
}
