package dnssec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// supportedAlgorithm lists the signature algorithms this validator checks:
// RSA/SHA-256 (8), RSA/SHA-512 (10), ECDSA P-256 (13) and P-384 (14) and
// Ed25519 (15), and RSA/SHA-1 (5, 7) when Config.AllowSHA1 is set. Ed448
// (16) is not offered by miekg/dns. RSA/SHA-1 is otherwise treated as
// unsupported on purpose: SHA-1 falls to chosen-prefix collisions, and RFC
// 9905 section 2 tells operators of validating resolvers to treat it so,
// while implementations keep the code to validate it. A zone whose DS or
// anchor names only other algorithms is Insecure (RFC 4035 section 5.2),
// not Bogus. DSA (3, 6) is never supported: RFC 8624 section 3.1 says
// validators MUST NOT.
func (v *Validator) supportedAlgorithm(alg uint8) bool {
	switch alg {
	case dns.RSASHA256, dns.RSASHA512, dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519:
		return true
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1:
		return v.sha1
	}
	return false
}

// strongDigest lists the DS digest types trusted without reservation.
// SHA-1 (1) counts only when no DS with one of these is present (RFC 4509
// section 3); GOST (3) is unsupported.
func strongDigest(d uint8) bool { return d == dns.SHA256 || d == dns.SHA384 }

// KeySet is a zone's DNSKEY RRset after VerifyDNSKEY: Secure (the keys
// may validate the zone's data), Insecure (the zone is provably unsigned
// as far as this validator can tell, and so is everything VerifyRRset is
// asked about with it) or the zero value, which validates nothing.
// KeySets are immutable values the resolver may cache for Result.TTL.
type KeySet struct {
	zone   string
	status Status
	why    Result
	keys   []zoneKey
}

type zoneKey struct {
	rr  *dns.DNSKEY
	tag uint16
}

// Zone is the zone the keys belong to, in canonical form.
func (k KeySet) Zone() string { return k.zone }

// Status is Secure, Insecure or, for the zero KeySet, Indeterminate.
func (k KeySet) Status() Status { return k.status }

// Keys returns the DNSKEYs that may validate the zone's data: the
// validated RRset less keys without the Zone Key flag, revoked keys and
// keys of unsupported algorithms.
func (k KeySet) Keys() []*dns.DNSKEY {
	out := make([]*dns.DNSKEY, len(k.keys))
	for i, z := range k.keys {
		out[i] = z.rr
	}
	return out
}

// VerifyRRset checks an RRset by RFC 4035 section 5.3 against the keys
// of the zone it comes from (a zone cut's DS RRset comes from the parent
// and is checked with the parent's keys). sigs may hold any records: the
// RRSIGs among them that cover rrset's owner, type and class are the
// candidates. Per RRSIG: the signer must be the keys' zone, the owner must
// be in it, the Labels field must not exceed the owner's labels nor reach
// above the zone (a smaller value marks a wildcard expansion, reported in
// Result.Wildcard for the caller to prove with ProveWildcard), the
// validity period must contain the clock (with the skew of Limits), and a
// DNSKEY with the RRSIG's key tag and algorithm must verify it. One valid
// RRSIG makes the RRset Secure; Result.TTL then caps the records' TTL by
// the Original TTL and the signature's remaining lifetime.
//
// With an Insecure KeySet the result is Insecure, carrying the reason the
// zone is; with the zero KeySet it is Bogus (EDE 9).
func (v *Validator) VerifyRRset(rrset, sigs []dns.RR, keys KeySet, b *Budget) Result {
	var local Budget
	c := v.begin(b, &local)
	return c.done(c.verifyRRset(rrset, sigs, &keys))
}

