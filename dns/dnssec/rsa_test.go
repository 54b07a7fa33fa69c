package dnssec

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// bigExponentSigner is an RSA key with the public exponent 2^32+1, which
// crypto/rsa neither generates nor takes, signing with PKCS#1 v1.5 by hand.
type bigExponentSigner struct {
	n, e, d *big.Int
	size    int
}

func newBigExponentSigner(t testing.TB, bits int) *bigExponentSigner {
	t.Helper()
	e := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 32), big.NewInt(1))
	one := big.NewInt(1)
	for {
		p, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		q, err := rand.Prime(rand.Reader, bits/2)
		if err != nil {
			t.Fatal(err)
		}
		n := new(big.Int).Mul(p, q)
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil || n.BitLen() != bits {
			continue
		}
		return &bigExponentSigner{n: n, e: e, d: d, size: bits / 8}
	}
}

func (s *bigExponentSigner) Public() crypto.PublicKey { return nil }

func (s *bigExponentSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	prefix := digestInfo[opts.HashFunc()]
	em := make([]byte, s.size)
	em[1] = 1
	tLen := len(prefix) + len(digest)
	for i := 2; i < s.size-tLen-1; i++ {
		em[i] = 0xff
	}
	copy(em[s.size-tLen:], prefix)
	copy(em[s.size-len(digest):], digest)
	m := new(big.Int).SetBytes(em)
	return new(big.Int).Exp(m, s.d, s.n).FillBytes(make([]byte, s.size)), nil
}

// dnskey is the key in RFC 3110 form: the exponent's length, the exponent,
// the modulus.
func (s *bigExponentSigner) dnskey(zone string, flags uint16) *dns.DNSKEY {
	eb := s.e.Bytes()
	pub := append(append([]byte{byte(len(eb))}, eb...), s.n.Bytes()...)
	return &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: dns.RSASHA256, PublicKey: base64.StdEncoding.EncodeToString(pub)}
}

// TestRSABigExponent: a zone signed with an RSA key whose public exponent
// is 2^32+1 (as nic.cz.'s KSK was) validates, RRsets and wildcard
// expansions alike, and forged data under it does not; a 512-bit key of
// that kind stays refused, as crypto/rsa refuses small keys.
func TestRSABigExponent(t *testing.T) {
	now := time.Now()
	s := newBigExponentSigner(t, 2048)
	key := s.dnskey("big.lab.", dns.ZONE|dns.SEP)
	sign := func(set []dns.RR, labels uint8) *dns.RRSIG {
		sig := &dns.RRSIG{Algorithm: dns.RSASHA256, KeyTag: key.KeyTag(), SignerName: "big.lab.",
			Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(time.Hour).Unix())}
		if err := sig.Sign(s, set); err != nil {
			t.Fatal(err)
		}
		if labels != 0 {
			sig.Labels = labels
		}
		return sig
	}
	anchors := NewAnchors()
	if err := anchors.Add(key.ToDS(dns.SHA256)); err != nil {
		t.Fatal(err)
	}
	v := New(Config{Anchors: anchors})
	keys, r := v.VerifyDNSKEY("big.lab.", []dns.RR{key}, []dns.RR{key, sign([]dns.RR{key}, 0)}, nil, nil)
	if r.Status != Secure {
		t.Fatalf("DNSKEY RRset signed by the key: %v", r)
	}
	a := &dns.A{Hdr: dns.RR_Header{Name: "www.big.lab.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, 1}}
	sig := sign([]dns.RR{a}, 0)
	if r := v.VerifyRRset([]dns.RR{a}, []dns.RR{sig}, keys, nil); r.Status != Secure {
		t.Errorf("A RRset: %v", r)
	}
	forged := dns.Copy(a).(*dns.A)
	forged.A = []byte{6, 6, 6, 6}
	if r := v.VerifyRRset([]dns.RR{forged}, []dns.RR{sig}, keys, nil); r.Status != Bogus {
		t.Errorf("forged A RRset: %v", r)
	}
	// A wildcard expansion: signed as *.wild.big.lab., served as x.wild.big.lab.
	wild := dns.Copy(a).(*dns.A)
	wild.Hdr.Name = "*.wild.big.lab."
	wsig := sign([]dns.RR{wild}, 0)
	exp := dns.Copy(wild).(*dns.A)
	exp.Hdr.Name = "x.wild.big.lab."
	wsig.Hdr.Name = exp.Hdr.Name
	if r := v.VerifyRRset([]dns.RR{exp}, []dns.RR{wsig}, keys, nil); r.Status != Secure || r.Wildcard != "*.wild.big.lab." {
		t.Errorf("wildcard expansion: %v", r)
	}

	small := newBigExponentSigner(t, 512)
	skey := small.dnskey("small.lab.", dns.ZONE|dns.SEP)
	if _, ok := bigExponentKey(skey); ok {
		t.Error("a 512-bit key was taken")
	}
}
