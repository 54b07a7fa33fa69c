package validate

import (
	"context"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// fuzzInner answers the client's question with the fuzzer's message and
// everything else (DS, DNSKEY, proofs) from the genuine world.
type fuzzInner struct {
	genuine Inner
	q       dns.Question
	answer  *dns.Msg
}

func (f fuzzInner) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	if equalName(qname, f.q.Name) && qtype == f.q.Qtype {
		return f.answer.Copy(), nil
	}
	return f.genuine.Resolve(ctx, qname, qtype, qclass, do)
}

// FuzzValidateResponse feeds random upstream answers to the validator. The
// seeds are answers signed by an impostor hierarchy with the same names
// and keys of its own, so no mutation can carry a valid signature: the
// property is no panic and never Secure.
func FuzzValidateResponse(f *testing.F) {
	w := testWorld(f)
	impostor, err := buildWorld()
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.lab.", dns.TypeA}, {"alias.example.lab.", dns.TypeA}, {"nope.example.lab.", dns.TypeA},
		{"www.example.lab.", dns.TypeTXT}, {"a.wild.example.lab.", dns.TypeA}, {"www.nsec3.lab.", dns.TypeA},
		{"nope.nsec3.lab.", dns.TypeA}, {"x.wild.nsec3.lab.", dns.TypeA}, {"example.lab.", dns.TypeDNSKEY},
		{"example.lab.", dns.TypeDS}, {"unsigned.lab.", dns.TypeDS},
	} {
		m, _ := storeInner{impostor.all}.Resolve(context.Background(), q.name, q.qtype, dns.ClassINET, true)
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	v := dnssec.New(dnssec.Config{Anchors: w.rootAnchors(f)})
	genuine := storeInner{w.all}
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil || len(m.Question) != 1 {
			return
		}
		q := m.Question[0]
		if _, ok := dns.IsDomainName(q.Name); !ok {
			return
		}
		r := New(fuzzInner{genuine: genuine, q: q, answer: m}, v, Config{})
		for _, do := range []bool{true, false} {
			resp, err := r.Resolve(context.Background(), q.Name, q.Qtype, q.Qclass, do)
			if resp == nil {
				t.Fatal("nil response")
			}
			if resp.AuthenticatedData {
				t.Fatalf("forged answer validated (err %v)\n%s", err, resp)
			}
			if resp.Rcode == dns.RcodeServerFailure && err == nil && q.Qclass == dns.ClassINET && m.Rcode != dns.RcodeServerFailure {
				t.Fatalf("SERVFAIL without error")
			}
		}
		if s := r.Stats(); s.Secure != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}
