package dnssec

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/authoritative"
)

// TestSignedDataAsMiekg: for the RRsets miekg/dns gets right (names in
// RDATA in mixed case, TTLs other than the Original TTL, duplicates,
// records out of order, wildcard expansions with a non-zero label count),
// signatures made by miekg/dns's RRSIG.Sign verify over the signed data
// signdata.go builds, for each algorithm; a changed record does not.
func TestSignedDataAsMiekg(t *testing.T) {
	now := time.Now()
	sets := []struct {
		name   string
		rrs    []string
		labels uint8 // 0: as signed
		owner  string
	}{
		{"A, out of order, a duplicate", []string{"www.example.lab. 300 IN A 192.0.2.9", "www.example.lab. 300 IN A 192.0.2.1", "www.example.lab. 300 IN A 192.0.2.9"}, 0, ""},
		{"MX with upper case", []string{"Example.LAB. 600 IN MX 10 Mail.Example.LAB.", "Example.LAB. 600 IN MX 20 b.EXAMPLE.lab."}, 0, ""},
		{"SOA", []string{"example.lab. 3600 IN SOA NS1.example.lab. HostMaster.example.lab. 7 3600 900 604800 300"}, 0, ""},
		{"NS", []string{"sub.example.lab. 3600 IN NS NS.Sub.Example.Lab.", "sub.example.lab. 3600 IN NS ns2.elsewhere.lab."}, 0, ""},
		{"SRV", []string{"_sip._tcp.example.lab. 60 IN SRV 0 5 5060 SIP.example.lab."}, 0, ""},
		{"TXT keeps its case", []string{"example.lab. 60 IN TXT \"Hello World\""}, 0, ""},
		{"NSEC keeps its next name's case", []string{"a.example.lab. 300 IN NSEC B.example.lab. A RRSIG NSEC"}, 0, ""},
		{"wildcard expansion", []string{"*.wild.example.lab. 300 IN A 192.0.2.7"}, 0, "x.y.wild.example.lab."},
	}
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519, dns.RSASHA256} {
		k, err := authoritative.GenerateKey("example.lab.", alg, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range sets {
			set := make([]dns.RR, len(tt.rrs))
			for i, s := range tt.rrs {
				set[i] = mustRR(t, s)
			}
			sig := sign(t, k, "Example.Lab.", set, now.Add(-time.Hour), now.Add(time.Hour), nil)
			if tt.owner != "" {
				for _, rr := range set {
					rr.Header().Name = tt.owner
				}
				sig.Hdr.Name = tt.owner
			}
			set[0].Header().Ttl = 17 // served with a decremented TTL
			if err := verifyOwn(sig, k.DNSKEY, set); err != nil {
				t.Errorf("%s, %s: %v", dns.AlgorithmToString[alg], tt.name, err)
			}
			forged := copies(set)
			forged[len(forged)-1] = mustRR(t, "www.example.lab. 300 IN A 6.6.6.6")
			forged[len(forged)-1].Header().Name = set[0].Header().Name
			if verifyOwn(sig, k.DNSKEY, forged) == nil {
				t.Errorf("%s, %s: a changed set verified", dns.AlgorithmToString[alg], tt.name)
			}
		}
	}
}

