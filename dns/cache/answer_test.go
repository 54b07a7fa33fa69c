package cache

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/wire"
)

// populated returns a cache holding a handful of typical answers.
func populated(t testing.TB) (*Cache, *clock.Fake) {
	t.Helper()
	c, clk := newTestCache(t, Config{ServeStale: true})
	now := clk.Now()
	msgs := []*dns.Msg{
		response(t, "www.example.com.", dns.TypeA, false,
			[]string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"},
			[]string{"example.com. 3600 IN NS ns1.example.com."},
			[]string{"ns1.example.com. 600 IN A 192.0.2.53"}),
		response(t, "www.example.com.", dns.TypeA, true,
			[]string{"www.example.com. 300 IN A 192.0.2.1"}, nil, nil),
		response(t, "alias.example.com.", dns.TypeAAAA, false,
			[]string{"alias.example.com. 120 IN CNAME www.example.com.", "www.example.com. 300 IN AAAA 2001:db8::1"}, nil, nil),
	}
	nx := response(t, "nope.example.com.", dns.TypeA, false, nil,
		[]string{"example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 900"}, nil)
	nx.Rcode = dns.RcodeNameError
	msgs = append(msgs, nx)
	for _, m := range msgs {
		if err := c.PutAnswer(m, now); err != nil {
			t.Fatalf("PutAnswer %s: %v", m.Question[0].Name, err)
		}
	}
	return c, clk
}

