package authoritative

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func packMsg(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleProtocol(t *testing.T) {
	s := testServers(t)["example"]
	q := func(edit func(m *dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("www.example.lab.", dns.TypeA)
		m.Id = 0xbeef
		if edit != nil {
			edit(m)
		}
		return packMsg(t, m)
	}
	valid := q(nil)
	tests := []struct {
		name   string
		req    []byte
		drop   bool
		rcode  int
		opt    bool // OPT expected in the response
		answer int
	}{
		{name: "valid", req: valid, rcode: dns.RcodeSuccess, answer: 1},
		{name: "empty", req: nil, drop: true},
		{name: "short header", req: valid[:11], drop: true},
		{name: "a response", req: q(func(m *dns.Msg) { m.Response = true }), drop: true},
		{name: "header only, question promised", req: valid[:12], rcode: dns.RcodeFormatError},
		{name: "question cut short", req: valid[:len(valid)-3], rcode: dns.RcodeFormatError},
		{name: "label pointer loop", req: append(append([]byte(nil), valid[:12]...), 0xc0, 12, 0, 1, 0, 1), rcode: dns.RcodeFormatError},
		{name: "no question", req: q(func(m *dns.Msg) { m.Question = nil }), rcode: dns.RcodeFormatError},
		{name: "two questions", req: q(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), rcode: dns.RcodeFormatError},
		{name: "NOTIFY", req: q(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), rcode: dns.RcodeNotImplemented},
		{name: "UPDATE", req: q(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), rcode: dns.RcodeNotImplemented},
		{name: "class CH", req: q(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), rcode: dns.RcodeRefused},
		{name: "AXFR", req: q(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }), rcode: dns.RcodeRefused},
		{name: "qtype OPT", req: q(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeOPT }), rcode: dns.RcodeFormatError},
		{name: "MAILB", req: q(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeMAILB }), rcode: dns.RcodeNotImplemented},
		{name: "EDNS version 1", req: q(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), rcode: dns.RcodeBadVers, opt: true},
		{name: "two OPT records", req: q(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, m.Extra[0]) }), rcode: dns.RcodeFormatError},
		{name: "OPT in the answer section", req: q(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Answer, m.Extra = m.Extra, nil }), rcode: dns.RcodeFormatError},
		{name: "EDNS size under 512 means 512", req: q(func(m *dns.Msg) { m.SetEdns0(100, false) }), rcode: dns.RcodeSuccess, opt: true, answer: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := s.Handle(tt.req, false, make([]byte, 512))
			if tt.drop {
				if out != nil {
					t.Fatalf("answered %x, want a drop", out)
				}
				return
			}
			if out == nil {
				t.Fatal("dropped")
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(out); err != nil {
				t.Fatalf("response does not unpack: %v", err)
			}
			if resp.Id != 0xbeef || !resp.Response {
				t.Errorf("id %#x QR %v", resp.Id, resp.Response)
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %d, want %d", resp.Rcode, tt.rcode)
			}
			if (resp.IsEdns0() != nil) != tt.opt {
				t.Errorf("OPT %v, want %v", resp.IsEdns0(), tt.opt)
			}
			if len(resp.Answer) != tt.answer {
				t.Errorf("%d answers, want %d", len(resp.Answer), tt.answer)
			}
		})
	}
}

func TestEDNSResponse(t *testing.T) {
	s, err := New(Config{Zones: []*Zone{mustLoad(t, "example.lab.zone", "example.lab.")}, MaxUDPSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	resp := exchange(t, s, query{name: "big.example.lab.", qtype: dns.TypeTXT, edns: 4096, do: true})
	if resp.Truncated || len(resp.Answer) != 8 {
		t.Fatalf("TC %v with %d answers, want the whole RRset", resp.Truncated, len(resp.Answer))
	}
	opt := resp.IsEdns0()
	if opt == nil || opt.UDPSize() != 4096 || !opt.Do() || opt.Version() != 0 {
		t.Fatalf("OPT %v, want size 4096, DO echoed", opt)
	}
	// A client offering 1400 gets no more than 1400.
	resp = exchange(t, s, query{name: "big.example.lab.", qtype: dns.TypeTXT, edns: 1400})
	if !resp.Truncated || len(resp.Answer) != 0 {
		t.Fatalf("TC %v with %d answers, want TC and nothing", resp.Truncated, len(resp.Answer))
	}
}

func TestReferralTruncation(t *testing.T) {
	// A referral whose glue does not fit 512 bytes must say so (RFC 9471).
	var b strings.Builder
	b.WriteString("$ORIGIN big.lab.\n$TTL 3600\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 10.0.0.1\n")
	for i := range 12 {
		fmt.Fprintf(&b, "sub NS ns-with-a-long-name-%d.sub\n", i)
		fmt.Fprintf(&b, "ns-with-a-long-name-%d.sub AAAA fd00::%d\n", i, i+1)
		fmt.Fprintf(&b, "ns-with-a-long-name-%d.sub A 10.0.0.%d\n", i, i+1)
	}
	z, err := ParseZone(strings.NewReader(b.String()), "big.lab.", "big")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Zones: []*Zone{z}})
	if err != nil {
		t.Fatal(err)
	}
	resp := exchange(t, s, query{name: "www.sub.big.lab.", qtype: dns.TypeA})
	if !resp.Truncated || len(resp.Ns) != 12 || len(resp.Extra) != 0 {
		t.Fatalf("TC %v, %d NS, %d additional; want TC with the NS RRset and no glue", resp.Truncated, len(resp.Ns), len(resp.Extra))
	}
	resp = exchange(t, s, query{name: "www.sub.big.lab.", qtype: dns.TypeA, tcp: true})
	if resp.Truncated || len(resp.Extra) != 24 {
		t.Fatalf("over TCP: TC %v, %d additional", resp.Truncated, len(resp.Extra))
	}
}

