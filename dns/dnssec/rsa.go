package dnssec

import (
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"math/big"

	"github.com/miekg/dns"
)

// RSA public exponents above 2^31-1 (RFC 3110 allows up to 4096 bits of
// them; some zones, nic.cz.'s KSK among them, use 2^32+1) are more than
// crypto/rsa, and so miekg/dns, take: RRSIG.Verify refuses such a key. A
// signature is public-key arithmetic, s^e mod n, which math/big does; this
// file verifies RSA/PKCS#1 v1.5 signatures by such keys, and only those,
// over the signed data of signdata.go: every other RSA key is verified by
// crypto/rsa as before. Keys below
// 1024 bits stay refused as crypto/rsa refuses them, and exponents above
// 64 bits too, so that a hostile key cannot make one check cost like a
// private-key operation.

const (
	minRSABits       = 1024
	maxRSAModulus    = 4096 / 8
	maxBigExponentSz = 8 // octets
)

// rsaKey is an RSA public key in the RFC 3110 form of a DNSKEY.
type rsaKey struct {
	e, n *big.Int
	size int // modulus octets
}

// bigExponentKey parses k as an RSA key whose exponent crypto/rsa does not
// take. ok is false for any other key: one crypto/rsa takes, a malformed
// one, or one outside the limits above.
func bigExponentKey(k *dns.DNSKEY) (rsaKey, bool) {
	switch k.Algorithm {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512:
	default:
		return rsaKey{}, false
	}
	buf, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || len(buf) < 3 {
		return rsaKey{}, false
	}
	explen, off := int(buf[0]), 1
	if explen == 0 {
		explen, off = int(buf[1])<<8|int(buf[2]), 3
	}
	if explen == 0 || explen > maxBigExponentSz || off+explen >= len(buf) || buf[off] == 0 {
		return rsaKey{}, false
	}
	e := new(big.Int).SetBytes(buf[off : off+explen])
	if e.IsInt64() && e.Int64() <= 1<<31-1 {
		return rsaKey{}, false // crypto/rsa's
	}
	mod := buf[off+explen:]
	if len(mod) > maxRSAModulus || mod[0] == 0 || len(mod)*8 < minRSABits || e.Bit(0) == 0 {
		return rsaKey{}, false
	}
	return rsaKey{e: e, n: new(big.Int).SetBytes(mod), size: len(mod)}, true
}

// digestInfo are the DER prefixes of PKCS#1 v1.5's DigestInfo (RFC 8017
// section 9.2, note 1) for the hashes of the RSA algorithms.
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// verifyPKCS1 checks sv, an RSASSA-PKCS1-v1_5 signature (RFC 8017 section
// 8.2.2), over digest, a hash of the signed data, with key.
func verifyPKCS1(key rsaKey, hash crypto.Hash, digest, sv []byte) error {
	prefix := digestInfo[hash]
	if len(sv) != key.size || prefix == nil {
		return errSignature
	}
	// EM = 0x00 || 0x01 || PS (0xff...) || 0x00 || DigestInfo || digest.
	tLen := len(prefix) + len(digest)
	if key.size < tLen+11 {
		return errSignature
	}
	em := make([]byte, key.size)
	em[1] = 1
	for i := 2; i < key.size-tLen-1; i++ {
		em[i] = 0xff
	}
	copy(em[key.size-tLen:], prefix)
	copy(em[key.size-len(digest):], digest)
	s := new(big.Int).SetBytes(sv)
	if s.Cmp(key.n) >= 0 {
		return errSignature
	}
	m := new(big.Int).Exp(s, key.e, key.n).FillBytes(make([]byte, key.size))
	if subtle.ConstantTimeCompare(m, em) != 1 {
		return errSignature
	}
	return nil
}
