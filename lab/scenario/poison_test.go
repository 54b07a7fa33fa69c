package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// The report lines of the poisoning runs: collateral damage is never
// hidden behind "not poisoned", a run that could not tell is inconclusive,
// and the lines fit the report's width.
func TestPoisonLabResultWording(t *testing.T) {
	servfail := []string{WWWName + " → SERVFAIL (EDE 9 DNSKEY Missing)", NSName + " → SERVFAIL (EDE 9 DNSKEY Missing)"}
	refused := errors.New("www.example.lab. A: read udp 10.10.0.12:41234->10.10.0.53:53: read: connection refused")
	for _, tc := range []struct {
		name         string
		r            lab.Result
		kind         lab.Kind
		ok, inconc   bool
		held         bool
		want, refuse []string
	}{
		{"bailiwick validating with collateral", BailiwickResult{Weak: true, Validate: true, EvilQueries: 1, Trigger: "www.evil.lab. 198.51.100.66", Failed: servfail}.LabResult("bailiwick"),
			lab.Defence, true, false, false,
			[]string{"not poisoned", "but legitimate names stopped resolving: " + servfail[0] + "; " + servfail[1], "why: without the bailiwick check"}, nil},
		{"bailiwick default held", BailiwickResult{EvilQueries: 1, Trigger: "www.evil.lab. 198.51.100.66"}.LabResult("bailiwick"),
			lab.Defence, true, false, true, []string{"not poisoned"}, []string{"stopped resolving"}},
		{"bailiwick weak poisoned", BailiwickResult{Weak: true, EvilQueries: 1, Poisoned: true}.LabResult("bailiwick"),
			lab.Proof, true, false, false, []string{"POISONED"}, nil},
		{"bailiwick check refused", BailiwickResult{EvilQueries: 1, CheckErr: refused}.LabResult("bailiwick"),
			lab.Defence, false, true, false, []string{"inconclusive: the check after the attack got no answer: " + refused.Error()}, []string{"not poisoned"}},
		{"bailiwick poisoned despite a failed check", BailiwickResult{Weak: true, EvilQueries: 1, Poisoned: true, CheckErr: refused}.LabResult("bailiwick"),
			lab.Proof, true, false, false, []string{"POISONED"}, []string{"inconclusive"}},
		{"kaminsky default held", KaminskyResult{Rounds: 10, Packets: 1000}.LabResult("kaminsky"),
			lab.Defence, true, false, true, []string{"not poisoned"}, nil},
		{"kaminsky validating with collateral", KaminskyResult{Weak: true, Validate: true, Rejected: 2, EDE: 10, Failed: servfail[:1]}.LabResult("kaminsky-weak"),
			lab.Defence, true, false, false, []string{"not poisoned: 2 forged answers won the race and failed validation (SERVFAIL, EDE 10); but legitimate names stopped resolving: " + servfail[0]}, nil},
		{"kaminsky check timed out", KaminskyResult{CheckErr: errors.New("i/o timeout")}.LabResult("kaminsky"),
			lab.Defence, false, true, false, []string{"inconclusive: the check after the attack got no answer: i/o timeout"}, []string{"not poisoned"}},
		{"kaminsky weak, check refused", KaminskyResult{Weak: true, CheckErr: refused}.LabResult("kaminsky-weak"),
			lab.Proof, false, true, false, []string{"inconclusive"}, []string{"not poisoned"}},
		{"kaminsky could not run", KaminskyResult{Err: errors.New("resolver: exited")}.LabResult("kaminsky"),
			lab.Defence, false, true, false, []string{"inconclusive: resolver: exited"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if r.Kind != tc.kind || r.OK != tc.ok || r.Inconclusive != tc.inconc || r.Held() != tc.held {
				t.Errorf("kind %d OK %v inconclusive %v held %v; want %d %v %v %v: %+v", r.Kind, r.OK, r.Inconclusive, r.Held(), tc.kind, tc.ok, tc.inconc, tc.held, r)
			}
			all := r.Outcome + "\n" + strings.Join(r.Details, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("lacks %q: %s", w, all)
				}
			}
			for _, w := range tc.refuse {
				if strings.Contains(r.Outcome, w) {
					t.Errorf("outcome says %q: %s", w, r.Outcome)
				}
			}
			var buf bytes.Buffer
			lab.WriteReport(&buf, []lab.Result{r})
			for i, l := range strings.Split(buf.String(), "\n") {
				if n := utf8.RuneCountInString(l); n > lab.ReportWidth {
					t.Errorf("report line %d is %d columns: %q", i+1, n, l)
				}
			}
		})
	}
}

// A Kaminsky run whose check afterwards gets no answer (nothing listens
// where the resolver should be: "connection refused") is inconclusive,
// never "not poisoned".
func TestKaminskyCheckRefusedIsInconclusive(t *testing.T) {
	l := upLab(t)
	closed := netip.AddrPortFrom(l.Addr("dns", 4), 5399)
	r := KaminskyAgainst(context.Background(), l, closed, KaminskyOptions{Duration: time.Second})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.CheckErr == nil || !strings.Contains(r.CheckErr.Error(), "connection refused") {
		t.Fatalf("check error %v, want connection refused; after: %v", r.CheckErr, r.After)
	}
	lr := r.LabResult("kaminsky")
	if !lr.Inconclusive || lr.OK || !strings.HasPrefix(lr.Outcome, "inconclusive: ") || strings.Contains(lr.Outcome, "not poisoned") {
		t.Errorf("%+v", lr)
	}
}
