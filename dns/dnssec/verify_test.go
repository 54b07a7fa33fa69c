package dnssec

import (
	"crypto"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/authoritative"
)

func TestChainOfTrust(t *testing.T) {
	for _, tt := range []struct {
		name string
		alg  uint8
	}{
		{"ECDSA P-256", dns.ECDSAP256SHA256},
		{"RSA/SHA-256", dns.RSASHA256},
		{"Ed25519", dns.ED25519},
		{"ECDSA P-384", dns.ECDSAP384SHA384},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := zoneOpts{alg: tt.alg}
			h := buildHierarchy(t, map[string]zoneOpts{".": o, "lab.": o, "example.lab.": o})
			v := h.validator(Limits{})
			keys := h.chain(t, v)
			if n := len(keys["example.lab."].Keys()); n != 2 {
				t.Errorf("example.lab. key set holds %d keys, want KSK and ZSK", n)
			}
			resp := h.ask("example.lab.", "www.example.lab.", dns.TypeA)
			set, sigs := rrset(resp.Answer, "", dns.TypeA)
			r := v.VerifyRRset(set, sigs, keys["example.lab."], nil)
			if r.Status != Secure || r.Wildcard != "" || r.TTL != 3600 || r.Reason != "" || r.EDE != 0 {
				t.Errorf("www.example.lab./A: %+v", r)
			}
			if s := v.Stats(); s.Secure == 0 || s.Bogus != 0 || s.Verifications == 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestVerifyRRset(t *testing.T) {
	h := buildHierarchy(t, nil)
	v := h.validator(Limits{})
	keys := h.chain(t, v)
	ex := h.zones["example.lab."]
	lab := h.zones["lab."]
	now := h.now
	resp := h.ask("example.lab.", "www.example.lab.", dns.TypeA)
	www, wwwSigs := rrset(resp.Answer, "", dns.TypeA)
	resign := func(edit func(*dns.RRSIG), from, to time.Time) []dns.RR {
		return []dns.RR{sign(t, ex.zsk, "example.lab.", www, from, to, edit)}
	}
	valid := func() []dns.RR { return resign(nil, now.Add(-time.Hour), now.Add(time.Hour)) }
	flip := func(sigs []dns.RR) []dns.RR {
		out := copies(sigs)
		s := out[0].(*dns.RRSIG)
		b, _ := base64.StdEncoding.DecodeString(s.Signature)
		b[len(b)/3] ^= 0x01
		s.Signature = base64.StdEncoding.EncodeToString(b)
		return out
	}
	otherAddr := copies(www)
	otherAddr[0].(*dns.A).A[3] = 66
	upper := copies(www)
	upper[0].Header().Name = "WWW.Example.LAB."
	longTTL := copies(www)
	longTTL[0].Header().Ttl = 86400

	tests := []struct {
		name   string
		set    []dns.RR
		sigs   []dns.RR
		keys   KeySet
		status Status
		ede    uint16
		reason string
	}{
		{"served", www, wwwSigs, keys["example.lab."], Secure, 0, ""},
		{"one bad signature among good ones", www, append(flip(valid()), valid()...), keys["example.lab."], Secure, 0, ""},
		{"other records beside the RRSIGs are ignored", www, append(copies(www), wwwSigs...), keys["example.lab."], Secure, 0, ""},
		{"owner in other case (0x20)", upper, wwwSigs, keys["example.lab."], Secure, 0, ""},
		{"signer name in upper case", www, resign(func(s *dns.RRSIG) { s.SignerName = "EXAMPLE.lab." }, now.Add(-time.Hour), now.Add(time.Hour)), keys["example.lab."], Secure, 0, ""},
		{"flipped signature byte", www, flip(wwwSigs), keys["example.lab."], Bogus, EDEBogus, "does not verify"},
		{"altered data", otherAddr, wwwSigs, keys["example.lab."], Bogus, EDEBogus, "does not verify"},
		{"expired", www, resign(nil, now.Add(-72*time.Hour), now.Add(-48*time.Hour)), keys["example.lab."], Bogus, EDESignatureExpired, "RRSIG over www.example.lab./A by"},
		{"not yet valid", www, resign(nil, now.Add(48*time.Hour), now.Add(72*time.Hour)), keys["example.lab."], Bogus, EDESignatureNotYetValid, "not valid before"},
		{"expires before inception", www, resign(nil, now.Add(time.Hour), now.Add(-time.Hour)), keys["example.lab."], Bogus, EDESignatureExpiredBeforeValid, ""},
		{"no RRSIG", www, nil, keys["example.lab."], Bogus, EDERRSIGsMissing, "no RRSIG over www.example.lab./A"},
		{"RRSIG for another type only", www, resign(func(s *dns.RRSIG) { s.TypeCovered = dns.TypeAAAA }, now.Add(-time.Hour), now.Add(time.Hour)), keys["example.lab."], Bogus, EDERRSIGsMissing, ""},
		{"unknown key tag", www, resign(func(s *dns.RRSIG) { s.KeyTag++ }, now.Add(-time.Hour), now.Add(time.Hour)), keys["example.lab."], Bogus, EDEBogus, "no DNSKEY of example.lab."},
		{"signed by the parent zone", www, []dns.RR{sign(t, lab.zsk, "lab.", www, now.Add(-time.Hour), now.Add(time.Hour), nil)}, keys["example.lab."], Bogus, EDEBogus, "signer lab. is not the zone example.lab."},
		{"checked with the parent's keys", www, wwwSigs, keys["lab."], Bogus, EDEBogus, "signer example.lab. is not the zone lab."},
		{"labels above the owner's", www, resign(func(s *dns.RRSIG) { s.Labels = 4 }, now.Add(-time.Hour), now.Add(time.Hour)), keys["example.lab."], Bogus, EDEBogus, "labels field 4"},
		{"wildcard above the zone", www, resign(func(s *dns.RRSIG) { s.Labels = 1 }, now.Add(-time.Hour), now.Add(time.Hour)), keys["example.lab."], Bogus, EDEBogus, "labels field 1"},
		{"unsupported algorithm while the zone is secure", www, resign(func(s *dns.RRSIG) { s.Algorithm = dns.ED448 }, now.Add(-time.Hour), now.Add(time.Hour)), keys["example.lab."], Bogus, EDEBogus, "algorithm 16 is not supported"},
		{"insecure key set", www, nil, KeySet{zone: "example.lab.", status: Insecure, why: insecure(EDEUnsupportedDNSKEYAlgorithm, "only algorithm 16")}, Insecure, EDEUnsupportedDNSKEYAlgorithm, "only algorithm 16"},
		{"no key set", www, wwwSigs, KeySet{}, Bogus, EDEDNSKEYMissing, ""},
		{"owner outside the zone", www, wwwSigs, keys["lab."], Bogus, EDEBogus, ""},
		{"empty RRset", nil, wwwSigs, keys["example.lab."], Bogus, EDEBogus, "empty RRset"},
		{"mixed RRset", append(copies(www), resp.Answer[len(resp.Answer)-1]), wwwSigs, keys["example.lab."], Bogus, EDEBogus, "do not form one RRset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v.VerifyRRset(tt.set, tt.sigs, tt.keys, nil)
			expect(t, tt.name, r, tt.status, tt.ede, tt.reason)
		})
	}

	t.Run("TTL capped by original TTL and expiry", func(t *testing.T) {
		r := v.VerifyRRset(longTTL, wwwSigs, keys["example.lab."], nil)
		if r.Status != Secure || r.TTL != 3600 {
			t.Errorf("TTL above the original: %v, TTL %d", r, r.TTL)
		}
		soon := resign(nil, now.Add(-time.Hour), now.Add(10*time.Minute))
		r = v.VerifyRRset(www, soon, keys["example.lab."], nil)
		if r.Status != Secure || r.TTL > 600 || r.TTL < 590 {
			t.Errorf("signature expiring in 10 minutes: %v, TTL %d", r, r.TTL)
		}
		// Within the skew after expiry the RRSIG still validates, with
		// nothing left to cache.
		late := resign(nil, now.Add(-48*time.Hour), now.Add(-10*time.Minute))
		r = v.VerifyRRset(www, late, keys["example.lab."], nil)
		if r.Status != Secure || r.TTL != 0 {
			t.Errorf("signature expired within the skew: %v, TTL %d", r, r.TTL)
		}
	})

	t.Run("DS at an apex signed by the zone itself", func(t *testing.T) {
		ds := []dns.RR{ex.ksk.DS(0)}
		sig := sign(t, ex.zsk, "example.lab.", ds, now.Add(-time.Hour), now.Add(time.Hour), nil)
		expect(t, "DS", v.VerifyRRset(ds, []dns.RR{sig}, keys["example.lab."], nil), Bogus, EDEBogus, "must be signed by the parent")
	})

	t.Run("does not modify its input", func(t *testing.T) {
		set, sigs := copies(longTTL), copies(wwwSigs)
		v.VerifyRRset(set, sigs, keys["example.lab."], nil)
		if set[0].String() != longTTL[0].String() || sigs[0].String() != wwwSigs[0].String() {
			t.Error("input changed")
		}
	})
}

func TestVerifyDNSKEY(t *testing.T) {
	h := buildHierarchy(t, nil)
	v := h.validator(Limits{})
	keys := h.chain(t, v)
	ex := h.zones["example.lab."]
	now := h.now
	resp := h.ask("example.lab.", "example.lab.", dns.TypeDNSKEY)
	dnskeys, sigs := rrset(resp.Answer, "", dns.TypeDNSKEY)
	ds := func(k *authoritative.Key, digest uint8, edit func(*dns.DS)) []dns.RR {
		d := k.DS(digest)
		if edit != nil {
			edit(d)
		}
		return []dns.RR{d}
	}
	zskOnly := []dns.RR{sign(t, ex.zsk, "example.lab.", dnskeys, now.Add(-time.Hour), now.Add(time.Hour), nil)}
	expired := []dns.RR{sign(t, ex.ksk, "example.lab.", dnskeys, now.Add(-72*time.Hour), now.Add(-48*time.Hour), nil)}

	// A key without the Zone Key flag that the DS names.
	noZone := dns.Copy(ex.ksk.DNSKEY).(*dns.DNSKEY)
	noZone.Flags = dns.SEP
	withNoZone := append(copies(dnskeys), noZone)
	// A revoked KSK: its tag changes with the flag, so the DS names it anew.
	revoked := dns.Copy(ex.ksk.DNSKEY).(*dns.DNSKEY)
	revoked.Flags |= dns.REVOKE
	withRevoked := append(copies(dnskeys), revoked)

	anchorDS := NewAnchors()
	if err := anchorDS.Add(ex.ksk.DS(0)); err != nil {
		t.Fatal(err)
	}
	anchorKey := NewAnchors()
	if err := anchorKey.Add(ex.ksk.DNSKEY); err != nil {
		t.Fatal(err)
	}
	anchorAlg16 := NewAnchors()
	if err := anchorAlg16.Add(ds(ex.ksk, 0, func(d *dns.DS) { d.Algorithm = dns.ED448 })[0]); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		v       *Validator
		zone    string
		dnskeys []dns.RR
		sigs    []dns.RR
		ds      []dns.RR
		status  Status
		ede     uint16
		reason  string
	}{
		{"DS SHA-256", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, dns.SHA256, nil), Secure, 0, ""},
		{"DS SHA-384", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, dns.SHA384, nil), Secure, 0, ""},
		{"DS SHA-1 alone", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, dns.SHA1, nil), Secure, 0, ""},
		{"zone name without the final dot", v, "EXAMPLE.lab", dnskeys, sigs, ds(ex.ksk, dns.SHA256, nil), Secure, 0, ""},
		{"SHA-1 ignored beside SHA-256 (RFC 4509)", v, "example.lab.", dnskeys, sigs,
			append(ds(ex.ksk, dns.SHA1, nil), ds(ex.ksk, dns.SHA256, func(d *dns.DS) { d.Digest = strings.Repeat("00", 32) })...), Bogus, EDEDNSKEYMissing, ""},
		{"trust anchor DS", New(Config{Anchors: anchorDS}), "example.lab.", dnskeys, sigs, nil, Secure, 0, ""},
		{"trust anchor DNSKEY", New(Config{Anchors: anchorKey}), "example.lab.", dnskeys, sigs, nil, Secure, 0, ""},
		{"no DS and no anchor", v, "example.lab.", dnskeys, sigs, nil, Indeterminate, EDEIndeterminate, "no DS and no trust anchor"},
		{"DS matching no key", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, 0, func(d *dns.DS) { d.Digest = strings.Repeat("AB", 32) }), Bogus, EDEDNSKEYMissing, "no DNSKEY of example.lab. matches its DS"},
		{"DS with another key tag", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, 0, func(d *dns.DS) { d.KeyTag++ }), Bogus, EDEDNSKEYMissing, ""},
		{"signed only by the ZSK", v, "example.lab.", dnskeys, zskOnly, ds(ex.ksk, 0, nil), Bogus, EDERRSIGsMissing, "no RRSIG by a key its DS or trust anchor vouches for"},
		{"no RRSIG", v, "example.lab.", dnskeys, nil, ds(ex.ksk, 0, nil), Bogus, EDERRSIGsMissing, ""},
		{"expired", v, "example.lab.", dnskeys, expired, ds(ex.ksk, 0, nil), Bogus, EDESignatureExpired, "DNSKEY RRset of example.lab.: RRSIG over example.lab./DNSKEY"},
		{"DS of an unsupported algorithm", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, 0, func(d *dns.DS) { d.Algorithm = dns.ED448 }), Insecure, EDEUnsupportedDNSKEYAlgorithm, "only unsupported algorithms (16)"},
		{"DS of RSA/SHA-1", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, 0, func(d *dns.DS) { d.Algorithm = dns.RSASHA1 }), Insecure, EDEUnsupportedDNSKEYAlgorithm, ""},
		{"DS of an unsupported digest", v, "example.lab.", dnskeys, sigs, ds(ex.ksk, 0, func(d *dns.DS) { d.DigestType = dns.GOST94 }), Insecure, EDEUnsupportedDSDigest, "unsupported digest types (3)"},
		{"anchor of an unsupported algorithm", New(Config{Anchors: anchorAlg16}), "example.lab.", dnskeys, sigs, nil, Insecure, EDEUnsupportedDNSKEYAlgorithm, "trust anchor"},
		{"DS naming a key without the Zone Key flag", v, "example.lab.", withNoZone, sigs, []dns.RR{noZone.ToDS(dns.SHA256)}, Bogus, EDENoZoneKeyBitSet, ""},
		{"DS naming a revoked key", v, "example.lab.", withRevoked, sigs, []dns.RR{revoked.ToDS(dns.SHA256)}, Bogus, EDEDNSKEYMissing, ""},
		{"DS of another zone", v, "example.lab.", dnskeys, sigs, []dns.RR{h.zones["lab."].ksk.DS(0)}, Bogus, EDEBogus, "DS of lab. offered for example.lab."},
		{"DNSKEY of another zone", v, "lab.", dnskeys, sigs, ds(ex.ksk, 0, nil), Bogus, EDEBogus, "holds a key of example.lab."},
		{"no DNSKEY", v, "example.lab.", nil, sigs, ds(ex.ksk, 0, nil), Bogus, EDEDNSKEYMissing, ""},
		{"malformed zone", v, "a..b", dnskeys, sigs, nil, Bogus, EDEBogus, "malformed zone name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, r := tt.v.VerifyDNSKEY(tt.zone, tt.dnskeys, tt.sigs, tt.ds, nil)
			expect(t, tt.name, r, tt.status, tt.ede, tt.reason)
			if ks.Status() != Indeterminate && ks.Status() != r.Status {
				t.Errorf("key set status %v, result %v", ks.Status(), r.Status)
			}
			if r.Status != Secure && r.Status != Insecure && ks.Status() != Indeterminate {
				t.Errorf("key set %v returned with %v", ks.Status(), r.Status)
			}
		})
	}

	t.Run("insecure key set makes the zone's data insecure", func(t *testing.T) {
		ks, _ := v.VerifyDNSKEY("example.lab.", dnskeys, sigs, ds(ex.ksk, 0, func(d *dns.DS) { d.Algorithm = dns.ED448 }), nil)
		www, wwwSigs := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
		r := v.VerifyRRset(www, wwwSigs, ks, nil)
		expect(t, "www", r, Insecure, EDEUnsupportedDNSKEYAlgorithm, "")
		if r.TTL != 3600 {
			t.Errorf("TTL %d", r.TTL)
		}
	})

	t.Run("key set", func(t *testing.T) {
		ks := keys["example.lab."]
		if ks.Zone() != "example.lab." || ks.Status() != Secure {
			t.Errorf("zone %q status %v", ks.Zone(), ks.Status())
		}
		var tags []uint16
		for _, k := range ks.Keys() {
			tags = append(tags, k.KeyTag())
		}
		if len(tags) != 2 || !containsTag(tags, ex.ksk.DNSKEY.KeyTag()) || !containsTag(tags, ex.zsk.DNSKEY.KeyTag()) {
			t.Errorf("key tags %v", tags)
		}
	})
}

