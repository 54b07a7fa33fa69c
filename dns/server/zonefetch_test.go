package server_test

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
)

// deadServer takes UDP queries and TCP connections at addr and never
// answers: a zone's servers under a random-subdomain flood, or gone.
func deadServer(t *testing.T, addr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
}

// TestFetchesPerZoneKeepsCapacity: a flood of random names under one zone
// whose server never answers holds one of the server's resolution slots
// per name until its time-out. Without fetches_per_zone the flood takes
// every slot and a name of another zone, asked next, gets no answer; with
// it the flood's names beyond the bound are SERVFAIL at once, and the other
// name is answered.
func TestFetchesPerZoneKeepsCapacity(t *testing.T) {
	_, port := rootServer(t, "slow.test. 3600 IN NS ns.slow.test.", "ns.slow.test. 3600 IN A 127.0.0.2")
	deadServer(t, fmt.Sprintf("127.0.0.2:%d", port))
	for _, tt := range []struct {
		name     string
		fetches  int
		answered bool
	}{
		{"without a bound", 0, false},
		{"with fetches_per_zone 4", 4, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hints := []dns.RR{}
			for _, s := range []string{". 3600000 IN NS ns.root.", "ns.root. 3600000 IN A 127.0.0.1"} {
				rr, _ := dns.NewRR(s)
				hints = append(hints, rr)
			}
			// Each try waits 2 s, so that the flood's resolutions hold
			// their slots well past the other name's query and its 1 s
			// wait (after a round of time-outs the resolver sets the dead
			// server aside and they fail fast).
			res, err := resolver.New(resolver.Config{RootHints: hints, Port: port, FetchesPerZone: tt.fetches, Timeout: 4 * time.Second,
				MinTryTimeout: 2 * time.Second, MaxTryTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			srv := serveLoopback(t, server.Config{Resolver: res, ACL: server.NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}),
				MaxInflight: 16, QueryTimeout: 4 * time.Second, DiscardTimeout: -1})
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addrs()[0]))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The root's delegation first, so that the flood's names go
			// straight to slow.test.'s server.
			warm := new(dns.Msg)
			warm.SetQuestion("www.test.", dns.TypeA)
			if r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(warm, srv.Addrs()[0].String()); err != nil || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("warm-up: %v %v", r, err)
			}
			// Two waves: the warm-up's worker may still hold its slot
			// for a moment after its answer has gone (it gives the slot
			// back after the send), and a flood query that found it taken
			// was dropped, so the second wave takes any slot freed since.
			for wave := range 2 {
				for i := range 64 {
					q := new(dns.Msg)
					q.SetQuestion(fmt.Sprintf("r%d-%d.slow.test.", wave, i), dns.TypeA)
					b, _ := q.Pack()
					if _, err := c.Write(b); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(150 * time.Millisecond)
			}
			q := new(dns.Msg)
			q.SetQuestion("other.test.", dns.TypeA) // NXDOMAIN from the root: another zone
			r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(q, srv.Addrs()[0].String())
			answered := err == nil && r.Rcode == dns.RcodeNameError
			if answered != tt.answered {
				t.Errorf("another zone's name during the flood: answered %v (%v, %v), want %v", answered, r, err, tt.answered)
			}
			if got := res.Stats().ZoneFetchLimited; (got > 0) != (tt.fetches > 0) {
				t.Errorf("ZoneFetchLimited = %d", got)
			}
		})
	}
}
