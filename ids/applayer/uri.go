package applayer

// The request URI's parts and their normalisation, as libhtp does it
// under Suricata's default configuration (the IDS personality with
// lower-casing turned off, '+' left alone): the path is percent-decoded
// (%uXXXX too), backslashes become slashes, encoded slashes are decoded,
// runs of slashes are compressed, UTF-8 is folded to single bytes, and
// dot segments are removed; the query and fragment are percent-decoded
// only. Normalisation never allocates: it appends to the caller's
// buffer.

// uriParts are the pieces of a request target, slices of it.
type uriParts struct {
	authority []byte // host[:port] of an absolute or authority-form target, without userinfo; nil if none
	host      []byte // the host part of authority
	path      []byte
	query     []byte
	fragment  []byte
	hasPath   bool
	hasQuery  bool
	hasFrag   bool
}

// parseURI splits a request target. connect says it is CONNECT's
// authority form (host:port).
func parseURI(u []byte, connect bool) uriParts {
	var p uriParts
	if connect {
		p.authority = u
		p.host = hostOf(u)
		return p
	}
	rest := u
	if len(u) > 0 && u[0] != '/' {
		if n := schemeLen(u); n > 0 {
			rest = u[n+1:]
			if len(rest) >= 2 && rest[0] == '/' && rest[1] == '/' {
				a := rest[2:]
				end := 0
				for end < len(a) && a[end] != '/' && a[end] != '?' && a[end] != '#' {
					end++
				}
				auth := a[:end]
				for i := len(auth) - 1; i >= 0; i-- {
					if auth[i] == '@' {
						auth = auth[i+1:]
						break
					}
				}
				p.authority = auth
				p.host = hostOf(auth)
				rest = a[end:]
			}
		}
	}
	end := 0
	for end < len(rest) && rest[end] != '?' && rest[end] != '#' {
		end++
	}
	if end > 0 {
		p.path, p.hasPath = rest[:end], true
	}
	rest = rest[end:]
	if len(rest) > 0 && rest[0] == '?' {
		end = 1
		for end < len(rest) && rest[end] != '#' {
			end++
		}
		p.query, p.hasQuery = rest[1:end], true
		rest = rest[end:]
	}
	if len(rest) > 0 && rest[0] == '#' {
		p.fragment, p.hasFrag = rest[1:], true
	}
	return p
}

// schemeLen returns the length of an RFC 3986 scheme followed by ':'
// at the start of u, or 0.
func schemeLen(u []byte) int {
	if len(u) == 0 || !isAlpha(u[0]) {
		return 0
	}
	for i := 1; i < len(u); i++ {
		c := u[i]
		switch {
		case c == ':':
			return i
		case isAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.':
		default:
			return 0
		}
	}
	return 0
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// hostOf returns the host of an authority (host[:port]): a bracketed
// IPv6 literal with its brackets, or what precedes the port's colon;
// leading and trailing spaces dropped, as libhtp does.
func hostOf(a []byte) []byte {
	for len(a) > 0 && a[0] == ' ' {
		a = a[1:]
	}
	end := 0
	if len(a) > 0 && a[0] == '[' {
		for end < len(a) && a[end] != ']' && a[end] != '/' && a[end] != '?' && a[end] != '#' {
			end++
		}
		if end < len(a) && a[end] == ']' {
			end++
		}
	} else {
		for end < len(a) && a[end] != ':' && a[end] != '/' && a[end] != '?' && a[end] != '#' {
			end++
		}
	}
	h := a[:end]
	for len(h) > 0 && h[len(h)-1] == ' ' {
		h = h[:len(h)-1]
	}
	return h
}

// appendNormHost appends a host name normalised for http.host: lower
// case, without the trailing dots of a fully qualified name. decode
// percent-decodes it first (a host from the URI, as libhtp does).
func appendNormHost(dst, host []byte, decode bool) []byte {
	start := len(dst)
	if decode {
		dst = appendDecoded(dst, host)
	} else {
		dst = append(dst, host...)
	}
	for i := start; i < len(dst); i++ {
		dst[i] = lower(dst[i])
	}
	for len(dst) > start && dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// appendNormURI appends http.uri: the normalised path, then "?" and the
// decoded query, then "#" and the decoded fragment, those present. ok
// is false when the target has none of them (an authority alone), and
// the buffer is then absent, as in Suricata.
func appendNormURI(dst []byte, p uriParts) ([]byte, bool) {
	if !p.hasPath && !p.hasQuery && !p.hasFrag {
		return dst, false
	}
	if p.hasPath {
		dst = appendNormPath(dst, p.path)
	}
	if p.hasQuery {
		dst = append(dst, '?')
		dst = appendDecoded(dst, p.query)
	}
	if p.hasFrag {
		dst = append(dst, '#')
		dst = appendDecoded(dst, p.fragment)
	}
	return dst, true
}

// appendNormPath appends a normalised path.
func appendNormPath(dst, p []byte) []byte {
	start := len(dst)
	for i := 0; i < len(p); {
		c, n := decodeAt(p, i)
		i += n
		if c == '\\' {
			c = '/'
		}
		if c == '/' && len(dst) > start && dst[len(dst)-1] == '/' {
			continue
		}
		dst = append(dst, c)
	}
	n := foldUTF8(dst[start:])
	n = removeDotSegments(dst[start : start+n])
	return dst[:start+n]
}

// appendDecoded appends b percent-decoded (%XX and %uXXXX; an invalid
// escape keeps its '%'; '+' stays).
func appendDecoded(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c, n := decodeAt(b, i)
		i += n
		dst = append(dst, c)
	}
	return dst
}

// decodeAt decodes the byte at b[i]: an escape %XX, or %uXXXX folded to
// one byte (the low byte when the high one is zero, else its best fit),
// or the byte itself. It returns the byte and how many input bytes it
// took.
func decodeAt(b []byte, i int) (byte, int) {
	c := b[i]
	if c != '%' {
		return c, 1
	}
	if i+1 < len(b) && b[i+1]|0x20 == 'u' {
		if i+5 < len(b) && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]) {
			hi := unhex(b[i+2])<<4 | unhex(b[i+3])
			lo := unhex(b[i+4])<<4 | unhex(b[i+5])
			if hi == 0 {
				return lo, 6
			}
			return bestFit(rune(hi)<<8 | rune(lo)), 6
		}
		return '%', 1
	}
	if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
		return unhex(b[i+1])<<4 | unhex(b[i+2]), 3
	}
	return '%', 1
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// bestFit folds a code point to one byte as Windows' best-fit mapping
// for code page 1252 does for the characters that matter to paths: Latin-1
// is itself, the full-width forms of ASCII (U+FF01-U+FF5E) are ASCII, and
// the look-alike separators (division slash, fraction slash, set minus,
// ratio) are '/', '\' and ':'. Anything else is '?', libhtp's replacement
// byte. (libhtp's table also folds accented letters to their base letter;
// those cannot form a separator or a dot, which is what evasion needs.)
func bestFit(cp rune) byte {
	switch {
	case cp < 0x100:
		return byte(cp)
	case 0xff01 <= cp && cp <= 0xff5e:
		return byte(cp - 0xff01 + 0x21)
	}
	switch cp {
	case 0x2215, 0x2044:
		return '/'
	case 0x2216:
		return '\\'
	case 0x2236:
		return ':'
	}
	return '?'
}

