package resolver

import (
	"context"
	"net"
	"net/netip"
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
