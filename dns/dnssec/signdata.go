package dnssec

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// miekg/dns builds the data a signature covers only inside RRSIG.Sign and
// Verify, and gets one case wrong: a record expanded from, or owned by,
// the wildcard at the root (RRSIG Labels 0, owner not the root) has its
// owner rebuilt as "*.." (no labels joined after "*.", then a dot), so its
// signature never verifies. This file builds the signed data of RFC 4034
// section 3.1.8.1 itself and checks a signature over it with the key, for
// that case and for the RSA keys crypto/rsa does not take (rsa.go).

var errSignature = errors.New("dnssec: signature does not verify")

// miekgWildcardBug reports whether miekg/dns's RRSIG.Verify would rebuild
// the signed owner of a set owned by owner wrongly for sig: Labels 0 with
// an owner below the root.
func miekgWildcardBug(sig *dns.RRSIG, owner *name) bool {
	return sig.Labels == 0 && owner.nl > 0
}

// signedOwner is the owner name a signature with labels covers for a
// record owned by owner (RFC 4035 section 5.3.2): owner itself, or for a
// wildcard expansion the wildcard "*." followed by owner's rightmost
// labels labels, "*." alone when labels is 0. owner is in canonical form.
func signedOwner(owner string, labels uint8) string {
	n := dns.CountLabel(owner)
	if n <= int(labels) {
		return owner
	}
	if labels == 0 {
		return "*."
	}
	idx := dns.Split(owner)
	return "*." + owner[idx[n-int(labels)]:]
}

// canonicalRdata lowers the case of the domain names in rr's RDATA for the
// types RFC 4034 section 6.2 item 3 lists (without HINFO, RFC 6840 section
// 5.1; NXT and A6 miekg/dns does not have): the same list miekg/dns keeps.
func canonicalRdata(rr dns.RR) {
	c := dns.CanonicalName
	switch x := rr.(type) {
	case *dns.NS:
		x.Ns = c(x.Ns)
	case *dns.MD:
		x.Md = c(x.Md)
	case *dns.MF:
		x.Mf = c(x.Mf)
	case *dns.CNAME:
		x.Target = c(x.Target)
	case *dns.SOA:
		x.Ns, x.Mbox = c(x.Ns), c(x.Mbox)
	case *dns.MB:
		x.Mb = c(x.Mb)
	case *dns.MG:
		x.Mg = c(x.Mg)
	case *dns.MR:
		x.Mr = c(x.Mr)
	case *dns.PTR:
		x.Ptr = c(x.Ptr)
	case *dns.MINFO:
		x.Rmail, x.Email = c(x.Rmail), c(x.Email)
	case *dns.MX:
		x.Mx = c(x.Mx)
	case *dns.RP:
		x.Mbox, x.Txt = c(x.Mbox), c(x.Txt)
	case *dns.AFSDB:
		x.Hostname = c(x.Hostname)
	case *dns.RT:
		x.Host = c(x.Host)
	case *dns.SIG:
		x.SignerName = c(x.SignerName)
	case *dns.PX:
		x.Map822, x.Mapx400 = c(x.Map822), c(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = c(x.Replacement)
	case *dns.KX:
		x.Exchanger = c(x.Exchanger)
	case *dns.SRV:
		x.Target = c(x.Target)
	case *dns.DNAME:
		x.Target = c(x.Target)
	}
}

// signedData is the data RFC 4034 section 3.1.8.1 has sig made over: the
// RRSIG's RDATA up to the signature, the signer's name in lower case; then
// each record of set in canonical form (section 6.2: owner, and the names
// in the RDATA of the types listed there, in lower case and uncompressed;
// the TTL the Original TTL; a wildcard expansion's owner the wildcard), in
// canonical order (section 6.3: by RDATA), a duplicate once.
func signedData(sig *dns.RRSIG, set []dns.RR) ([]byte, error) {
	if len(set) == 0 {
		return nil, errSignature
	}
	s := *sig
	s.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeRRSIG, Class: sig.Hdr.Class}
	s.SignerName = dns.CanonicalName(sig.SignerName)
	s.Signature = ""
	buf := make([]byte, dns.Len(&s)+1)
	n, err := dns.PackRR(&s, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	const rootHeader = 1 + 10 // the root, type, class, TTL, RDLENGTH
	data := buf[rootHeader:n]

	owner := signedOwner(dns.CanonicalName(set[0].Header().Name), sig.Labels)
	var nameBuf [256]byte
	ownerLen, err := dns.PackDomainName(owner, nameBuf[:], 0, nil, false)
	if err != nil {
		return nil, err
	}
	headerLen := ownerLen + 10 // RDATA follows type, class, TTL and RDLENGTH
	wires := make([][]byte, 0, len(set))
	for _, rr := range set {
		cp := dns.Copy(rr)
		h := cp.Header()
		h.Name, h.Ttl = owner, sig.OrigTtl
		canonicalRdata(cp)
		w := make([]byte, dns.Len(cp)+1)
		n, err := dns.PackRR(cp, w, 0, nil, false)
		if err != nil {
			return nil, err
		}
		if n < headerLen {
			return nil, errSignature
		}
		wires = append(wires, w[:n])
	}
	slices.SortFunc(wires, func(a, b []byte) int { return bytes.Compare(a[headerLen:], b[headerLen:]) })
	for i, w := range wires {
		if i > 0 && bytes.Equal(w, wires[i-1]) {
			continue
		}
		data = append(data, w...)
	}
	return data, nil
}

// signatureHash is the hash an algorithm signs with; 0 for Ed25519, which
// signs the data itself.
func signatureHash(alg uint8) (crypto.Hash, bool) {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1:
		return crypto.SHA1, true
	case dns.RSASHA256, dns.ECDSAP256SHA256:
		return crypto.SHA256, true
	case dns.ECDSAP384SHA384:
		return crypto.SHA384, true
	case dns.RSASHA512:
		return crypto.SHA512, true
	case dns.ED25519:
		return 0, true
	}
	return 0, false
}

