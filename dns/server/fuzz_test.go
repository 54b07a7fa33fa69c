package server

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
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
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{},
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	if err != nil {
		f.Fatal(err)
	}
	s.ctx = context.Background()
	out := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, src := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.9")} {
			n := s.fast(in, src, out)
			var resp []byte
			switch {
			case n > 0:
				if n > len(in) {
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
