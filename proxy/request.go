package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
)

// Limits of a request's header, as Squid's request_header_max_size (64
// KB) and Apache's LimitRequestFields (100).
const (
	MaxHeaderBytes  = 64 << 10
	MaxHeaderFields = 100
)

// requestError is a request refused before it is parsed, with the status
// and the reason the client is told; the connection is closed after it.
type requestError struct {
	status int
	reason string // metric label
	msg    string
}

func (e *requestError) Error() string { return e.msg }

var (
	errTooLarge = &requestError{http.StatusRequestHeaderFieldsTooLarge, "header_too_large", "the request header is larger than 64 KiB"}
	errTooMany  = &requestError{http.StatusRequestHeaderFieldsTooLarge, "too_many_fields", "the request header has more than 100 fields"}
)

// headerEnd returns the length of the header block at the start of b (up
// to and including the empty line), or -1 when it has not ended. A bare
// LF ends lines as CRLF does, as net/http reads them.
func headerEnd(b []byte, from int) int {
	for i := max(from, 1); i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if b[i-1] == '\n' {
			return i + 1
		}
		if b[i-1] == '\r' && i >= 2 && b[i-2] == '\n' {
			return i + 1
		}
	}
	return -1
}

// peekHeader waits until br holds a whole request header and returns it,
// without consuming it. A header larger than MaxHeaderBytes, or than br's
// buffer, is an error.
func peekHeader(br *bufio.Reader) ([]byte, error) {
	scanned := 0
	for {
		b, _ := br.Peek(br.Buffered())
		if n := headerEnd(b, max(0, scanned-3)); n >= 0 {
			return b[:n], nil
		}
		scanned = len(b)
		if len(b) >= MaxHeaderBytes {
			return nil, errTooLarge
		}
		if len(b) >= br.Size() {
			return nil, errTooLarge
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return nil, err
		}
	}
}

// checkHeader refuses what net/http would accept but a proxy must not
// pass on: a request with both Content-Length and Transfer-Encoding, or
// with differing Content-Lengths, a Transfer-Encoding other than plain
// "chunked" (the ways requests are smuggled past one parser and into
// another, RFC 9112 §6.3 and §11.2), obsolete line folding, and more
// fields than MaxHeaderFields. h is the header block as peekHeader
// returns it.
func checkHeader(h []byte) *requestError {
	// Skip the request line.
	i := bytes.IndexByte(h, '\n')
	if i < 0 {
		return nil
	}
	lines := h[i+1:]
	var cl, te []byte
	nCL, nTE, fields := 0, 0, 0
	for len(lines) > 0 {
		j := bytes.IndexByte(lines, '\n')
		if j < 0 {
			break
		}
		line := bytes.TrimSuffix(lines[:j], []byte{'\r'})
		lines = lines[j+1:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return &requestError{http.StatusBadRequest, "obs_fold", "obsolete line folding in the request header"}
		}
		fields++
		if fields > MaxHeaderFields {
			return errTooMany
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue // net/http refuses it
		}
		if n := bytes.TrimRight(name, " \t"); len(n) != len(name) {
			return &requestError{http.StatusBadRequest, "malformed", "white space before the colon of a header field"}
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			if nCL > 0 && !bytes.Equal(value, cl) {
				return &requestError{http.StatusBadRequest, "smuggling", "differing Content-Length fields"}
			}
			cl = value
			nCL++
		case asciiEqualFold(name, "transfer-encoding"):
			te = value
			nTE++
		}
	}
	if nTE > 0 && nCL > 0 {
		return &requestError{http.StatusBadRequest, "smuggling", "both Content-Length and Transfer-Encoding"}
	}
	if nTE > 1 || (nTE == 1 && !asciiEqualFold(te, "chunked")) {
		return &requestError{http.StatusBadRequest, "smuggling", "a Transfer-Encoding other than chunked"}
	}
	return nil
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hopHeaders are the fields of one connection, never forwarded (RFC 9110
// §7.6.1), besides those the Connection field names.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopHeaders deletes the connection's own fields from h.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// wantsClose reports whether the client asked to close the connection
// after this request (Connection: close, or HTTP/1.0 without keep-alive).
func wantsClose(r *http.Request) bool {
	for _, v := range r.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if strings.EqualFold(tok, "close") {
				return true
			}
			if strings.EqualFold(tok, "keep-alive") && r.ProtoMajor == 1 && r.ProtoMinor == 0 {
				return false
			}
		}
	}
	return r.ProtoMajor == 1 && r.ProtoMinor == 0
}

// errIdle says the client sent nothing within the idle time-out, or
// closed the connection between requests: not an error to report.
var errIdle = errors.New("idle")