// foldUTF8 rewrites b in place, each UTF-8 sequence folded to one byte
// by bestFit, and returns the new length. Overlong forms are decoded (so
// "%c0%ae" is a dot); surrogates and sequences beyond U+10FFFF are
// invalid. An invalid sequence becomes '?' and its offending byte starts
// the next one, and an incomplete sequence at the end leaves one '?' per
// byte after its first, as libhtp's decoder does.
func foldUTF8(b []byte) int {
	w := 0
	for i := 0; i < len(b); {
		c := b[i]
		var n int
		var cp rune
		switch {
		case c < 0x80:
			b[w] = c
			w++
			i++
			continue
		case c < 0xc0 || c >= 0xf5:
			b[w] = '?'
			w++
			i++
			continue
		case c < 0xe0:
			n, cp = 2, rune(c&0x1f)
		case c < 0xf0:
			n, cp = 3, rune(c&0x0f)
		default:
			n, cp = 4, rune(c&0x07)
		}
		j := 1
		for ; j < n && i+j < len(b); j++ {
			cc := b[i+j]
			lo, hi := byte(0x80), byte(0xbf)
			if j == 1 {
				switch c {
				case 0xed:
					hi = 0x9f // no surrogates
				case 0xf4:
					hi = 0x8f // nothing past U+10FFFF
				}
			}
			if cc < lo || cc > hi {
				break
			}
			cp = cp<<6 | rune(cc&0x3f)
		}
		switch {
		case j == n:
			b[w] = bestFit(cp)
			w++
			i += n
		case i+j == len(b):
			// Cut short by the end.
			for range j - 1 {
				b[w] = '?'
				w++
			}
			i += j
		default:
			b[w] = '?'
			w++
			i += j
		}
	}
	return w
}

// removeDotSegments removes "." and ".." segments from a path in place
// and returns its new length, with libhtp's results where they differ
// from RFC 3986's algorithm: a trailing "/.", "/..", "/./" or "/../"
// leaves no slash behind; a ".." above the root is dropped; a leading
// "./" or "../" goes.
func removeDotSegments(s []byte) int {
	const (
		start = iota
		dot
		dotDot
		slash
		slashDot
		slashDotDot
		afterDots // a slash that followed "." or "..": as slash, but not written at the end
		regular
	)
	state, w := start, 0
	put := func(c ...byte) {
		w += copy(s[w:], c)
	}
	back := func() { // remove the last output segment and its slash
		for w > 0 && s[w-1] != '/' {
			w--
		}
		if w > 0 {
			w--
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case start:
			switch c {
			case '.':
				state = dot
			case '/':
				state = slash
			default:
				put(c)
				state = regular
			}
		case dot:
			switch c {
			case '.':
				state = dotDot
			case '/':
				state = start
			default:
				put('.', c)
				state = regular
			}
		case dotDot:
			if c == '/' {
				state = start
			} else {
				put('.', '.', c)
				state = regular
			}
		case slash, afterDots:
			if c == '.' {
				state = slashDot
			} else {
				put('/', c)
				state = regular
			}
		case slashDot:
			switch c {
			case '/':
				state = afterDots
			case '.':
				state = slashDotDot
			default:
				put('/', '.', c)
				state = regular
			}
		case slashDotDot:
			if c == '/' {
				back()
				state = afterDots
			} else {
				put('/', '.', '.', c)
				state = regular
			}
		case regular:
			if c == '/' {
				state = slash
			} else {
				put(c)
			}
		}
	}
	switch state {
	case slash:
		put('/')
	case slashDotDot:
		back()
	}
	return w
}