func TestAnswerFromWire(t *testing.T) {
	tests := []struct {
		name      string
		id        uint16
		qname     string
		qtype     uint16
		udp       uint16
		do        bool
		after     time.Duration
		wantTTLs  []uint32 // all records of all sections, OPT excluded
		wantRcode int
	}{
		{"plain", 1, "www.example.com.", dns.TypeA, 0, false, 0, []uint32{300, 300, 3600, 600}, dns.RcodeSuccess},
		{"0x20 and countdown", 0xbeef, "wWw.ExAmPlE.cOm.", dns.TypeA, 0, false, 10 * time.Second, []uint32{290, 290, 3590, 590}, dns.RcodeSuccess},
		{"edns", 7, "WWW.EXAMPLE.COM.", dns.TypeA, 4096, false, 299 * time.Second, []uint32{1, 1, 3301, 301}, dns.RcodeSuccess},
		{"do bit is its own key", 8, "www.Example.com.", dns.TypeA, 1232, true, 0, []uint32{300}, dns.RcodeSuccess},
		{"cname chain", 9, "ALIAS.example.com.", dns.TypeAAAA, 1232, false, 20 * time.Second, []uint32{100, 280}, dns.RcodeSuccess},
		{"nxdomain", 10, "Nope.Example.Com.", dns.TypeA, 0, false, 100 * time.Second, []uint32{800}, dns.RcodeNameError},
	}
	for _, tt := range tests {
		c, clk := populated(t)
		clk.Advance(tt.after)
		q := query(t, tt.id, tt.qname, tt.qtype, tt.udp, tt.do)
		resp := make([]byte, 4096)
		n, ok := c.AnswerFromWire(q, resp)
		if !ok {
			t.Errorf("%s: miss", tt.name)
			continue
		}
		m := unpack(t, resp[:n])
		if m.Id != tt.id || !m.Response || !m.RecursionDesired || !m.RecursionAvailable || m.Rcode != tt.wantRcode {
			t.Errorf("%s: header %+v", tt.name, m.MsgHdr)
		}
		// The question name bytes are the client's, exactly.
		if !bytes.Equal(resp[12:12+len(tt.qname)+1], q[12:12+len(tt.qname)+1]) || m.Question[0].Name != tt.qname {
			t.Errorf("%s: question %v, want %s", tt.name, m.Question[0], tt.qname)
		}
		var all []dns.RR
		all = append(all, m.Answer...)
		all = append(all, m.Ns...)
		for _, rr := range m.Extra {
			if rr.Header().Rrtype != dns.TypeOPT {
				all = append(all, rr)
			}
		}
		if got := ttls(all); !equalU32(got, tt.wantTTLs) {
			t.Errorf("%s: TTLs %v, want %v", tt.name, got, tt.wantTTLs)
		}
		// Answer owners equal to the question carry the client's case.
		if len(m.Answer) > 0 && m.Answer[0].Header().Name != tt.qname {
			t.Errorf("%s: answer owner %q, want the query's %q", tt.name, m.Answer[0].Header().Name, tt.qname)
		}
		opt := m.IsEdns0()
		switch {
		case tt.udp == 0 && opt != nil:
			t.Errorf("%s: OPT in answer to a query without EDNS", tt.name)
		case tt.udp != 0 && opt == nil:
			t.Errorf("%s: no OPT in answer to an EDNS query", tt.name)
		case opt != nil && (opt.UDPSize() != DefaultEDNSUDPSize || opt.Do() != tt.do || len(opt.Option) != 0):
			t.Errorf("%s: OPT %v", tt.name, opt)
		}
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAnswerFromWireHeaderBits(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	m := response(t, "s.example.", dns.TypeA, false, []string{"s.example. 60 IN A 192.0.2.1"}, nil, nil)
	m.AuthenticatedData = true
	if err := c.PutAnswer(m, clk.Now()); err != nil {
		t.Fatal(err)
	}
	cd := response(t, "s.example.", dns.TypeA, false, []string{"s.example. 60 IN A 192.0.2.66"}, nil, nil)
	cd.CheckingDisabled = true
	if err := c.PutAnswer(cd, clk.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		rd, ad, cd, do bool
		wantAD         bool
		wantAddr       string
	}{
		{"no rd", false, false, false, false, false, "192.0.2.1"},
		{"ad asked", true, true, false, false, true, "192.0.2.1"},
		{"do implies ad", true, false, false, true, true, ""},
		{"cd has its own entry", true, false, true, false, false, "192.0.2.66"},
	}
	for _, tt := range tests {
		q := new(dns.Msg)
		q.SetQuestion("s.example.", dns.TypeA)
		q.RecursionDesired, q.AuthenticatedData, q.CheckingDisabled = tt.rd, tt.ad, tt.cd
		if tt.do {
			q.SetEdns0(1232, true)
		}
		b, _ := q.Pack()
		resp := make([]byte, 512)
		n, ok := c.AnswerFromWire(b, resp)
		if tt.wantAddr == "" {
			// No DO=1 answer is cached for this name.
			if ok {
				t.Errorf("%s: unexpected hit", tt.name)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: miss", tt.name)
			continue
		}
		r := unpack(t, resp[:n])
		if r.RecursionDesired != tt.rd || r.CheckingDisabled != tt.cd || r.AuthenticatedData != tt.wantAD {
			t.Errorf("%s: RD %v CD %v AD %v", tt.name, r.RecursionDesired, r.CheckingDisabled, r.AuthenticatedData)
		}
		if a := r.Answer[0].(*dns.A).A.String(); a != tt.wantAddr {
			t.Errorf("%s: answer %s, want %s", tt.name, a, tt.wantAddr)
		}
	}
}

func TestAnswerFromWireSize(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	var answer []string
	for i := range 40 {
		answer = append(answer, fmt.Sprintf("big.example. 60 IN AAAA 2001:db8::%x", i+1))
	}
	if err := c.PutAnswer(response(t, "big.example.", dns.TypeAAAA, false, answer, nil, nil), clk.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		udp     uint16
		maxSize int
		bufLen  int
		ok      bool
	}{
		{"no edns: 512", 0, 0, 4096, false},
		{"edns 512 means 512", 512, 0, 4096, false},
		{"edns 100 means 512", 100, 0, 4096, false},
		{"edns 1232", 1232, 0, 4096, true},
		{"tcp", 0, 65535, 4096, true},
		{"buffer too small", 1232, 0, 600, false},
	}
	for _, tt := range tests {
		q := query(t, 1, "big.example.", dns.TypeAAAA, tt.udp, false)
		resp := make([]byte, tt.bufLen)
		n, _, ok := c.AnswerFromWireOpts(q, resp, WireOptions{MaxSize: tt.maxSize})
		if ok != tt.ok {
			t.Errorf("%s: ok = %v (n %d), want %v", tt.name, ok, n, tt.ok)
			continue
		}
		if ok && len(unpack(t, resp[:n]).Answer) != 40 {
			t.Errorf("%s: wrong answer count", tt.name)
		}
	}
}

func TestAnswerFromWireStaleAndPrefetch(t *testing.T) {
	c, clk := populated(t)
	q := query(t, 1, "www.example.com.", dns.TypeA, 0, false)
	resp := make([]byte, 1024)
	clk.Advance(271 * time.Second) // last 10% of 300 s
	if _, f, ok := c.AnswerFromWireOpts(q, resp, WireOptions{}); !ok || f != HitPrefetch {
		t.Errorf("first late hit: flags %v ok %v, want prefetch", f, ok)
	}
	if _, f, ok := c.AnswerFromWireOpts(q, resp, WireOptions{}); !ok || f != 0 {
		t.Errorf("second late hit: flags %v ok %v, want none", f, ok)
	}
	clk.Advance(time.Minute)
	if _, ok := c.AnswerFromWire(q, resp); ok {
		t.Errorf("expired answer served without AllowStale")
	}
	n, f, ok := c.AnswerFromWireOpts(q, resp, WireOptions{AllowStale: true})
	if !ok || f != HitStale {
		t.Fatalf("stale: flags %v ok %v", f, ok)
	}
	m := unpack(t, resp[:n])
	for _, rr := range append(m.Answer, m.Ns...) {
		if rr.Header().Ttl != 30 {
			t.Errorf("stale TTL %d, want 30: %v", rr.Header().Ttl, rr)
		}
	}
}

// TestAnswerFromWireDeclines feeds queries the hit path must leave to the
// slow path; none may panic or answer.
func TestAnswerFromWireDeclines(t *testing.T) {
	c, _ := populated(t)
	base := query(t, 1, "www.example.com.", dns.TypeA, 0, false)
	edns := query(t, 1, "www.example.com.", dns.TypeA, 1232, false)
	mod := func(b []byte, f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), b...))
	}
	qEnd := 12 + len("www.example.com.") + 1 + 4
	tests := []struct {
		name string
		q    []byte
	}{
		{"empty", nil},
		{"header only", base[:12]},
		{"truncated name", base[:20]},
		{"truncated qtype", base[:qEnd-2]},
		{"trailing byte", append(append([]byte(nil), base...), 0)},
		{"response", mod(base, func(b []byte) []byte { b[2] |= 0x80; return b })},
		{"notify opcode", mod(base, func(b []byte) []byte { b[2] |= 4 << 3; return b })},
		{"tc set", mod(base, func(b []byte) []byte { wire.Header(b).SetFlags(wire.Header(b).Flags() | wire.TC); return b })},
		{"z set", mod(base, func(b []byte) []byte { wire.Header(b).SetFlags(wire.Header(b).Flags() | wire.Z); return b })},
		{"rcode set", mod(base, func(b []byte) []byte { b[3] |= 1; return b })},
		{"two questions", mod(base, func(b []byte) []byte { b[5] = 2; return b })},
		{"no question", mod(base, func(b []byte) []byte { b[5] = 0; return b })},
		{"answer count", mod(base, func(b []byte) []byte { b[7] = 1; return b })},
		{"authority count", mod(base, func(b []byte) []byte { b[9] = 1; return b })},
		{"two additional", mod(edns, func(b []byte) []byte { b[11] = 2; return b })},
		{"additional missing", mod(base, func(b []byte) []byte { b[11] = 1; return b })},
		{"pointer in qname", mod(base, func(b []byte) []byte { b[16] = 0xc0; b[17] = 12; return b })},
		{"label type 0x40", mod(base, func(b []byte) []byte { b[12] = 0x41; return b })},
		{"label past end", mod(base, func(b []byte) []byte { b[12] = 60; return b })},
		{"opt not root", mod(edns, func(b []byte) []byte { b[qEnd] = 1; return b })},
		{"opt wrong type", mod(edns, func(b []byte) []byte { b[qEnd+2] = 42; return b })},
		{"edns version 1", mod(edns, func(b []byte) []byte { b[qEnd+6] = 1; return b })},
		{"edns extended rcode", mod(edns, func(b []byte) []byte { b[qEnd+5] = 1; return b })},
		{"opt rdlen too long", mod(edns, func(b []byte) []byte { b[qEnd+10] = 4; return b })},
		{"opt option truncated", mod(edns, func(b []byte) []byte {
			b[qEnd+10] = 6
			return append(b, 0, 10, 0, 8, 1, 2)
		})},
		{"tsig instead of opt", mod(edns, func(b []byte) []byte { b[qEnd+2] = 250; return b })},
		{"unknown name", query(t, 1, "www.example.org.", dns.TypeA, 0, false)},
		{"unknown type", query(t, 1, "www.example.com.", dns.TypeMX, 0, false)},
		{"other class", mod(base, func(b []byte) []byte { b[qEnd-1] = 3; return b })},
	}
	long := make([]byte, 0, 300)
	long = append(long, base[:12]...)
	for range 5 {
		long = append(long, 63)
		long = append(long, bytes.Repeat([]byte{'a'}, 63)...)
	}
	long = append(long, 0, 0, 1, 0, 1)
	tests = append(tests, struct {
		name string
		q    []byte
	}{"name over 255", long})

	resp := make([]byte, 4096)
	before := c.Stats()
	for _, tt := range tests {
		if n, ok := c.AnswerFromWire(tt.q, resp); ok {
			t.Errorf("%s: answered (%d bytes)", tt.name, n)
		}
	}
	after := c.Stats()
	if declined := after.WireDeclined - before.WireDeclined; declined != uint64(len(tests)-3) {
		t.Errorf("WireDeclined grew by %d, want %d", declined, len(tests)-3)
	}
	// EDNS options are allowed and not echoed.
	withOpt := new(dns.Msg)
	withOpt.SetQuestion("www.example.com.", dns.TypeA)
	withOpt.SetEdns0(1232, false)
	withOpt.IsEdns0().Option = append(withOpt.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	b, _ := withOpt.Pack()
	n, ok := c.AnswerFromWire(b, resp)
	if !ok {
		t.Fatal("query with a cookie option declined")
	}
	if opt := unpack(t, resp[:n]).IsEdns0(); opt == nil || len(opt.Option) != 0 {
		t.Errorf("OPT in response: %v", opt)
	}
}

func TestPutAnswerNotCacheable(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	ok := func() *dns.Msg {
		return response(t, "a.example.", dns.TypeA, false, []string{"a.example. 60 IN A 192.0.2.1"}, nil, nil)
	}
	tests := []struct {
		name string
		msg  func() *dns.Msg
		want error
		text string
	}{
		{"servfail", func() *dns.Msg { m := ok(); m.Rcode = dns.RcodeServerFailure; return m }, ErrNotCacheable, "SERVFAIL"},
		{"truncated", func() *dns.Msg { m := ok(); m.Truncated = true; return m }, ErrNotCacheable, "truncated"},
		{"notify", func() *dns.Msg { m := ok(); m.Opcode = dns.OpcodeNotify; return m }, ErrNotCacheable, "opcode"},
		{"axfr", func() *dns.Msg { m := ok(); m.Question[0].Qtype = dns.TypeAXFR; return m }, ErrNotCacheable, "meta query type"},
		{"tsig", func() *dns.Msg {
			m := ok()
			m.SetTsig("key.", dns.HmacSHA256, 300, now.Unix())
			return m
		}, ErrNotCacheable, "transaction-signed"},
		{"nodata without soa", func() *dns.Msg {
			return response(t, "a.example.", dns.TypeA, false, nil, []string{"example. 60 IN NS ns.example."}, nil)
		}, ErrNotCacheable, "without SOA"},
		{"nxdomain without soa", func() *dns.Msg {
			m := ok()
			m.Rcode = dns.RcodeNameError
			return m
		}, ErrNotCacheable, "without SOA"},
		{"empty", func() *dns.Msg {
			return response(t, "a.example.", dns.TypeA, false, nil, nil, nil)
		}, ErrNotCacheable, "empty"},
		{"zero ttl", func() *dns.Msg {
			return response(t, "a.example.", dns.TypeA, false, []string{"a.example. 0 IN A 192.0.2.1"}, nil, nil)
		}, ErrNotCacheable, "TTL 0"},
		{"soa that does not parse back", func() *dns.Msg {
			m := response(t, "a.example.", dns.TypeA, false, nil, nil, nil)
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}}}
			return m
		}, nil, "does not parse back"},
		{"query", func() *dns.Msg { m := ok(); m.Response = false; return m }, nil, "not a response"},
		{"two questions", func() *dns.Msg { m := ok(); m.Question = append(m.Question, m.Question[0]); return m }, nil, "2 questions"},
		{"relative qname", func() *dns.Msg { m := ok(); m.Question[0].Name = "a"; return m }, nil, "not fully qualified"},
		{"nil", func() *dns.Msg { return nil }, nil, "nil message"},
	}
	for _, tt := range tests {
		err := c.PutAnswer(tt.msg(), now)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: err = %v, want %v containing %q", tt.name, err, tt.want, tt.text)
		}
	}
	if st := c.Stats(); st.Answers != 0 {
		t.Errorf("%d answers stored", st.Answers)
	}
}