func (c *call) verifyRRset(rrset, sigs []dns.RR, ks *KeySet) Result {
	switch ks.status {
	case Secure:
	case Insecure:
		r := ks.why
		r.TTL = minTTL(rrset)
		return r
	default:
		return bogus(EDEDNSKEYMissing, "no validated DNSKEY RRset to check the RRset with")
	}
	var zone name
	if !zone.parse(ks.zone) {
		return bogus(EDEBogus, "key set has a malformed zone name")
	}
	return c.verifySet(rrset, sigs, &zone, ks.keys, false)
}

func minTTL(set []dns.RR) uint32 {
	ttl := uint32(0)
	for i, rr := range set {
		if rr == nil {
			continue
		}
		if t := rr.Header().Ttl; i == 0 || t < ttl {
			ttl = t
		}
	}
	return ttl
}

// failKind ranks why an RRSIG did not validate an RRset; when none does,
// the highest-ranked reason is reported, a failed cryptographic check
// first because that is the mark of forgery.
type failKind uint8

const (
	failNone failKind = iota
	failSigner
	failLabels
	failAlgorithm
	failNoKey
	failCollisions
	failPeriod
	failNotYet
	failExpired
	failCrypto
)

type failure struct {
	kind failKind
	sig  *dns.RRSIG
}

func (f *failure) note(kind failKind, sig *dns.RRSIG) {
	if kind >= f.kind {
		f.kind, f.sig = kind, sig
	}
}

// verifySet is the RRSIG loop shared by VerifyRRset, VerifyDNSKEY (with
// only the keys the DS or anchor vouch for) and the denial proofs. Its
// cheap checks run on every RRSIG; the signature check, the expensive
// step, is charged to the budget and never runs more often than the
// per-call limit, however many keys and RRSIGs the input holds.
func (c *call) verifySet(set, sigs []dns.RR, zone *name, keys []zoneKey, dnskey bool) Result {
	if len(set) == 0 || set[0] == nil {
		return bogus(EDEBogus, "empty RRset")
	}
	h0 := set[0].Header()
	for _, rr := range set[1:] {
		if rr == nil {
			return bogus(EDEBogus, "RRset holds a nil record")
		}
		if h := rr.Header(); h.Name != h0.Name || h.Rrtype != h0.Rrtype || h.Class != h0.Class {
			return bogus(EDEBogus, fmt.Sprintf("records of %s/%s and %s/%s do not form one RRset", h0.Name, dns.Type(h0.Rrtype), h.Name, dns.Type(h.Rrtype)))
		}
	}
	if h0.Rrtype == dns.TypeRRSIG {
		return bogus(EDEBogus, "RRSIG records are not signed")
	}
	var owner name
	if !owner.parse(h0.Name) {
		return bogus(EDEBogus, fmt.Sprintf("malformed owner name %q", h0.Name))
	}
	if !isSubdomain(&owner, zone) {
		return bogus(EDEBogus, fmt.Sprintf("%s/%s is outside zone %s", h0.Name, dns.Type(h0.Rrtype), zone.String()))
	}
	if h0.Rrtype == dns.TypeDS && nameEqual(&owner, zone) {
		return bogus(EDEBogus, fmt.Sprintf("DS RRset of %s must be signed by the parent zone, not by %s itself", h0.Name, zone.String()))
	}
	ownerLabels := owner.labels()
	var f failure
	seen := 0
	for _, s := range sigs {
		sig, ok := s.(*dns.RRSIG)
		if !ok || sig == nil || sig.TypeCovered != h0.Rrtype || sig.Hdr.Class != h0.Class || !sameName(sig.Hdr.Name, h0.Name) {
			continue
		}
		seen++
		var signer name
		if !signer.parse(sig.SignerName) || !nameEqual(&signer, zone) {
			f.note(failSigner, sig)
			continue
		}
		if !c.v.supportedAlgorithm(sig.Algorithm) {
			f.note(failAlgorithm, sig)
			continue
		}
		if int(sig.Labels) > ownerLabels || int(sig.Labels) < int(zone.nl) {
			f.note(failLabels, sig)
			continue
		}
		if k := c.period(sig); k != failNone {
			f.note(k, sig)
			continue
		}
		tried := 0
		for i := range keys {
			k := &keys[i]
			if k.tag != sig.KeyTag || k.rr.Algorithm != sig.Algorithm {
				continue
			}
			if tried == c.v.limits.MaxKeyTagCollisions {
				f.note(failCollisions, sig)
				break
			}
			tried++
			if !c.takeValidation() {
				return c.exhaustedResult(h0, sig)
			}
			c.v.stats.verifications.Add(1)
			var err error
			if miekgWildcardBug(sig, &owner) {
				err = verifyOwn(sig, k.rr, set)
			} else if err = sig.Verify(k.rr, set); err != nil {
				if _, ok := bigExponentKey(k.rr); ok {
					err = verifyOwn(sig, k.rr, set)
				}
			}
			if err != nil {
				c.v.stats.verifyFailures.Add(1)
				f.note(failCrypto, sig)
				continue
			}
			return c.secure(set, sig, &owner, ownerLabels)
		}
		if tried == 0 {
			f.note(failNoKey, sig)
		}
	}
	if seen == 0 {
		return bogus(EDERRSIGsMissing, fmt.Sprintf("no RRSIG over %s/%s", h0.Name, dns.Type(h0.Rrtype)))
	}
	return c.failed(&f, h0, zone, dnskey)
}

