package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"
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

// TestBailiwick runs the attack against the three targets in one lab: the
// default resolver and the weakened one that validates must hold, the
// weakened one without DNSSEC must be poisoned (the attack works).
func TestBailiwick(t *testing.T) {
	l := upLab(t)
	for _, tc := range []struct {
		name         string
		opts         BailiwickOptions
		wantPoisoned bool
	}{
		{"default", BailiwickOptions{}, false},
		{"weak", BailiwickOptions{Weak: true}, true},
		{"weak validating", BailiwickOptions{Weak: true, Validate: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Bailiwick(context.Background(), l, testEnv(t), tc.opts)
			if errors.Is(r.Err, ErrWeakenUnavailable) {
				t.Skipf("no weakened target: %v", r.Err)
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			t.Logf("www.evil.lab → %s; after: %v", r.Trigger, r.After)
			if r.EvilQueries == 0 {
				t.Fatal("the resolver never asked the malicious server")
			}
			if r.Poisoned != tc.wantPoisoned {
				t.Fatalf("poisoned %v, want %v: %v", r.Poisoned, tc.wantPoisoned, r.After)
			}
			if lr := r.LabResult("bailiwick"); !lr.OK {
				t.Errorf("%+v", lr)
			}
		})
	}
}

func TestBailiwickLabResult(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      BailiwickResult
		wantOK bool
	}{
		{"default held", BailiwickResult{EvilQueries: 1}, true},
		{"default poisoned", BailiwickResult{EvilQueries: 1, Poisoned: true}, false},
		{"weak poisoned", BailiwickResult{Weak: true, EvilQueries: 1, Poisoned: true}, true},
		{"weak held", BailiwickResult{Weak: true, EvilQueries: 1}, false},
		{"weak validating held", BailiwickResult{Weak: true, Validate: true, EvilQueries: 1}, true},
		{"weak validating poisoned", BailiwickResult{Weak: true, Validate: true, EvilQueries: 1, Poisoned: true}, false},
		{"never asked", BailiwickResult{Weak: true}, false},
		{"error", BailiwickResult{EvilQueries: 1, Err: errors.New("boom")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.LabResult("bailiwick"); got.OK != tc.wantOK {
				t.Errorf("OK = %v, want %v: %+v", got.OK, tc.wantOK, got)
			}
		})
	}
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

// TestKaminskyWeakValidated: the weakened resolver still validates DNSSEC,
// so forged answers that win the race fail validation and the client gets
// SERVFAIL with an Extended DNS Error, never the attacker's address.
func TestKaminskyWeakValidated(t *testing.T) {
	l := upLab(t)
	r := Kaminsky(context.Background(), l, testEnv(t), KaminskyOptions{Weak: true, Validate: true, Duration: 15 * time.Second})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("%d rounds, %d packets in %s (%.0f/s), %d forgeries rejected (EDE %d); after: %v",
		r.Rounds, r.Packets, r.Elapsed, r.Rate(), r.Rejected, r.EDE, r.After)
	if r.RaceWon || r.Poisoned || r.Hijacked {
		t.Fatalf("a validating resolver was poisoned: %+v", r)
	}
	if r.Rejected > 0 && r.EDE != 6 && r.EDE != 10 {
		t.Errorf("forged answers rejected with EDE %d, want 6 (DNSSEC bogus) or 10 (RRSIGs missing)", r.EDE)
	}
}
