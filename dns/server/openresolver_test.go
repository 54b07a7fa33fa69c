package server_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/authoritative"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
)

// rootServer serves a one-zone root (www.test. A 192.0.2.80, and the
// extra records) on a loopback port, UDP and TCP, and returns it with its
// port.
func rootServer(t *testing.T, extra ...string) (*authoritative.Server, uint16) {
	t.Helper()
	var rrs []dns.RR
	for _, s := range append([]string{
		". 3600 IN SOA ns.root. admin.root. 1 3600 600 86400 300",
		". 3600 IN NS ns.root.",
		"ns.root. 3600 IN A 127.0.0.1",
		"www.test. 3600 IN A 192.0.2.80",
	}, extra...) {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	z, err := authoritative.NewZone(".", "root", rrs)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authoritative.New(authoritative.Config{Zones: []*authoritative.Zone{z}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = auth.Serve(ctx, pc, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return auth, uint16(port)
}

// serveLoopback runs a server of cfg on a loopback port, one UDP socket,
// until the test ends.
func serveLoopback(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	cfg.Listen, cfg.SocketsPerAddr = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, 1
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

// TestNeverAnOpenResolver: a client outside the ACL gets REFUSED over UDP
// and TCP and causes no recursion, asserted on the authoritative server,
// which sees no query at all; the same query from inside the ACL is
// resolved through it, so the silence is the ACL's doing.
func TestNeverAnOpenResolver(t *testing.T) {
	for _, tt := range []struct {
		name    string
		allow   string
		inside  bool
		wantMin uint64 // queries the authoritative server saw
	}{
		{"outside the ACL", "10.0.0.0/8", false, 0},
		{"inside the ACL", "127.0.0.0/8", true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			auth, port := rootServer(t)
			hints := []dns.RR{}
			for _, s := range []string{". 3600000 IN NS ns.root.", "ns.root. 3600000 IN A 127.0.0.1"} {
				rr, _ := dns.NewRR(s)
				hints = append(hints, rr)
			}
			res, err := resolver.New(resolver.Config{RootHints: hints, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			srv := serveLoopback(t, server.Config{Resolver: res, ACL: server.NewACL([]netip.Prefix{netip.MustParsePrefix(tt.allow)}),
				RRL: server.RRLConfig{ResponsesPerSecond: 5}})
			for _, proto := range []string{"udp", "tcp"} {
				q := new(dns.Msg)
				q.SetQuestion("www.test.", dns.TypeA)
				q.SetEdns0(1232, false)
				c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
				r, _, err := c.Exchange(q, srv.Addrs()[0].String())
				if err != nil {
					t.Fatalf("%s: %v", proto, err)
				}
				switch {
				case tt.inside && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1):
					t.Errorf("%s from inside: %s with %d answers", proto, dns.RcodeToString[r.Rcode], len(r.Answer))
				case !tt.inside && (r.Rcode != dns.RcodeRefused || len(r.Answer)+len(r.Ns)+len(r.Extra) != 0):
					t.Errorf("%s from outside: %s with %d/%d/%d records; want REFUSED and nothing", proto, dns.RcodeToString[r.Rcode], len(r.Answer), len(r.Ns), len(r.Extra))
				}
			}
			st := auth.Stats()
			if seen := st.QueriesUDP + st.QueriesTCP; (tt.wantMin == 0 && seen != 0) || seen < tt.wantMin {
				t.Errorf("the authoritative server saw %d queries, want %s", seen, map[bool]string{true: "some", false: "none"}[tt.inside])
			}
			if rs := res.Stats(); !tt.inside && (rs.Queries != 0 || rs.UpstreamQueries != 0) {
				t.Errorf("the resolver was asked %d times and sent %d queries for a refused client", rs.Queries, rs.UpstreamQueries)
			}
		})
	}
}