// serial is a - b in RFC 1982 serial arithmetic, as RFC 4034 section 3.1.5
// has RRSIG times compared: signatures stay valid across 2106.
func serial(a, b uint32) int64 { return int64(int32(a - b)) }

// period checks the RRSIG's validity period against the call's clock,
// widened at both ends by the skew: 10% of the period, within the limits.
func (c *call) period(sig *dns.RRSIG) failKind {
	now := uint32(c.now)
	validity := serial(sig.Expiration, sig.Inception)
	if validity < 0 {
		return failPeriod
	}
	skew := min(max(validity/10, int64(c.v.limits.MinSkew/time.Second)), int64(c.v.limits.MaxSkew/time.Second))
	if serial(sig.Expiration, now) < -skew {
		return failExpired
	}
	if serial(now, sig.Inception) < -skew {
		return failNotYet
	}
	return failNone
}

func (c *call) secure(set []dns.RR, sig *dns.RRSIG, owner *name, ownerLabels int) Result {
	ttl := sig.OrigTtl
	for _, rr := range set {
		ttl = min(ttl, rr.Header().Ttl)
	}
	left := max(serial(sig.Expiration, uint32(c.now)), 0)
	if left < int64(ttl) {
		ttl = uint32(left)
	}
	r := Result{Status: Secure, TTL: ttl}
	if int(sig.Labels) < ownerLabels {
		var ce, wc name
		ce.setSuffix(owner, int(sig.Labels))
		if wc.setWildcard(&ce) {
			r.Wildcard = wc.String()
		}
	}
	return r
}

func (c *call) when(t uint32) string {
	return time.Unix(c.now+serial(t, uint32(c.now)), 0).UTC().Format(time.RFC3339)
}

