//go:build linux

package server

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

func TestSockaddrAddr(t *testing.T) {
	v4 := func(a [4]byte, port uint16) (unix.RawSockaddrAny, uint32) {
		var sa unix.RawSockaddrAny
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
		p.Family = unix.AF_INET
		p.Addr = a
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&p.Port))[:], port)
		return sa, unix.SizeofSockaddrInet4
	}
	v6 := func(a string, port uint16, scope uint32) (unix.RawSockaddrAny, uint32) {
		var sa unix.RawSockaddrAny
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa))
		p.Family = unix.AF_INET6
		p.Addr = netip.MustParseAddr(a).As16()
		p.Scope_id = scope
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&p.Port))[:], port)
		return sa, unix.SizeofSockaddrInet6
	}
	type tc struct {
		name string
		sa   unix.RawSockaddrAny
		n    uint32
		want string // "" means rejected
	}
	var tests []tc
	add := func(name string, sa unix.RawSockaddrAny, n uint32, want string) {
		tests = append(tests, tc{name, sa, n, want})
	}
	sa, n := v4([4]byte{192, 0, 2, 7}, 53000)
	add("ipv4", sa, n, "192.0.2.7:53000")
	add("ipv4 short", sa, n-1, "")
	sa, n = v6("2001:db8::1", 5353, 0)
	add("ipv6", sa, n, "[2001:db8::1]:5353")
	add("ipv6 short", sa, n-4, "")
	sa, n = v6("::ffff:10.0.0.1", 1, 0)
	add("ipv4-mapped", sa, n, "[::ffff:10.0.0.1]:1")
	sa, n = v6("fe80::1", 2000, 3)
	add("scoped", sa, n, "[fe80::1%3]:2000")
	var unknown unix.RawSockaddrAny
	unknown.Addr.Family = unix.AF_UNIX
	add("other family", unknown, unix.SizeofSockaddrAny, "")
	for _, tt := range tests {
		got, ok := sockaddrAddr(&tt.sa, tt.n)
		if tt.want == "" {
			if ok {
				t.Errorf("%s: got %v, want rejection", tt.name, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("%s: got %v, %v; want %s", tt.name, got, ok, tt.want)
		}
	}
}

// TestUDPBatches sends more queries than one batch holds without reading,
// a mix of cache hits, misses and junk, and expects every query that
// deserves an answer to get exactly one, matched by ID.
func TestUDPBatches(t *testing.T) {
	wc := newWireCache(t)
	s := start(t, Config{Resolver: &fakeResolver{}, Cache: wc, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(1 << 20)
	// Warm the cache for the names queried below.
	for i := 0; i < 8; i++ {
		q := new(dns.Msg)
		q.SetQuestion("w"+strconv.Itoa(i)+".example.", dns.TypeA)
		exchange(t, s, "udp", q)
	}
	const n = 3 * udpBatch
	want := map[uint16]bool{}
	for i := 0; i < n; i++ {
		q := new(dns.Msg)
		q.SetQuestion("w"+strconv.Itoa(i%10)+".example.", dns.TypeA) // w8, w9 miss
		q.Id = uint16(i + 1)
		b, _ := q.Pack()
		if i%7 == 0 {
			b = b[:5] // too short to answer
		} else {
			want[q.Id] = true
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// A datagram larger than the receive buffer is dropped, not answered
	// from its first 4096 octets.
	big := make([]byte, udpQueryBuf+100)
	copy(big, []byte{0xAB, 0xCD, 1, 0, 0, 1})
	c.Write(big)
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for len(want) > 0 {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%d answers missing: %v", len(want), err)
		}
		var r dns.Msg
		if err := r.Unpack(buf[:k]); err != nil {
			t.Fatalf("unparseable answer: %v", err)
		}
		if !want[r.Id] {
			t.Fatalf("unexpected or duplicate answer %d", r.Id)
		}
		if len(r.Answer) != 1 || r.Rcode != dns.RcodeSuccess {
			t.Errorf("answer %d: %v", r.Id, &r)
		}
		delete(want, r.Id)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if k, err := c.Read(buf); err == nil {
		t.Errorf("extra %d-byte answer", k)
	}
}

// BenchmarkFastPath is the per-query work of a cache hit between recvmmsg
// and sendmmsg: without a cookie, with a client cookie only (a server
// cookie is made), and with a valid server cookie (verified and echoed).
func BenchmarkFastPath(b *testing.B) {
	wc := newWireCache(b)
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{}, Cache: wc,
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := (&fakeResolver{}).Resolve(b.Context(), "www.example.", dns.TypeA, dns.ClassINET, false)
	r.Ns = nil
	wc.PutAnswer(r)
	out := make([]byte, 1232)
	src := netip.MustParseAddr("127.0.0.1")
	plain, _ := cookieQuery("wWw.ExAmPlE.", "").Pack()
	client, _ := cookieQuery("wWw.ExAmPlE.", "0102030405060708").Pack()
	var t tally
	n := s.fastTally(client, src, out, &t)
	if n <= 0 {
		b.Fatal("miss")
	}
	var resp dns.Msg
	if err := resp.Unpack(out[:n]); err != nil {
		b.Fatal(err)
	}
	valid, _ := cookieQuery("wWw.ExAmPlE.", hex.EncodeToString(responseCookie(b, &resp))).Pack()
	for _, bc := range []struct {
		name string
		q    []byte
		want CookieVerdict
	}{{"no_cookie", plain, CookieNone}, {"client_cookie", client, CookieClientOnly}, {"valid_cookie", valid, CookieValid}} {
		b.Run(bc.name, func(b *testing.B) {
			if s.fastTally(bc.q, src, out, &t) <= 0 || t.cookie != bc.want {
				b.Fatalf("miss or verdict %v", t.cookie)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.fastTally(bc.q, src, out, &t)
			}
			t.flush(s.m)
		})
	}
}

// BenchmarkSlowPathCookie is what a cached name would cost a client that
// sends cookies if the option were added by the slow path (parse, resolve
// with a trivial resolver, pack) instead of appended in place.
func BenchmarkSlowPathCookie(b *testing.B) {
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{},
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	if err != nil {
		b.Fatal(err)
	}
	s.ctx = b.Context()
	q, _ := cookieQuery("www.example.", "0102030405060708").Pack()
	src := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if s.slow(q, src, false) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkUDPHit measures cached answers through a real socket, one
// outstanding query at a time: the whole loop (recvmmsg, ACL, cache,
// sendmmsg, counters) must allocate nothing, with a cookie too.
func BenchmarkUDPHit(b *testing.B) {
	b.Run("no_cookie", func(b *testing.B) { benchmarkUDPHit(b, false) })
	b.Run("client_cookie", func(b *testing.B) { benchmarkUDPHit(b, true) })
}

func benchmarkUDPHit(b *testing.B, cookie bool) {
	wc := newWireCache(b)
	s := start(b, Config{Resolver: &fakeResolver{}, Cache: wc, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	qb, _ := q.Pack()
	if cookie {
		qb, _ = cookieQuery("www.example.", "0102030405060708").Pack()
	}
	buf := make([]byte, 1500)
	roundTrip := func() {
		if _, err := c.Write(qb); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	roundTrip() // the miss that fills the cache
	roundTrip()
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}

func TestPutSockaddr(t *testing.T) {
	for _, tt := range []struct {
		dst    string
		family uint16
		n      int
	}{
		{"192.0.2.1:5353", unix.AF_INET, unix.SizeofSockaddrInet4},
		{"[2001:db8::1]:53", unix.AF_INET6, unix.SizeofSockaddrInet6},
		{"[::ffff:192.0.2.1]:53", unix.AF_INET6, unix.SizeofSockaddrInet6},
		{"[fe80::1%7]:53", unix.AF_INET6, unix.SizeofSockaddrInet6},
		{"[fe80::1%eth0]:53", 0, 0},
	} {
		var sa unix.RawSockaddrAny
		ap := netip.MustParseAddrPort(tt.dst)
		n := putSockaddr(&sa, ap)
		if n != tt.n || (n > 0 && sa.Addr.Family != tt.family) {
			t.Errorf("%s: length %d family %d, want %d and %d", tt.dst, n, sa.Addr.Family, tt.n, tt.family)
			continue
		}
		if n == 0 {
			continue
		}
		// What recvmmsg's decoding makes of it is where it came from.
		if got, ok := sockaddrAddr(&sa, uint32(n)); !ok || got != ap {
			t.Errorf("%s: reads back as %s", tt.dst, got)
		}
	}
}

// TestSlowSender: a slow-path answer reaches the client byte for byte, and
// sending it allocates nothing.
func TestSlowSender(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rc, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	dst := client.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("an answer from the slow path")
	snd := newSlowSender()
	snd.send(srv, rc, msg, dst)
	buf := make([]byte, 100)
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := client.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != string(msg) || from != srv.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("got %q from %s (%v)", buf[:n], from, err)
	}
	if a := testing.AllocsPerRun(50, func() { snd.send(srv, rc, msg, dst) }); a != 0 {
		t.Errorf("a send allocates %v times", a)
	}
}