func containsTag(tags []uint16, t uint16) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

func TestKeyTag(t *testing.T) {
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.RSASHA256, dns.ED25519, dns.ECDSAP384SHA384} {
		for i := 0; i < 8; i++ {
			k, err := authoritative.GenerateKey("x.", alg, i%2 == 0)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := keyTag(k.DNSKEY); !ok || got != k.DNSKEY.KeyTag() {
				t.Errorf("alg %d: keyTag %d, miekg %d", alg, got, k.DNSKEY.KeyTag())
			}
		}
	}
	for _, pub := range []string{"", "A", "AB=C", "====", "A===", "AAA", "AA*A", "AAAAA==="} {
		if _, ok := keyTag(&dns.DNSKEY{PublicKey: pub}); ok {
			t.Errorf("key %q accepted", pub)
		}
	}
	// Short keys with padding still agree.
	for _, pub := range []string{"AA==", "AAA=", "AAAA", "/w==", "//8="} {
		k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET}, Flags: 257, Protocol: 3, Algorithm: 13, PublicKey: pub}
		if got, ok := keyTag(k); !ok || got != k.KeyTag() {
			t.Errorf("%q: keyTag %d, miekg %d", pub, got, k.KeyTag())
		}
	}
}

func TestDefaults(t *testing.T) {
	l := DefaultLimits()
	if l.MaxValidations != 64 || l.MaxValidationsPerCall != 8 || l.MaxKeyTagCollisions != 4 || l.MaxNSEC3Hashes != 128 ||
		l.NSEC3Iterations != 150 || l.NSEC3MaxIterations != 2500 || l.MinSkew != time.Hour || l.MaxSkew != 24*time.Hour {
		t.Errorf("defaults %+v", l)
	}
	l = Limits{NSEC3Iterations: -1, NSEC3MaxIterations: 1, MinSkew: -1, MaxSkew: -1}.withDefaults()
	if l.NSEC3Iterations != 0 || l.NSEC3MaxIterations != 1 || l.MinSkew != 0 || l.MaxSkew != 0 {
		t.Errorf("explicit zero: %+v", l)
	}
	l = Limits{NSEC3Iterations: 300, NSEC3MaxIterations: 200}.withDefaults()
	if l.NSEC3MaxIterations != 300 {
		t.Errorf("maximum below the limit: %+v", l)
	}
	if New(Config{}).anchors.Len() != 1 || !New(Config{}).HasAnchor(".") {
		t.Error("no root anchor by default")
	}
	for _, s := range []Status{Indeterminate, Secure, Insecure, Bogus, 9} {
		if s.String() == "" {
			t.Errorf("status %d has no name", s)
		}
	}
	r := bogus(EDESignatureExpired, "x")
	if e := r.ExtendedError(); e == nil || e.InfoCode != 7 || e.ExtraText != "x" || r.String() != "bogus (EDE 7): x" || r.Secure() {
		t.Errorf("%v %v", e, r)
	}
	if (Result{Status: Secure}).ExtendedError() != nil {
		t.Error("EDE for a secure result")
	}
}

