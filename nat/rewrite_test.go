package nat

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/packet"
)

// TestApplyMatchesRebuilt: for random datagrams, segments, echoes and
// errors quoting them, a frame rewritten in place with incremental
// checksums is byte for byte the frame built from scratch with the new
// addresses and ports (gopacket computing every checksum in full).
func TestApplyMatchesRebuilt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	addr := func() string {
		return netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))}).String()
	}
	ep := func() string { return fmt.Sprintf("%s:%d", addr(), 1+rng.IntN(65535)) }
	for i := range 2000 {
		src, dst, nsrc, ndst := ep(), ep(), ep(), ep()
		payload := string(bytes.Repeat([]byte{byte(i)}, rng.IntN(64)))
		var in, want []byte
		rw := conntrack.Rewrite{Src: netip.MustParseAddrPort(nsrc), Dst: netip.MustParseAddrPort(ndst)}
		switch i % 4 {
		case 0:
			in, want = udp(t, src, dst, payload), udp(t, nsrc, ndst, payload)
		case 1:
			seq, ack := rng.Uint32(), rng.Uint32()
			in, want = tcp(t, src, dst, "PA", seq, ack, payload), tcp(t, nsrc, ndst, "PA", seq, ack, payload)
		case 2:
			id, seq := uint16(rng.IntN(65536)), uint16(rng.IntN(65536))
			s, d := netip.MustParseAddrPort(src).Addr().String(), netip.MustParseAddrPort(dst).Addr().String()
			rw.Dst = netip.AddrPortFrom(rw.Dst.Addr(), rw.Src.Port()) // an identifier is both ports
			in = echo(t, s, d, 8, id, seq)
			want = echo(t, rw.Src.Addr().String(), rw.Dst.Addr().String(), 8, rw.Src.Port(), seq)
		case 3:
			// An error from src about a datagram dst sent to it: the outer
			// destination and the quoted source become rw.Dst, the outer
			// source and the quoted destination rw.Src.
			quoted := udp(t, dst, src, payload)
			s, d := netip.MustParseAddrPort(src).Addr().String(), netip.MustParseAddrPort(dst).Addr().String()
			in = icmpErr(t, s, d, 3, 3, quoted, 0)
			want = icmpErr(t, rw.Src.Addr().String(), rw.Dst.Addr().String(), 3, 3, udp(t, ndst, nsrc, payload), 0)
		}
		var p packet.Parsed
		p.Decode(in)
		if err := Apply(&p, &rw); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(in, want) {
			t.Fatalf("case %d (%s -> %s as %+v):\n%x\nwant\n%x", i, src, dst, rw, in, want)
		}
	}
}

// FuzzApply: any frame, any rewrite, no panic; a frame whose checksums
// were right keeps them right when the rewrite succeeds.
func FuzzApply(f *testing.F) {
	f.Add(udp(f, "10.0.0.1:1", "10.0.0.2:2", "x"), []byte{192, 0, 2, 1, 0, 80, 192, 0, 2, 2, 0, 81})
	f.Add(icmpErr(f, "192.0.2.9", "10.0.0.2", 3, 3, tcp(f, "10.0.0.2:5", "198.51.100.1:80", "S", 1, 0, ""), 28), []byte{203, 0, 113, 1, 0, 5, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, frame, rwb []byte) {
		if len(rwb) < 12 {
			return
		}
		var p packet.Parsed
		p.Decode(frame)
		ok := p.Invalid == packet.Valid && p.VerifyChecksums()
		rw := conntrack.Rewrite{
			Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte(rwb[0:4])), uint16(rwb[4])<<8|uint16(rwb[5])),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte(rwb[6:10])), uint16(rwb[10])<<8|uint16(rwb[11])),
		}
		if rwb[0] == 0 {
			rw.Src = netip.AddrPort{}
		}
		if Apply(&p, &rw) != nil || !ok {
			return
		}
		var q packet.Parsed
		q.Decode(frame)
		if !q.VerifyChecksums() {
			t.Fatalf("checksums broken by %+v: %x", rw, frame)
		}
	})
}