func TestStatsAndCollector(t *testing.T) {
	s := testServers(t)["example"]
	exchange(t, s, query{name: "www.example.lab.", qtype: dns.TypeA})
	exchange(t, s, query{name: "nope.example.lab.", qtype: dns.TypeA})
	exchange(t, s, query{name: "big.example.lab.", qtype: dns.TypeTXT})
	exchange(t, s, query{name: "www.example.lab.", qtype: dns.TypeA, tcp: true})
	s.Handle([]byte{1, 2, 3}, false, nil)
	st := s.Stats()
	if st.QueriesUDP != 4 || st.QueriesTCP != 1 || st.Dropped != 1 || st.Truncated != 1 ||
		st.Responses[dns.RcodeSuccess] != 3 || st.Responses[dns.RcodeNameError] != 1 {
		t.Fatalf("stats %+v", st)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(s.Collector()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"rampart_authoritative_responses_total{NOERROR}":  3,
		"rampart_authoritative_responses_total{NXDOMAIN}": 1,
		"rampart_authoritative_queries_total{udp}":        4,
		"rampart_authoritative_queries_total{tcp}":        1,
		"rampart_authoritative_truncated_total":           1,
		"rampart_authoritative_dropped_total":             1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestConfig(t *testing.T) {
	z := mustLoad(t, "example.lab.zone", "example.lab.")
	bad := []Config{
		{},
		{Zones: []*Zone{z, z}},
		{Zones: []*Zone{z}, MaxUDPSize: 100},
		{Zones: []*Zone{z}, Listen: []string{"127.0.0.1"}},
		{Zones: []*Zone{z}, MaxTCPConns: -1},
	}
	for i, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

func TestRunBindError(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Zones: []*Zone{mustLoad(t, "example.lab.zone", "example.lab.")}, Listen: []string{ln.LocalAddr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listen udp") {
			t.Fatalf("Run: %v, want a bind error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return the bind error")
	}
}

// TestSockets serves the three zones on 127.0.0.1 and asks over UDP and
// over one TCP connection carrying several queries at once.
func TestSockets(t *testing.T) {
	s := testServers(t)["all"]
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not stop")
		}
	}()

	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("www.example.lab.", dns.TypeA)
	resp, _, err := c.Exchange(m, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Authoritative || len(resp.Answer) != 1 {
		t.Fatalf("UDP: %v", resp)
	}
	m.SetQuestion("big.example.lab.", dns.TypeTXT)
	resp, _, err = c.Exchange(m, pc.LocalAddr().String())
	if err != nil || !resp.Truncated {
		t.Fatalf("UDP big: TC %v, err %v", resp != nil && resp.Truncated, err)
	}

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	names := []string{"www.example.lab.", "big.example.lab.", "host.lab.", "nope.example.lab.", "x.wild.example.lab."}
	var batch []byte
	for i, name := range names {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		m.Id = uint16(100 + i)
		b := packMsg(t, m)
		batch = binary.BigEndian.AppendUint16(batch, uint16(len(b)))
		batch = append(batch, b...)
	}
	// All queries in one write: the server must take them one after
	// the other off the stream.
	if _, err := conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for i, name := range names {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if resp.Id != uint16(100+i) || resp.Question[0].Name != name {
			t.Errorf("response %d: id %d for %s", i, resp.Id, resp.Question[0].Name)
		}
		if name == "big.example.lab." && (resp.Truncated || len(resp.Answer) != 8) {
			t.Errorf("TCP big: TC %v, %d answers", resp.Truncated, len(resp.Answer))
		}
	}
	if st := s.Stats(); st.QueriesTCP != uint64(len(names)) || st.QueriesUDP != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestServeStops(t *testing.T) {
	s := testServers(t)["example"]
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	// An idle connection must not hold Serve open.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("packet conn still open after Serve: %v", err)
	}
}

func TestRunStops(t *testing.T) {
	s, err := New(Config{Zones: []*Zone{mustLoad(t, "example.lab.zone", "example.lab.")}, Listen: []string{"127.0.0.1:0", "[::1]:0"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "::1") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}