// TestSHA1Algorithms checks that RSA/SHA-1 zones (algorithms 5 and 7) are
// Insecure by default, as RFC 9905 tells operators to treat them, and
// validate with Config.AllowSHA1, the code implementations keep.
func TestSHA1Algorithms(t *testing.T) {
	for _, alg := range []uint8{dns.RSASHA1, dns.RSASHA1NSEC3SHA1} {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "sha1.example.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
				Flags: dns.ZONE | dns.SEP, Protocol: 3, Algorithm: alg}
			priv, err := key.Generate(1024)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			signOver := func(set []dns.RR) []dns.RR {
				sig := &dns.RRSIG{Hdr: dns.RR_Header{Ttl: 3600}, Algorithm: alg, KeyTag: key.KeyTag(), SignerName: "sha1.example.",
					Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(time.Hour).Unix())}
				if err := sig.Sign(priv.(crypto.Signer), set); err != nil {
					t.Fatal(err)
				}
				return []dns.RR{sig}
			}
			keys := []dns.RR{key}
			keySigs := signOver(keys)
			a, _ := dns.NewRR("www.sha1.example. 3600 IN A 192.0.2.1")
			aSigs := signOver([]dns.RR{a})
			anchors := NewAnchors()
			if err := anchors.Add(key.ToDS(dns.SHA256)); err != nil {
				t.Fatal(err)
			}

			_, r := New(Config{Anchors: anchors}).VerifyDNSKEY("sha1.example.", keys, keySigs, nil, nil)
			expect(t, "by default", r, Insecure, EDEUnsupportedDNSKEYAlgorithm, "unsupported algorithms")

			v := New(Config{Anchors: anchors, AllowSHA1: true})
			ks, r := v.VerifyDNSKEY("sha1.example.", keys, keySigs, nil, nil)
			expect(t, "DNSKEY with AllowSHA1", r, Secure, 0, "")
			expect(t, "A with AllowSHA1", v.VerifyRRset([]dns.RR{a}, aSigs, ks, nil), Secure, 0, "")
			bad := copies(aSigs)
			bad[0].(*dns.RRSIG).KeyTag++
			expect(t, "A with a wrong key tag", v.VerifyRRset([]dns.RR{a}, bad, ks, nil), Bogus, EDEBogus, "no DNSKEY")
		})
	}
}