// TestRootWildcard: records expanded from the wildcard at the root (RRSIG
// Labels 0: ns. A from *. A) and owned by it (*. NSEC) verify, signed over
// data built here octet by octet as RFC 4034 section 3.1.8.1 has it, with
// the owner "*."; miekg/dns's RRSIG.Verify rebuilds that owner as "*.."
// and failed them (val_wild_pos_multi); a changed address does not.
func TestRootWildcard(t *testing.T) {
	now := time.Now()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: dns.ZONE | dns.SEP, Protocol: 3, Algorithm: dns.ED25519, PublicKey: base64.StdEncoding.EncodeToString(pub)}
	tag, _ := keyTag(key)
	anchors := NewAnchors()
	if err := anchors.Add(key); err != nil {
		t.Fatal(err)
	}
	v := New(Config{Anchors: anchors})
	inception, expiration := uint32(now.Add(-time.Hour).Unix()), uint32(now.Add(time.Hour).Unix())

	// sign signs rdatas (each the RDATA of one record of type t, already
	// in canonical order) as owned by "*.", TTL ttl.
	sign := func(t uint16, ttl uint32, rdatas ...[]byte) *dns.RRSIG {
		var data []byte
		data = binary.BigEndian.AppendUint16(data, t)
		data = append(data, dns.ED25519, 0) // algorithm, labels
		data = binary.BigEndian.AppendUint32(data, ttl)
		data = binary.BigEndian.AppendUint32(data, expiration)
		data = binary.BigEndian.AppendUint32(data, inception)
		data = binary.BigEndian.AppendUint16(data, tag)
		data = append(data, 0) // signer: the root
		for _, rd := range rdatas {
			data = append(data, 1, '*', 0)
			data = binary.BigEndian.AppendUint16(data, t)
			data = binary.BigEndian.AppendUint16(data, dns.ClassINET)
			data = binary.BigEndian.AppendUint32(data, ttl)
			data = binary.BigEndian.AppendUint16(data, uint16(len(rd)))
			data = append(data, rd...)
		}
		s, err := priv.Sign(nil, data, crypto.Hash(0))
		if err != nil {
			panic(err)
		}
		return &dns.RRSIG{Hdr: dns.RR_Header{Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
			TypeCovered: t, Algorithm: dns.ED25519, Labels: 0, OrigTtl: ttl, Expiration: expiration,
			Inception: inception, KeyTag: tag, SignerName: ".", Signature: base64.StdEncoding.EncodeToString(s)}
	}
	// The DNSKEY RRset is owned by the root: Labels 0 is no wildcard there,
	// and miekg/dns signs it right.
	dnskeySig := &dns.RRSIG{Algorithm: dns.ED25519, KeyTag: tag, SignerName: ".", Inception: inception, Expiration: expiration}
	if err := dnskeySig.Sign(priv, []dns.RR{key}); err != nil {
		t.Fatal(err)
	}
	keys, r := v.VerifyDNSKEY(".", []dns.RR{key}, []dns.RR{key, dnskeySig}, nil, nil)
	if r.Status != Secure {
		t.Fatalf("root DNSKEY: %v", r)
	}

	a := func(s string) dns.RR { return mustRR(t, "ns. 3600 IN A "+s) }
	asig := sign(dns.TypeA, 3600, []byte{10, 1, 1, 1}, []byte{10, 2, 2, 2})
	asig.Hdr.Name = "ns."
	set := []dns.RR{a("10.2.2.2"), a("10.1.1.1")}
	if err := asig.Verify(key, set); err == nil {
		t.Log("miekg/dns verifies a root wildcard expansion now; verifyOwn's detour is no longer needed")
	}
	if r := v.VerifyRRset(set, []dns.RR{asig}, keys, nil); r.Status != Secure || r.Wildcard != "*." {
		t.Errorf("ns. A expanded from *.: %v (wildcard %q)", r, r.Wildcard)
	}
	if r := v.VerifyRRset([]dns.RR{a("10.2.2.2"), a("10.6.6.6")}, []dns.RR{asig}, keys, nil); r.Status != Bogus {
		t.Errorf("changed ns. A: %v", r)
	}

	nsec := mustRR(t, "*. 0 IN NSEC . A AAAA RRSIG NSEC")
	rd := make([]byte, 64)
	n, err := dns.PackRR(nsec, rd, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	nsig := sign(dns.TypeNSEC, 0, rd[3+10:n])
	nsig.Hdr.Name = "*."
	if r := v.VerifyRRset([]dns.RR{nsec}, []dns.RR{nsig}, keys, nil); r.Status != Secure {
		t.Errorf("*. NSEC: %v", r)
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// FuzzSignedData: the signed data is built from whatever a response holds
// without a panic, for any label count, owner and record type.
func FuzzSignedData(f *testing.F) {
	for _, rrs := range [][]string{
		{"ns. 3600 IN A 10.1.1.1", "ns. 3600 IN RRSIG A 8 0 3600 20170519062759 20170419062759 41524 . c2ln"},
		{"*. 0 IN NSEC . A AAAA RRSIG NSEC", "*. 0 IN RRSIG NSEC 8 0 0 20170519141813 20170419141813 41524 . c2ln"},
		{"a.b.example.lab. 60 IN MX 10 Mail.Example.Lab.", "a.b.example.lab. 60 IN RRSIG MX 13 2 60 20300101000000 20200101000000 1 example.lab. c2ln"},
	} {
		m := new(dns.Msg)
		m.SetQuestion("x.", dns.TypeA)
		for _, s := range rrs {
			m.Answer = append(m.Answer, mustRR(f, s))
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m dns.Msg
		if m.Unpack(b) != nil {
			return
		}
		for _, rr := range m.Answer {
			sig, ok := rr.(*dns.RRSIG)
			if !ok {
				continue
			}
			var set []dns.RR
			for _, r := range m.Answer {
				if h := r.Header(); h.Rrtype == sig.TypeCovered && h.Rrtype != dns.TypeRRSIG && h.Name == sig.Hdr.Name {
					set = append(set, r)
				}
			}
			if len(set) > 0 {
				_, _ = signedData(sig, set)
			}
		}
	})
}
