package server

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// gateResolver answers like fakeResolver, but queries for names that start
// with "slow" wait until release is called (or for delay, when set).
type gateResolver struct {
	fakeResolver
	delay time.Duration
	once  sync.Once
	gate  chan struct{}
}

func newGateResolver() *gateResolver { return &gateResolver{gate: make(chan struct{})} }

func (g *gateResolver) release() { g.once.Do(func() { close(g.gate) }) }

func (g *gateResolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	if strings.HasPrefix(qname, "slow") {
		if g.delay > 0 {
			select {
			case <-time.After(g.delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		} else {
			select {
			case <-g.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return g.fakeResolver.Resolve(ctx, qname, qtype, qclass, do)
}

// udpFrom is a UDP socket bound to the loopback address from (any
// address of 127.0.0.0/8 works on Linux) and connected to the server.
func udpFrom(t *testing.T, s *Server, from string) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)),
		net.UDPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendQuery(t *testing.T, c net.Conn, id uint16, name string, cookie string) {
	t.Helper()
	q := cookieQuery(name, cookie)
	q.Id = id
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readAnswers reads UDP answers until d passes without one and returns
// their rcodes by ID.
func readAnswers(t *testing.T, c *net.UDPConn, d time.Duration) map[uint16]int {
	t.Helper()
	got := map[uint16]int{}
	buf := make([]byte, 65535)
	for {
		_ = c.SetReadDeadline(time.Now().Add(d))
		n, err := c.Read(buf)
		if err != nil {
			return got
		}
		var m dns.Msg
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if _, dup := got[m.Id]; dup {
			t.Errorf("two answers to query %d", m.Id)
		}
		got[m.Id] = m.Rcode
	}
}

func countRcodes(got map[uint16]int) map[int]int {
	out := map[int]int{}
	for _, rc := range got {
		out[rc]++
	}
	return out
}

// TestWaitLimit: a client may have WaitLimit queries waiting for
// resolution; the rest get SERVFAIL at once instead of piling up to be
// answered in one burst when the resolution ends (DNSBomb). A client is
// its /24: another address of it shares the allowance, another network
// has its own.
func TestWaitLimit(t *testing.T) {
	g := newGateResolver()
	defer g.release()
	s := start(t, Config{Resolver: g, WaitLimit: 5, WaitLimitExempt: []netip.Prefix{}, DiscardTimeout: -1,
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	a := udpFrom(t, s, "127.0.0.1")
	for i := range 20 {
		sendQuery(t, a, uint16(i), "slow"+strconv.Itoa(i)+".example.", "")
	}
	early := readAnswers(t, a, 500*time.Millisecond)
	if c := countRcodes(early); len(early) != 15 || c[dns.RcodeServerFailure] != 15 {
		t.Fatalf("before the resolutions end: %d answers %v, want 15 SERVFAIL (5 waiting)", len(early), c)
	}
	// The same /24 shares the allowance; another /24 has its own.
	same := udpFrom(t, s, "127.0.0.2")
	sendQuery(t, same, 100, "slow100.example.", "")
	if got := readAnswers(t, same, 300*time.Millisecond); got[100] != dns.RcodeServerFailure {
		t.Errorf("127.0.0.2 while 127.0.0.1 has 5 waiting: %v, want SERVFAIL", got)
	}
	other := udpFrom(t, s, "127.0.1.1")
	sendQuery(t, other, 200, "slow200.example.", "")
	if got := readAnswers(t, other, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("127.0.1.1 was answered %v at once; it has its own allowance", got)
	}
	g.release()
	late := readAnswers(t, a, 500*time.Millisecond)
	if c := countRcodes(late); len(late) != 5 || c[dns.RcodeSuccess] != 5 {
		t.Errorf("after the resolutions end: %d answers %v, want 5 NOERROR", len(late), c)
	}
	for id := range late {
		if _, ok := early[id]; ok {
			t.Errorf("query %d answered twice", id)
		}
	}
	if got := readAnswers(t, other, 500*time.Millisecond); got[200] != dns.RcodeSuccess {
		t.Errorf("127.0.1.1: %v, want NOERROR", got)
	}
	if v := counterValue(t, s.m.waitLimited); v != 16 {
		t.Errorf("rampart_dns_rejected_queries_total{reason=wait_limit} = %v, want 16", v)
	}
	// Every slot came back: the client may wait for 5 again.
	for i := range 5 {
		sendQuery(t, a, uint16(300+i), "fast"+strconv.Itoa(i)+".example.", "")
	}
	if c := countRcodes(readAnswers(t, a, 300*time.Millisecond)); c[dns.RcodeSuccess] != 5 {
		t.Errorf("after the burst: %v, want 5 NOERROR", c)
	}
	for _, src := range []string{"127.0.0.1", "127.0.1.1"} {
		if n := s.waits.held(netip.MustParseAddr(src)); n != 0 {
			t.Errorf("%s's client still holds %d waiting queries", src, n)
		}
	}
}

// TestWaitLimitCookie: a client that proved its address with a valid
// server cookie may have WaitLimitCookie queries waiting; the count is
// the client's, whatever its queries carry.
func TestWaitLimitCookie(t *testing.T) {
	g := newGateResolver()
	defer g.release()
	s := start(t, Config{Resolver: g, WaitLimit: 2, WaitLimitCookie: 6, WaitLimitExempt: []netip.Prefix{}, DiscardTimeout: -1,
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c := udpFrom(t, s, "127.0.0.1")
	// A first query gets the server cookie.
	sendQuery(t, c, 1, "fast.example.", "0102030405060708")
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var r dns.Msg
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	valid := hex.EncodeToString(responseCookie(t, &r))
	for i := range 10 {
		sendQuery(t, c, uint16(10+i), "slow"+strconv.Itoa(i)+".example.", valid)
	}
	if got := countRcodes(readAnswers(t, c, 500*time.Millisecond)); got[dns.RcodeServerFailure] != 4 {
		t.Errorf("with a valid cookie: %v at once, want 4 SERVFAIL (6 waiting)", got)
	}
	// Without a cookie the client is over its limit of 2.
	sendQuery(t, c, 50, "slow50.example.", "")
	if got := readAnswers(t, c, 300*time.Millisecond); got[50] != dns.RcodeServerFailure {
		t.Errorf("without a cookie: %v, want SERVFAIL", got)
	}
}

// TestWaitLimitExempt: loopback clients are exempt by default, as in
// Unbound, so that a local forwarder for many clients is not limited.
func TestWaitLimitExempt(t *testing.T) {
	g := newGateResolver()
	defer g.release()
	s := start(t, Config{Resolver: g, WaitLimit: 2, DiscardTimeout: -1,
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c := udpFrom(t, s, "127.0.0.1")
	for i := range 6 {
		sendQuery(t, c, uint16(i), "slow"+strconv.Itoa(i)+".example.", "")
	}
	if got := readAnswers(t, c, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("loopback client answered at once: %v", got)
	}
	g.release()
	if got := countRcodes(readAnswers(t, c, 500*time.Millisecond)); got[dns.RcodeSuccess] != 6 {
		t.Errorf("after release: %v, want 6 NOERROR", got)
	}
}

// TestDiscardTimeout: the answer to a UDP query that waited longer than
// DiscardTimeout is not sent (the client retried or gave up long ago),
// but the same slow answer over TCP is, and a quick one over UDP too.
func TestDiscardTimeout(t *testing.T) {
	g := newGateResolver()
	g.delay = 600 * time.Millisecond
	s := start(t, Config{Resolver: g, DiscardTimeout: 200 * time.Millisecond,
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c := udpFrom(t, s, "127.0.0.1")
	sendQuery(t, c, 1, "slow.example.", "")
	sendQuery(t, c, 2, "fast.example.", "")
	got := readAnswers(t, c, 1500*time.Millisecond)
	if _, ok := got[1]; ok {
		t.Errorf("the answer to a query 600ms old was sent (discard timeout 200ms)")
	}
	if got[2] != dns.RcodeSuccess || len(got) != 1 {
		t.Errorf("answers %v, want only NOERROR to query 2", got)
	}
	if v := counterValue(t, s.m.discarded); v != 1 {
		t.Errorf("rampart_dns_rejected_queries_total{reason=discard_timeout} = %v, want 1", v)
	}
	q := new(dns.Msg)
	q.SetQuestion("slow2.example.", dns.TypeA)
	if r := exchange(t, s, "tcp", q); r.Rcode != dns.RcodeSuccess {
		t.Errorf("over TCP: %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
}

// dialTCPFrom opens a TCP connection to the server from the loopback
// address from.
func dialTCPFrom(t *testing.T, s *Server, from string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)),
		net.TCPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpAsk sends a query on c and returns the answer's rcode, or -1 when
// the connection closed (or answered nothing within a second).
func tcpAsk(t *testing.T, c *net.TCPConn, name string) int {
	t.Helper()
	conn := &dns.Conn{Conn: c}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if err := conn.WriteMsg(q); err != nil {
		return -1
	}
	r, err := conn.ReadMsg()
	if err != nil {
		return -1
	}
	return r.Rcode
}

// TestTCPPerSource: one client (a /24) may hold TCPPerSource connections;
// the next one is closed at once, and counted, while another network
// still gets a connection; a connection that closes frees its slot.
func TestTCPPerSource(t *testing.T) {
	s := start(t, Config{Resolver: &fakeResolver{}, TCPPerSource: 2, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	first := dialTCPFrom(t, s, "127.0.0.1")
	second := dialTCPFrom(t, s, "127.0.0.2")
	for i, c := range []*net.TCPConn{first, second} {
		if rc := tcpAsk(t, c, "a.example."); rc != dns.RcodeSuccess {
			t.Fatalf("connection %d: rcode %d", i+1, rc)
		}
	}
	third := dialTCPFrom(t, s, "127.0.0.3")
	if rc := tcpAsk(t, third, "a.example."); rc != -1 {
		t.Errorf("a third connection from 127.0.0.0/24 was served (rcode %d), limit 2", rc)
	}
	other := dialTCPFrom(t, s, "127.0.1.1")
	if rc := tcpAsk(t, other, "a.example."); rc != dns.RcodeSuccess {
		t.Errorf("a connection from another /24: rcode %d, want NOERROR", rc)
	}
	if v := counterValue(t, s.m.tcpPerSource); v != 1 {
		t.Errorf("rampart_dns_rejected_queries_total{reason=tcp_per_source_limit} = %v, want 1", v)
	}
	first.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := dialTCPFrom(t, s, "127.0.0.4")
		if tcpAsk(t, c, "a.example.") == dns.RcodeSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slot of a closed connection never came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTCPIdle: a connection that sends nothing for TCPIdle is closed and
// counted, whether it never sent a query or stopped after one.
func TestTCPIdle(t *testing.T) {
	s := start(t, Config{Resolver: &fakeResolver{}, TCPIdle: 200 * time.Millisecond, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	silent := dialTCPFrom(t, s, "127.0.0.1")
	once := dialTCPFrom(t, s, "127.0.0.1")
	if rc := tcpAsk(t, once, "a.example."); rc != dns.RcodeSuccess {
		t.Fatalf("rcode %d", rc)
	}
	for _, c := range []*net.TCPConn{silent, once} {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("read on an idle connection: %v, want EOF", err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("closed after %s, idle time-out 200ms", d)
		}
	}
	deadline := time.Now().Add(time.Second)
	for counterValue(t, s.m.tcpIdle) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v := counterValue(t, s.m.tcpIdle); v != 2 {
		t.Errorf("rampart_dns_tcp_idle_closed_total = %v, want 2", v)
	}
}

// TestWaitLimitTCP: the wait limit holds for pipelined TCP queries too,
// and the client's allowance is the same over both transports.
func TestWaitLimitTCP(t *testing.T) {
	g := newGateResolver()
	defer g.release()
	s := start(t, Config{Resolver: g, WaitLimit: 3, WaitLimitExempt: []netip.Prefix{},
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	u := udpFrom(t, s, "127.0.0.1")
	sendQuery(t, u, 1, "slow1.example.", "")
	if got := readAnswers(t, u, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("answered at once: %v", got)
	}
	c := &dns.Conn{Conn: dialTCPFrom(t, s, "127.0.0.1")}
	for i := range 6 {
		q := new(dns.Msg)
		q.SetQuestion("slow"+strconv.Itoa(10+i)+".example.", dns.TypeA)
		q.Id = uint16(10 + i)
		if err := c.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	servfail := 0
	for range 4 {
		r, err := c.ReadMsg()
		if err != nil {
			t.Fatalf("%d SERVFAIL answers before %v, want 4 (2 waiting over TCP, 1 over UDP)", servfail, err)
		}
		if r.Rcode == dns.RcodeServerFailure {
			servfail++
		}
	}
	g.release()
	for range 2 {
		r, err := c.ReadMsg()
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("after release: %v %v", r, err)
		}
	}
}
