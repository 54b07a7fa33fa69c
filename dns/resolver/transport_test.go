package resolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/internal/benchcpu"
)

// Every socket in these tests is on the loopback interface.

func testQuery(name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Id = 4242
	q.RecursionDesired = false
	q.SetEdns0(1232, false)
	return q
}

func packed(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// udpResponder answers each query on a loopback UDP socket with the packets
// that respond returns, in order.
func udpResponder(t *testing.T, respond func(q *dns.Msg) [][]byte) netip.AddrPort {
	t.Helper()
	return udpServer(t, func(q *dns.Msg, send func([]byte)) {
		for _, p := range respond(q) {
			send(p)
		}
	})
}

// udpServer hands each query to a loopback UDP socket to handle, with the
// function that sends a packet back to its source.
func udpServer(t *testing.T, handle func(q *dns.Msg, send func([]byte))) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Room for many queries at once: a query dropped here would look like
	// an answer the transport lost.
	_ = conn.SetReadBuffer(4 << 20)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			handle(q, func(p []byte) { _, _ = conn.WriteToUDPAddrPort(p, from) })
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestNetTransportUDPDiscardsNonMatching(t *testing.T) {
	server := udpResponder(t, func(q *dns.Msg) [][]byte {
		good := new(dns.Msg)
		good.SetReply(q)
		good.Authoritative = true
		good.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN A 192.0.2.1")}
		notResponse := good.Copy()
		notResponse.Response = false
		goodWire := packed(t, good)
		malformed := append([]byte(nil), goodWire[:len(goodWire)-3]...)
		upper := good.Copy()
		upper.Question[0].Name = strings.ToUpper(q.Question[0].Name)
		// TuDoor: packets that are no DNS response, or do not unpack, must
		// not end the wait for the genuine one.
		return [][]byte{packed(t, notResponse), {1, 2, 3}, malformed, packed(t, upper)}
	})
	tr := NewNetTransport()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := tr.Exchange(ctx, server, testQuery("www.example.lab.", dns.TypeA), false)
	if err != nil {
		t.Fatal(err)
	}
	// The case is the resolver's to check: the transport returns it.
	if len(m.Answer) != 1 || m.Id != 4242 || m.Question[0].Name != "WWW.EXAMPLE.LAB." {
		t.Errorf("response %v", m)
	}
	s := tr.Stats()
	if s.Sent != 1 || s.Received != 1 || s.Discarded != 2 || s.Malformed != 1 || s.NearMisses != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestNetTransportUDPNearMiss(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*dns.Msg)
		want SpoofReason
	}{
		{"wrong id", func(m *dns.Msg) { m.Id++ }, SpoofID},
		{"wrong name", func(m *dns.Msg) { m.Question[0].Name = "other.lab." }, SpoofQuestion},
		{"wrong type", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }, SpoofQuestion},
		{"no question", func(m *dns.Msg) { m.Question = nil }, SpoofQuestion},
		// A FORMERR must echo the question too: otherwise a forger needs
		// only the ID and the port to switch EDNS off for the server.
		{"FORMERR without question", func(m *dns.Msg) { m.Question = nil; m.Rcode = dns.RcodeFormatError }, SpoofQuestion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := udpResponder(t, func(q *dns.Msg) [][]byte {
				good := new(dns.Msg)
				good.SetReply(q)
				bad := good.Copy()
				tt.mod(bad)
				return [][]byte{packed(t, bad), packed(t, good)}
			})
			tr := NewNetTransport()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := tr.Exchange(ctx, server, testQuery("www.example.lab.", dns.TypeA), false)
			var se *SpoofError
			if !errors.As(err, &se) || !errors.Is(err, ErrSpoofSuspected) || se.Reason != tt.want || se.Server != server {
				t.Fatalf("err = %v, want a near miss for %s", err, tt.want)
			}
			if s := tr.Stats(); s.NearMisses != 1 || s.Received != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestNetTransportUDPOtherSource sends a perfect forgery from another port of
// the server's host, before the genuine answer: the connected socket must
// never read it.
func TestNetTransportUDPOtherSource(t *testing.T) {
	forger, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	server := udpResponder(t, func(q *dns.Msg) [][]byte {
		good := new(dns.Msg)
		good.SetReply(q)
		good.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN A 192.0.2.1")}
		return [][]byte{packed(t, good)}
	})
	// The forger learns the query's source port from a spy socket in
	// front of the server, as an on-path observer could not do better.
	spy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := spy.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		if q.Unpack(buf[:n]) != nil {
			return
		}
		forged := new(dns.Msg)
		forged.SetReply(q)
		forged.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN A 6.6.6.6")}
		_, _ = forger.WriteToUDPAddrPort(packed(t, forged), from) // wrong source port
		time.Sleep(20 * time.Millisecond)
		_, _ = spy.WriteToUDPAddrPort(buf[:n], server) // relay; the server answers the spy
	}()
	tr := NewNetTransport()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = tr.Exchange(ctx, spy.LocalAddr().(*net.UDPAddr).AddrPort(), testQuery("www.example.lab.", dns.TypeA), false)
	// The forgery came from the wrong port and the answer went to the spy:
	// nothing acceptable arrives on the connected socket.
	if !isTimeout(err) {
		t.Fatalf("err = %v, want a time-out", err)
	}
	if s := tr.Stats(); s.Received != 0 || s.NearMisses != 0 || s.Discarded != 0 {
		t.Errorf("the socket read a packet from another port: %+v", s)
	}
}

// TestNetTransportSourcePorts checks that source ports spread over the whole
// unprivileged range, not the kernel's ephemeral range (32768-60999 on
// Linux): a fifth of 1024-65535 lies below 16384.
func TestNetTransportSourcePorts(t *testing.T) {
	var mu sync.Mutex
	ports := map[uint16]bool{}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			mu.Lock()
			ports[from.Port()] = true
			mu.Unlock()
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) == nil {
				r := new(dns.Msg)
				r.SetReply(q)
				_, _ = conn.WriteToUDPAddrPort(packed(t, r), from)
			}
		}
	}()
	server := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	tr := NewNetTransport()
	const n = 200
	for range n {
		if _, err := tr.Exchange(context.Background(), server, testQuery("www.example.lab.", dns.TypeA), false); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	low := 0
	for p := range ports {
		if p < minSourcePort {
			t.Errorf("privileged source port %d", p)
		}
		if p < 16384 {
			low++
		}
	}
	if len(ports) < n-5 || low < n/10 {
		t.Errorf("%d distinct ports, %d below 16384, of %d queries", len(ports), low, n)
	}
}

