package resolver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestLabWeakness: the lab's weakened transport sends every query from its
// fixed port and waits through wrong-ID answers, which is what makes it
// poisonable; the normal transport does neither.
func TestLabWeakness(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ports := make(chan int, 4)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			ports <- from.Port
			var q dns.Msg
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			// A forged answer with the wrong ID first, then the real one.
			bad := new(dns.Msg)
			bad.SetReply(&q)
			bad.Id = q.Id ^ 0x5555
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 198.51.100.66")
			bad.Answer = []dns.RR{rr}
			b, _ := bad.Pack()
			srv.WriteToUDP(b, from)
			good := new(dns.Msg)
			good.SetReply(&q)
			rr, _ = dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.1")
			good.Answer = []dns.RR{rr}
			b, _ = good.Pack()
			srv.WriteToUDP(b, from)
		}
	}()
	server := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	fixed := uint16(20000 + time.Now().UnixNano()%20000)
	weak := &NetTransport{LabWeakness: &Weakness{FixedPort: fixed, IgnoreNearMisses: true}}
	for i := 0; i < 2; i++ {
		q := new(dns.Msg)
		q.SetQuestion("a.example.", dns.TypeA)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := weak.Exchange(ctx, netip.AddrPortFrom(server.Addr(), server.Port()), q, false)
		cancel()
		if err != nil {
			t.Fatalf("weak exchange %d: %v", i, err)
		}
		if a, ok := r.Answer[0].(*dns.A); !ok || !a.A.Equal(net.IPv4(192, 0, 2, 1)) {
			t.Fatalf("weak exchange %d answered %v", i, r.Answer)
		}
		if p := <-ports; p != int(fixed) {
			t.Errorf("weak query %d left from port %d, want the fixed %d", i, p, fixed)
		}
	}
	strong := NewNetTransport()
	q := new(dns.Msg)
	q.SetQuestion("a.example.", dns.TypeA)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := strong.Exchange(ctx, server, q, false); err == nil {
		t.Error("the normal transport accepted an exchange that began with a wrong-ID answer")
	}
	if p := <-ports; p == int(fixed) {
		t.Error("the normal transport used the weak port")
	}
}

// TestLabAcceptOutOfBailiwick: poison.lab's server adds records for
// example.lab. and evil.lab. to every answer. The normal resolver drops
// them; the lab's weakened one (Config.LabAcceptOutOfBailiwick) caches them,
// and afterwards answers www.example.lab with the injected address, as a
// pre-1997 resolver did.
func TestLabAcceptOutOfBailiwick(t *testing.T) {
	injected := []struct {
		name  string
		qtype uint16
		rank  Rank
	}{
		{"www.example.lab.", dns.TypeA, RankAnswerAuth}, // answer, off the chain
		{"evil.lab.", dns.TypeA, RankAnswerAuth},        // answer, off the chain
		{"example.lab.", dns.TypeNS, RankAuthority},     // authority, foreign
		{"ns1.example.lab.", dns.TypeA, RankAdditional}, // additional, foreign
		{"ns.evil.other.", dns.TypeA, RankAdditional},   // additional, foreign
	}
	for _, tc := range []struct {
		name    string
		weak    bool
		wantWWW string
	}{
		{"normal", false, "www.example.lab. 0 IN A 198.51.100.1"},
		{"lab weakened", true, "www.example.lab. 0 IN A 6.6.6.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, cache := newTestResolver(t, func(c *Config) { c.LabAcceptOutOfBailiwick = tc.weak })
			ctx := context.Background()
			m, err := r.Resolve(ctx, "www.poison.lab.", dns.TypeA, dns.ClassINET, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := rrStrings(m.Answer); len(got) != 1 || !strings.HasPrefix(got[0], "www.poison.lab. ") {
				t.Errorf("www.poison.lab answered %v, want its own record only", got)
			}
			now := r.clock.Now()
			for _, k := range injected {
				set, ok := cache.LookupRRset(k.name, k.qtype, dns.ClassINET, now)
				switch {
				case tc.weak && !ok:
					t.Errorf("%s %s not cached by the weakened resolver", k.name, dns.Type(k.qtype))
				case tc.weak && set.Rank != k.rank:
					t.Errorf("%s %s cached with rank %s, want %s", k.name, dns.Type(k.qtype), set.Rank, k.rank)
				case !tc.weak && ok:
					t.Errorf("out-of-bailiwick %s %s cached: %v", k.name, dns.Type(k.qtype), set.RRs)
				}
			}
			if got, want := r.Stats().LabOutOfBailiwick > 0, tc.weak; got != want {
				t.Errorf("LabOutOfBailiwick = %d", r.Stats().LabOutOfBailiwick)
			}
			m, err = r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := rrStrings(m.Answer); len(got) != 1 || got[0] != tc.wantWWW {
				t.Errorf("www.example.lab answered %v, want %s", got, tc.wantWWW)
			}
		})
	}
}
