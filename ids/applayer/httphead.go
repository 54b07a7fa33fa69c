package applayer

import "bytes"

// Parsing of a complete (or, at the end of a stream, partial) message
// head: the start line and the header lines, as libhtp reads them:
// lines end in LF with an optional CR before it; a line starting with
// white space continues the previous header (obs-fold), joined by its
// first white-space byte; names and values are trimmed; a line without
// a colon is a header with an empty name.

// splitLine returns the first line of b without its line end, and the
// rest after it.
func splitLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return trimCR(b), nil
	}
	return trimCR(b[:i]), b[i+1:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isLWS is libhtp's white space for trimming names and values.
func isLWS(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func trimLWS(b []byte) []byte {
	for len(b) > 0 && isLWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isLWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && eqFoldPrefix(b[:len(s)], s)
}

// requestLine is a parsed request line.
type requestLine struct {
	method, uri, proto []byte
	// version is 9, 10 or 11; 0 for a protocol that is not one of them
	// (HTTP/2.0 on an HTTP/1 connection, junk).
	version uint8
	// simple says there was no protocol at all: an HTTP/0.9 simple
	// request, whose response has no head.
	simple bool
	ok     bool // the method is a token
}

// parseRequestLine splits "method SP target SP protocol". The target
// may hold spaces (libhtp's allow-space-uri, which Suricata turns on):
// the protocol is the last word when it starts with "HTTP/".
func parseRequestLine(line []byte) requestLine {
	var r requestLine
	line = trimLeftSpace(trimCR(line))
	i := 0
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	r.method = line[:i]
	r.ok = len(r.method) > 0
	for _, c := range r.method {
		if !isTokenChar(c) {
			r.ok = false
			break
		}
	}
	rest := bytes.TrimRight(trimLeftSpace(line[i:]), " \t")
	j := bytes.LastIndexAny(rest, " \t")
	if j >= 0 && hasPrefixFold(rest[j+1:], "HTTP/") {
		r.proto = rest[j+1:]
		r.uri = bytes.TrimRight(rest[:j], " \t")
		r.version = httpVersion(r.proto)
		return r
	}
	r.uri, r.version, r.simple = rest, 9, true
	return r
}

// httpVersion reads "HTTP/1.1": 11, 10 or 9, else 0.
func httpVersion(p []byte) uint8 {
	if len(p) != 8 || !hasPrefixFold(p, "HTTP/") || p[6] != '.' {
		return 0
	}
	switch string(p[5:]) {
	case "1.1":
		return 11
	case "1.0":
		return 10
	case "0.9":
		return 9
	}
	return 0
}

// statusLine is a parsed status line.
type statusLine struct {
	code, msg []byte
	version   uint8
	status    int // 100-999; 0 when the code is not three digits
	ok        bool
}

// parseStatusLine splits "protocol SP code SP reason".
func parseStatusLine(line []byte) statusLine {
	var s statusLine
	line = trimLeftSpace(trimCR(line))
	if !hasPrefixFold(line, "HTTP/") {
		return s
	}
	s.ok = true
	i := 0
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	s.version = httpVersion(line[:i])
	rest := trimLeftSpace(line[i:])
	j := 0
	for j < len(rest) && !isSpace(rest[j]) {
		j++
	}
	s.code = rest[:j]
	s.msg = bytes.TrimRight(trimLeftSpace(rest[j:]), " \t")
	if len(s.code) == 3 && isDigit(s.code[0]) && isDigit(s.code[1]) && isDigit(s.code[2]) && s.code[0] != '0' {
		s.status = int(s.code[0]-'0')*100 + int(s.code[1]-'0')*10 + int(s.code[2]-'0')
	}
	return s
}

// Header flags: the ways a header line is not what RFC 9112 says.
const (
	hdrFolded           = 1 << iota // continued on the next line (obs-fold)
	hdrNoColon                      // no colon: the whole line is the value
	hdrSpaceBeforeColon             // white space between name and colon
	hdrBadName                      // the name is not a token
)

// header is one header of a head, its value trimmed and its folded
// lines joined.
type header struct {
	name, value []byte
	flags       uint8
	// Repeated names form a chain in order: first is the first of the
	// chain, next the following member (-1 at the end), last (valid on
	// the first) the final member.
	first, next, last int32
}

// headerList parses the header lines of block (the head after its start
// line) into w.hdrs; folded values are joined in w.arena. A head is read
// for its framing and again for its buffers, usually at once: the list
// is kept for the block it was read from (see w.hdrsOf).
func (w *Worker) headerList(block []byte) []header {
	if len(block) > 0 && len(w.hdrsOf) == len(block) && &w.hdrsOf[0] == &block[0] {
		return w.hdrs
	}
	w.hdrsOf = nil
	folded := false
	hs := w.hdrs[:0]
	for len(block) > 0 {
		line, rest := splitLine(block)
		block = rest
		if len(line) == 0 {
			break
		}
		if isSpace(line[0]) && len(hs) > 0 {
			// obs-fold: the previous value goes on after a space.
			prev := &hs[len(hs)-1]
			v := trimLWS(line)
			folded = true // values in the arena: not kept past its reset
			if prev.flags&hdrFolded == 0 {
				start := len(w.arena)
				w.arena = append(w.arena, prev.value...)
				prev.value = w.arena[start:]
				prev.flags |= hdrFolded
			}
			if len(v) > 0 {
				start := len(w.arena) - len(prev.value)
				if len(prev.value) > 0 {
					w.arena = append(w.arena, line[0])
				}
				w.arena = append(w.arena, v...)
				prev.value = w.arena[start:len(w.arena):len(w.arena)]
			}
			continue
		}
		var hd header
		c := bytes.IndexByte(line, ':')
		if c < 0 {
			hd.flags = hdrNoColon
			hd.value = trimLWS(line)
		} else {
			name := line[:c]
			if len(name) > 0 && isLWS(name[len(name)-1]) {
				hd.flags |= hdrSpaceBeforeColon
			}
			hd.name = trimLWS(name)
			hd.value = trimLWS(line[c+1:])
			if len(hd.name) == 0 || isLWS(name[0]) {
				hd.flags |= hdrBadName
			}
			for _, ch := range hd.name {
				if !isTokenChar(ch) {
					hd.flags |= hdrBadName
					break
				}
			}
		}
		hs = append(hs, hd)
	}
	w.hdrs = hs
	if !folded {
		w.hdrsOf = block
	}
	return hs
}

// mergeHeaders chains the headers of one name together, as libhtp's
// header table holds a repeated header once with its values joined.
func (w *Worker) mergeHeaders(hs []header) {
	size := 16
	for size < 2*len(hs) {
		size <<= 1
	}
	if cap(w.table) < size {
		w.table = make([]int32, size)
	}
	t := w.table[:size]
	for i := range t {
		t[i] = -1
	}
	for i := range hs {
		hd := &hs[i]
		hd.first, hd.next, hd.last = int32(i), -1, int32(i)
		for k := hashFold(hd.name) & uint32(size-1); ; k = (k + 1) & uint32(size-1) {
			j := t[k]
			if j < 0 {
				t[k] = int32(i)
				break
			}
			if g := &hs[j]; eqFoldBytes(g.name, hd.name) {
				hs[g.last].next = int32(i)
				g.last = int32(i)
				hd.first = j
				break
			}
		}
	}
}

// hashFold is FNV-1a over the lower-cased bytes.
func hashFold(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(lower(c))) * 16777619
	}
	return h
}

func eqFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// appendMerged appends the values of the chain starting at i joined by
// ", " (libhtp's joining of a repeated header; a repeated Content-Length
// keeps its first value, as libhtp keeps it).
func appendMerged(dst []byte, hs []header, i int32) []byte {
	if eqFold(hs[i].name, "content-length") {
		return append(dst, hs[i].value...)
	}
	for k := i; k >= 0; k = hs[k].next {
		if k != i {
			dst = append(dst, ", "...)
		}
		dst = append(dst, hs[k].value...)
	}
	return dst
}

// mergedValue returns the joined value of the chain at i: the value
// itself when the header is not repeated, else the values joined in
// w.arena.
func (w *Worker) mergedValue(hs []header, i int32) []byte {
	if hs[i].next < 0 || eqFold(hs[i].name, "content-length") {
		return hs[i].value
	}
	start := len(w.arena)
	w.arena = appendMerged(w.arena, hs, i)
	return w.arena[start:len(w.arena):len(w.arena)]
}

// headFacts are what a head says about the message's framing and the
// anomalies found in it.
type headFacts struct {
	length    uint64
	hasLength bool
	te        bool // Transfer-Encoding present
	chunked   bool // and its last coding is chunked
	codings   codings
	host      []byte // the first Host header's value
	hasHost   bool
	anomalies [8]Kind
	nAnomaly  int
}

