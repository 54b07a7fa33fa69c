package dnssec

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// collidingKeys makes n ECDSA P-256 DNSKEYs of zone whose key tag is tag,
// the KeyTrap (CVE-2023-50387) ingredient: random public keys with the
// last two octets chosen so that the RFC 4034 Appendix B checksum comes
// out at tag. They are not points on the curve, so every signature check
// with them fails, after costing as much as any other.
func collidingKeys(t testing.TB, zone string, n int, tag uint16) []dns.RR {
	t.Helper()
	var out []dns.RR
	for len(out) < n {
		var pub [64]byte
		if _, err := rand.Read(pub[:62]); err != nil {
			t.Fatal(err)
		}
		flags, proto, alg := uint32(dns.ZONE), uint32(3), uint32(dns.ECDSAP256SHA256)
		base := flags + proto<<8 + alg
		for j := 0; j < 62; j += 2 {
			base += uint32(pub[j])<<8 | uint32(pub[j+1])
		}
		for w := uint32(0); w < 1<<16; w++ {
			ac := base + w
			if uint16(ac+(ac>>16)&0xFFFF) != tag {
				continue
			}
			pub[62], pub[63] = byte(w>>8), byte(w)
			k := &dns.DNSKEY{
				Hdr:   dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
				Flags: dns.ZONE, Protocol: 3, Algorithm: dns.ECDSAP256SHA256,
				PublicKey: base64.StdEncoding.EncodeToString(pub[:]),
			}
			if k.KeyTag() != tag {
				t.Fatalf("crafted tag %d, want %d", k.KeyTag(), tag)
			}
			out = append(out, k)
			break
		}
	}
	return out
}

// garbageSigs makes n RRSIGs over set with the key tag and algorithm of
// a real key, valid in time, with random signatures.
func garbageSigs(t testing.TB, set []dns.RR, signer string, tag uint16, labels uint8, n int, now time.Time) []dns.RR {
	var out []dns.RR
	h := set[0].Header()
	for i := 0; i < n; i++ {
		var sig [64]byte
		if _, err := rand.Read(sig[:]); err != nil {
			t.Fatal(err)
		}
		out = append(out, &dns.RRSIG{
			Hdr:         dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
			TypeCovered: h.Rrtype, Algorithm: dns.ECDSAP256SHA256, Labels: labels, OrigTtl: h.Ttl,
			Expiration: uint32(now.Add(time.Hour).Unix()), Inception: uint32(now.Add(-time.Hour).Unix()),
			KeyTag: tag, SignerName: signer, Signature: base64.StdEncoding.EncodeToString(sig[:]),
		})
	}
	return out
}

func TestKeyTrap(t *testing.T) {
	h := buildHierarchy(t, nil)
	ex := h.zones["example.lab."]
	now := h.now
	tag := ex.ksk.DNSKEY.KeyTag()
	colliders := collidingKeys(t, "example.lab.", 100, tag)
	ds := []dns.RR{ex.ksk.DS(0)}

	// The attacker's zone is signed honestly: its DNSKEY RRset holds the
	// KSK and 100 keys sharing its tag.
	dnskeys := append([]dns.RR{ex.ksk.DNSKEY}, colliders...)
	realSig := sign(t, ex.ksk, "example.lab.", dnskeys, now.Add(-time.Hour), now.Add(time.Hour), nil)

	v := h.validator(Limits{})
	limits := v.Limits()
	verifies := func(f func()) uint64 {
		before := v.Stats().Verifications
		f()
		return v.Stats().Verifications - before
	}

	var ks KeySet
	t.Run("honest RRset among colliding keys", func(t *testing.T) {
		var r Result
		n := verifies(func() { ks, r = v.VerifyDNSKEY("example.lab.", dnskeys, []dns.RR{realSig}, ds, nil) })
		if r.Status != Secure || len(ks.Keys()) != 101 {
			t.Fatalf("%v, %d keys", r, len(ks.Keys()))
		}
		if n != 1 {
			t.Errorf("%d signature checks, want 1", n)
		}
	})

	t.Run("100 keys × 100 RRSIGs over an RRset", func(t *testing.T) {
		www, _ := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
		sigs := garbageSigs(t, www, "example.lab.", tag, 3, 100, now)
		b := v.NewBudget()
		var r Result
		start := time.Now()
		n := verifies(func() { r = v.VerifyRRset(www, sigs, ks, b) })
		elapsed := time.Since(start)
		expect(t, "KeyTrap", r, Bogus, EDEBogus, "per-call limit of 8")
		if n > uint64(limits.MaxValidationsPerCall) || b.Validations() > limits.MaxValidationsPerCall {
			t.Errorf("%d signature checks (budget says %d), limit %d", n, b.Validations(), limits.MaxValidationsPerCall)
		}
		if b.Exhausted() {
			t.Error("the per-call limit spent the query's budget")
		}
		t.Logf("%d signature checks instead of 10000, %v", n, elapsed)
	})

	t.Run("colliding keys before the KSK", func(t *testing.T) {
		// The DS matching tries at most MaxKeyTagCollisions keys with the
		// tag, so a KSK hidden behind more colliders is never found.
		hidden := append(append([]dns.RR{}, colliders...), ex.ksk.DNSKEY)
		sigs := append(garbageSigs(t, hidden, "example.lab.", tag, 2, 100, now), realSig)
		var r Result
		n := verifies(func() { _, r = v.VerifyDNSKEY("example.lab.", hidden, sigs, ds, nil) })
		expect(t, "hidden KSK", r, Bogus, EDEDNSKEYMissing, "")
		if n != 0 {
			t.Errorf("%d signature checks", n)
		}
	})

	t.Run("100 RRSIGs over the DNSKEY RRset", func(t *testing.T) {
		sigs := append(garbageSigs(t, dnskeys, "example.lab.", tag, 2, 100, now), realSig)
		var r Result
		n := verifies(func() { _, r = v.VerifyDNSKEY("example.lab.", dnskeys, sigs, ds, nil) })
		expect(t, "DNSKEY", r, Bogus, EDEBogus, "per-call limit")
		if n > uint64(limits.MaxValidationsPerCall) {
			t.Errorf("%d signature checks", n)
		}
	})

	t.Run("one budget across a client query", func(t *testing.T) {
		www, _ := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
		sigs := garbageSigs(t, www, "example.lab.", tag, 3, 100, now)
		b := v.NewBudget()
		var last Result
		n := verifies(func() {
			for i := 0; i < 20; i++ {
				last = v.VerifyRRset(www, sigs, ks, b)
			}
		})
		if n > uint64(limits.MaxValidations) || b.Validations() != limits.MaxValidations {
			t.Errorf("%d signature checks over 20 calls (budget %d), limit %d", n, b.Validations(), limits.MaxValidations)
		}
		expect(t, "after the budget", last, Bogus, EDEBogus, "query budget of 64")
		// Once spent, even an honest RRset costs nothing and fails.
		www, wwwSigs := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
		if n := verifies(func() { last = v.VerifyRRset(www, wwwSigs, h.chain(t, h.validator(Limits{}))["example.lab."], b) }); n != 0 || last.Status != Bogus {
			t.Errorf("spent budget: %d checks, %v", n, last)
		}
		if v.Stats().BudgetExhausted < 20 || !b.Exhausted() {
			t.Errorf("exhaustion not counted: %+v", v.Stats())
		}
	})
}