// keyFits makes the checks of a key against a signature that RRSIG.Verify
// makes before any arithmetic: a zone key of protocol 3, of the signature's
// algorithm, owned by its signer, with its key tag.
func keyFits(sig *dns.RRSIG, k *dns.DNSKEY) bool {
	if k.Protocol != 3 || k.Flags&dns.ZONE == 0 || sig.Algorithm != k.Algorithm || !strings.EqualFold(dns.CanonicalName(sig.SignerName), dns.CanonicalName(k.Hdr.Name)) {
		return false
	}
	tag, ok := keyTag(k)
	return ok && tag == sig.KeyTag
}

// verifyOwn verifies sig over set with key k from the signed data this
// file builds rather than miekg/dns's: RSA (crypto/rsa's keys, and the
// large exponents of rsa.go), ECDSA P-256 and P-384, Ed25519.
func verifyOwn(sig *dns.RRSIG, k *dns.DNSKEY, set []dns.RR) error {
	if !keyFits(sig, k) {
		return errSignature
	}
	hash, ok := signatureHash(sig.Algorithm)
	if !ok {
		return errSignature
	}
	data, err := signedData(sig, set)
	if err != nil {
		return err
	}
	pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil {
		return errSignature
	}
	sv, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil {
		return errSignature
	}
	if hash == 0 { // Ed25519 (RFC 8080)
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(ed25519.PublicKey(pub), data, sv) {
			return errSignature
		}
		return nil
	}
	h := hash.New()
	h.Write(data)
	digest := h.Sum(nil)
	switch sig.Algorithm {
	case dns.ECDSAP256SHA256, dns.ECDSAP384SHA384: // RFC 6605: x|y, r|s
		curve, size := elliptic.P256(), 32
		if sig.Algorithm == dns.ECDSAP384SHA384 {
			curve, size = elliptic.P384(), 48
		}
		if len(pub) != 2*size || len(sv) != 2*size {
			return errSignature
		}
		// The uncompressed SEC 1 form: 0x04, then x and y; the parser
		// refuses a point off the curve.
		key, err := ecdsa.ParseUncompressedPublicKey(curve, append([]byte{4}, pub...))
		if err != nil || !ecdsa.Verify(key, digest, new(big.Int).SetBytes(sv[:size]), new(big.Int).SetBytes(sv[size:])) {
			return errSignature
		}
		return nil
	}
	if big, ok := bigExponentKey(k); ok {
		return verifyPKCS1(big, hash, digest, sv)
	}
	key, ok := rsaPublicKey(pub)
	if !ok || rsa.VerifyPKCS1v15(key, hash, digest, sv) != nil {
		return errSignature
	}
	return nil
}

// rsaPublicKey parses an RSA key in RFC 3110's form, with an exponent
// crypto/rsa takes (below 2^31).
func rsaPublicKey(buf []byte) (*rsa.PublicKey, bool) {
	if len(buf) < 3 {
		return nil, false
	}
	explen, off := int(buf[0]), 1
	if explen == 0 {
		explen, off = int(buf[1])<<8|int(buf[2]), 3
	}
	if explen == 0 || explen > 4 || off+explen >= len(buf) || buf[off] == 0 {
		return nil, false
	}
	e := 0
	for _, b := range buf[off : off+explen] {
		e = e<<8 | int(b)
	}
	mod := buf[off+explen:]
	if e > 1<<31-1 || len(mod) > maxRSAModulus || mod[0] == 0 || len(mod)*8 < minRSABits {
		return nil, false
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(mod), E: e}, true
}