func TestNetTransportUDPTimeout(t *testing.T) {
	server := udpResponder(t, func(*dns.Msg) [][]byte { return nil })
	tr := NewNetTransport()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Exchange(ctx, server, testQuery("www.example.lab.", dns.TypeA), false)
	if !isTimeout(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a time-out", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

func TestNetTransportUDPTruncated(t *testing.T) {
	server := udpResponder(t, func(q *dns.Msg) [][]byte {
		r := new(dns.Msg)
		r.SetReply(q)
		r.Truncated = true
		r.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN TXT \"" + strings.Repeat("x", 200) + "\"")}
		w := packed(t, r)
		return [][]byte{w[:len(w)-50]} // cut inside the record
	})
	m, err := NewNetTransport().Exchange(context.Background(), server, testQuery("big.example.lab.", dns.TypeTXT), false)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Truncated {
		t.Errorf("TC not set: %v", m)
	}
}

func TestNetTransportUDPUnreachable(t *testing.T) {
	// A port nobody listens on: the ICMP error ends the exchange early.
	l, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	server := l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = NewNetTransport().Exchange(ctx, server, testQuery("www.example.lab.", dns.TypeA), false)
	if err == nil || isTimeout(err) {
		t.Errorf("err = %v, want connection refused", err)
	}
}

// tcpResponder answers one length-prefixed query per connection with what
// respond returns.
func tcpResponder(t *testing.T, respond func(q *dns.Msg) []byte) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var lb [2]byte
				if _, err := c.Read(lb[:]); err != nil {
					return
				}
				body := make([]byte, binary.BigEndian.Uint16(lb[:]))
				if _, err := c.Read(body); err != nil {
					return
				}
				q := new(dns.Msg)
				if q.Unpack(body) != nil {
					return
				}
				out := respond(q)
				if out == nil {
					time.Sleep(time.Second)
					return
				}
				_, _ = c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(out))))
				_, _ = c.Write(out)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

