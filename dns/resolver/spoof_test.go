package resolver

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// spoofer sits between the resolver and the test world and, for the first
// UDP query for target, returns a forged near miss instead of the genuine
// answer, which carries the poison address 6.6.6.6.
type spoofer struct {
	w      *world
	target string // lowercase qname
	forge  func(q, genuine *dns.Msg) (*dns.Msg, error)

	mu     sync.Mutex
	forged int
}

func (s *spoofer) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	resp, err := s.w.Exchange(ctx, server, q, tcp)
	if err != nil || tcp || !equalName(q.Question[0].Name, s.target) {
		return resp, err
	}
	s.mu.Lock()
	first := s.forged == 0
	s.forged++
	s.mu.Unlock()
	if !first {
		return resp, nil
	}
	f := resp.Copy()
	for i, rr := range f.Answer {
		if a, ok := rr.(*dns.A); ok {
			c := *a
			c.A = []byte{6, 6, 6, 6}
			f.Answer[i] = &c
		}
	}
	return s.forge(q, f)
}

func flipCase(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 32
			return string(b)
		case c >= 'A' && c <= 'Z':
			b[i] = c + 32
			return string(b)
		}
	}
	return name
}

func withCookie(m *dns.Msg, cookie []byte) *dns.Msg {
	opt := m.IsEdns0()
	if opt == nil {
		m.SetEdns0(1232, false)
		opt = m.IsEdns0()
	}
	opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(cookie)})
	return m
}

func TestNearMissFallsBackToTCP(t *testing.T) {
	tests := []struct {
		name  string
		forge func(q, f *dns.Msg) (*dns.Msg, error)
		stat  func(Stats) uint64
	}{
		{"wrong id", func(q, f *dns.Msg) (*dns.Msg, error) { f.Id++; return f, nil },
			func(s Stats) uint64 { return s.SpoofWrongID }},
		{"wrong question", func(q, f *dns.Msg) (*dns.Msg, error) { f.Question[0].Name = "wwx.example.lab."; return f, nil },
			func(s Stats) uint64 { return s.SpoofWrongQuestion }},
		{"wrong type", func(q, f *dns.Msg) (*dns.Msg, error) { f.Question[0].Qtype = dns.TypeAAAA; return f, nil },
			func(s Stats) uint64 { return s.SpoofWrongQuestion }},
		{"wrong case", func(q, f *dns.Msg) (*dns.Msg, error) {
			f.Question[0].Name = flipCase(q.Question[0].Name)
			return f, nil
		}, func(s Stats) uint64 { return s.SpoofWrongCase }},
		{"bad client cookie", func(q, f *dns.Msg) (*dns.Msg, error) {
			return withCookie(f, []byte("01234567abcdefgh")), nil
		}, func(s Stats) uint64 { return s.SpoofBadCookie }},
		{"cookie of odd length", func(q, f *dns.Msg) (*dns.Msg, error) {
			c, _ := queryCookie(q)
			return withCookie(f, append(c[:], 1, 2, 3)), nil
		}, func(s Stats) uint64 { return s.SpoofBadCookie }},
		{"transport near miss (wrong port guessed, wrong ID)", func(q, f *dns.Msg) (*dns.Msg, error) {
			return nil, &SpoofError{Reason: SpoofID}
		}, func(s Stats) uint64 { return s.SpoofWrongID }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := newWorld(t)
			sp := &spoofer{w: w, target: "www.example.lab.", forge: tt.forge}
			cache := NewMemCache(1000)
			r, err := New(Config{RootHints: testHints(), Transport: sp, Cache: cache, Clock: w.clock,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := rrStrings(resp.Answer); len(got) != 1 || got[0] != "www.example.lab. 0 IN A 198.51.100.1" {
				t.Fatalf("answer %v", got)
			}
			q := w.queries()
			if last := q[len(q)-1]; last != "192.0.2.30 www.example.lab. A tcp" && last != "192.0.2.31 www.example.lab. A tcp" {
				t.Errorf("queries %q: no TCP retry at the end", q)
			}
			s := r.Stats()
			if s.SpoofSuspected != 1 || tt.stat(s) != 1 || s.SpoofTCPRetries != 1 || s.SuspectNames != 1 {
				t.Errorf("stats %+v", s)
			}
			if !strings.Contains(logs.String(), "spoofed response suspected") || !strings.Contains(logs.String(), "qname=www.example.lab.") {
				t.Errorf("log %q", logs.String())
			}
			// 0x20 stays on: a UDP near miss never switches it off.
			for _, a := range []string{"192.0.2.30", "192.0.2.31"} {
				if si, ok := r.ServerInfo(addr(a)); ok && !si.NoCaseUntil.IsZero() {
					t.Errorf("0x20 turned off for %s", a)
				}
			}
			// Under suspicion the name is asked over TCP only; once the
			// hold-down passes, over UDP again.
			cache.mu.Lock()
			cache.entries = map[cacheKey]*memEntry{}
			cache.lru.next, cache.lru.prev = &cache.lru, &cache.lru
			cache.mu.Unlock()
			w.clock.Advance(time.Hour) // NS sets expire too: walk again
			r.suspects.note("www.example.lab.", SpoofID, w.clock.Now())
			if _, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
				t.Fatal(err)
			}
			for _, l := range w.queries() {
				if strings.Contains(l, "www.example.lab.") && !strings.HasSuffix(l, " tcp") {
					t.Errorf("suspect name asked over UDP: %q", l)
				}
			}
		})
	}
}

