package dnssec

import (
	"bytes"
	"crypto/sha1"

	"github.com/miekg/dns"
)

// maxLabels is the most labels a 255-octet wire name can hold besides the
// root: 127 one-octet labels.
const maxLabels = 127

// name is a domain name in lowercased, uncompressed wire form with the
// offset of every label. The proofs compare, cut and hash names many times
// per call; keeping them in a fixed array on the stack means none of that
// allocates, and working on the wire form means presentation escapes
// ("\." inside a label, "\065" for "A") cannot make two spellings of one
// name compare differently.
type name struct {
	wire [255]byte
	n    uint8            // octets used in wire, the root label included
	nl   uint8            // labels, the root excluded
	off  [maxLabels]uint8 // offset of each label's length octet, leftmost first
}

// parse reads a presentation-format name. A name without the final dot is
// taken as absolute. It reports false for anything that is not a valid
// domain name.
func (w *name) parse(s string) bool {
	if s == "" {
		return false
	}
	if !dns.IsFqdn(s) {
		s += "."
	}
	n, err := dns.PackDomainName(s, w.wire[:], 0, nil, false)
	if err != nil || n == 0 {
		return false
	}
	return w.index(n)
}

// index lowercases the wire form in place and records label offsets.
func (w *name) index(n int) bool {
	w.nl = 0
	for i := 0; i < n; {
		l := int(w.wire[i])
		if l == 0 {
			if i != n-1 {
				return false
			}
			w.n = uint8(n)
			return true
		}
		if l > 63 || i+1+l >= n || int(w.nl) == maxLabels {
			return false
		}
		w.off[w.nl] = uint8(i)
		w.nl++
		for j := i + 1; j <= i+l; j++ {
			if c := w.wire[j]; c >= 'A' && c <= 'Z' {
				w.wire[j] = c + 'a' - 'A'
			}
		}
		i += 1 + l
	}
	return false
}

// label returns the i-th label from the left, without its length octet.
func (w *name) label(i int) []byte {
	o := int(w.off[i])
	return w.wire[o+1 : o+1+int(w.wire[o])]
}

// labels is the RFC 4034 label count: the root and a leading "*" are not
// counted, which is what an RRSIG's Labels field holds for the name.
func (w *name) labels() int {
	if w.isWildcard() {
		return int(w.nl) - 1
	}
	return int(w.nl)
}

func (w *name) isWildcard() bool {
	return w.nl > 0 && w.wire[0] == 1 && w.wire[1] == '*'
}

// setSuffix makes w the name formed by the rightmost k labels of src.
func (w *name) setSuffix(src *name, k int) {
	if k > int(src.nl) {
		k = int(src.nl)
	}
	start := int(src.n) - 1 // the root label
	if k > 0 {
		start = int(src.off[int(src.nl)-k])
	}
	m := copy(w.wire[:], src.wire[start:src.n])
	w.n = uint8(m)
	w.nl = uint8(k)
	for i := 0; i < k; i++ {
		w.off[i] = src.off[int(src.nl)-k+i] - uint8(start)
	}
}

// setWildcard makes w the wildcard "*.<parent>". It reports false when the
// result would not fit a domain name.
func (w *name) setWildcard(parent *name) bool {
	if int(parent.n)+2 > len(w.wire) || int(parent.nl) >= maxLabels {
		return false
	}
	w.wire[0], w.wire[1] = 1, '*'
	copy(w.wire[2:], parent.wire[:parent.n])
	w.n = parent.n + 2
	w.nl = parent.nl + 1
	w.off[0] = 0
	for i := 0; i < int(parent.nl); i++ {
		w.off[i+1] = parent.off[i] + 2
	}
	return true
}

// String is the presentation form, for log reasons only.
func (w *name) String() string {
	s, _, err := dns.UnpackDomainName(w.wire[:w.n], 0)
	if err != nil {
		return "<invalid name>"
	}
	return s
}

func nameEqual(a, b *name) bool {
	return a.n == b.n && bytes.Equal(a.wire[:a.n], b.wire[:b.n])
}

// commonLabels counts the labels a and b share, from the right.
func commonLabels(a, b *name) int {
	n := 0
	for i, j := int(a.nl)-1, int(b.nl)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if !bytes.Equal(a.label(i), b.label(j)) {
			break
		}
		n++
	}
	return n
}

// isSubdomain reports whether child is parent or below it.
func isSubdomain(child, parent *name) bool {
	return child.nl >= parent.nl && commonLabels(child, parent) == int(parent.nl)
}

