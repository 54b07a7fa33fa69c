package defrag

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/rampart-fw/rampart/internal/bufpool"
)

// Datagram is one datagram under reassembly, and, once Add reports it
// Complete, the caller's until Release: its original fragments in the
// order they arrived, and the reassembled packet.
type Datagram struct {
	key     Key
	policy  Policy
	sh      *shard
	src     *source // nil once unlinked
	created int64   // UnixNano of the first fragment
	done    bool    // handed out as complete

	// Links of the shard's age list and of the source's list.
	age, bySrc links

	frags  []frag  // in arrival order
	pieces []piece // what each fragment contributes, sorted by start, disjoint
	bytes  int     // charged to the shard and the source
	end    int     // length of the fragmentable part once the last fragment came; -1 before
	maxEnd int     // highest end of any fragment
}

// frag is one fragment as it arrived: a copy of its frame.
type frag struct {
	buf        []byte        // the frame, from the shard's pool
	class      bufpool.Class // the pool class of buf
	l3         int           // offset of the IP header in buf
	start, end int           // place of the data in the fragmentable part
	hdrLen     int           // IP header (IPv4) or unfragmentable part plus Fragment header (IPv6)
	unfrag     int           // IPv6: unfragmentable part; 0 for IPv4
	nhOff      int           // IPv6: offset of the next-header byte naming the Fragment header
	next       uint8         // IPv4 protocol, or the IPv6 Fragment header's next header
}

func (f *frag) v6() bool { return f.unfrag != 0 }

func (f *frag) data() []byte {
	o := f.l3 + f.hdrLen
	return f.buf[o : o+f.end-f.start]
}

// piece is a span of the fragmentable part whose bytes come from one
// fragment.
type piece struct {
	start, end int
	frag       int
}

// Key returns the datagram's key.
func (dg *Datagram) Key() Key { return dg.key }

// Policy returns the overlap policy the datagram was reassembled under.
func (dg *Datagram) Policy() Policy { return dg.policy }

// NumFragments returns how many fragments the datagram was made of (exact
// duplicates dropped under Drop are not among them).
func (dg *Datagram) NumFragments() int { return len(dg.frags) }

// Fragment returns the i-th fragment's frame as it arrived, link-layer
// header and all, in arrival order. It is valid until Release.
func (dg *Datagram) Fragment(i int) []byte { return dg.frags[i].buf }

// FragmentL3 returns the offset of the IP header in Fragment(i).
func (dg *Datagram) FragmentL3(i int) int { return dg.frags[i].l3 }

// L3 returns the offset of the IP header in what AppendPacket appends:
// the length of the first fragment's link-layer header, which leads the
// reassembled packet.
func (dg *Datagram) L3() int { return dg.frags[dg.pieces[0].frag].l3 }

// Len returns the length of what AppendPacket appends.
func (dg *Datagram) Len() int {
	h := &dg.frags[dg.pieces[0].frag]
	if h.v6() {
		return h.l3 + h.unfrag + dg.end
	}
	return h.l3 + h.hdrLen + dg.end
}

// AppendPacket appends the reassembled packet to dst and returns the
// result: the first fragment's link-layer header, then its IP header with
// the total (IPv4) or payload (IPv6) length set to the whole datagram's,
// the fragment fields cleared and the IPv4 header checksum recomputed, or
// the IPv6 Fragment header taken out; then the data, each byte from the
// fragment the policy chose. dst needs Len() bytes of room to be used
// without allocating.
func (dg *Datagram) AppendPacket(dst []byte) ([]byte, error) {
	if !dg.done {
		return dst, errNotComplete
	}
	h := &dg.frags[dg.pieces[0].frag]
	n := len(dst)
	// Every byte is written below: the pieces cover the data without a
	// hole.
	dst = slices.Grow(dst, dg.Len())[:n+dg.Len()]
	out := dst[n:]
	copy(out, h.buf[:h.l3])
	ip := out[h.l3:]
	var base int
	if h.v6() {
		copy(ip, h.buf[h.l3:h.l3+h.unfrag])
		base = h.unfrag
		binary.BigEndian.PutUint16(ip[4:], uint16(h.unfrag-ipv6Header+dg.end))
		ip[h.nhOff] = h.next
	} else {
		copy(ip, h.buf[h.l3:h.l3+h.hdrLen])
		base = h.hdrLen
		binary.BigEndian.PutUint16(ip[2:], uint16(h.hdrLen+dg.end))
		// Keep DF and the reserved bit as the sender set them; clear MF
		// and the offset.
		binary.BigEndian.PutUint16(ip[6:], binary.BigEndian.Uint16(ip[6:])&0xc000)
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ipv4Checksum(ip[:h.hdrLen]))
	}
	for _, p := range dg.pieces {
		f := &dg.frags[p.frag]
		copy(ip[base+p.start:base+p.end], f.data()[p.start-f.start:p.end-f.start])
	}
	return dst, nil
}