// TestSuspectNotCachedFromUDP: while a name is under suspicion, a reply that
// came over UDP (from an exchange that began before) caches nothing for it.
func TestSuspectNotCachedFromUDP(t *testing.T) {
	r, cache := testResolver(t)
	now := r.clock.Now()
	r.suspects.note("www.example.lab.", SpoofCase, now)
	st := &state{r: r}
	p := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 1}
	rep := r.classify(p, msg(p, true, 0, []string{"www.example.lab. 60 IN A 6.6.6.6"}, nil, nil))
	rep.udp = true
	st.store(rep)
	if _, ok := cache.LookupRRset("www.example.lab.", dns.TypeA, dns.ClassINET, now); ok {
		t.Fatal("cached from UDP for a suspect name")
	}
	rep.udp = false
	st.store(rep)
	if _, ok := cache.LookupRRset("www.example.lab.", dns.TypeA, dns.ClassINET, now); !ok {
		t.Fatal("not cached from TCP")
	}
	if s := r.Stats(); s.SpoofNotCached != 1 {
		t.Errorf("stats %+v", s)
	}
	// The suspicion expires.
	if !r.suspects.has("www.example.lab.", now.Add(59*time.Second)) || r.suspects.has("www.example.lab.", now.Add(61*time.Second)) {
		t.Error("hold-down is not 60 s")
	}
}

// caseMangler answers as a server that does not preserve the case of the
// query name, over UDP and TCP alike.
type caseMangler struct{ *world }

func (c caseMangler) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	resp, err := c.world.Exchange(ctx, server, q, tcp)
	if err == nil && len(resp.Question) == 1 {
		resp.Question[0].Name = strings.ToLower(resp.Question[0].Name)
	}
	return resp, err
}