// isProperSubdomain reports whether child is strictly below parent.
func isProperSubdomain(child, parent *name) bool {
	return child.nl > parent.nl && commonLabels(child, parent) == int(parent.nl)
}

// canonicalCompare orders names as RFC 4034 section 6.1 does: label by
// label from the right, each label as a lowercased octet string in which a
// missing octet sorts before any present one.
func canonicalCompare(a, b *name) int {
	for i, j := int(a.nl)-1, int(b.nl)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := bytes.Compare(a.label(i), b.label(j)); c != 0 {
			return c
		}
	}
	switch {
	case a.nl < b.nl:
		return -1
	case a.nl > b.nl:
		return 1
	}
	return 0
}

// sameName compares two presentation names without allocating when both
// parse.
func sameName(a, b string) bool {
	if a == b {
		return true
	}
	var x, y name
	return x.parse(a) && y.parse(b) && nameEqual(&x, &y)
}

// nsec3Hash computes the RFC 5155 section 5 hash of w with SHA-1, the only
// NSEC3 hash algorithm defined. dns.HashName computes the same value but
// allocates on every call and every iteration; the closest-encloser search
// hashes once per label of the query name, so this one works in place.
func nsec3Hash(out *[sha1.Size]byte, w *name, salt []byte, iterations uint16) {
	var buf [255 + 255]byte
	n := copy(buf[:], w.wire[:w.n])
	n += copy(buf[n:], salt)
	*out = sha1.Sum(buf[:n])
	for i := 0; i < int(iterations); i++ {
		m := copy(buf[:], out[:])
		m += copy(buf[m:], salt)
		*out = sha1.Sum(buf[:m])
	}
}

// decodeHex decodes the hex string s into dst and returns the length; an
// NSEC3 salt is at most 255 octets, written "-" or "" when empty.
func decodeHex(dst []byte, s string) (int, bool) {
	if s == "-" {
		return 0, true
	}
	if len(s)%2 != 0 || len(s)/2 > len(dst) {
		return 0, false
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := hexNibble(s[i])
		lo, ok2 := hexNibble(s[i+1])
		if !ok1 || !ok2 {
			return 0, false
		}
		dst[i/2] = hi<<4 | lo
	}
	return len(s) / 2, true
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeBase32Hex decodes unpadded, case-insensitive base32hex (RFC 4648
// section 7), the encoding of NSEC3 owner labels and next hashed names,
// into dst and returns the length. Trailing bits that do not fill an octet
// must be zero, so each hash has exactly one spelling.
func decodeBase32Hex[T string | []byte](dst []byte, s T) (int, bool) {
	var acc uint64
	bits, n := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'A' && c <= 'V':
			v = c - 'A' + 10
		case c >= 'a' && c <= 'v':
			v = c - 'a' + 10
		default:
			return 0, false
		}
		acc = acc<<5 | uint64(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			if n == len(dst) {
				return 0, false
			}
			dst[n] = byte(acc >> uint(bits))
			n++
		}
	}
	if bits >= 5 || acc&(1<<uint(bits)-1) != 0 {
		return 0, false
	}
	return n, true
}

func hasType(bitmap []uint16, t uint16) bool {
	for _, b := range bitmap {
		if b == t {
			return true
		}
	}
	return false
}

// CanonicalCompare orders two presentation-format names as RFC 4034
// section 6.1 does (the order of NSEC chains), returning -1, 0 or +1. A
// name that does not parse sorts before every name that does. It does not
// allocate.
func CanonicalCompare(a, b string) int {
	var x, y name
	okx, oky := x.parse(a), y.parse(b)
	switch {
	case !okx && !oky:
		return 0
	case !okx:
		return -1
	case !oky:
		return 1
	}
	return canonicalCompare(&x, &y)
}

// NSEC3Hash is the RFC 5155 section 5 hash of name with SHA-1 under the
// salt (hex, as in an NSEC3 record) and the number of additional
// iterations. ok is false when name or salt is malformed.
func NSEC3Hash(s, salt string, iterations uint16) (h [sha1.Size]byte, ok bool) {
	var w name
	var sb [255]byte
	n, okSalt := decodeHex(sb[:], salt)
	if !w.parse(s) || !okSalt {
		return h, false
	}
	nsec3Hash(&h, &w, sb[:n], iterations)
	return h, true
}
