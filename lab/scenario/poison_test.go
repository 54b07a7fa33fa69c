package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/lab"
)

var (
	testServer   = netip.MustParseAddr("203.0.113.30")
	testResolver = netip.MustParseAddr("10.10.0.53")
	testAttacker = netip.MustParseAddr("198.51.100.66")
)

func TestSpoofResponse(t *testing.T) {
	tests := []struct {
		name     string
		port, id uint16
	}{
		{"x7k2p9.example.lab.", 33333, 0},
		{"aaaaaa.example.lab.", 1024, 0xffff},
		{"000000.example.lab.", 65535, 0x1234},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt, err := spoofResponse(tt.name, testServer, testResolver, testAttacker)
			if err != nil {
				t.Fatal(err)
			}
			patch(pkt, tt.port, tt.id)
			p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if ip == nil || udp == nil {
				t.Fatalf("not IPv4/UDP: %v", p)
			}
			if !ip.SrcIP.Equal(testServer.AsSlice()) || !ip.DstIP.Equal(testResolver.AsSlice()) {
				t.Errorf("addresses %s → %s", ip.SrcIP, ip.DstIP)
			}
			if udp.SrcPort != 53 || uint16(udp.DstPort) != tt.port || udp.Checksum != 0 {
				t.Errorf("ports %d → %d, checksum %#x; want 53 → %d, 0", udp.SrcPort, udp.DstPort, udp.Checksum, tt.port)
			}
			var m dns.Msg
			if err := m.Unpack(udp.Payload); err != nil {
				t.Fatal(err)
			}
			if m.Id != tt.id || !m.Response || !m.Authoritative || m.Question[0].Name != tt.name {
				t.Errorf("header: %v", m.MsgHdr)
			}
			if !answersWith(&m, testAttacker) || len(m.Ns) != 1 || m.Ns[0].(*dns.NS).Ns != NSName || m.Extra[0].(*dns.A).A.String() != testAttacker.String() {
				t.Errorf("records:\n%s", m.String())
			}
		})
	}
}

func TestGuesser(t *testing.T) {
	weak, err := newGuesser(true)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[uint16]bool)
	for range 65536 {
		port, id := weak.next()
		if port != WeakPort {
			t.Fatalf("weak guess port %d, want %d", port, WeakPort)
		}
		seen[id] = true
	}
	if len(seen) != 65536 {
		t.Errorf("65536 weak guesses cover %d IDs, want all", len(seen))
	}
	full, err := newGuesser(false)
	if err != nil {
		t.Fatal(err)
	}
	ports := make(map[uint16]bool)
	for range 100000 {
		port, _ := full.next()
		if port < 1024 {
			t.Fatalf("port %d below 1024", port)
		}
		ports[port] = true
	}
	// 100,000 draws from 64,512 ports hit about 50,000 distinct ones.
	if len(ports) < 40000 {
		t.Errorf("only %d distinct ports in 100000 guesses", len(ports))
	}
}

func TestRandomName(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n, err := randomName(PoisonZone)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := dns.IsDomainName(n); !ok || len(n) != len("x7k2p9."+PoisonZone) || !dns.IsSubDomain(PoisonZone, n) {
			t.Fatalf("bad name %q", n)
		}
		seen[n] = true
	}
	if len(seen) < 999 {
		t.Errorf("%d distinct names in 1000", len(seen))
	}
}

