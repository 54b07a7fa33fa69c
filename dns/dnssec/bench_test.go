package dnssec

import (
	"testing"

	"github.com/miekg/dns"
)

// The signature check itself (miekg's RRSIG.Verify and crypto/ecdsa,
// crypto/rsa underneath) allocates; BenchmarkRawVerify measures it alone
// so that the validator's own share is the difference. The proof logic
// without signature checks (BenchmarkSynthesize) allocates nothing.

func benchSetup(b *testing.B, o zoneOpts) (*hierarchy, *Validator, map[string]KeySet) {
	h := buildHierarchy(b, map[string]zoneOpts{"example.lab.": o})
	v := h.validator(Limits{})
	return h, v, h.chain(b, v)
}

func BenchmarkVerifyRRset(b *testing.B) {
	for _, tt := range []struct {
		name string
		alg  uint8
	}{
		{"alg13", dns.ECDSAP256SHA256},
		{"alg8", dns.RSASHA256},
		{"alg15", dns.ED25519},
	} {
		b.Run(tt.name, func(b *testing.B) {
			h, v, keys := benchSetup(b, zoneOpts{alg: tt.alg})
			set, sigs := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
			ks := keys["example.lab."]
			b.ReportAllocs()
			for b.Loop() {
				if r := v.VerifyRRset(set, sigs, ks, nil); r.Status != Secure {
					b.Fatal(r)
				}
			}
		})
	}
}

func BenchmarkRawVerify(b *testing.B) {
	for _, tt := range []struct {
		name string
		alg  uint8
	}{
		{"alg13", dns.ECDSAP256SHA256},
		{"alg8", dns.RSASHA256},
	} {
		b.Run(tt.name, func(b *testing.B) {
			h, _, _ := benchSetup(b, zoneOpts{alg: tt.alg})
			set, sigs := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
			sig := sigs[0].(*dns.RRSIG)
			key := h.zones["example.lab."].zsk.DNSKEY
			b.ReportAllocs()
			for b.Loop() {
				if err := sig.Verify(key, set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkProveNXDOMAIN(b *testing.B) {
	for _, tt := range []struct {
		name string
		o    zoneOpts
	}{
		{"NSEC3", zoneOpts{nsec3: true, iterations: 0}},
		{"NSEC3-150iter-salt", zoneOpts{nsec3: true, iterations: 150, salt: "ABCDEF0123456789"}},
		{"NSEC", zoneOpts{}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			h, v, keys := benchSetup(b, tt.o)
			q := "a.b.nope.example.lab."
			auth := h.ask("example.lab.", q, dns.TypeA).Ns
			ks := keys["example.lab."]
			b.ReportAllocs()
			for b.Loop() {
				if r := v.ProveNXDOMAIN(q, auth, ks, nil); r.Status != Secure {
					b.Fatal(r)
				}
			}
		})
	}
}

func BenchmarkSynthesize(b *testing.B) {
	for _, tt := range []struct {
		name string
		o    zoneOpts
	}{
		{"NSEC3", zoneOpts{nsec3: true, iterations: 0}},
		{"NSEC", zoneOpts{}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			h, v, _ := benchSetup(b, tt.o)
			q := "a.b.nope.example.lab."
			cached := denialRecords(h.ask("example.lab.", q, dns.TypeA).Ns)
			b.ReportAllocs()
			for b.Loop() {
				if rcode, r := v.Synthesize(q, dns.TypeA, "example.lab.", cached, nil); rcode != dns.RcodeNameError {
					b.Fatal(r)
				}
			}
		})
	}
}

// TestAllocations holds the validator to the allocation budget the
// benchmarks show: its own logic allocates nothing on the success path,
// so VerifyRRset costs what miekg's RRSIG.Verify costs and the proofs
// without signature checks cost nothing.
func TestAllocations(t *testing.T) {
	h := buildHierarchy(t, map[string]zoneOpts{"example.lab.": {nsec3: true, salt: "AB"}})
	v := h.validator(Limits{})
	keys := h.chain(t, v)
	set, sigs := rrset(h.ask("example.lab.", "www.example.lab.", dns.TypeA).Answer, "", dns.TypeA)
	sig := sigs[0].(*dns.RRSIG)
	key := h.zones["example.lab."].zsk.DNSKEY
	raw := testing.AllocsPerRun(20, func() { _ = sig.Verify(key, set) })
	got := testing.AllocsPerRun(20, func() { v.VerifyRRset(set, sigs, keys["example.lab."], nil) })
	if got > raw {
		t.Errorf("VerifyRRset: %.0f allocations, RRSIG.Verify alone %.0f", got, raw)
	}
	auth := h.ask("example.lab.", "a.b.nope.example.lab.", dns.TypeA).Ns
	raw = 0
	for _, rr := range denialRecords(auth) {
		set := []dns.RR{rr}
		_, sigs := rrset(auth, rr.Header().Name, rr.Header().Rrtype)
		sig := sigs[0].(*dns.RRSIG)
		raw += testing.AllocsPerRun(20, func() { _ = sig.Verify(key, set) })
	}
	if got := testing.AllocsPerRun(20, func() { v.ProveNXDOMAIN("a.b.nope.example.lab.", auth, keys["example.lab."], nil) }); got > raw {
		t.Errorf("ProveNXDOMAIN: %.0f allocations, its RRSIG.Verify calls alone %.0f", got, raw)
	}
	cached := denialRecords(auth)
	if n := testing.AllocsPerRun(20, func() { v.Synthesize("a.b.nope.example.lab.", dns.TypeA, "example.lab.", cached, nil) }); n != 0 {
		t.Errorf("Synthesize: %.0f allocations", n)
	}
	b := v.NewBudget()
	if n := testing.AllocsPerRun(20, func() { v.Synthesize("x.nope.example.lab.", dns.TypeA, "example.lab.", cached, b) }); n != 0 {
		t.Errorf("Synthesize with a budget: %.0f allocations", n)
	}
}
