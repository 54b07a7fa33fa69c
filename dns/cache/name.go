package cache

import (
	"fmt"
)

// maxNameLen is the longest domain name in wire form, root label included
// (RFC 1035 §3.1).
const maxNameLen = 255

// maxLabelLen is the longest label (RFC 1035 §2.3.4); it also means label
// length octets never fall in 'A'..'Z', so a whole wire name can be
// lowercased byte by byte.
const maxLabelLen = 63

// nameToWire converts a presentation-format name ("www.example.com.") into
// uncompressed wire form in dst, keeping the case as written. A name without
// the final dot is taken as fully qualified, because the cache has no origin
// to append. Escapes \X and \DDD are understood as in RFC 1035 §5.1.
func nameToWire(s string, dst *[maxNameLen]byte) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("cache: empty domain name")
	}
	if s == "." {
		dst[0] = 0
		return 1, nil
	}
	n := 1        // next free octet; octet 0 waits for the first label's length
	labelAt := 0  // where the current label's length octet goes
	labelLen := 0 // octets in the current label so far
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '.':
			if labelLen == 0 {
				return 0, fmt.Errorf("cache: name %q: offset %d: empty label", s, i)
			}
			dst[labelAt] = byte(labelLen)
			labelAt = n
			labelLen = 0
			if n >= maxNameLen {
				return 0, fmt.Errorf("cache: name %q: offset %d: name longer than %d octets", s, i, maxNameLen)
			}
			n++
			continue
		case '\\':
			if i+1 >= len(s) {
				return 0, fmt.Errorf("cache: name %q: offset %d: trailing backslash", s, i)
			}
			if isDigit(s[i+1]) {
				if i+3 >= len(s) {
					return 0, fmt.Errorf("cache: name %q: offset %d: short \\DDD escape", s, i)
				}
				if !isDigit(s[i+2]) || !isDigit(s[i+3]) {
					return 0, fmt.Errorf("cache: name %q: offset %d: bad \\DDD escape", s, i)
				}
				v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
				if v > 255 {
					return 0, fmt.Errorf("cache: name %q: offset %d: \\DDD escape above 255", s, i)
				}
				c = byte(v)
				i += 3
			} else {
				c = s[i+1]
				i++
			}
		}
		if labelLen == maxLabelLen {
			return 0, fmt.Errorf("cache: name %q: offset %d: label longer than %d octets", s, i, maxLabelLen)
		}
		if n >= maxNameLen-1 {
			// One octet must stay free for the root label.
			return 0, fmt.Errorf("cache: name %q: offset %d: name longer than %d octets", s, i, maxNameLen)
		}
		dst[n] = c
		n++
		labelLen++
	}
	if labelLen > 0 {
		// Relative name: close the last label and add the root.
		dst[labelAt] = byte(labelLen)
		if n >= maxNameLen {
			return 0, fmt.Errorf("cache: name %q: name longer than %d octets", s, maxNameLen)
		}
		dst[n] = 0
		return n + 1, nil
	}
	// The name ended with a dot: labelAt is the root label, already counted.
	dst[labelAt] = 0
	return n, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// lowerWire lowercases a wire-form name in place. Length octets are at most
// 63 and so are left alone.
func lowerWire(b []byte) {
	for i, c := range b {
		b[i] = lowerByte(c)
	}
}

// equalFold reports whether two wire names are equal ignoring ASCII case.
func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

// isBelow reports whether wire name child equals parent or lies below it,
// ignoring case. Both must be well-formed uncompressed names.
func isBelow(child, parent []byte) bool {
	off := 0
	for off < len(child) {
		if len(child)-off < len(parent) {
			return false
		}
		if len(child)-off == len(parent) {
			return equalFold(child[off:], parent)
		}
		l := int(child[off])
		if l == 0 {
			return false
		}
		off += 1 + l
	}
	return false
}
