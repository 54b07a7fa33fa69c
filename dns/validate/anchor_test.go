package validate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// forgingInner answers the queries it holds a forged response for, and
// passes the others on.
type forgingInner struct {
	inner  Inner
	forged map[string]*dns.Msg // by "qname qtype"
}

func (f forgingInner) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	if m := f.forged[strings.ToLower(dns.Fqdn(qname))+" "+dns.Type(qtype).String()]; m != nil {
		return m.Copy(), nil
	}
	return f.inner.Resolve(ctx, qname, qtype, qclass, do)
}

// junkSig is an RRSIG over owner/covered that names signer and verifies
// under nothing.
func junkSig(owner string, covered uint16, signer string) *dns.RRSIG {
	now := time.Now()
	return &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 3600},
		TypeCovered: covered, Algorithm: dns.ECDSAP256SHA256, Labels: uint8(dns.CountLabel(owner)), OrigTtl: 3600,
		Expiration: uint32(now.Add(24 * time.Hour).Unix()), Inception: uint32(now.Add(-time.Hour).Unix()),
		KeyTag: 4242, SignerName: signer,
		Signature: "MEUCIQDJunkJunkJunkJunkJunkJunkJunkJunkJunkJunkJunkJunkJgIgJunkJunkJunkJunkJunkJunkJunkJunkJunkJunkJunkJunk=",
	}
}

// TestAnchorBelowInsecureDelegation: an operator's trust anchor for a zone
// below an unsigned delegation (island.unsigned.lab. here) decides for
// every name in that zone. An RRSIG that names a signer above the anchor
// (the insecure parent) must not lead the validator out of the anchored
// chain to where everything is Insecure: the forged data is Bogus.
func TestAnchorBelowInsecureDelegation(t *testing.T) {
	w := testWorld(t)
	anchors := w.rootAnchors(t)
	if err := anchors.Add(w.ksk["island.unsigned.lab."].DS(dns.SHA256)); err != nil {
		t.Fatal(err)
	}
	r, ci := newTestResolver(t, anchors)
	ctx := context.Background()

	// The island's own data is Secure through its anchor.
	m, err := r.Resolve(ctx, "www.island.unsigned.lab.", dns.TypeA, dns.ClassINET, true)
	if err != nil || !m.AuthenticatedData {
		t.Fatalf("island data: err %v AD %v\n%s", err, m.AuthenticatedData, m)
	}

	forgedA := new(dns.Msg)
	forgedA.SetQuestion("forged.island.unsigned.lab.", dns.TypeA)
	forgedA.Response, forgedA.RecursionAvailable = true, true
	forgedA.Answer = []dns.RR{
		mustRR("forged.island.unsigned.lab. 3600 IN A 6.6.6.6"),
		junkSig("forged.island.unsigned.lab.", dns.TypeA, "unsigned.lab."),
	}
	forgedNX := new(dns.Msg)
	forgedNX.SetQuestion("www.island.unsigned.lab.", dns.TypeAAAA)
	forgedNX.Response, forgedNX.RecursionAvailable = true, true
	forgedNX.Rcode = dns.RcodeNameError
	forgedNX.Ns = []dns.RR{
		mustRR("unsigned.lab. 300 IN SOA ns.unsigned.lab. hostmaster.unsigned.lab. 1 3600 600 86400 300"),
		junkSig("unsigned.lab.", dns.TypeSOA, "unsigned.lab."),
	}
	r.inner = forgingInner{inner: ci, forged: map[string]*dns.Msg{
		"forged.island.unsigned.lab. A": forgedA,
		"www.island.unsigned.lab. AAAA": forgedNX,
	}}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"forged.island.unsigned.lab.", dns.TypeA}, {"www.island.unsigned.lab.", dns.TypeAAAA}} {
		m, err := r.Resolve(ctx, q.name, q.qtype, dns.ClassINET, true)
		if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBogus) {
			t.Errorf("%s/%s signed by the insecure parent: rcode %s AD %v err %v, want SERVFAIL (Bogus)\n%s",
				q.name, dns.Type(q.qtype), dns.RcodeToString[m.Rcode], m.AuthenticatedData, err, m)
		}
	}
	// The island's DS is the parent's data, and the parent is unsigned:
	// the answer about it is Insecure, not Bogus.
	if m, err := r.Resolve(ctx, "island.unsigned.lab.", dns.TypeDS, dns.ClassINET, true); err != nil || m.Rcode != dns.RcodeSuccess || m.AuthenticatedData {
		t.Errorf("DS of the island from its insecure parent: err %v\n%s", err, m)
	}
	if s := r.Stats(); s.Bogus != 2 {
		t.Errorf("stats %+v, want 2 bogus", s)
	}
}
