package authoritative

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type signedSetup struct {
	name    string
	alg     uint8
	split   bool // KSK and ZSK rather than one combined key
	nsec3   bool
	reload  bool // serve the zone written out and read back: the pre-signed path
	keys    []*Key
	dnskeys map[uint16]*dns.DNSKEY
}

func signExample(t *testing.T, setup *signedSetup) *Server {
	t.Helper()
	z := mustLoad(t, "example.lab.zone", "example.lab.")
	ksk, err := GenerateKey("example.lab.", setup.alg, true)
	if err != nil {
		t.Fatal(err)
	}
	setup.keys = []*Key{ksk}
	if setup.split {
		zsk, err := GenerateKey("example.lab.", setup.alg, false)
		if err != nil {
			t.Fatal(err)
		}
		setup.keys = append(setup.keys, zsk)
	}
	setup.dnskeys = map[uint16]*dns.DNSKEY{}
	for _, k := range setup.keys {
		setup.dnskeys[k.DNSKEY.KeyTag()] = k.DNSKEY
	}
	now := time.Now()
	var opts *SignOptions
	if setup.nsec3 {
		opts = &SignOptions{NSEC3: true, Iterations: 0, Salt: "ABCD"}
	}
	if err := SignZone(z, setup.keys, now.Add(-time.Hour), now.Add(24*time.Hour), opts); err != nil {
		t.Fatal(err)
	}
	if !z.Signed() {
		t.Fatal("zone not signed")
	}
	if setup.reload {
		var buf bytes.Buffer
		if _, err := z.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if z, err = ParseZone(&buf, "example.lab.", "signed"); err != nil {
			t.Fatalf("reload signed zone: %v", err)
		}
	}
	s, err := New(Config{Zones: []*Zone{z}, MaxUDPSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifySection checks that every RRset in rrs carries a valid signature
// by one of keys, except those skip names (referral NS, glue).
func verifySection(t *testing.T, section string, rrs []dns.RR, keys map[uint16]*dns.DNSKEY, skip func(dns.RR) bool) {
	t.Helper()
	type setKey struct {
		name string
		t    uint16
	}
	sets := map[setKey][]dns.RR{}
	sigs := map[setKey][]*dns.RRSIG{}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		if sig, ok := rr.(*dns.RRSIG); ok {
			k := setKey{strings.ToLower(h.Name), sig.TypeCovered}
			sigs[k] = append(sigs[k], sig)
			continue
		}
		if skip != nil && skip(rr) {
			continue
		}
		k := setKey{strings.ToLower(h.Name), h.Rrtype}
		sets[k] = append(sets[k], rr)
	}
	for k, set := range sets {
		if len(sigs[k]) == 0 {
			t.Errorf("%s: %s %s has no RRSIG", section, k.name, dns.TypeToString[k.t])
			continue
		}
		for _, sig := range sigs[k] {
			key := keys[sig.KeyTag]
			if key == nil {
				t.Errorf("%s: %s %s signed by unknown key %d", section, k.name, dns.TypeToString[k.t], sig.KeyTag)
				continue
			}
			if err := sig.Verify(key, set); err != nil {
				t.Errorf("%s: %s %s: RRSIG does not verify: %v", section, k.name, dns.TypeToString[k.t], err)
			}
			if !sig.ValidityPeriod(time.Now()) {
				t.Errorf("%s: %s %s: RRSIG outside its validity period", section, k.name, dns.TypeToString[k.t])
			}
		}
		delete(sigs, k)
	}
	for k := range sigs {
		t.Errorf("%s: RRSIG for %s %s without the RRset", section, k.name, dns.TypeToString[k.t])
	}
}

func canonicalLess(a, b string) bool { return compareLabels(wireLabels(a), wireLabels(b)) < 0 }

// nsecCovers reports whether nsec proves name absent (RFC 4035 section
// 5.4), wrap-around at the end of the chain included.
func nsecCovers(nsec *dns.NSEC, name string) bool {
	owner, next := nsec.Hdr.Name, nsec.NextDomain
	if canonicalLess(owner, next) {
		return canonicalLess(owner, name) && canonicalLess(name, next)
	}
	return canonicalLess(owner, name) || canonicalLess(name, next)
}

func denial(rrs []dns.RR) (nsec []*dns.NSEC, nsec3 []*dns.NSEC3) {
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.NSEC:
			nsec = append(nsec, rr)
		case *dns.NSEC3:
			nsec3 = append(nsec3, rr)
		}
	}
	return nsec, nsec3
}