func TestCaseFallbackOnlyOverTCP(t *testing.T) {
	w := newWorld(t)
	r, err := New(Config{RootHints: testHints(), Transport: caseMangler{w}, Clock: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.CaseFallbacks == 0 || s.SpoofWrongCase == 0 {
		t.Fatalf("stats %+v", s)
	}
	// Each server that mangles case was caught over TCP and is now asked
	// without 0x20, over UDP.
	caught := ""
	for _, a := range []string{"192.0.2.1", "192.0.2.2"} {
		if si, ok := r.ServerInfo(addr(a)); ok && !si.NoCaseUntil.IsZero() {
			caught = a
		}
	}
	if caught == "" {
		t.Fatal("no root server has 0x20 off")
	}
	off := map[string]bool{}
	for a := range w.servers {
		if si, ok := r.ServerInfo(a); ok && !si.NoCaseUntil.IsZero() {
			off[a.String()] = true
		}
	}
	w.queries()
	if _, err := r.Resolve(context.Background(), "mail.example.lab.", dns.TypeMX, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	for _, l := range w.queries() {
		if off[strings.Fields(l)[0]] && strings.HasSuffix(l, " tcp") {
			t.Errorf("TCP after the fallback: %q", l)
		}
	}
	// The fallback expires with the infra entry.
	w.clock.Advance(16 * time.Minute)
	if si, ok := r.ServerInfo(addr(caught)); ok && !si.NoCaseUntil.IsZero() {
		t.Errorf("fallback still on: %+v", si)
	}
}

// cookieServer answers like a server with DNS cookies: it echoes the client
// cookie with a server cookie, and drops the option when told to.
type cookieServer struct {
	*world
	mu      sync.Mutex
	seen    [][]byte // cookies received, decoded
	without bool     // answer UDP without a cookie
}

func (c *cookieServer) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	resp, err := c.world.Exchange(ctx, server, q, tcp)
	if err != nil {
		return nil, err
	}
	cookie, _ := responseCookie(q)
	c.mu.Lock()
	c.seen = append(c.seen, cookie)
	without := c.without && !tcp
	c.mu.Unlock()
	if len(cookie) >= clientCookieLen && !without {
		withCookie(resp, append(append([]byte(nil), cookie[:clientCookieLen]...), []byte("servercookie")...))
	}
	return resp, nil
}

func TestCookies(t *testing.T) {
	w := newWorld(t)
	cs := &cookieServer{world: w}
	r, err := New(Config{RootHints: testHints(), Transport: cs, Clock: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.lab.", dns.TypeA}, {"www.example.lab.", dns.TypeAAAA}, {"mail.example.lab.", dns.TypeMX}, {"txt.example.lab.", dns.TypeTXT}} {
		if _, err := r.Resolve(context.Background(), q.name, q.qtype, dns.ClassINET, false); err != nil {
			t.Fatal(err)
		}
	}
	si, _ := r.ServerInfo(addr("192.0.2.30"))
	if !si.Cookie {
		t.Fatalf("server cookie not remembered: %+v", si)
	}
	// The second query to a root server sends the client cookie back with
	// the server's; the client cookie is stable per server.
	var first []byte
	sawServer := false
	for _, c := range cs.seen {
		if len(c) < clientCookieLen {
			t.Fatalf("query without cookie")
		}
		if first == nil {
			first = c[:clientCookieLen]
		}
		if len(c) == clientCookieLen+len("servercookie") && string(c[clientCookieLen:]) == "servercookie" {
			sawServer = true
		}
	}
	if !sawServer {
		t.Error("server cookie never sent back")
	}
	// Cookies differ per server.
	a := r.clientCookie(netip.IPv6Unspecified(), addr("192.0.2.1"))
	b := r.clientCookie(netip.IPv6Unspecified(), addr("192.0.2.2"))
	c := r.clientCookie(addr("10.0.0.1"), addr("192.0.2.1"))
	if a == b || a == c {
		t.Error("client cookie ignores an address")
	}
	// A server known to send cookies answering without one over UDP is a
	// near miss; over TCP the answer is taken and the cookie forgotten.
	cs.mu.Lock()
	cs.without = true
	cs.mu.Unlock()
	if _, err := r.Resolve(context.Background(), "sip.example.lab.", dns.TypeA, dns.ClassINET, false); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.SpoofMissingCookie != 1 || s.SpoofTCPRetries != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestCheckCookie(t *testing.T) {
	client := [clientCookieLen]byte{1, 2, 3, 4, 5, 6, 7, 8}
	resp := func(c []byte) *dns.Msg {
		m := new(dns.Msg)
		if c != nil {
			withCookie(m, c)
		}
		return m
	}
	srv := bytes.Repeat([]byte{9}, 16)
	tests := []struct {
		name   string
		m      *dns.Msg
		known  bool
		want   SpoofReason
		server []byte
	}{
		{"none from a server without cookies", resp(nil), false, SpoofNone, nil},
		{"none from a server with cookies", resp(nil), true, SpoofNoCookie, nil},
		{"client only", resp(client[:]), false, SpoofNone, nil},
		{"client and server", resp(append(client[:], srv...)), false, SpoofNone, srv},
		{"wrong client", resp(append([]byte{0, 2, 3, 4, 5, 6, 7, 8}, srv...)), false, SpoofCookie, nil},
		{"server cookie too short", resp(append(client[:], 1, 2, 3)), false, SpoofCookie, nil},
		{"server cookie too long", resp(append(client[:], bytes.Repeat([]byte{1}, 33)...)), false, SpoofCookie, nil},
		{"shorter than a client cookie", resp([]byte{1, 2, 3}), false, SpoofCookie, nil},
	}
	for _, tt := range tests {
		server, why := checkCookie(tt.m, client, tt.known)
		if why != tt.want || !bytes.Equal(server, tt.server) {
			t.Errorf("%s: %s %x, want %s %x", tt.name, why, server, tt.want, tt.server)
		}
	}
}

func TestCheckResponseVerdicts(t *testing.T) {
	q := testQuery("wWw.ExAmple.lab.", dns.TypeA)
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
		want verdict
	}{
		{"exact", reply(nil), verdictMatch},
		{"case", reply(func(r *dns.Msg) { r.Question[0].Name = "www.example.lab." }), verdictCase},
		{"id", reply(func(r *dns.Msg) { r.Id++ }), verdictID},
		{"question", reply(func(r *dns.Msg) { r.Question[0].Name = "wwx.example.lab." }), verdictQuestion},
		{"not a response", reply(func(r *dns.Msg) { r.Response = false }), verdictMalformed},
		{"short", qw[:5], verdictMalformed},
	}
	for _, tt := range tests {
		if got := checkResponse(qw, tt.resp); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRandomiseCase(t *testing.T) {
	name := "www.example-with-many-letters.lab."
	seen := map[string]bool{}
	for range 50 {
		n := randomiseCase(name)
		if !equalName(n, name) {
			t.Fatalf("%q is not %q", n, name)
		}
		seen[n] = true
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct patterns", len(seen))
	}
	// Escapes are left alone.
	for range 20 {
		if n := randomiseCase(`a\065\.b.lab.`); !strings.Contains(n, `\065\.`) || !equalName(n, `a\065\.b.lab.`) {
			t.Fatalf("escape changed: %q", n)
		}
	}
}

func TestSuspectsBound(t *testing.T) {
	s := newSuspects(2, time.Minute)
	now := time.Unix(1000, 0)
	s.note("a.", SpoofID, now)
	s.note("b.", SpoofID, now.Add(time.Second))
	if _, fresh := s.note("a.", SpoofCase, now); fresh {
		t.Error("second near miss for a name counted as fresh")
	}
	s.note("c.", SpoofID, now.Add(2*time.Second))
	if s.live.Load() != 2 || s.dropped.Load() != 1 || s.has("b.", now) && s.has("a.", now) {
		t.Errorf("live %d dropped %d", s.live.Load(), s.dropped.Load())
	}
}

func TestSpoofErrorIs(t *testing.T) {
	err := error(&SpoofError{Server: netip.MustParseAddrPort("192.0.2.1:53"), Reason: SpoofCase})
	if !errors.Is(err, ErrSpoofSuspected) || err.Error() != "near miss from 192.0.2.1:53: wrong case" {
		t.Errorf("%v", err)
	}
}

// badCookieServer answers BADCOOKIE with a fresh server cookie until the
// query carries it, as RFC 7873 §5.2.3 servers do.
type badCookieServer struct {
	*world
	mu    sync.Mutex
	count int
}

func (b *badCookieServer) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	resp, err := b.world.Exchange(ctx, server, q, tcp)
	if err != nil {
		return nil, err
	}
	c, _ := responseCookie(q)
	fresh := []byte("fresh-server-cookie")
	if len(c) < clientCookieLen {
		return resp, nil
	}
	if !bytes.Equal(c[clientCookieLen:], fresh) {
		b.mu.Lock()
		b.count++
		b.mu.Unlock()
		bad := new(dns.Msg)
		bad.SetReply(q)
		bad.Rcode = dns.RcodeBadCookie
		resp = bad
	}
	return withCookie(resp, append(c[:clientCookieLen:clientCookieLen], fresh...)), nil
}

func TestBadCookieRetry(t *testing.T) {
	w := newWorld(t)
	bs := &badCookieServer{world: w}
	r, err := New(Config{RootHints: testHints(), Transport: bs, Clock: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, false)
	if err != nil || len(resp.Answer) != 1 {
		t.Fatalf("%v %v", resp, err)
	}
	// One BADCOOKIE per server, each followed by a retry with the cookie.
	servers := map[string]bool{}
	for _, l := range w.queries() {
		servers[strings.Fields(l)[0]] = true
	}
	if bs.count != len(servers) {
		t.Errorf("%d BADCOOKIE answers for %d servers", bs.count, len(servers))
	}
	if s := r.Stats(); s.SpoofSuspected != 0 || s.BadResponses != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestMatchingDoesNotAllocate: the checks every upstream response or query
// goes through allocate nothing.
func TestMatchingDoesNotAllocate(t *testing.T) {
	r, _ := testResolver(t)
	now := r.clock.Now()
	r.cuts.add("sub.example.lab.", 60, now)
	r.suspects.note("x.lab.", SpoofID, now)
	server := addr("192.0.2.1")
	for name, f := range map[string]func(){
		"randSourcePort": func() { _ = randSourcePort() },
		"randUint16":     func() { _ = randUint16() },
		"clientCookie":   func() { _ = r.clientCookie(netip.IPv6Unspecified(), server) },
		"cutBetween":     func() { _ = r.cuts.cutBetween("a.b.c.example.lab.", "lab.", false, now) },
		"suspects.has":   func() { _ = r.suspects.has("www.example.lab.", now) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}

func BenchmarkRandomiseCase(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = randomiseCase("www.example.lab.")
	}
}

func BenchmarkCutBetween(b *testing.B) {
	z := newZoneCuts(100)
	now := time.Unix(1000, 0)
	z.add("sub.example.lab.", 60, now)
	b.ReportAllocs()
	for b.Loop() {
		_ = z.cutBetween("www.example.lab.", "lab.", false, now)
	}
}