func TestNetTransportTCP(t *testing.T) {
	tests := []struct {
		name    string
		respond func(q *dns.Msg) []byte
		err     string
	}{
		{name: "answer", respond: func(q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetReply(q)
			r.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN A 192.0.2.1")}
			return packed(t, r)
		}},
		{name: "mismatch", err: "does not match", respond: func(q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetReply(q)
			r.Id++
			return packed(t, r)
		}},
		{name: "FORMERR without question", err: "does not match", respond: func(q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetRcode(q, dns.RcodeFormatError)
			r.Question = nil
			return packed(t, r)
		}},
		{name: "short", err: "shorter than a header", respond: func(q *dns.Msg) []byte { return []byte{1, 2} }},
		{name: "malformed", err: "unpack response", respond: func(q *dns.Msg) []byte {
			r := new(dns.Msg)
			r.SetReply(q)
			r.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN A 192.0.2.1")}
			w := packed(t, r)
			return w[:len(w)-2]
		}},
		{name: "silent", err: "deadline exceeded", respond: func(q *dns.Msg) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := tcpResponder(t, tt.respond)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			m, err := NewNetTransport().Exchange(ctx, server, testQuery("www.example.lab.", dns.TypeA), true)
			if tt.err == "" {
				if err != nil || len(m.Answer) != 1 {
					t.Fatalf("%v %v", m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestMatchResponse(t *testing.T) {
	q := testQuery("www.Example.lab.", dns.TypeA)
	qw := packed(t, q)
	reply := func(mod func(*dns.Msg)) []byte {
		r := new(dns.Msg)
		r.SetReply(q)
		if mod != nil {
			mod(r)
		}
		return packed(t, r)
	}
	tests := []struct {
		name string
		resp []byte
		want bool
	}{
		{"match", reply(nil), true},
		{"case differs", reply(func(r *dns.Msg) { r.Question[0].Name = "WWW.EXAMPLE.LAB." }), true},
		{"id", reply(func(r *dns.Msg) { r.Id = 1 }), false},
		{"not a response", reply(func(r *dns.Msg) { r.Response = false }), false},
		{"opcode", reply(func(r *dns.Msg) { r.Opcode = dns.OpcodeNotify }), false},
		{"name", reply(func(r *dns.Msg) { r.Question[0].Name = "www.example.lag." }), false},
		{"label split", reply(func(r *dns.Msg) { r.Question[0].Name = "www.example.lab.x." }), false},
		{"type", reply(func(r *dns.Msg) { r.Question[0].Qtype = dns.TypeAAAA }), false},
		{"class", reply(func(r *dns.Msg) { r.Question[0].Qclass = dns.ClassCHAOS }), false},
		{"two questions", reply(func(r *dns.Msg) { r.Question = append(r.Question, r.Question[0]) }), false},
		{"FORMERR without question", reply(func(r *dns.Msg) { r.Question = nil; r.Rcode = dns.RcodeFormatError }), false},
		{"FORMERR with question", reply(func(r *dns.Msg) { r.Rcode = dns.RcodeFormatError }), true},
		{"NOERROR without question", reply(func(r *dns.Msg) { r.Question = nil }), false},
		{"short", qw[:11], false},
		{"cut question", reply(nil)[:20], false},
	}
	for _, tt := range tests {
		if got := matchResponse(qw, tt.resp); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	resp := reply(nil)
	if n := testing.AllocsPerRun(100, func() { matchResponse(qw, resp) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzMatchResponse(f *testing.F) {
	q := testQuery("www.example.lab.", dns.TypeA)
	r := new(dns.Msg)
	r.SetReply(q)
	f.Add("www.example.lab.", uint16(dns.TypeA), packed(f, r))
	f.Add(".", uint16(dns.TypeNS), []byte{0x10, 0x92, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1})
	f.Fuzz(func(t *testing.T, name string, qtype uint16, resp []byte) {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		qw, err := q.Pack()
		if err != nil {
			return
		}
		if !matchResponse(qw, resp) {
			return
		}
		// A match must agree with a full unpack of the header and question.
		m := new(dns.Msg)
		if err := m.Unpack(resp); err != nil && !strings.Contains(err.Error(), "overflow") && !strings.Contains(err.Error(), "buffer") {
			return
		}
		if m.Id != q.Id || !m.Response {
			t.Fatalf("matched a response with ID %d QR %v", m.Id, m.Response)
		}
		if len(m.Question) == 1 && (!equalName(m.Question[0].Name, q.Question[0].Name) || m.Question[0].Qtype != qtype) {
			t.Fatalf("matched question %v for %v", m.Question[0], q.Question[0])
		}
	})
}

func BenchmarkMatchResponse(b *testing.B) {
	q := testQuery("www.example.lab.", dns.TypeA)
	qw := packed(b, q)
	r := new(dns.Msg)
	r.SetReply(q)
	r.Question[0].Name = "WWW.example.LAB."
	r.Answer = []dns.RR{mustRR("www.example.lab. 60 IN A 192.0.2.1")}
	rw := packed(b, r)
	b.ReportAllocs()
	for b.Loop() {
		if !matchResponse(qw, rw) {
			b.Fatal("no match")
		}
	}
}

// loopbackOnly wraps a Transport and refuses any server off the loopback
// interface, so that a bug cannot make the end-to-end test send elsewhere.
type loopbackOnly struct{ Transport }

func (l loopbackOnly) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	if !server.Addr().IsLoopback() {
		return nil, fmt.Errorf("test refuses to send to %s", server)
	}
	return l.Transport.Exchange(ctx, server, q, tcp)
}

// TestEndToEndOverLoopback runs the resolver with the real transport against
// authoritative servers on 127.0.0.1-4, which share a port: a root, lab., a
// child example.lab. and tc.lab. that truncates over UDP.
func TestEndToEndOverLoopback(t *testing.T) {
	zones := map[string]string{
		".": `. 86400 IN SOA a.root.lab. admin.lab. 1 3600 600 86400 300
. 86400 IN NS a.root.lab.
lab. 86400 IN NS ns.lab.
a.root.lab. 86400 IN A 127.0.0.1
ns.lab. 86400 IN A 127.0.0.2`,
		"lab.": `lab. 86400 IN SOA ns.lab. admin.lab. 1 3600 600 86400 300
lab. 86400 IN NS ns.lab.
ns.lab. 86400 IN A 127.0.0.2
a.root.lab. 86400 IN A 127.0.0.1
example.lab. 86400 IN NS ns.example.lab.
ns.example.lab. 86400 IN A 127.0.0.3
tc.lab. 86400 IN NS ns.tc.lab.
ns.tc.lab. 86400 IN A 127.0.0.4`,
		"example.lab.": `example.lab. 3600 IN SOA ns.example.lab. admin.lab. 1 3600 600 86400 300
example.lab. 3600 IN NS ns.example.lab.
ns.example.lab. 3600 IN A 127.0.0.3
www.example.lab. 3600 IN A 192.0.2.80
alias.example.lab. 3600 IN CNAME www.tc.lab.`,
		"tc.lab.": `tc.lab. 3600 IN SOA ns.tc.lab. admin.lab. 1 3600 600 86400 300
tc.lab. 3600 IN NS ns.tc.lab.
ns.tc.lab. 3600 IN A 127.0.0.4
www.tc.lab. 3600 IN A 192.0.2.81`,
	}
	parse := func(origin string) *zone {
		z := &zone{origin: origin, rrs: map[string][]dns.RR{}, names: map[string]bool{}}
		for _, line := range strings.Split(zones[origin], "\n") {
			rr := mustRR(line)
			name := lowerASCII(rr.Header().Name)
			z.rrs[name] = append(z.rrs[name], rr)
			for n := name; isSubDomain(n, origin); n = parentName(n) {
				z.names[n] = true
				if n == origin {
					break
				}
			}
		}
		return z
	}
	servers := []struct {
		addr   string
		origin string
		b      behaviour
	}{
		{"127.0.0.1", ".", behaviour{}},
		{"127.0.0.2", "lab.", behaviour{}},
		{"127.0.0.3", "example.lab.", behaviour{}},
		{"127.0.0.4", "tc.lab.", behaviour{truncateUDP: true}},
	}
	var port int
	var started []*dns.Server
	defer func() {
		for _, s := range started {
			_ = s.Shutdown()
		}
	}()
	for attempt := 0; ; attempt++ {
		started = started[:0]
		ok := true
		for i, s := range servers {
			fs := &fakeServer{zones: []*zone{parse(s.origin)}, behaviour: s.b}
			for _, network := range []string{"udp", "tcp"} {
				addr := fmt.Sprintf("%s:%d", s.addr, port)
				var srv *dns.Server
				if network == "udp" {
					pc, err := net.ListenPacket("udp", addr)
					if err != nil {
						ok = false
						break
					}
					if i == 0 && port == 0 {
						port = pc.LocalAddr().(*net.UDPAddr).Port
					}
					srv = &dns.Server{PacketConn: pc}
				} else {
					l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", s.addr, port))
					if err != nil {
						ok = false
						break
					}
					srv = &dns.Server{Listener: l}
				}
				srv.Handler = dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
					_, isTCP := w.RemoteAddr().(*net.TCPAddr)
					_ = w.WriteMsg(fs.answer(q, isTCP))
				})
				started = append(started, srv)
				ready := make(chan struct{})
				srv.NotifyStartedFunc = func() { close(ready) }
				go func() { _ = srv.ActivateAndServe() }()
				<-ready
			}
			if !ok {
				break
			}
		}
		if ok {
			break
		}
		for _, s := range started {
			_ = s.Shutdown()
		}
		port = 0
		if attempt == 5 {
			t.Skip("could not bind the loopback servers on a common port")
		}
	}

	r, err := New(Config{
		RootHints:         []dns.RR{mustRR(". 1 IN NS a.root.lab."), mustRR("a.root.lab. 1 IN A 127.0.0.1")},
		Transport:         loopbackOnly{NewNetTransport()},
		Port:              uint16(port),
		QNAMEMinimisation: true,
		Timeout:           5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := r.Resolve(ctx, "alias.example.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alias.example.lab. 0 IN CNAME www.tc.lab.", "www.tc.lab. 0 IN A 192.0.2.81"}
	if got := rrStrings(m.Answer); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("answer %q, want %q", got, want)
	}
	m, err = r.Resolve(ctx, "nope.example.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil || m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
		t.Errorf("NXDOMAIN: %v %v", m, err)
	}
	s := r.Stats()
	if s.TCPFallbacks != 1 || s.Primings != 1 || s.Timeouts != 0 {
		t.Errorf("stats %+v", s)
	}
}

// BenchmarkNetTransportUDP measures one UDP exchange over loopback: socket,
// random-port bind, connect, DF, send, receive, match and unpack; serial,
// and with 100 exchanges in flight as a cold resolver has them. cpu-ns/op
// is the process's CPU time per exchange, the echo server's included.
func BenchmarkNetTransportUDP(b *testing.B) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			buf[2] |= 0x80 // QR: the query itself is a matching empty response
			_, _ = conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	server := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	tr := NewNetTransport()
	q := testQuery("www.example.lab.", dns.TypeA)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := benchcpu.Process()
		for b.Loop() {
			if _, err := tr.Exchange(ctx, server, q, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchcpu.Process()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run("100-in-flight", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(50) // GOMAXPROCS 2: 100 goroutines
		cpu0 := benchcpu.Process()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tr.Exchange(ctx, server, q, false); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(benchcpu.Process()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

// TestAppendQueryMatchesPack: for every query the resolver builds, the
// direct encoder writes the bytes miekg/dns packs; anything else it leaves
// to miekg/dns.
func TestAppendQueryMatchesPack(t *testing.T) {
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(t *rapid.T) {
		labels := rapid.SliceOfN(rapid.StringMatching(`[a-zA-Z0-9_-]{1,20}`), 0, 6).Draw(t, "labels")
		name := strings.Join(labels, ".") + "."
		if len(labels) == 0 {
			name = "."
		}
		qtype := rapid.Uint16().Draw(t, "qtype")
		edns := rapid.Bool().Draw(t, "edns")
		var cookie *dns.EDNS0_COOKIE
		if edns && rapid.Bool().Draw(t, "cookie") {
			var client [clientCookieLen]byte
			copy(client[:], rapid.SliceOfN(rapid.Byte(), 8, 8).Draw(t, "client"))
			server := rapid.SliceOfN(rapid.Byte(), 0, 32).Draw(t, "server")
			cookie = cookieOption(client, server)
		}
		q := r.newQuery(name, qtype, edns, cookie)
		q.RecursionDesired = rapid.Bool().Draw(t, "rd")
		q.CheckingDisabled = rapid.Bool().Draw(t, "cd")
		if opt := q.IsEdns0(); opt != nil {
			opt.SetDo(rapid.Bool().Draw(t, "do"))
			opt.SetUDPSize(rapid.Uint16Range(512, 4096).Draw(t, "size"))
		}
		want, err := q.Pack()
		got, ok := appendQuery(nil, q)
		if err != nil {
			if ok {
				t.Fatalf("%s: miekg/dns refuses (%v), appendQuery wrote %x", name, err, got)
			}
			return
		}
		if !ok {
			t.Fatalf("%s %d: appendQuery declined a query the resolver builds", name, qtype)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s %d edns %v cookie %v:\nappendQuery %x\nPack        %x", name, qtype, edns, cookie, got, want)
		}
	})
	// Left to miekg/dns: escapes, records, other options, a long label.
	q := r.newQuery(`a\.b.example.`, dns.TypeA, true, nil)
	if _, ok := appendQuery(nil, q); ok {
		t.Error("a name with an escape was encoded directly")
	}
	q = r.newQuery("example.", dns.TypeA, true, nil)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	if _, ok := appendQuery(nil, q); ok {
		t.Error("an NSID option was encoded directly")
	}
	q = r.newQuery(strings.Repeat("a", 64)+".example.", dns.TypeA, false, nil)
	if _, ok := appendQuery(nil, q); ok {
		t.Error("a 64-octet label was encoded directly")
	}
	q = r.newQuery("example.", dns.TypeA, false, nil)
	q.Answer = append(q.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeA, Class: dns.ClassINET}})
	if _, ok := appendQuery(nil, q); ok {
		t.Error("a query with an answer record was encoded directly")
	}
}