// provesAbsent: an NSEC covers name, or an NSEC3 covers it.
func provesAbsent(rrs []dns.RR, name string) bool {
	nsec, nsec3 := denial(rrs)
	for _, n := range nsec {
		if nsecCovers(n, name) {
			return true
		}
	}
	for _, n := range nsec3 {
		if n.Cover(name) {
			return true
		}
	}
	return false
}

// provesNoType: the NSEC or NSEC3 matching name lacks t (and CNAME).
func provesNoType(rrs []dns.RR, name string, t uint16) bool {
	nsec, nsec3 := denial(rrs)
	for _, n := range nsec {
		if strings.EqualFold(n.Hdr.Name, name) {
			return !slices.Contains(n.TypeBitMap, t) && !slices.Contains(n.TypeBitMap, dns.TypeCNAME)
		}
	}
	for _, n := range nsec3 {
		if n.Match(name) {
			return !slices.Contains(n.TypeBitMap, t) && !slices.Contains(n.TypeBitMap, dns.TypeCNAME)
		}
	}
	return false
}

func matchesNSEC3(rrs []dns.RR, name string) bool {
	_, nsec3 := denial(rrs)
	for _, n := range nsec3 {
		if n.Match(name) {
			return true
		}
	}
	return false
}

func TestSignedZone(t *testing.T) {
	setups := []signedSetup{
		{name: "ECDSA P-256 NSEC", alg: 0, split: true},
		{name: "ECDSA P-256 NSEC reloaded", alg: dns.ECDSAP256SHA256, split: true, reload: true},
		{name: "ECDSA P-256 NSEC3", alg: dns.ECDSAP256SHA256, nsec3: true},
		{name: "ECDSA P-256 NSEC3 reloaded", alg: dns.ECDSAP256SHA256, nsec3: true, split: true, reload: true},
		{name: "RSA/SHA-256 NSEC", alg: dns.RSASHA256, split: true},
		{name: "Ed25519 NSEC3", alg: dns.ED25519},
	}
	for _, setup := range setups {
		t.Run(setup.name, func(t *testing.T) {
			s := signExample(t, &setup)
			glue := func(rr dns.RR) bool {
				h := rr.Header()
				return h.Rrtype == dns.TypeNS && !strings.EqualFold(h.Name, "example.lab.") ||
					strings.HasSuffix(strings.ToLower(h.Name), ".sub.example.lab.")
			}
			ask := func(name string, qtype uint16) *dns.Msg {
				t.Helper()
				resp := exchange(t, s, query{name: name, qtype: qtype, edns: 4096, do: true})
				if resp.IsEdns0() == nil || !resp.IsEdns0().Do() {
					t.Errorf("%s: DO not echoed", name)
				}
				verifySection(t, name+" answer", resp.Answer, setup.dnskeys, nil)
				verifySection(t, name+" authority", resp.Ns, setup.dnskeys, glue)
				verifySection(t, name+" additional", resp.Extra, setup.dnskeys, glue)
				return resp
			}
			wildcard := "*.example.lab."

			t.Run("answer", func(t *testing.T) {
				resp := ask("www.example.lab.", dns.TypeA)
				if len(resp.Answer) != 2 || resp.Rcode != dns.RcodeSuccess {
					t.Fatalf("answer %v", resp.Answer)
				}
			})
			t.Run("DNSKEY", func(t *testing.T) {
				resp := ask("example.lab.", dns.TypeDNSKEY)
				if n := len(resp.Answer) - len(setup.keys); n < 1 {
					t.Fatalf("answer %v", resp.Answer)
				}
				for _, rr := range resp.Answer {
					if sig, ok := rr.(*dns.RRSIG); ok && setup.dnskeys[sig.KeyTag].Flags&dns.SEP == 0 {
						t.Errorf("DNSKEY RRset signed by non-SEP key %d", sig.KeyTag)
					}
				}
			})
			t.Run("NXDOMAIN", func(t *testing.T) {
				resp := ask("nope.example.lab.", dns.TypeA)
				if resp.Rcode != dns.RcodeNameError || !resp.Authoritative {
					t.Fatalf("rcode %d", resp.Rcode)
				}
				if !provesAbsent(resp.Ns, "nope.example.lab.") {
					t.Errorf("nothing proves nope.example.lab. absent: %v", resp.Ns)
				}
				if !provesAbsent(resp.Ns, wildcard) {
					t.Errorf("nothing proves %s absent: %v", wildcard, resp.Ns)
				}
				if setup.nsec3 && !matchesNSEC3(resp.Ns, "example.lab.") {
					t.Errorf("no NSEC3 matches the closest encloser: %v", resp.Ns)
				}
			})
			t.Run("NXDOMAIN below an ENT", func(t *testing.T) {
				resp := ask("c.b.ent.example.lab.", dns.TypeA)
				if resp.Rcode != dns.RcodeNameError {
					t.Fatalf("rcode %d", resp.Rcode)
				}
				if !provesAbsent(resp.Ns, "c.b.ent.example.lab.") || !provesAbsent(resp.Ns, "*.b.ent.example.lab.") {
					t.Errorf("proof incomplete: %v", resp.Ns)
				}
				if setup.nsec3 && !matchesNSEC3(resp.Ns, "b.ent.example.lab.") {
					t.Errorf("no NSEC3 matches the closest encloser b.ent: %v", resp.Ns)
				}
			})
			t.Run("NODATA", func(t *testing.T) {
				resp := ask("www.example.lab.", dns.TypeMX)
				if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
					t.Fatalf("rcode %d answer %v", resp.Rcode, resp.Answer)
				}
				if !provesNoType(resp.Ns, "www.example.lab.", dns.TypeMX) {
					t.Errorf("no proof of no MX: %v", resp.Ns)
				}
			})
			t.Run("ENT", func(t *testing.T) {
				resp := ask("b.ent.example.lab.", dns.TypeA)
				if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
					t.Fatalf("rcode %d answer %v", resp.Rcode, resp.Answer)
				}
				ok := provesNoType(resp.Ns, "b.ent.example.lab.", dns.TypeA)
				if !setup.nsec3 {
					// NSEC: the covering record's next name is below the ENT.
					nsec, _ := denial(resp.Ns)
					ok = len(nsec) == 1 && nsecCovers(nsec[0], "b.ent.example.lab.") &&
						dns.IsSubDomain("b.ent.example.lab.", nsec[0].NextDomain)
				}
				if !ok {
					t.Errorf("no ENT proof: %v", resp.Ns)
				}
			})
			t.Run("wildcard", func(t *testing.T) {
				resp := ask("x.wild.example.lab.", dns.TypeA)
				if len(resp.Answer) != 2 {
					t.Fatalf("answer %v", resp.Answer)
				}
				if sig := resp.Answer[1].(*dns.RRSIG); sig.Labels != 3 {
					t.Errorf("RRSIG labels %d, want 3 for *.wild.example.lab.", sig.Labels)
				}
				next := "x.wild.example.lab."
				if !provesAbsent(resp.Ns, next) {
					t.Errorf("nothing proves the query name absent: %v", resp.Ns)
				}
				if _, nsec3 := denial(resp.Ns); len(nsec3) > 1 {
					t.Errorf("wildcard answer carries %d NSEC3 records, want only the next closer's", len(nsec3))
				}
			})
			t.Run("wildcard NODATA", func(t *testing.T) {
				resp := ask("x.wild.example.lab.", dns.TypeMX)
				if len(resp.Answer) != 0 || resp.Rcode != dns.RcodeSuccess {
					t.Fatalf("answer %v", resp.Answer)
				}
				if !provesAbsent(resp.Ns, "x.wild.example.lab.") || !provesNoType(resp.Ns, "*.wild.example.lab.", dns.TypeMX) {
					t.Errorf("wildcard NODATA proof incomplete: %v", resp.Ns)
				}
				if setup.nsec3 && !matchesNSEC3(resp.Ns, "wild.example.lab.") {
					t.Errorf("no NSEC3 matches the closest encloser wild.example.lab.: %v", resp.Ns)
				}
			})
			t.Run("insecure referral", func(t *testing.T) {
				resp := ask("www.sub.example.lab.", dns.TypeA)
				if resp.Authoritative || len(resp.Answer) != 0 {
					t.Fatalf("not a referral: %v", resp)
				}
				if !provesNoType(resp.Ns, "sub.example.lab.", dns.TypeDS) {
					t.Errorf("no proof that sub has no DS: %v", resp.Ns)
				}
			})
			t.Run("no DO, no DNSSEC", func(t *testing.T) {
				for _, q := range []query{{name: "www.example.lab.", qtype: dns.TypeA}, {name: "nope.example.lab.", qtype: dns.TypeA, edns: 1232}} {
					resp := exchange(t, s, q)
					for _, rr := range slices.Concat(resp.Answer, resp.Ns, resp.Extra) {
						switch rr.Header().Rrtype {
						case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
							t.Errorf("%s without DO: %s", q.name, rr)
						}
					}
				}
			})
			t.Run("DS for the parent", func(t *testing.T) {
				resp := ask("example.lab.", dns.TypeDNSKEY)
				for _, k := range setup.keys {
					ds := k.DS(0)
					found := false
					for _, rr := range resp.Answer {
						if key, ok := rr.(*dns.DNSKEY); ok && key.KeyTag() == ds.KeyTag {
							found = strings.EqualFold(key.ToDS(dns.SHA256).Digest, ds.Digest)
						}
					}
					if !found || ds.DigestType != dns.SHA256 || ds.Algorithm != k.DNSKEY.Algorithm {
						t.Errorf("DS %v matches no served DNSKEY", ds)
					}
				}
			})
		})
	}
}

