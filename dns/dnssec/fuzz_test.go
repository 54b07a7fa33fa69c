package dnssec

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/authoritative"
)

// fuzzFixture is example.lab. signed with a key kept in testdata and a
// validity window around a fixed clock, so that signatures in saved
// corpus entries keep verifying; once with NSEC, once with NSEC3.
type fuzzFixture struct {
	v      *Validator
	keys   KeySet
	dnskey *dns.DNSKEY
	ds     []dns.RR
	zone   *authoritative.Zone // the NSEC-signed one: the truth
	stores []*authoritative.Store
	seeds  [][]byte
}

var (
	fuzzOnce sync.Once
	fuzzFix  *fuzzFixture
	fuzzT0   = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

func loadFuzzFixture(t testing.TB) *fuzzFixture {
	fuzzOnce.Do(func() {
		pub, err := os.ReadFile(filepath.Join("testdata", "keys", "example.lab.key"))
		if err != nil {
			t.Fatal(err)
		}
		rr, err := dns.NewRR(string(pub))
		if err != nil {
			t.Fatal(err)
		}
		dnskey := rr.(*dns.DNSKEY)
		f, err := os.Open(filepath.Join("testdata", "keys", "example.lab.private"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		priv, err := dnskey.ReadPrivateKey(f, "example.lab.private")
		if err != nil {
			t.Fatal(err)
		}
		key := &authoritative.Key{DNSKEY: dnskey, Signer: priv.(crypto.Signer)}
		fx := &fuzzFixture{dnskey: dnskey, ds: []dns.RR{dnskey.ToDS(dns.SHA256)}}
		for _, nsec3 := range []bool{false, true} {
			z, err := authoritative.LoadZone(filepath.Join("testdata", "zones", "example.lab.zone"), "example.lab.")
			if err != nil {
				t.Fatal(err)
			}
			var opts *authoritative.SignOptions
			if nsec3 {
				opts = &authoritative.SignOptions{NSEC3: true, Iterations: 1, Salt: "BEEF"}
			}
			if err := authoritative.SignZone(z, []*authoritative.Key{key}, fuzzT0.Add(-24*time.Hour), fuzzT0.Add(365*24*time.Hour), opts); err != nil {
				t.Fatal(err)
			}
			s, err := authoritative.NewStore(z)
			if err != nil {
				t.Fatal(err)
			}
			if !nsec3 {
				fx.zone = z
			}
			fx.stores = append(fx.stores, s)
		}
		fx.v = New(Config{Anchors: NewAnchors(), Clock: clock.NewFake(fuzzT0)})
		resp := askStore(fx.stores[0], "example.lab.", dns.TypeDNSKEY)
		set, sigs := rrset(resp.Answer, "", dns.TypeDNSKEY)
		var r Result
		if fx.keys, r = fx.v.VerifyDNSKEY("example.lab.", set, sigs, fx.ds, nil); r.Status != Secure {
			t.Fatalf("fixture keys: %v", r)
		}
		for _, s := range fx.stores {
			for _, q := range []struct {
				name  string
				qtype uint16
			}{
				{"example.lab.", dns.TypeDNSKEY},
				{"www.example.lab.", dns.TypeA},
				{"www.example.lab.", dns.TypeMX},
				{"nope.example.lab.", dns.TypeA},
				{"c.b.ent.example.lab.", dns.TypeA},
				{"b.ent.example.lab.", dns.TypeA},
				{"x.wild.example.lab.", dns.TypeA},
				{"x.wild.example.lab.", dns.TypeMX},
				{"www.sub.example.lab.", dns.TypeA},
				{"sub.example.lab.", dns.TypeDS},
				{"alias.example.lab.", dns.TypeA},
			} {
				m := askStore(s, q.name, q.qtype)
				wire, err := m.Pack()
				if err != nil {
					t.Fatal(err)
				}
				fx.seeds = append(fx.seeds, wire)
			}
		}
		fuzzFix = fx
	})
	if fuzzFix == nil {
		t.Fatal("fuzz fixture failed")
	}
	return fuzzFix
}

// FuzzVerify decodes arbitrary bytes as a response and feeds its sections
// through every call of the validator with a fixed key set. Nothing may
// panic, and nothing may come out Secure unless it is true: a Secure
// RRset must carry an RRSIG that miekg verifies with the zone's key, and
// a Secure denial must agree with the zone the key signs.
func FuzzVerify(f *testing.F) {
	fx := loadFuzzFixture(f)
	for _, s := range fx.seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m dns.Msg
		if m.Unpack(data) != nil {
			return
		}
		v := fx.v
		b := v.NewBudget()
		all := append(append(append([]dns.RR{}, m.Answer...), m.Ns...), m.Extra...)

		if ks, r := v.VerifyDNSKEY("example.lab.", m.Answer, m.Answer, fx.ds, b); r.Status == Secure {
			for _, k := range ks.Keys() {
				if k.PublicKey != fx.dnskey.PublicKey {
					t.Fatalf("secure key set with a foreign key %v", k)
				}
			}
		}

		type setKey struct {
			name  string
			rtype uint16
			class uint16
		}
		sets := map[setKey][]dns.RR{}
		for _, rr := range all {
			h := rr.Header()
			if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeOPT {
				continue
			}
			k := setKey{h.Name, h.Rrtype, h.Class}
			sets[k] = append(sets[k], rr)
		}
		for k, set := range sets {
			r := v.VerifyRRset(set, all, fx.keys, b)
			if r.Status != Secure {
				continue
			}
			if !genuine(set, all, fx.dnskey) {
				t.Fatalf("%s/%s secure without a genuine signature: %v", k.name, dns.Type(k.rtype), set)
			}
			if r.Wildcard != "" {
				if pw := v.ProveWildcard(k.name, r.Wildcard, m.Ns, fx.keys, nil); pw.Status == Secure {
					resp := askStore(fx.stores[0], k.name, k.rtype)
					if len(resp.Answer) == 0 || len(fx.zone.Lookup(k.name, dns.TypeNSEC)) != 0 {
						t.Fatalf("wildcard answer for %s/%s proven, but the zone has %v", k.name, dns.Type(k.rtype), resp.Answer)
					}
				}
			}
		}

		if len(m.Question) != 1 {
			return
		}
		q := m.Question[0]
		// The truth is the zone signed with the scheme the records use:
		// the two differ in their NSEC, NSEC3 and NSEC3PARAM types.
		truthStore := fx.stores[0]
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNSEC3 {
				truthStore = fx.stores[1]
			}
		}
		truth := askStore(truthStore, q.Name, q.Qtype)
		if r := v.ProveNXDOMAIN(q.Name, m.Ns, fx.keys, nil); r.Status == Secure && truth.Rcode != dns.RcodeNameError {
			t.Fatalf("NXDOMAIN for %s proven, but the zone answers %s", q.Name, dns.RcodeToString[truth.Rcode])
		}
		if r := v.ProveNODATA(q.Name, q.Qtype, m.Ns, fx.keys, nil); r.Status == Secure &&
			(truth.Rcode != dns.RcodeSuccess || len(truth.Answer) != 0 || !truth.Authoritative) {
			t.Fatalf("NODATA for %s/%s proven, but the zone answers %s %v", q.Name, dns.Type(q.Qtype), dns.RcodeToString[truth.Rcode], truth.Answer)
		}
		if r := v.ProveInsecureDelegation(q.Name, m.Ns, fx.keys, nil); r.Status == Insecure && r.EDE == 0 && !r.OptOut {
			if len(fx.zone.Lookup(q.Name, dns.TypeNS)) == 0 || len(fx.zone.Lookup(q.Name, dns.TypeDS)) != 0 || sameName(q.Name, "example.lab.") {
				t.Fatalf("unsigned delegation %s proven, but the zone has none", q.Name)
			}
		}
		// Synthesize trusts its input (it is for validated, cached
		// records), so it only has to survive garbage.
		v.Synthesize(q.Name, q.Qtype, "example.lab.", all, nil)
	})
}

// genuine reports whether some RRSIG in sigs over set verifies with key,
// checked by miekg alone.
func genuine(set, sigs []dns.RR, key *dns.DNSKEY) bool {
	for _, s := range sigs {
		sig, ok := s.(*dns.RRSIG)
		if ok && sig.TypeCovered == set[0].Header().Rrtype && strings.EqualFold(sig.SignerName, "example.lab.") && sig.Verify(key, set) == nil {
			return true
		}
	}
	return false
}

func TestFuzzSeeds(t *testing.T) {
	fx := loadFuzzFixture(t)
	secure := 0
	for _, s := range fx.seeds {
		var m dns.Msg
		if err := m.Unpack(s); err != nil {
			t.Fatal(err)
		}
		set, sigs := rrset(m.Answer, "", m.Question[0].Qtype)
		if len(set) > 0 && fx.v.VerifyRRset(set, sigs, fx.keys, nil).Status == Secure {
			secure++
		}
	}
	if secure < 6 {
		t.Errorf("only %d seeds carry a secure answer", secure)
	}
}