// ipv4Checksum is the Internet checksum (RFC 1071) of an IPv4 header
// whose checksum field is zero.
func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// overlaps reports whether [s, e) shares a byte with any piece held.
func (dg *Datagram) overlaps(s, e int) bool {
	for _, p := range dg.pieces {
		if p.start < e && s < p.end {
			return true
		}
	}
	return false
}

// duplicate reports whether a fragment with f's bounds and bytes is held.
func (dg *Datagram) duplicate(f *fragment) bool {
	for i := range dg.frags {
		h := &dg.frags[i]
		if h.start == f.start && h.end == f.end && bytes.Equal(h.data(), f.data) {
			return true
		}
	}
	return false
}

// complete reports whether the pieces cover the datagram from 0 to its
// end without a hole.
func (dg *Datagram) complete() bool {
	if dg.end < 0 {
		return false
	}
	c := 0
	for _, p := range dg.pieces {
		if p.start != c {
			return false
		}
		c = p.end
	}
	return c == dg.end
}

// place adds fragment fi, spanning [s, e), to the pieces: where it meets a
// piece, the policy decides who keeps those bytes, comparing the new
// fragment as sent with the piece as earlier overlaps left it (which is
// what the reassembly code of the systems modelled does). scratch is
// returned for reuse.
func (dg *Datagram) place(fi, s, e int, scratch []piece) []piece {
	out := scratch[:0]
	c := s // start of the part of [s, e) not yet given to the new fragment or refused
	for _, p := range dg.pieces {
		if p.end <= s || p.start >= e {
			out = append(out, p)
			continue
		}
		os, oe := max(s, p.start), min(e, p.end)
		if dg.policy.newWins(s, e, p.start, p.end) {
			if p.start < os {
				out = append(out, piece{p.start, os, p.frag})
			}
			if oe < p.end {
				out = append(out, piece{oe, p.end, p.frag})
			}
			continue
		}
		out = append(out, p)
		if c < os {
			out = append(out, piece{c, os, fi})
		}
		c = max(c, oe)
	}
	if c < e {
		out = append(out, piece{c, e, fi})
	}
	// Insertion sort: the list is short and nearly sorted.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].start < out[j-1].start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	dg.pieces = append(dg.pieces[:0], out...)
	return out
}

// charge adds n bytes to what dg, its source and its shard hold.
func (dg *Datagram) charge(sh *shard, n int) {
	dg.bytes += n
	sh.held += n
	dg.src.bytes += n
	sh.heap.Fix(dg.src)
}

// links are a datagram's place in one list.
type links struct{ older, newer *Datagram }

func ageLinks(dg *Datagram) *links { return &dg.age }
func srcLinks(dg *Datagram) *links { return &dg.bySrc }

// list is a doubly linked list of datagrams, oldest first, threaded
// through the links that lk picks out of each.
type list struct{ oldest, newest *Datagram }

// push adds dg as the newest.
func (l *list) push(dg *Datagram, lk func(*Datagram) *links) {
	*lk(dg) = links{older: l.newest}
	if l.newest != nil {
		lk(l.newest).newer = dg
	} else {
		l.oldest = dg
	}
	l.newest = dg
}

// remove takes dg out.
func (l *list) remove(dg *Datagram, lk func(*Datagram) *links) {
	k := lk(dg)
	if k.older != nil {
		lk(k.older).newer = k.newer
	} else {
		l.oldest = k.newer
	}
	if k.newer != nil {
		lk(k.newer).older = k.older
	} else {
		l.newest = k.older
	}
	*k = links{}
}

// oldestBut returns the source's oldest datagram other than dg, or nil.
func (s *source) oldestBut(dg *Datagram) *Datagram {
	for v := s.dgrams.oldest; v != nil; v = v.bySrc.newer {
		if v != dg {
			return v
		}
	}
	return nil
}
