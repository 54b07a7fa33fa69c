package resolver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
)

// nsdConf serves one zone of testdata/nsd on one loopback address.
const nsdConf = `server:
	ip-address: %ADDR%@%PORT%
	port: %PORT%
	username: ""
	chroot: ""
	zonesdir: "%ZONES%"
	pidfile: "%DIR%/nsd.pid"
	database: ""
	zonelistfile: "%DIR%/zone.list"
	xfrdfile: "%DIR%/xfrd.state"
	xfrdir: "%DIR%"
	logfile: "%DIR%/nsd.log"
	server-count: 1
	verbosity: 1
	hide-version: yes
remote-control:
	control-enable: no
zone:
	name: "%ZONE%"
	zonefile: "%FILE%"
`

// startNSD runs one NSD per zone of testdata/nsd, each on its own loopback
// address and all on one port, and returns the port. It skips the test
// when NSD is not installed.
func startNSD(t *testing.T) uint16 {
	t.Helper()
	nsd, err := exec.LookPath("nsd")
	if err != nil {
		t.Skip("skipping: nsd is not installed (make deps installs it)")
	}
	zones, err := filepath.Abs("testdata/nsd")
	if err != nil {
		t.Fatal(err)
	}
	// A port free on 127.0.0.1 is as good as any on 127.0.0.2-4, which
	// nothing else uses.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close()
	servers := []struct{ addr, zone, file string }{
		{"127.0.0.2", ".", "root.zone"},
		{"127.0.0.3", "lab.", "lab.zone"},
		{"127.0.0.4", "example.lab.", "example.lab.zone"},
	}
	for _, s := range servers {
		dir := t.TempDir()
		conf := nsdConf
		for k, v := range map[string]string{"%ADDR%": s.addr, "%PORT%": fmt.Sprint(port), "%ZONES%": zones,
			"%DIR%": dir, "%ZONE%": s.zone, "%FILE%": s.file} {
			conf = strings.ReplaceAll(conf, k, v)
		}
		path := filepath.Join(dir, "nsd.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nsd, "-d", "-c", path)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		// Ready when it answers for its zone.
		addr := netip.AddrPortFrom(netip.MustParseAddr(s.addr), port).String()
		q := new(dns.Msg)
		q.SetQuestion(s.zone, dns.TypeSOA)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(q, addr)
			if err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative {
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
				t.Fatalf("nsd for %s on %s did not answer: %v\n%s", s.zone, addr, err, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return port
}

// TestNSDNamesKeepTheirCase resolves through NSD, which compresses names
// in RDATA (and owner names) against the question: a resolver that asks
// with 0x20 case gets its random case back inside MX, NS, SOA, CNAME,
// PTR, SRV and RP records, not only in the question. The client must see
// every name as the zone spells it (every name in the zones is lower
// case), in every section, from the first answer and from the cache.
func TestNSDNamesKeepTheirCase(t *testing.T) {
	port := startNSD(t)
	c, err := cache.New(cache.Config{MaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	hints := []dns.RR{
		&dns.NS{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: "a.root-servers.test."},
		&dns.A{Hdr: dns.RR_Header{Name: "a.root-servers.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: net.IPv4(127, 0, 0, 2)},
	}
	res, err := resolver.New(resolver.Config{RootHints: hints, Cache: c.ResolverView(), Port: port, QNAMEMinimisation: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Cache: c.ServerView(), Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	addr := srv.Addrs()[0].String()

	soa := "example.lab. IN SOA ns1.example.lab. hostmaster.example.lab. 1 3600 600 86400 300"
	tests := []struct {
		name      string
		qtype     uint16
		rcode     int
		answer    []string
		authority []string
	}{
		{"example.lab.", dns.TypeMX, dns.RcodeSuccess, []string{"example.lab. IN MX 10 mail.example.lab."}, nil},
		{"lab.", dns.TypeNS, dns.RcodeSuccess, []string{"lab. IN NS ns.tld.lab."}, nil},
		{"example.lab.", dns.TypeNS, dns.RcodeSuccess, []string{"example.lab. IN NS ns1.example.lab."}, nil},
		{"example.lab.", dns.TypeSOA, dns.RcodeSuccess, []string{soa}, nil},
		{"www.example.lab.", dns.TypeA, dns.RcodeSuccess, []string{"www.example.lab. IN CNAME host.example.lab.", "host.example.lab. IN A 192.0.2.80"}, nil},
		{"alias.example.lab.", dns.TypeA, dns.RcodeSuccess, []string{"alias.example.lab. IN CNAME www.example.lab.",
			"www.example.lab. IN CNAME host.example.lab.", "host.example.lab. IN A 192.0.2.80"}, nil},
		{"ptr.example.lab.", dns.TypePTR, dns.RcodeSuccess, []string{"ptr.example.lab. IN PTR host.example.lab."}, nil},
		{"_sip._tcp.example.lab.", dns.TypeSRV, dns.RcodeSuccess, []string{"_sip._tcp.example.lab. IN SRV 0 5 5060 host.example.lab."}, nil},
		{"rp.example.lab.", dns.TypeRP, dns.RcodeSuccess, []string{"rp.example.lab. IN RP hostmaster.example.lab. txt.example.lab."}, nil},
		{"x.sub.example.lab.", dns.TypeA, dns.RcodeSuccess, []string{"sub.example.lab. IN DNAME other.example.lab.",
			"x.sub.example.lab. IN CNAME x.other.example.lab.", "x.other.example.lab. IN A 192.0.2.99"}, nil},
		{"nope.example.lab.", dns.TypeA, dns.RcodeNameError, nil, []string{soa}},
		{"www.example.lab.", dns.TypeMX, dns.RcodeSuccess, []string{"www.example.lab. IN CNAME host.example.lab."}, []string{soa}},
		{"mail.example.lab.", dns.TypeAAAA, dns.RcodeSuccess, nil, []string{soa}},
	}
	for _, round := range []string{"first answer", "from the cache"} {
		for _, tt := range tests {
			t.Run(round+"/"+tt.name+"/"+dns.Type(tt.qtype).String(), func(t *testing.T) {
				q := new(dns.Msg)
				q.SetQuestion(tt.name, tt.qtype)
				r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tt.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				if r.Question[0].Name != tt.name {
					t.Errorf("question %q, want the client's %q", r.Question[0].Name, tt.name)
				}
				sameSection(t, "answer", r.Answer, tt.answer)
				sameSection(t, "authority", r.Ns, tt.authority)
				sameSection(t, "additional", r.Extra, nil)
			})
		}
	}
}

// sameSection compares a section with the expected records, written
// without TTLs, exactly: letter case included.
func sameSection(t *testing.T, name string, got []dns.RR, want []string) {
	t.Helper()
	var g []string
	for _, rr := range got {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		f := strings.Fields(rr.String())
		g = append(g, strings.Join(append(f[:1:1], f[2:]...), " "))
	}
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s section:\n got %q\nwant %q", name, g, want)
	}
}
