package server

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t testing.TB, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// cookieQuery is a query for name carrying the COOKIE option data cookie
// (hex; "" for no option at all).
func cookieQuery(name, cookie string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	if cookie != "" {
		q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie}}
	}
	return q
}

// responseCookie returns the COOKIE option data of r, or nil.
func responseCookie(t testing.TB, r *dns.Msg) []byte {
	t.Helper()
	opt := r.IsEdns0()
	if opt == nil {
		return nil
	}
	var found []byte
	for _, o := range opt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			if found != nil {
				t.Fatalf("two COOKIE options in %v", r)
			}
			b, err := hex.DecodeString(c.Cookie)
			if err != nil {
				t.Fatal(err)
			}
			found = b
		}
	}
	return found
}

// TestCookiesOverSockets plays a client through the cookie exchange of RFC
// 7873 §5.2 over UDP and TCP, on cache misses (slow path) and hits (fast
// path), and checks each verdict in rampart_dns_cookies_total.
func TestCookiesOverSockets(t *testing.T) {
	m := NewMetrics(nil)
	fr := &fakeResolver{}
	s := start(t, Config{Resolver: fr, Cache: newWireCache(t), Metrics: m, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	const clientCookie = "0102030405060708"
	for _, proto := range []string{"udp", "tcp"} {
		name := "cookie-" + proto + ".example."
		before := [len(m.cookies)]float64{}
		for v := range m.cookies {
			before[v] = counterValue(t, m.cookies[v])
		}
		step := func(what string, q *dns.Msg, rcode int, want CookieVerdict) *dns.Msg {
			t.Helper()
			r := exchange(t, s, proto, q)
			if r.Rcode != rcode {
				t.Fatalf("%s %s: rcode %s, want %s", proto, what, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
			}
			if rcode == dns.RcodeSuccess && len(r.Answer) != 1 {
				t.Fatalf("%s %s: not answered: %v", proto, what, r)
			}
			before[want]++
			for v := range m.cookies {
				if got := counterValue(t, m.cookies[v]); got != before[v] {
					t.Fatalf("%s %s: %s cookies counted %v, want %v", proto, what, CookieVerdict(v), got, before[v])
				}
			}
			return r
		}

		// First contact, a cache miss: the client cookie comes back with
		// a server cookie.
		r := step("client cookie", cookieQuery(name, clientCookie), dns.RcodeSuccess, CookieClientOnly)
		got := responseCookie(t, r)
		if len(got) != cookieReplyLen || hex.EncodeToString(got[:8]) != clientCookie || got[8] != cookieVersion {
			t.Fatalf("%s: response cookie %x", proto, got)
		}
		calls := fr.calls.Load()

		// The client returns it: valid, answered from the cache with the
		// cookie echoed (it is fresh).
		r = step("valid cookie", cookieQuery(name, hex.EncodeToString(got)), dns.RcodeSuccess, CookieValid)
		if fr.calls.Load() != calls {
			t.Fatalf("%s: the cached answer was resolved again", proto)
		}
		if again := responseCookie(t, r); !bytes.Equal(again, got) {
			t.Fatalf("%s: cached answer carries cookie %x, want %x", proto, again, got)
		}

		// A forged server cookie is answered (RFC 7873 §5.2.3), with a
		// real one, and counted.
		forged := append([]byte(nil), got...)
		forged[20] ^= 0xff
		r = step("forged cookie", cookieQuery(name, hex.EncodeToString(forged)), dns.RcodeSuccess, CookieInvalid)
		if fresh := responseCookie(t, r); len(fresh) != cookieReplyLen || bytes.Equal(fresh, forged) || !bytes.Equal(fresh[:8], forged[:8]) {
			t.Fatalf("%s: answer to a forged cookie carries %x", proto, fresh)
		}

		// A valid cookie on a cache miss: the slow path adds it.
		r = step("valid cookie, miss", cookieQuery("miss-"+name, hex.EncodeToString(got)), dns.RcodeSuccess, CookieValid)
		if c := responseCookie(t, r); !bytes.Equal(c, got) {
			t.Fatalf("%s: slow-path answer carries cookie %x, want %x", proto, c, got)
		}

		// No cookie: answered as ever, without one.
		r = step("no cookie", cookieQuery(name, ""), dns.RcodeSuccess, CookieNone)
		if c := responseCookie(t, r); c != nil {
			t.Fatalf("%s: a query without a cookie got %x", proto, c)
		}

		// 5 bytes is no cookie at all: FORMERR (RFC 7873 §5.2.2).
		step("5-byte cookie", cookieQuery(name, "0102030405"), dns.RcodeFormatError, CookieMalformed)
	}
}

// TestFastPathCookieAllocs: a cache hit for a query with a cookie, client
// only or valid, allocates nothing and carries the cookie.
func TestFastPathCookieAllocs(t *testing.T) {
	wc := newWireCache(t)
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{}, Cache: wc,
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := (&fakeResolver{}).Resolve(t.Context(), "www.example.", dns.TypeA, dns.ClassINET, false)
	r.Ns = nil
	wc.PutAnswer(r)
	src := netip.MustParseAddr("127.0.0.1")
	out := make([]byte, 1232)
	var tl tally
	first, _ := cookieQuery("www.example.", "0102030405060708").Pack()
	n := s.fastTally(first, src, out, &tl)
	if n <= 0 || tl.cookie != CookieClientOnly {
		t.Fatalf("client cookie: %d, %v", n, tl.cookie)
	}
	var resp dns.Msg
	if err := resp.Unpack(out[:n]); err != nil {
		t.Fatal(err)
	}
	sc := responseCookie(t, &resp)
	valid, _ := cookieQuery("www.example.", hex.EncodeToString(sc)).Pack()
	if s.fastTally(valid, src, out, &tl) <= 0 || !tl.cookie.AddressProven() {
		t.Fatalf("valid cookie: %v", tl.cookie)
	}
	for _, q := range [][]byte{first, valid} {
		if a := testing.AllocsPerRun(100, func() { s.fastTally(q, src, out, &tl) }); a != 0 {
			t.Errorf("%v allocations per cached answer with a cookie", a)
		}
	}
	// An answer that would fit without the option but not with it goes
	// to the slow path, which truncates.
	small := out[:n-1]
	if got := s.fastTally(first, src, small, &tl); got != 0 {
		t.Errorf("answer of %d bytes in a %d-byte buffer", got, len(small))
	}
}

// TestCookieOnTruncatedAnswer: an answer too large for UDP is truncated
// with its OPT record, and so with the cookie the client needs for the
// retry over TCP.
func TestCookieOnTruncatedAnswer(t *testing.T) {
	s := start(t, Config{Resolver: &fakeResolver{}, Cache: newWireCache(t), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	q := cookieQuery("big.example.", "0102030405060708")
	q.Question[0].Qtype = dns.TypeTXT
	for i := 0; i < 2; i++ { // a miss, then the cached answer (too big for the fast path)
		r := exchange(t, s, "udp", q)
		if !r.Truncated || len(responseCookie(t, r)) != cookieReplyLen {
			t.Fatalf("round %d: TC=%v, cookie %x", i, r.Truncated, responseCookie(t, r))
		}
	}
	if r := exchange(t, s, "tcp", q); r.Truncated || len(r.Answer) != 40 || len(responseCookie(t, r)) != cookieReplyLen {
		t.Fatalf("TCP: TC=%v, %d answers, cookie %x", r.Truncated, len(r.Answer), responseCookie(t, r))
	}
}