// The per-packet work of the flood allocates nothing.
func TestFloodPacketAllocs(t *testing.T) {
	pkt, err := spoofResponse("x7k2p9.example.lab.", testServer, testResolver, testAttacker)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGuesser(false)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { port, id := g.next(); patch(pkt, port, id) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

func BenchmarkFloodPacket(b *testing.B) {
	pkt, err := spoofResponse("x7k2p9.example.lab.", testServer, testResolver, testAttacker)
	if err != nil {
		b.Fatal(err)
	}
	g, err := newGuesser(false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		port, id := g.next()
		patch(pkt, port, id)
	}
}

func testEnv(t *testing.T) *lab.Env {
	return &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
}

// The forged packets cross the gateway and arrive at the resolver host
// well-formed, from the real server's address and port.
func TestSpoofedPacketsArrive(t *testing.T) {
	l := upLab(t)
	var pc net.PacketConn
	if err := l.Host("dns").Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", fmt.Sprintf("%s:%d", l.Addr("dns", 4), WeakPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fl, err := newFlooder(l.Host("attacker"), l.Addr("auth", 4), l.Addr("dns", 4), l.Addr("attacker", 4), true)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.close()
	const name = "x7k2p9.example.lab."
	if err := fl.setName(name); err != nil {
		t.Fatal(err)
	}
	fl.run(context.Background(), 64)
	if got := fl.sent.Load(); got != 64 {
		t.Fatalf("sent %d, want 64", got)
	}
	_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	for i := range 64 {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if from.String() != "203.0.113.30:53" {
			t.Fatalf("from %s", from)
		}
		var m dns.Msg
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if m.Question[0].Name != name || !answersWith(&m, l.Addr("attacker", 4)) {
			t.Fatalf("packet %d: %s", i, m.String())
		}
	}
}

func TestBailiwickNotPoisoned(t *testing.T) {
	l := upLab(t)
	r := Bailiwick(context.Background(), l, testEnv(t))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.EvilQueries == 0 {
		t.Fatal("the resolver never asked the malicious server")
	}
	if r.Poisoned {
		t.Fatalf("poisoned: %v", r.After)
	}
	if lr := r.LabResult("bailiwick"); !lr.OK {
		t.Errorf("%+v", lr)
	}
	t.Logf("www.evil.lab → %s; after: %v", r.Trigger, r.After)
}

func TestKaminskyDefaultNotPoisoned(t *testing.T) {
	l := upLab(t)
	r := Kaminsky(context.Background(), l, testEnv(t), KaminskyOptions{Duration: 10 * time.Second})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("%d rounds (%d unanswered), %d packets in %s (%.0f/s), race won %v; after: %v",
		r.Rounds, r.Timeouts, r.Packets, r.Elapsed, r.Rate(), r.RaceWon, r.After)
	if r.Poisoned || r.RaceWon {
		t.Fatalf("default resolver poisoned: %+v", r)
	}
	if r.Packets < 10000 || r.Rounds < 100 {
		t.Errorf("the attack hardly ran: %d packets, %d rounds", r.Packets, r.Rounds)
	}
	if lr := r.LabResult("kaminsky"); !lr.OK {
		t.Errorf("%+v", lr)
	}
}

func TestKaminskyWeakPoisoned(t *testing.T) {
	l := upLab(t)
	r := Kaminsky(context.Background(), l, testEnv(t), KaminskyOptions{Weak: true, Duration: 30 * time.Second})
	if errors.Is(r.Err, ErrWeakenUnavailable) {
		t.Skipf("no weakened target yet: %v", r.Err)
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("%d rounds, %d packets in %s (%.0f/s), race won %v in round %d after %s; after: %v",
		r.Rounds, r.Packets, r.Elapsed, r.Rate(), r.RaceWon, r.WonRound, r.WonAfter, r.After)
	if !r.RaceWon || !r.Poisoned {
		t.Fatalf("the weakened resolver held for %s: the attack does not work", r.Elapsed)
	}
}

// TestKaminskyWeakInProcess shows the attack works against a weak target
// available today: rampart's resolver package in the dns host with a
// transport of the old kind (one socket on a fixed port, responses
// matched on ID and question only, mismatches ignored) and no 0x20 or
// cookies. It listens on port 5353 beside the real resolver.
func TestKaminskyWeakInProcess(t *testing.T) {
	l := upLab(t)
	env := testEnv(t)
	d, err := StartDNS(context.Background(), l, rampartBin, env.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	addr := netip.AddrPortFrom(l.Addr("dns", 4), 5353)
	stop := startWeakResolver(t, l.Host("dns"), addr, filepath.Join(env.Dir, "root.hints"))
	defer stop()
	r := KaminskyAgainst(context.Background(), l, addr, KaminskyOptions{Weak: true, Duration: 30 * time.Second})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("%d rounds (%d unanswered), %d packets in %s (%.0f/s), race won %v in round %d after %s, poisoned %v, hijacked %v; after: %v",
		r.Rounds, r.Timeouts, r.Packets, r.Elapsed, r.Rate(), r.RaceWon, r.WonRound, r.WonAfter, r.Poisoned, r.Hijacked, r.After)
	if !r.RaceWon || !r.Poisoned {
		t.Fatalf("the weak target held for %s: the attack does not work", r.Elapsed)
	}
}

func startWeakResolver(t *testing.T, h *lab.Node, addr netip.AddrPort, hints string) func() {
	t.Helper()
	f, err := os.Open(hints)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := resolver.ParseRootHints(hints, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tr := &fixedPortTransport{h: h}
	var pc net.PacketConn
	if err := h.Do(func() error {
		var err error
		if tr.conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(addr.Addr().AsSlice()), Port: WeakPort}); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{RootHints: rh, Transport: tr, Disable0x20: true, DisableCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		qq := q.Question[0]
		m, err := res.Resolve(ctx, qq.Name, qq.Qtype, qq.Qclass, false)
		if err != nil || m == nil {
			m = new(dns.Msg)
			m.SetRcode(q, dns.RcodeServerFailure)
		}
		m.Id = q.Id
		m.Response = true
		_ = w.WriteMsg(m)
	})}
	done := make(chan struct{})
	go func() { _ = srv.ActivateAndServe(); close(done) }()
	return func() {
		_ = srv.Shutdown()
		<-done
		tr.conn.Close()
	}
}

// fixedPortTransport is the weakness the Kaminsky attack needs: every
// upstream query leaves from one socket on WeakPort, and a response is
// taken when its ID and question match, whatever came before it.
type fixedPortTransport struct {
	h    *lab.Node
	mu   sync.Mutex
	conn *net.UDPConn
}

func (tr *fixedPortTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if tcp {
		var c net.Conn
		if err := tr.h.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", server.String())
			return err
		}); err != nil {
			return nil, err
		}
		defer c.Close()
		dc := &dns.Conn{Conn: c}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		if err := dc.WriteMsg(q); err != nil {
			return nil, err
		}
		return dc.ReadMsg()
	}
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(2 * time.Second)
	}
	_ = tr.conn.SetDeadline(dl)
	if _, err := tr.conn.WriteToUDPAddrPort(wire, server); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	for {
		n, _, err := tr.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("udp exchange with %s: %w", server, context.DeadlineExceeded)
			}
			return nil, err
		}
		var m dns.Msg
		if m.Unpack(buf[:n]) != nil || m.Id != q.Id || len(m.Question) != 1 || m.Question[0] != q.Question[0] {
			continue
		}
		return &m, nil
	}
}
