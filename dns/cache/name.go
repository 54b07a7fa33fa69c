package cache

import (
	"fmt"

	"github.com/rampart-fw/rampart/dns/wire"
)

// nameToWire converts a presentation-format name ("www.example.com.") into
// uncompressed wire form in dst, keeping the case as written. A name without
// the final dot is taken as fully qualified, because the cache has no origin
// to append. Escapes \X and \DDD are understood as in RFC 1035 §5.1.
func nameToWire(s string, dst *[wire.MaxNameLen]byte) (int, error) {
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
			if n >= wire.MaxNameLen {
				return 0, fmt.Errorf("cache: name %q: offset %d: name longer than %d octets", s, i, wire.MaxNameLen)
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
		if labelLen == wire.MaxLabelLen {
			return 0, fmt.Errorf("cache: name %q: offset %d: label longer than %d octets", s, i, wire.MaxLabelLen)
		}
		if n >= wire.MaxNameLen-1 {
			// One octet must stay free for the root label.
			return 0, fmt.Errorf("cache: name %q: offset %d: name longer than %d octets", s, i, wire.MaxNameLen)
		}
		dst[n] = c
		n++
		labelLen++
	}
	if labelLen > 0 {
		// Relative name: close the last label and add the root.
		dst[labelAt] = byte(labelLen)
		if n >= wire.MaxNameLen {
			return 0, fmt.Errorf("cache: name %q: name longer than %d octets", s, wire.MaxNameLen)
		}
		dst[n] = 0
		return n + 1, nil
	}
	// The name ended with a dot: labelAt is the root label, already counted.
	dst[labelAt] = 0
	return n, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isBelow reports whether wire name child equals parent or lies below it,
// ignoring case. Both must be well-formed uncompressed names.
func isBelow(child, parent []byte) bool {
	off := 0
	for off < len(child) {
		if len(child)-off < len(parent) {
			return false
		}
		if len(child)-off == len(parent) {
			return wire.EqualFold(child[off:], parent)
		}
		l := int(child[off])
		if l == 0 {
			return false
		}
		off += 1 + l
	}
	return false
}