func (c *call) failed(f *failure, h *dns.RR_Header, zone *name, dnskey bool) Result {
	sig := f.sig
	what := fmt.Sprintf("RRSIG over %s/%s by %d", h.Name, dns.Type(h.Rrtype), sig.KeyTag)
	switch f.kind {
	case failCrypto:
		return bogus(EDEBogus, what+" does not verify")
	case failExpired:
		return bogus(EDESignatureExpired, what+" expired "+c.when(sig.Expiration))
	case failNotYet:
		return bogus(EDESignatureNotYetValid, what+" is not valid before "+c.when(sig.Inception))
	case failPeriod:
		return bogus(EDESignatureExpiredBeforeValid, what+" expires before its inception")
	case failCollisions:
		return bogus(EDEBogus, fmt.Sprintf("%s: more than %d DNSKEYs share its key tag", what, c.v.limits.MaxKeyTagCollisions))
	case failNoKey:
		if dnskey {
			return bogus(EDERRSIGsMissing, fmt.Sprintf("DNSKEY RRset of %s has no RRSIG by a key its DS or trust anchor vouches for (%s)", zone.String(), what))
		}
		return bogus(EDEBogus, fmt.Sprintf("%s: no DNSKEY of %s with algorithm %d and that tag", what, zone.String(), sig.Algorithm))
	case failAlgorithm:
		return bogus(EDEBogus, fmt.Sprintf("%s: algorithm %d is not supported, and the zone's keys are secure", what, sig.Algorithm))
	case failLabels:
		return bogus(EDEBogus, fmt.Sprintf("%s: labels field %d does not fit owner and zone %s", what, sig.Labels, zone.String()))
	}
	return bogus(EDEBogus, fmt.Sprintf("%s: signer %s is not the zone %s", what, sig.SignerName, zone.String()))
}

func (c *call) exhaustedResult(h *dns.RR_Header, sig *dns.RRSIG) Result {
	scope := "per-call limit of " + strconv.Itoa(c.v.limits.MaxValidationsPerCall)
	if c.verifications < c.v.limits.MaxValidationsPerCall {
		scope = "query budget of " + strconv.Itoa(int(c.b.maxValidations))
	}
	return bogus(EDEBogus, fmt.Sprintf("validation stopped at the %s signature checks (RRSIG over %s/%s by %d not tried)", scope, h.Name, dns.Type(h.Rrtype), sig.KeyTag))
}

// VerifyDNSKEY validates zone's DNSKEY RRset (RFC 4035 section 5.2): a key
// in it must match a DS of the parent (ds, already validated with the
// parent's keys) or, when ds is empty, the zone's trust anchor, and that
// key must sign the RRset. ds and sigs may hold other records, which are
// ignored. Of the DS digests, SHA-256 and SHA-384 are used, and SHA-1
// only when neither is present (RFC 4509 section 3). Any one working path
// suffices (RFC 6840 section 5.11).
//
// The result is Secure with the zone's KeySet; Insecure when every DS or
// anchor names an unsupported algorithm (EDE 1) or digest (EDE 2), with a
// KeySet that makes the zone's data Insecure; Indeterminate when ds is
// empty and zone has no anchor; otherwise Bogus: no key matches (EDE 9,
// or 11 when the match lacks the Zone Key flag), no RRSIG by a matching
// key (EDE 10), or the signature checks fail.
func (v *Validator) VerifyDNSKEY(zone string, dnskeys, sigs, ds []dns.RR, b *Budget) (KeySet, Result) {
	var local Budget
	c := v.begin(b, &local)
	ks, r := c.verifyDNSKEY(zone, dnskeys, sigs, ds)
	return ks, c.done(r)
}