func TestSignErrors(t *testing.T) {
	z := mustLoad(t, "example.lab.zone", "example.lab.")
	other, err := GenerateKey("lab.", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name string
		keys []*Key
		from time.Time
		to   time.Time
		opts *SignOptions
	}{
		{"no keys", nil, now, now.Add(time.Hour), nil},
		{"key of another zone", []*Key{other}, now, now.Add(time.Hour), nil},
		{"expiry before inception", []*Key{other}, now, now.Add(-time.Hour), nil},
		{"bad salt", []*Key{other}, now, now.Add(time.Hour), &SignOptions{NSEC3: true, Salt: "xyz"}},
		{"incomplete key", []*Key{{}}, now, now.Add(time.Hour), nil},
	}
	for _, tt := range tests {
		if err := SignZone(z, tt.keys, tt.from, tt.to, tt.opts); err == nil {
			t.Errorf("%s: signed", tt.name)
		}
	}
	if _, err := GenerateKey("x.", dns.RSASHA1, false); err == nil {
		t.Error("RSASHA1 key generated")
	}
}

// TestSignedHierarchy signs root, lab. and example.lab. with the DS of each
// child in its parent, as the lab builds them, and checks the referrals
// carry signed DS RRsets.
func TestSignedHierarchy(t *testing.T) {
	names := []struct{ file, origin, child string }{
		{"example.lab.zone", "example.lab.", ""},
		{"lab.zone", "lab.", "example.lab."},
		{"root.zone", ".", "lab."},
	}
	now := time.Now()
	var childDS []dns.RR
	var zones []*Zone
	keys := map[uint16]*dns.DNSKEY{}
	for _, n := range names {
		z := mustLoad(t, n.file, n.origin)
		if len(childDS) > 0 {
			// Replace the DS the file carries with the real one.
			var rrs []dns.RR
			for _, rr := range z.Records() {
				if rr.Header().Rrtype != dns.TypeDS {
					rrs = append(rrs, rr)
				}
			}
			var err error
			if z, err = NewZone(n.origin, n.file, append(rrs, childDS...)); err != nil {
				t.Fatal(err)
			}
		}
		k, err := GenerateKey(n.origin, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		keys[k.DNSKEY.KeyTag()] = k.DNSKEY
		if err := SignZone(z, []*Key{k}, now.Add(-time.Hour), now.Add(time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		ds := k.DS(0)
		ds.Hdr.Ttl = 3600
		childDS = []dns.RR{ds}
		zones = append(zones, z)
	}
	for _, parent := range zones[1:] {
		s, err := New(Config{Zones: []*Zone{parent}, MaxUDPSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		resp := exchange(t, s, query{name: "www.example.lab.", qtype: dns.TypeA, edns: 4096, do: true})
		if resp.Authoritative {
			t.Fatalf("%s: not a referral", parent.Origin())
		}
		var ds []dns.RR
		for _, rr := range resp.Ns {
			if rr.Header().Rrtype == dns.TypeDS {
				ds = append(ds, rr)
			}
		}
		if len(ds) != 1 {
			t.Fatalf("%s: referral without DS: %v", parent.Origin(), resp.Ns)
		}
		verifySection(t, fmt.Sprintf("referral from %s", parent.Origin()), resp.Ns, keys, func(rr dns.RR) bool {
			return rr.Header().Rrtype == dns.TypeNS
		})
	}
}
