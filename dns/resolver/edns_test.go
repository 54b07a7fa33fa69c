package resolver

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// formErrForger answers every EDNS query to one server with a FORMERR
// that has the right ID but no question, as an off-path forger who won
// the race for the ID and the port would; everything else goes to the
// world.
type formErrForger struct {
	Transport
	victims []netip.Addr
	sent    atomic.Int32
}

func (f *formErrForger) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if slices.Contains(f.victims, server.Addr()) && q.IsEdns0() != nil {
		f.sent.Add(1)
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		m.Question = nil
		return m, nil
	}
	return f.Transport.Exchange(ctx, server, q, tcp)
}

// TestFormErrWithoutQuestionKeepsEDNS: a FORMERR without the question
// is no answer to the query, so it cannot switch EDNS off for the server
// (which would break DNSSEC for every zone on it) however often it
// comes.
func TestFormErrWithoutQuestionKeepsEDNS(t *testing.T) {
	victims := []netip.Addr{addr("192.0.2.30"), addr("192.0.2.31")} // example.lab.
	var forger *formErrForger
	r, _, _ := newTestResolver(t, func(c *Config) {
		forger = &formErrForger{Transport: c.Transport, victims: victims}
		c.Transport = forger
	})
	_, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if forger.sent.Load() == 0 {
		t.Fatal("the forger was never asked")
	}
	for _, v := range victims {
		if info, _ := r.ServerInfo(v); info.NoEDNS {
			t.Errorf("a FORMERR without question switched EDNS off for %s", v)
		}
	}
	if s := r.Stats(); s.EDNSFallbacks != 0 {
		t.Errorf("EDNSFallbacks = %d, want 0 (err %v)", s.EDNSFallbacks, err)
	}
}

// TestFormErrWrongCaseKeepsEDNS: a FORMERR that echoes the question in
// another case than the query's (0x20) is a near miss like any other
// answer, and switches nothing off.
func TestFormErrWrongCaseKeepsEDNS(t *testing.T) {
	victims := []netip.Addr{addr("192.0.2.30"), addr("192.0.2.31")}
	var tr *caseForger
	r, _, _ := newTestResolver(t, func(c *Config) {
		tr = &caseForger{Transport: c.Transport, victims: victims}
		c.Transport = tr
	})
	_, _ = r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if tr.sent.Load() == 0 {
		t.Fatal("the forger was never asked")
	}
	for _, v := range victims {
		if info, _ := r.ServerInfo(v); info.NoEDNS {
			t.Errorf("a FORMERR in the wrong case switched EDNS off for %s", v)
		}
	}
}

// caseForger answers EDNS queries over UDP to victim with a FORMERR whose
// question is the query's in upper case.
type caseForger struct {
	Transport
	victims []netip.Addr
	sent    atomic.Int32
}

func (f *caseForger) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if slices.Contains(f.victims, server.Addr()) && q.IsEdns0() != nil && !tcp {
		f.sent.Add(1)
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		m.Question[0].Name = strings.ToUpper(m.Question[0].Name)
		if m.Question[0].Name == q.Question[0].Name {
			m.Question[0].Name = strings.ToLower(m.Question[0].Name)
		}
		return m, nil
	}
	return f.Transport.Exchange(ctx, server, q, tcp)
}

// TestNoEDNSExpires: a server remembered as without EDNS is asked with
// EDNS again once InfraTTL has passed since it was marked, however busy
// it stays (as Unbound's infra cache re-probes edns_lame hosts when
// their entry expires).
func TestNoEDNSExpires(t *testing.T) {
	r, w, _ := newTestResolver(t, func(c *Config) { c.InfraTTL = 15 * time.Minute })
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.noedns.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.ServerInfo(addr("192.0.2.80")); !info.NoEDNS {
		t.Fatal("server not remembered as without EDNS")
	}
	w.queries()
	// Busy: a query every four minutes, each answered without EDNS,
	// which keeps the server's entry alive.
	for _, qt := range []uint16{dns.TypeAAAA, dns.TypeMX, dns.TypeTXT} {
		w.clock.Advance(4 * time.Minute)
		if _, err := r.Resolve(ctx, "www.noedns.lab.", qt, dns.ClassINET, false); err != nil {
			t.Fatal(err)
		}
		want := []string{"192.0.2.80 www.noedns.lab. " + dns.Type(qt).String() + " noedns"}
		if got := w.queries(); !slices.Equal(got, want) {
			t.Fatalf("queries %q, want %q", got, want)
		}
	}
	// 16 minutes after the FORMERR, the server is tried with EDNS first.
	w.clock.Advance(4 * time.Minute)
	if _, err := r.Resolve(ctx, "www.noedns.lab.", dns.TypeSRV, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.80 www.noedns.lab. SRV", "192.0.2.80 www.noedns.lab. SRV noedns"}
	if got := w.queries(); !slices.Equal(got, want) {
		t.Errorf("queries %q, want %q", got, want)
	}
	if info, _ := r.ServerInfo(addr("192.0.2.80")); !info.NoEDNS {
		t.Error("the re-probe's FORMERR did not mark the server again")
	}
	if s := r.Stats(); s.EDNSFallbacks != 2 {
		t.Errorf("EDNSFallbacks = %d, want 2 (the first and the re-probe)", s.EDNSFallbacks)
	}
}