func (hf *headFacts) anomaly(k Kind) {
	for i := range hf.nAnomaly {
		if hf.anomalies[i] == k {
			return
		}
	}
	if hf.nAnomaly < len(hf.anomalies) {
		hf.anomalies[hf.nAnomaly] = k
		hf.nAnomaly++
	}
}

// facts reads a head's framing headers.
func (w *Worker) facts(block []byte) headFacts {
	var fs headFacts
	hs := w.headerList(block)
	clBad, clDup, teBad := false, false, false
	chunkedSeen := 0
	for i := range hs {
		hd := &hs[i]
		if hd.flags != 0 {
			fs.anomaly(KindInvalidHeader)
		}
		switch {
		case eqFold(hd.name, "content-length"):
			n, ok := parseContentLength(hd.value)
			switch {
			case !ok:
				clBad = true
			case !fs.hasLength:
				fs.length, fs.hasLength = n, true
			case n != fs.length:
				clDup = true
			}
		case eqFold(hd.name, "transfer-encoding"):
			fs.te = true
			for tok, rest, ok := nextToken(hd.value); ok; tok, rest, ok = nextToken(rest) {
				if eqFold(tok, "chunked") {
					chunkedSeen++
					fs.chunked = true
				} else {
					fs.chunked = false
				}
			}
		case eqFold(hd.name, "content-encoding"):
			for tok, rest, ok := nextToken(hd.value); ok; tok, rest, ok = nextToken(rest) {
				if c := codingOf(tok); c != 0 {
					fs.codings.add(c)
				}
			}
		case eqFold(hd.name, "host"):
			if !fs.hasHost {
				fs.host, fs.hasHost = hd.value, true
			} else if !eqFoldBytes(fs.host, hd.value) {
				fs.anomaly(KindHostAmbiguous)
			}
		}
	}
	if fs.te && (!fs.chunked || chunkedSeen > 1) {
		teBad = true
	}
	if fs.te && (fs.hasLength || clBad) {
		fs.anomaly(KindCLAndTE)
	}
	if clDup {
		fs.anomaly(KindDuplicateCL)
	}
	if clBad {
		fs.anomaly(KindInvalidCL)
	}
	if teBad {
		fs.anomaly(KindInvalidTE)
	}
	return fs
}

// nextToken returns the first non-empty comma-separated element of a
// header value, trimmed, and the rest after it; ok is false when none
// is left.
func nextToken(v []byte) (tok, rest []byte, ok bool) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			tok, v = v, nil
		} else {
			tok, v = v[:i], v[i+1:]
		}
		if tok = trimLWS(tok); len(tok) > 0 {
			return tok, v, true
		}
	}
	return nil, nil, false
}

// parseContentLength reads a Content-Length: decimal digits, or a list of
// equal ones (RFC 9110 8.6 lets a recipient take "5, 5" as 5).
func parseContentLength(v []byte) (uint64, bool) {
	var n uint64
	seen := false
	for tok, rest, ok := nextToken(v); ok; tok, rest, ok = nextToken(rest) {
		if len(tok) > 18 {
			return 0, false
		}
		var m uint64
		for _, c := range tok {
			if !isDigit(c) {
				return 0, false
			}
			m = m*10 + uint64(c-'0')
		}
		if seen && m != n {
			return 0, false
		}
		n, seen = m, true
	}
	return n, seen
}
