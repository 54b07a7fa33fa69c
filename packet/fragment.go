package packet

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/rampart-fw/rampart/ipproto"
)

// Errors of Fragmenter.Reset; fixed values, so that a refusal on the
// packet path allocates nothing.
var (
	ErrDontFragment = errors.New("packet: IPv4 packet with DF set may not be fragmented")
	ErrFragmentMTU  = errors.New("packet: MTU too small for a fragment of this packet")
	ErrFragmentExt  = errors.New("packet: IPv6 packet with extension headers is not fragmented here")
)

// Minimum MTUs: every IPv4 link carries 68 bytes (RFC 791), every IPv6
// link 1280 (RFC 8200 5).
const (
	MinMTUv4 = 68
	MinMTUv6 = 1280
)

// Fragmenter cuts an IP packet that is too large for a link into
// fragments that fit its MTU, one at a time into a buffer of the caller's,
// so that nothing is allocated:
//   - IPv4 as a router does (RFC 791, RFC 1812 5.2.6): the header is
//     repeated in every fragment, the options whose copy bit is set in
//     every one, the others in the first only; a packet that is already
//     a fragment is cut into smaller ones with offsets from its own and
//     the more-fragments flag of its last piece kept. A packet with DF set
//     is refused: the router must answer it with fragmentation needed.
//   - IPv6 as a source does for its own packets (RFC 8200 4.5; routers
//     never fragment): a Fragment header after the fixed header, with
//     the identification given. Packets with extension headers are
//     refused.
//
// The link-layer header before the packet, if any, starts every fragment.
// Transport checksums are not touched: they cover the whole datagram,
// which the receiver reassembles; a checksum left to offload must be
// completed (FillChecksum) before the packet is cut.
type Fragmenter struct {
	p       *Parsed
	mtu     int
	off     int // next fragment's data, relative to the packet's payload
	end     int // payload length
	id      uint32
	opts    [40]byte // IPv4 options of the fragments after the first
	optsLen int      // a multiple of 4
}

// Reset prepares f to cut p (decoded, valid) into fragments of at most mtu
// bytes of IP packet each. id is the identification of IPv6 fragments
// (IPv4 fragments keep the packet's).
func (f *Fragmenter) Reset(p *Parsed, mtu int, id uint32) error {
	*f = Fragmenter{p: p, mtu: mtu, id: id}
	if p.Invalid != Valid || p.IPVersion == 0 {
		return ErrInvalid
	}
	hl := p.IPHeaderLen
	f.end = p.IPLen - hl
	if p.IPVersion == 4 {
		if p.DontFragment {
			return ErrDontFragment
		}
		if mtu < MinMTUv4 || mtu-hl < 8 {
			return ErrFragmentMTU
		}
		f.copyOptions(p.Buf[p.L3Off+ipv4MinHeader : p.L3Off+hl])
		return nil
	}
	if p.NumExt > 0 {
		return ErrFragmentExt
	}
	if mtu < MinMTUv6 {
		return ErrFragmentMTU
	}
	return nil
}

// copyOptions keeps the IPv4 options whose copy bit is set, padded with
// end-of-list to a multiple of four bytes.
func (f *Fragmenter) copyOptions(o []byte) {
	n := 0
	for i := 0; i < len(o); {
		t := o[i]
		if t == 0 {
			break
		}
		l := 1
		if t != 1 {
			l = int(o[i+1]) // the decoder has checked the lengths
		}
		if t&0x80 != 0 {
			n += copy(f.opts[n:], o[i:i+l])
		}
		i += l
	}
	f.optsLen = (n + 3) &^ 3
	clear(f.opts[n:f.optsLen])
}

// Next appends the next fragment to dst and reports whether there was one.
func (f *Fragmenter) Next(dst []byte) ([]byte, bool) {
	p := f.p
	if p == nil || f.off >= f.end || (f.off > 0 && f.off == f.end) {
		return dst, false
	}
	first := f.off == 0
	hl := p.IPHeaderLen
	if p.IPVersion == 4 && !first {
		hl = ipv4MinHeader + f.optsLen
	}
	room := f.mtu - hl
	if p.IPVersion == 6 {
		room -= 8 // the Fragment header
	}
	n := f.end - f.off
	last := true
	if n > room {
		n, last = room&^7, false
	}
	link := p.Buf[:p.L3Off]
	data := p.Buf[p.L3Off+p.IPHeaderLen+f.off:][:n]
	start := len(dst)
	size := len(link) + hl + n
	if p.IPVersion == 6 {
		size += 8
	}
	dst = slices.Grow(dst, size)[:start+size]
	b := dst[start:]
	copy(b, link)
	h := b[len(link):]
	if p.IPVersion == 4 {
		copy(h, p.Buf[p.L3Off:p.L3Off+ipv4MinHeader])
		if first {
			copy(h[ipv4MinHeader:], p.Buf[p.L3Off+ipv4MinHeader:p.L3Off+hl])
		} else {
			copy(h[ipv4MinHeader:], f.opts[:f.optsLen])
		}
		h[0] = 0x40 | byte(hl/4)
		binary.BigEndian.PutUint16(h[2:], uint16(hl+n))
		ff := (int(p.FragOff) + f.off) / 8
		if !last || p.MoreFragments {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], uint16(ff))
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], Checksum(h[:hl], 0))
		copy(h[hl:], data)
	} else {
		copy(h, p.Buf[p.L3Off:p.L3Off+ipv6HeaderLen])
		binary.BigEndian.PutUint16(h[4:], uint16(8+n))
		h[6] = byte(ipproto.Fragment)
		fh := h[ipv6HeaderLen:]
		fh[0] = p.Buf[p.L3Off+6]
		fh[1] = 0
		fo := uint16(f.off)
		if !last {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], f.id)
		copy(fh[8:], data)
	}
	f.off += n
	if last {
		f.off = f.end
	}
	return dst, true
}
