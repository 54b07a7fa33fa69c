package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// FuzzQueryPath feeds arbitrary client bytes through the fast path and the
// slow path's parsing: never a panic, and every answer parses, is a
// response, and is no larger than the query when it is an error.
func FuzzQueryPath(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	b, _ := q.Pack()
	f.Add(b)
	q.SetEdns0(1232, true)
	b, _ = q.Pack()
	f.Add(b)
	f.Add([]byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1})
	// Cookies: client only, client and server, malformed lengths, and a
	// second OPT record.
	for _, c := range []string{"0102030405060708", "2464c4abcf10c957010000005cf79f111f8130c3eee29480", "0102030405", "010203040506070809", ""} {
		b, _ := cookieQuery("www.example.", c).Pack()
		if c == "" {
			b = append(b, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 0)
			binary.BigEndian.PutUint16(b[10:], 2)
		}
		f.Add(b)
	}
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{},
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	if err != nil {
		f.Fatal(err)
	}
	s.ctx = context.Background()
	// The same with a cache, so that answers come from stored entries:
	// the slow path's own (AnswerJustStored) and later hits.
	sc, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{},
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}), Cache: newWireCache(f)})
	if err != nil {
		f.Fatal(err)
	}
	sc.ctx = context.Background()
	out := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, tt := range []struct {
			s   *Server
			src netip.Addr
		}{{s, netip.MustParseAddr("127.0.0.1")}, {s, netip.MustParseAddr("192.0.2.9")}, {sc, netip.MustParseAddr("127.0.0.1")}} {
			s, src := tt.s, tt.src
			n := s.fast(in, src, out)
			var resp []byte
			switch {
			case n > 0:
				// Without a cache the fast path answers only errors,
				// never larger than the query (no amplification).
				if s.cfg.Cache == nil && n > len(in) {
					t.Fatalf("error answer of %d bytes to a %d-byte query", n, len(in))
				}
				resp = out[:n]
			case n == 0:
				resp = s.slow(in, src, false)
			}
			if resp == nil {
				continue
			}
			var m dns.Msg
			if err := m.Unpack(resp); err != nil {
				t.Fatalf("answer does not parse: %v", err)
			}
			if !m.Response {
				t.Fatal("answer without QR")
			}
		}
	})
}

// FuzzReadEDNS checks the record walk that finds the COOKIE option
// against miekg/dns: never a panic or a read outside the message, and
// where both parse a message with one OPT record, the same cookie.
func FuzzReadEDNS(f *testing.F) {
	for _, c := range []string{"", "0102030405060708", "2464c4abcf10c957010000005cf79f111f8130c3eee29480", "01"} {
		b, _ := cookieQuery("www.example.", c).Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r wire.Reader
		if _, ok := r.OneQuestion(in); !ok {
			return
		}
		var e queryEDNS
		fault := readEDNS(&r, in, &e)
		if fault != 0 {
			return
		}
		var m dns.Msg
		if m.Unpack(in) != nil {
			return
		}
		opt := m.IsEdns0()
		if (opt != nil) != (e.udpSize != 0) {
			t.Fatalf("OPT: miekg %v, scan UDP size %d", opt != nil, e.udpSize)
		}
		var want string
		found := false
		if opt != nil {
			for _, o := range opt.Option {
				if c, ok := o.(*dns.EDNS0_COOKIE); ok {
					want, found = c.Cookie, true
					break
				}
			}
		}
		if found != e.cookieFound || (found && hex.EncodeToString(e.cookie) != want) {
			t.Fatalf("cookie: miekg %v %s, scan %v %x", found, want, e.cookieFound, e.cookie)
		}
	})
}
