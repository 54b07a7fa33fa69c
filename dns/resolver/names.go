package resolver

// Domain names in this package are in miekg/dns presentation form: fully
// qualified, with bytes outside the letter-digit-hyphen set escaped. Unpacked
// names never contain raw non-ASCII bytes, so ASCII case folding is exact.
// These helpers exist because dns.IsSubDomain and dns.CanonicalName allocate,
// and they run for every record of every upstream response.

// lowerASCII returns s with ASCII letters lowercased. It returns s itself,
// without allocating, when s holds no upper-case letter.
func lowerASCII(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// equalName reports whether two names are equal ignoring ASCII case.
func equalName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca >= 'A' && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if cb >= 'A' && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// isSubDomain reports whether child is parent or below it. Both must be fully
// qualified. A suffix match only counts when it starts at a label boundary,
// that is after a dot that is not itself escaped ("x\.example.lab." is not
// below "example.lab.").
func isSubDomain(child, parent string) bool {
	if parent == "." {
		return true
	}
	if len(child) < len(parent) {
		return false
	}
	off := len(child) - len(parent)
	if !equalName(child[off:], parent) {
		return false
	}
	if off == 0 {
		return true
	}
	if child[off-1] != '.' {
		return false
	}
	// The dot before the suffix ends a label only if an even number of
	// backslashes precede it.
	n := 0
	for i := off - 2; i >= 0 && child[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// isProperSubDomain reports whether child is strictly below parent.
func isProperSubDomain(child, parent string) bool {
	return len(child) > len(parent) && isSubDomain(child, parent)
}

// parentName returns the name with its first label removed; the parent of the
// root is the root.
func parentName(s string) string {
	if s == "." || s == "" {
		return "."
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip the escaped byte; a \DDD escape has no dot in it
		case '.':
			if i+1 >= len(s) {
				return "."
			}
			return s[i+1:]
		}
	}
	return "."
}

// labelCount returns the number of labels of a fully qualified name, not
// counting the root.
func labelCount(s string) int {
	if s == "." || s == "" {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			n++
		}
	}
	return n
}

// suffixLabels returns the last n labels of s as a fully qualified name.
func suffixLabels(s string, n int) string {
	total := labelCount(s)
	if n >= total {
		return s
	}
	if n <= 0 {
		return "."
	}
	for skip := total - n; skip > 0; skip-- {
		s = parentName(s)
	}
	return s
}
