package defrag

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
)

var (
	src4 = netip.MustParseAddr("192.0.2.1")
	dst4 = netip.MustParseAddr("198.51.100.2")
	src6 = netip.MustParseAddr("2001:db8::1")
	dst6 = netip.MustParseAddr("2001:db8::2")
	t0   = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
)

// spec describes one hand-built fragment.
type spec struct {
	off  int  // in bytes
	more bool // more fragments
	data []byte
}

// fill returns n bytes of c.
func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// v4 builds an IPv4 fragment from src to dst with identification id and
// protocol proto.
func v4(src, dst netip.Addr, id uint16, proto ipproto.Proto, s spec) []byte {
	b := make([]byte, 20+len(s.data))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], id)
	ff := uint16(s.off / 8)
	if s.more {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], ff)
	b[8] = 64
	b[9] = byte(proto)
	copy(b[12:], src.AsSlice())
	copy(b[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(b[10:], ipv4Checksum(b[:20]))
	copy(b[20:], s.data)
	return b
}

// v6Plain builds an IPv6 fragment from src6 to dst6 with no extension
// header before the Fragment header, whose next header is next.
func v6Plain(id uint32, next ipproto.Proto, s spec) []byte { return v6(id, next, false, s) }

// hopByHop6 builds the same with a Hop-by-Hop header (unfragmentable)
// before the Fragment header.
func hopByHop6(id uint32, next ipproto.Proto, s spec) []byte { return v6(id, next, true, s) }

func v6(id uint32, next ipproto.Proto, hbh bool, s spec) []byte {
	b := make([]byte, 40, 64+len(s.data))
	b[0] = 0x60
	b[6] = byte(ipproto.Fragment)
	b[7] = 64
	copy(b[8:], src6.AsSlice())
	copy(b[24:], dst6.AsSlice())
	if hbh {
		b[6] = byte(ipproto.HopByHop)
		b = append(b, byte(ipproto.Fragment), 0, 1, 4, 0, 0, 0, 0) // PadN
	}
	fo := uint16(s.off)
	if s.more {
		fo |= 1
	}
	fh := make([]byte, 8)
	fh[0] = byte(next)
	binary.BigEndian.PutUint16(fh[2:], fo)
	binary.BigEndian.PutUint32(fh[4:], id)
	b = append(b, fh...)
	b = append(b, s.data...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	return b
}

func mustNew(t testing.TB, cfg Config) *Defragmenter {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// payloadOf returns the data after the IP header(s) of a reassembled
// packet without link layer.
func payloadOf(t testing.TB, pkt []byte) []byte {
	t.Helper()
	switch pkt[0] >> 4 {
	case 4:
		return pkt[int(pkt[0]&0xf)*4:]
	case 6:
		return pkt[40:]
	}
	t.Fatalf("not IP: % x", pkt[:1])
	return nil
}
