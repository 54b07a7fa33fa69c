package authoritative

import (
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Key is a DNSSEC signing key: the public DNSKEY record and its private
// half.
type Key struct {
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
}

// GenerateKey makes a key for zone with crypto/rand. algorithm 0 means
// ECDSA P-256/SHA-256 (13); RSA/SHA-256 (8, 2048 bits), ECDSA P-384 (14)
// and Ed25519 (15) are the alternatives. ksk sets the SEP flag (257): such
// a key signs the DNSKEY RRset and is the one the parent's DS points at.
func GenerateKey(zone string, algorithm uint8, ksk bool) (*Key, error) {
	if algorithm == 0 {
		algorithm = dns.ECDSAP256SHA256
	}
	var bits int
	switch algorithm {
	case dns.RSASHA256:
		bits = 2048
	case dns.ECDSAP256SHA256, dns.ED25519:
		bits = 256
	case dns.ECDSAP384SHA384:
		bits = 384
	default:
		return nil, fmt.Errorf("authoritative: DNSSEC algorithm %d is not offered (8, 13, 14 and 15 are)", algorithm)
	}
	flags := uint16(dns.ZONE)
	if ksk {
		flags |= dns.SEP
	}
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: canonicalName(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     flags,
		Protocol:  3,
		Algorithm: algorithm,
	}
	priv, err := k.Generate(bits)
	if err != nil {
		return nil, fmt.Errorf("authoritative: generate %s key: %w", dns.AlgorithmToString[algorithm], err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("authoritative: %s private key %T cannot sign", dns.AlgorithmToString[algorithm], priv)
	}
	return &Key{DNSKEY: k, Signer: signer}, nil
}

// DS returns the parent's DS record for the key with the given digest type
// (0 means SHA-256).
func (k *Key) DS(digest uint8) *dns.DS {
	if digest == 0 {
		digest = dns.SHA256
	}
	return k.DNSKEY.ToDS(digest)
}

// SignOptions chooses the denial-of-existence scheme. The zero value (or a
// nil pointer) means NSEC.
type SignOptions struct {
	// NSEC3 replaces the NSEC chain with hashed names (RFC 5155). RFC
	// 9276 recommends Iterations 0 and no Salt; opt-out is not offered.
	NSEC3      bool
	Iterations uint16
	Salt       string // hex, "" for none
}

// SignZone signs every authoritative RRset of z and builds its NSEC or
// NSEC3 chain. The DNSKEY RRset becomes exactly the keys' DNSKEYs; earlier
// signatures and chains are replaced. Keys with the SEP flag sign the
// DNSKEY RRset and the other keys everything else; when only one kind is
// given, it signs everything. z must not be in service while it is signed.
func SignZone(z *Zone, keys []*Key, inception, expiration time.Time, opts *SignOptions) error {
	if len(keys) == 0 {
		return errors.New("authoritative: sign: no keys")
	}
	if !expiration.After(inception) {
		return fmt.Errorf("authoritative: sign %s: expiration %s is not after inception %s", z.origin, expiration, inception)
	}
	if opts == nil {
		opts = &SignOptions{}
	}
	var ksks, zsks []*Key
	for _, k := range keys {
		if k == nil || k.DNSKEY == nil || k.Signer == nil {
			return fmt.Errorf("authoritative: sign %s: incomplete key", z.origin)
		}
		if canonicalName(k.DNSKEY.Hdr.Name) != z.origin {
			return fmt.Errorf("authoritative: sign %s: key %d belongs to %s", z.origin, k.DNSKEY.KeyTag(), k.DNSKEY.Hdr.Name)
		}
		if k.DNSKEY.Flags&dns.SEP != 0 {
			ksks = append(ksks, k)
		} else {
			zsks = append(zsks, k)
		}
	}
	if len(ksks) == 0 {
		ksks = zsks
	}
	if len(zsks) == 0 {
		zsks = ksks
	}

	// Start from the unsigned zone.
	for _, n := range z.nodes {
		n.sigs = nil
		delete(n.rrsets, dns.TypeNSEC)
		delete(n.rrsets, dns.TypeNSEC3PARAM)
		if n == z.apex {
			delete(n.rrsets, dns.TypeDNSKEY)
		}
	}
	z.nsec3, z.nsec3Hash, z.nsec3Param = nil, nil, nil
	var dnskeys []dns.RR
	for _, k := range keys {
		rr := dns.Copy(k.DNSKEY)
		rr.Header().Name = z.origin
		rr.Header().Ttl = z.soa.Hdr.Ttl
		dnskeys = appendUnique(dnskeys, rr)
	}
	z.apex.rrsets[dns.TypeDNSKEY] = dnskeys

	negTTL := min(z.soa.Hdr.Ttl, z.soa.Minttl)
	var err error
	if opts.NSEC3 {
		err = z.buildNSEC3(negTTL, opts)
	} else {
		z.buildNSEC(negTTL)
	}
	if err != nil {
		return err
	}

	s := signer{origin: z.origin, inception: uint32(inception.Unix()), expiration: uint32(expiration.Unix())}
	for _, n := range z.nodes {
		if n.occluded {
			continue
		}
		for t, set := range n.rrsets {
			if n.cut && t != dns.TypeDS && t != dns.TypeNSEC {
				continue // NS and glue at a cut belong to the child
			}
			use := zsks
			if t == dns.TypeDNSKEY && n == z.apex {
				use = ksks
			}
			sigs, err := s.sign(set, use)
			if err != nil {
				return err
			}
			if n.sigs == nil {
				n.sigs = make(map[uint16][]dns.RR)
			}
			n.sigs[t] = sigs
		}
	}
	for _, e := range z.nsec3 {
		if e.sigs, err = s.sign(e.set, zsks); err != nil {
			return err
		}
	}
	z.index()
	return nil
}

type signer struct {
	origin                string
	inception, expiration uint32
}

func (s signer) sign(set []dns.RR, keys []*Key) ([]dns.RR, error) {
	var out []dns.RR
	for _, k := range keys {
		sig := &dns.RRSIG{
			Hdr:        dns.RR_Header{Ttl: set[0].Header().Ttl},
			Algorithm:  k.DNSKEY.Algorithm,
			KeyTag:     k.DNSKEY.KeyTag(),
			SignerName: s.origin,
			Inception:  s.inception,
			Expiration: s.expiration,
		}
		if err := sig.Sign(k.Signer, set); err != nil {
			h := set[0].Header()
			return nil, fmt.Errorf("authoritative: sign %s %s with key %d: %w", h.Name, dns.TypeToString[h.Rrtype], sig.KeyTag, err)
		}
		out = append(out, sig)
	}
	return out, nil
}

// authoritativeNodes are the names a denial chain spans: everything but
// occluded glue. Empty non-terminals are included only for NSEC3, which
// has to prove they exist (RFC 5155 section 7.1).
func (z *Zone) authoritativeNodes(withENT bool) []*node {
	var out []*node
	for _, n := range z.nodes {
		if n.occluded || (!withENT && n.empty()) {
			continue
		}
		if n.key == nil {
			n.key = wireLabels(n.name)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *node) int { return compareLabels(a.key, b.key) })
	return out
}

// bitmapTypes lists what an NSEC or NSEC3 record at n must claim: the
// types the zone is authoritative for there (NS and DS only at a cut), and
// RRSIG wherever a signed RRset will be. An NSEC is itself signed.
func bitmapTypes(n *node, nsec bool) []uint16 {
	var ts []uint16
	signed := nsec
	for t := range n.rrsets {
		if n.cut && t != dns.TypeNS && t != dns.TypeDS {
			continue
		}
		ts = append(ts, t)
		if !n.cut || t == dns.TypeDS {
			signed = true
		}
	}
	if nsec {
		ts = append(ts, dns.TypeNSEC)
	}
	if signed {
		ts = append(ts, dns.TypeRRSIG)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// buildNSEC links the names in canonical order, in lower case so that the
// next-name field needs no case rules (RFC 6840 section 5.1).
func (z *Zone) buildNSEC(ttl uint32) {
	chain := z.authoritativeNodes(false)
	types := make([][]uint16, len(chain))
	for i, n := range chain {
		types[i] = bitmapTypes(n, true)
	}
	for i, n := range chain {
		n.rrsets[dns.TypeNSEC] = []dns.RR{&dns.NSEC{
			Hdr:        dns.RR_Header{Name: n.name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: chain[(i+1)%len(chain)].name,
			TypeBitMap: types[i],
		}}
	}
}

func (z *Zone) buildNSEC3(ttl uint32, opts *SignOptions) error {
	salt := strings.ToUpper(opts.Salt)
	if salt == "-" {
		salt = ""
	}
	if len(salt)%2 != 0 || len(salt) > 510 || strings.Trim(salt, "0123456789ABCDEF") != "" {
		return fmt.Errorf("authoritative: sign %s: NSEC3 salt %q is not hex of at most 255 octets", z.origin, opts.Salt)
	}
	param := &dns.NSEC3PARAM{
		Hdr:        dns.RR_Header{Name: z.origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0},
		Hash:       dns.SHA1,
		Iterations: opts.Iterations,
		SaltLength: uint8(len(salt) / 2),
		Salt:       salt,
	}
	z.apex.rrsets[dns.TypeNSEC3PARAM] = []dns.RR{param}
	z.nsec3Param = param

	type hashed struct {
		hash string
		n    *node
	}
	var ring []hashed
	for _, n := range z.authoritativeNodes(true) {
		h := dns.HashName(n.name, dns.SHA1, opts.Iterations, salt)
		if h == "" {
			return fmt.Errorf("authoritative: sign %s: cannot hash %s", z.origin, n.name)
		}
		ring = append(ring, hashed{h, n})
	}
	slices.SortFunc(ring, func(a, b hashed) int { return strings.Compare(a.hash, b.hash) })
	z.nsec3Hash = make(map[string]*nsec3Entry, len(ring))
	for i, h := range ring {
		if i > 0 && ring[i-1].hash == h.hash {
			return fmt.Errorf("authoritative: sign %s: NSEC3 hash collision between %s and %s", z.origin, ring[i-1].n.name, h.n.name)
		}
		var types []uint16
		if !h.n.empty() {
			types = bitmapTypes(h.n, false)
		}
		rr := &dns.NSEC3{
			Hdr:        dns.RR_Header{Name: strings.ToLower(h.hash) + "." + z.origin, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
			Hash:       dns.SHA1,
			Iterations: opts.Iterations,
			SaltLength: param.SaltLength,
			Salt:       salt,
			HashLength: 20,
			NextDomain: ring[(i+1)%len(ring)].hash,
			TypeBitMap: types,
		}
		e := &nsec3Entry{hash: h.hash, set: []dns.RR{rr}}
		z.nsec3 = append(z.nsec3, e)
		z.nsec3Hash[h.hash] = e
	}
	return nil
}