func TestPutAnswerLeavesMessageAlone(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	m := response(t, "MiXeD.example.", dns.TypeA, true, []string{"mixed.example. 60 IN A 192.0.2.1"}, nil, nil)
	m.Id = 4242
	before := m.String()
	if err := c.PutAnswer(m, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if after := m.String(); after != before {
		t.Errorf("PutAnswer modified its argument:\n%s\n---\n%s", before, after)
	}
}

func TestAnswerFromWireNoAllocs(t *testing.T) {
	c, _ := populated(t)
	resp := make([]byte, 4096)
	for _, q := range [][]byte{
		query(t, 1, "wWw.example.COM.", dns.TypeA, 0, false),
		query(t, 2, "www.example.com.", dns.TypeA, 1232, true),
		query(t, 3, "nope.example.com.", dns.TypeA, 1232, false),
	} {
		if _, ok := c.AnswerFromWire(q, resp); !ok {
			t.Fatal("miss")
		}
		if a := testing.AllocsPerRun(1000, func() { c.AnswerFromWire(q, resp) }); a != 0 {
			t.Errorf("AnswerFromWire allocates %.1f times per hit", a)
		}
	}
	miss := query(t, 4, "other.example.", dns.TypeA, 0, false)
	if a := testing.AllocsPerRun(1000, func() { c.AnswerFromWire(miss, resp) }); a != 0 {
		t.Errorf("AnswerFromWire allocates %.1f times per miss", a)
	}
}

// TestAnswerFromWireSameBuffer lets the response overwrite the query, as a
// server reusing one buffer per packet does.
func TestAnswerFromWireSameBuffer(t *testing.T) {
	c, _ := populated(t)
	for _, udp := range []uint16{0, 1232} {
		q := query(t, 0x5a5a, "WwW.eXample.com.", dns.TypeA, udp, false)
		want := make([]byte, 1232)
		n, ok := c.AnswerFromWire(q, want)
		if !ok {
			t.Fatal("miss")
		}
		buf := make([]byte, 1232)
		copy(buf, q)
		m, ok := c.AnswerFromWire(buf[:len(q)], buf)
		if !ok || !bytes.Equal(buf[:m], want[:n]) {
			t.Errorf("udp %d: answer built in the query's buffer differs:\n% x\n% x", udp, buf[:m], want[:n])
		}
	}
}
