package wire

import "encoding/binary"

const (
	// MaxNameLen is the longest name in wire form, the root label
	// included (RFC 1035 §3.1).
	MaxNameLen = 255
	// MaxLabelLen is the longest label (RFC 1035 §2.3.4). Length octets
	// are therefore never ASCII letters, and a wire name compares and
	// lowercases octet by octet.
	MaxLabelLen = 63
)

// SkipName returns the offset just after the name at off in msg. A name
// may end in a compression pointer, which is checked (it must point to a
// prior occurrence) but not followed. The labels it passes must fit in a
// name of MaxNameLen octets. On failure the offset is that of the label or
// pointer at fault.
func SkipName(msg []byte, off int) (int, error) {
	end, _, r := skipName(msg, off)
	if r != 0 {
		return end, fault(end, r)
	}
	return end, nil
}

// skipName is SkipName with its fault as a Reason (the offset returned is
// then the fault's), and whether the name ends in a pointer.
func skipName(msg []byte, off int) (end int, pointer bool, r Reason) {
	start, total := off, 0
	for {
		if uint(off) >= uint(len(msg)) {
			return off, false, ErrTruncated
		}
		c := msg[off]
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, false, 0
			}
			l := int(c)
			if off+1+l > len(msg) {
				return off, false, ErrTruncated
			}
			// The root (or what a pointer leads to) needs one more octet.
			if total += 1 + l; total+1 > MaxNameLen {
				return off, false, ErrNameLen
			}
			off += 1 + l
		case 0xC0:
			if off+2 > len(msg) {
				return off, false, ErrTruncated
			}
			if p := int(c&0x3F)<<8 | int(msg[off+1]); p >= start || p < HeaderLen {
				return off, false, ErrPointer
			}
			return off + 2, true, 0
		default:
			return off, false, ErrLabelType
		}
	}
}

// ReadName copies the name at off in msg into dst as an uncompressed wire
// name, following compression pointers, and returns its length and the
// offset just after the name where it starts (after its first pointer,
// if any). Case is kept. Each pointer must point before the labels that
// lead to it and not into the header, so every jump goes below the last
// and no name can loop; the whole name is at most MaxNameLen octets. On
// failure the offset is that of the label or pointer at fault.
func ReadName(msg []byte, off int, dst *[MaxNameLen]byte) (n, end int, err error) {
	end = -1
	limit := off // a pointer must point below this
	for {
		if uint(off) >= uint(len(msg)) {
			return 0, off, fault(off, ErrTruncated)
		}
		c := msg[off]
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				dst[n] = 0
				if end < 0 {
					end = off + 1
				}
				return n + 1, end, nil
			}
			l := int(c)
			if off+1+l > len(msg) {
				return 0, off, fault(off, ErrTruncated)
			}
			if n+1+l+1 > MaxNameLen {
				return 0, off, fault(off, ErrNameLen)
			}
			copy(dst[n:], msg[off:off+1+l])
			n += 1 + l
			off += 1 + l
		case 0xC0:
			if off+2 > len(msg) {
				return 0, off, fault(off, ErrTruncated)
			}
			p := int(c&0x3F)<<8 | int(msg[off+1])
			if p >= limit || p < HeaderLen {
				return 0, off, fault(off, ErrPointer)
			}
			if end < 0 {
				end = off + 2
			}
			limit, off = p, p
		default:
			return 0, off, fault(off, ErrLabelType)
		}
	}
}

// LowerByte is c in lower case when it is an ASCII letter.
func LowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// CopyLower copies src into dst in lower case (ASCII letters only, as DNS
// compares names: RFC 4343) and returns the number of octets copied. On a
// wire name it lowercases the labels and leaves the length octets. dst and
// src may be the same slice.
func CopyLower(dst, src []byte) int {
	n := min(len(dst), len(src))
	i := 0
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], lower8(binary.LittleEndian.Uint64(src[i:])))
	}
	for ; i < n; i++ {
		dst[i] = LowerByte(src[i])
	}
	return n
}

// EqualFold reports whether two uncompressed wire names are equal but for
// the case of ASCII letters (RFC 4343).
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x, y := binary.LittleEndian.Uint64(a[i:]), binary.LittleEndian.Uint64(b[i:])
		if x != y && lower8(x) != lower8(y) {
			return false
		}
	}
	for ; i < len(a); i++ {
		if x, y := a[i], b[i]; x != y && LowerByte(x) != LowerByte(y) {
			return false
		}
	}
	return true
}

// lower8 lowercases the ASCII letters among the eight octets of x at
// once: for each octet below 0x80, adding 0x80-'A' sets its top bit when
// it is at least 'A' and adding 0x80-('Z'+1) when it is past 'Z' (the sums
// stay below 0x100, so no octet carries into the next); a letter has the
// first and not the second, and its top bit moved down to 0x20 makes it
// lower case.
func lower8(x uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	low := x &^ high
	geA := low + (0x80-'A')*ones
	gtZ := low + (0x80-'Z'-1)*ones
	letters := geA &^ gtZ &^ x & high
	return x | letters>>2
}