func (c *call) verifyDNSKEY(zone string, dnskeyRRs, sigs, dsRRs []dns.RR) (KeySet, Result) {
	var z name
	if !z.parse(zone) {
		return KeySet{}, bogus(EDEBogus, fmt.Sprintf("malformed zone name %q", zone))
	}
	zone = z.String()
	var keys []*dns.DNSKEY
	for _, rr := range dnskeyRRs {
		k, ok := rr.(*dns.DNSKEY)
		if !ok || k == nil {
			continue
		}
		var owner name
		if !owner.parse(k.Hdr.Name) || !nameEqual(&owner, &z) {
			return KeySet{}, bogus(EDEBogus, fmt.Sprintf("DNSKEY RRset of %s holds a key of %s", zone, k.Hdr.Name))
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return KeySet{}, bogus(EDEDNSKEYMissing, "no DNSKEY RRset for "+zone)
	}

	var ds []*dns.DS
	var anchorKeys []*dns.DNSKEY
	source := "DS"
	for _, rr := range dsRRs {
		d, ok := rr.(*dns.DS)
		if !ok || d == nil {
			continue
		}
		var owner name
		if !owner.parse(d.Hdr.Name) || !nameEqual(&owner, &z) {
			return KeySet{}, bogus(EDEBogus, fmt.Sprintf("DS of %s offered for %s", d.Hdr.Name, zone))
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		a := c.v.anchors.zones[zone]
		if a == nil {
			return KeySet{}, Result{Status: Indeterminate, EDE: EDEIndeterminate, Reason: "no DS and no trust anchor for " + zone}
		}
		ds, anchorKeys, source = a.ds, a.keys, "trust anchor"
	}

	// Which DS and anchor keys this validator can use.
	strong := slices.ContainsFunc(ds, func(d *dns.DS) bool { return c.v.supportedAlgorithm(d.Algorithm) && strongDigest(d.DigestType) })
	var usable []*dns.DS
	algOK := false
	for _, d := range ds {
		if !c.v.supportedAlgorithm(d.Algorithm) {
			continue
		}
		algOK = true
		if strongDigest(d.DigestType) || d.DigestType == dns.SHA1 && !strong {
			usable = append(usable, d)
		}
	}
	var usableKeys []*dns.DNSKEY
	for _, k := range anchorKeys {
		if c.v.supportedAlgorithm(k.Algorithm) {
			usableKeys = append(usableKeys, k)
			algOK = true
		}
	}
	if len(usable) == 0 && len(usableKeys) == 0 {
		var r Result
		if !algOK {
			r = insecure(EDEUnsupportedDNSKEYAlgorithm, fmt.Sprintf("%s of %s names only unsupported algorithms (%s)", source, zone, algorithms(ds, anchorKeys)))
		} else {
			r = insecure(EDEUnsupportedDSDigest, fmt.Sprintf("%s of %s uses only unsupported digest types (%s)", source, zone, c.v.digests(ds)))
		}
		r.TTL = minTTL(dnskeyRRs)
		return KeySet{zone: zone, status: Insecure, why: r}, r
	}

	// Keys the DS or anchors vouch for.
	var trusted []zoneKey
	noZoneBit := false
	for _, d := range usable {
		tried := 0
		for _, k := range keys {
			tag, ok := keyTag(k)
			if !ok || tag != d.KeyTag || k.Algorithm != d.Algorithm {
				continue
			}
			if tried == c.v.limits.MaxKeyTagCollisions {
				break
			}
			tried++
			if k.Protocol != 3 || k.Flags&dns.ZONE == 0 {
				noZoneBit = true
				continue
			}
			if k.Flags&dns.REVOKE != 0 {
				continue
			}
			if got := k.ToDS(d.DigestType); got != nil && strings.EqualFold(got.Digest, d.Digest) {
				trusted = appendKey(trusted, k, tag)
			}
		}
	}
	for _, a := range usableKeys {
		for _, k := range keys {
			if k.Flags == a.Flags && k.Protocol == a.Protocol && k.Algorithm == a.Algorithm && samePublicKey(k.PublicKey, a.PublicKey) {
				if tag, ok := keyTag(k); ok {
					trusted = appendKey(trusted, k, tag)
				}
			}
		}
	}
	if len(trusted) == 0 {
		if noZoneBit {
			return KeySet{}, bogus(EDENoZoneKeyBitSet, fmt.Sprintf("the DNSKEY of %s its %s names lacks the Zone Key flag", zone, source))
		}
		return KeySet{}, bogus(EDEDNSKEYMissing, fmt.Sprintf("no DNSKEY of %s matches its %s (%s)", zone, source, dsTags(usable, usableKeys)))
	}

	r := c.verifySet(dnskeyRRs, sigs, &z, trusted, true)
	if r.Status != Secure {
		if !strings.HasPrefix(r.Reason, "DNSKEY RRset") {
			r.Reason = "DNSKEY RRset of " + zone + ": " + r.Reason
		}
		return KeySet{}, r
	}
	if r.Wildcard != "" {
		return KeySet{}, bogus(EDEBogus, "DNSKEY RRset of "+zone+" was synthesised from a wildcard")
	}
	ks := KeySet{zone: zone, status: Secure}
	for _, k := range keys {
		if k.Protocol != 3 || k.Flags&dns.ZONE == 0 || k.Flags&dns.REVOKE != 0 || !c.v.supportedAlgorithm(k.Algorithm) {
			continue
		}
		if tag, ok := keyTag(k); ok {
			ks.keys = appendKey(ks.keys, k, tag)
		}
	}
	return ks, r
}

func appendKey(keys []zoneKey, k *dns.DNSKEY, tag uint16) []zoneKey {
	for _, z := range keys {
		if z.rr == k {
			return keys
		}
	}
	return append(keys, zoneKey{rr: k, tag: tag})
}

func samePublicKey(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := base64.StdEncoding.DecodeString(a)
	y, err2 := base64.StdEncoding.DecodeString(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func algorithms(ds []*dns.DS, keys []*dns.DNSKEY) string {
	var algs []string
	for _, d := range ds {
		algs = append(algs, strconv.Itoa(int(d.Algorithm)))
	}
	for _, k := range keys {
		algs = append(algs, strconv.Itoa(int(k.Algorithm)))
	}
	slices.Sort(algs)
	return strings.Join(slices.Compact(algs), ", ")
}

func (v *Validator) digests(ds []*dns.DS) string {
	var d []string
	for _, x := range ds {
		if v.supportedAlgorithm(x.Algorithm) {
			d = append(d, strconv.Itoa(int(x.DigestType)))
		}
	}
	slices.Sort(d)
	return strings.Join(slices.Compact(d), ", ")
}

func dsTags(ds []*dns.DS, keys []*dns.DNSKEY) string {
	var tags []string
	for _, d := range ds {
		tags = append(tags, fmt.Sprintf("tag %d alg %d", d.KeyTag, d.Algorithm))
	}
	for _, k := range keys {
		tag, _ := keyTag(k)
		tags = append(tags, fmt.Sprintf("key %d alg %d", tag, k.Algorithm))
	}
	return strings.Join(tags, ", ")
}

// keyTag computes the RFC 4034 Appendix B key tag. DNSKEY.KeyTag
// computes the same but packs the key into a fresh 4 KiB buffer each
// time; a KeyTrap DNSKEY RRset holds hundreds of keys, so this one
// decodes the base64 key in place. ok is false when the key is not
// valid base64.
func keyTag(k *dns.DNSKEY) (uint16, bool) {
	ac := uint32(k.Flags) + uint32(k.Protocol)<<8 + uint32(k.Algorithm)
	s := k.PublicKey
	if len(s) == 0 || len(s)%4 != 0 {
		return 0, false
	}
	i := 4 // the index of the next RDATA octet: flags, protocol and algorithm came first
	var acc uint32
	bits, pad := 0, 0
	for j := 0; j < len(s); j++ {
		c := s[j]
		var v uint32
		switch {
		case c >= 'A' && c <= 'Z':
			v = uint32(c - 'A')
		case c >= 'a' && c <= 'z':
			v = uint32(c-'a') + 26
		case c >= '0' && c <= '9':
			v = uint32(c-'0') + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=' && j >= len(s)-2:
			pad++
			continue
		default:
			return 0, false
		}
		if pad > 0 {
			return 0, false
		}
		acc = acc<<6 | v
		bits += 6
		if bits >= 8 {
			bits -= 8
			b := (acc >> uint(bits)) & 0xFF
			if i&1 == 0 {
				ac += b << 8
			} else {
				ac += b
			}
			i++
		}
	}
	if pad == 2 && bits != 4 || pad == 1 && bits != 2 {
		return 0, false
	}
	ac += ac >> 16 & 0xFFFF
	return uint16(ac), true
}
