package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rampart-fw/rampart/dns/authoritative"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/dns/validate"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/lab/scenario"
)

// wireUpstream answers the resolver's upstream queries from the lab's
// zones, through the authoritative server's wire path, as the lab's
// servers would: the query is packed and the response unpacked, so the
// resolver pays for the wire format as it does over sockets, and only the
// sockets themselves are missing.
type wireUpstream struct {
	servers map[netip.Addr]*authoritative.Server
}

func (u *wireUpstream) Exchange(_ context.Context, srv netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	s := u.servers[srv.Addr()]
	if s == nil {
		return nil, fmt.Errorf("no lab server at %s", srv)
	}
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	out := s.Handle(wire, tcp, nil)
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		return nil, err
	}
	return m, nil
}

// labUpstream loads the lab's zones (signed, as the lab signs them, when
// signed is true) into authoritative servers at the standard topology's
// addresses (lab/topology/standard.yaml: root .10, tld .20, auth .30).
func labUpstream(tb testing.TB, signed bool) (*wireUpstream, string, []dns.RR) {
	dir := tb.TempDir()
	if err := scenario.WriteZones(dir); err != nil {
		tb.Fatal(err)
	}
	anchor := ""
	if signed {
		var err error
		if anchor, err = scenario.SignHierarchy(dir, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
	u := &wireUpstream{servers: map[netip.Addr]*authoritative.Server{}}
	for _, s := range []struct {
		last  byte
		zones [][2]string
	}{
		{10, [][2]string{{"root.zone", "."}}},
		{20, [][2]string{{"lab.zone", "lab."}}},
		{30, [][2]string{{"example.lab.zone", "example.lab."}, {"bench.lab.zone", "bench.lab."}}},
	} {
		var zones []*authoritative.Zone
		for _, z := range s.zones {
			zone, err := authoritative.LoadZone(filepath.Join(dir, z[0]), z[1])
			if err != nil {
				tb.Fatal(err)
			}
			zones = append(zones, zone)
		}
		srv, err := authoritative.New(authoritative.Config{Listen: []string{"127.0.0.1:0"}, Zones: zones})
		if err != nil {
			tb.Fatal(err)
		}
		u.servers[netip.AddrFrom4([4]byte{203, 0, 113, s.last})] = srv
		u.servers[netip.MustParseAddr(fmt.Sprintf("2001:db8:113::%d", s.last))] = srv
	}
	f, err := os.Open(filepath.Join(dir, "root.hints"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	hints, err := resolver.ParseRootHints("root.hints", f)
	if err != nil {
		tb.Fatal(err)
	}
	return u, anchor, hints
}

// BenchmarkColdName is what bench/dns's cold rounds measure, without the
// lab's sockets upstream: a client asks rampart's server, over loopback
// UDP, for a name it has not seen under bench.lab., a zone it already
// knows (an insecure delegation from the signed lab.), and the resolver
// asks the zone's server for it. Its CPU profile is the resolver's user
// time per cold name.
func BenchmarkColdName(b *testing.B) {
	for _, mode := range []string{"dnssec-on", "dnssec-off"} {
		b.Run(mode, func(b *testing.B) {
			signed := mode == "dnssec-on"
			up, anchorFile, hints := labUpstream(b, signed)
			c, err := cache.New(cache.Config{MaxBytes: 256 << 20})
			if err != nil {
				b.Fatal(err)
			}
			res, err := resolver.New(resolver.Config{RootHints: hints, Cache: c.ResolverView(), Transport: up,
				QNAMEMinimisation: true, DNSSECOK: signed})
			if err != nil {
				b.Fatal(err)
			}
			var answerer server.Resolver = res
			if signed {
				anchors, err := dnssec.LoadAnchors(anchorFile)
				if err != nil {
					b.Fatal(err)
				}
				v := dnssec.New(dnssec.Config{Anchors: anchors})
				answerer = validate.New(res, v, validate.Config{})
				defer func() { b.ReportMetric(float64(v.Stats().Verifications), "verifications") }()
			}
			srv, err := server.New(server.Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
				Cache: c.ServerView(), Resolver: answerer, Metrics: server.NewMetrics(newRegistry()), SocketsPerAddr: 1})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Listen(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go srv.Serve(ctx)
			conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addrs()[0]))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			query := func(name string, id uint16) []byte {
				q := new(dns.Msg)
				q.SetQuestion(name, dns.TypeA)
				q.Id = id
				q.SetEdns0(1232, false)
				wire, _ := q.Pack()
				return wire
			}
			// Like dnsperf -q 100: up to 100 queries outstanding, a
			// reader that checks every answer.
			const window = 100
			run := func(prefix string, n int) {
				sem := make(chan struct{}, window)
				done := make(chan error, 1)
				go func() {
					var buf [1500]byte
					for i := 0; i < n; i++ {
						_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
						k, err := conn.Read(buf[:])
						if err != nil {
							done <- err
							return
						}
						var m dns.Msg
						if err := m.Unpack(buf[:k]); err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
							done <- fmt.Errorf("answer %d: %v %v", i, err, &m)
							return
						}
						<-sem
					}
					done <- nil
				}()
				for i := 0; i < n; i++ {
					sem <- struct{}{}
					if _, err := conn.Write(query(fmt.Sprintf("%s%d.bench.lab.", prefix, i), uint16(i))); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			run("warm", window)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := benchcpu.Process()
			run("c", b.N)
			b.ReportMetric(float64(benchcpu.Process()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
