package content

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// Action is what a match does.
type Action uint8

const (
	// Block replaces the response with the proxy's block page.
	Block Action = iota
	// StripScript removes the HTML <script> element that holds the
	// match; a match anywhere else (outside a script, or in a body that
	// is not HTML) blocks.
	StripScript
)

// ParseAction reads an action as the configuration writes it.
func ParseAction(s string) (Action, error) {
	switch s {
	case "block":
		return Block, nil
	case "strip_script":
		return StripScript, nil
	}
	return 0, fmt.Errorf("unknown action %q: want block or strip_script", s)
}

func (a Action) String() string {
	if a == StripScript {
		return "strip_script"
	}
	return "block"
}

// Filter is the content filter's configuration, read-only once built and
// safe for concurrent use.
type Filter struct {
	m        Matcher
	patterns []string
	action   Action
	maxBody  int
}

// New returns a filter that looks for patterns (through m, built from the
// same patterns in the same order), acting as action says, holding at
// most maxBody bytes of a body.
func New(m Matcher, patterns []string, action Action, maxBody int) *Filter {
	return &Filter{m: m, patterns: patterns, action: action, maxBody: max(maxBody, 1)}
}

// Action returns the filter's action.
func (f *Filter) Action() Action { return f.action }

// Scannable reports whether bodies of a content type are scanned: HTML,
// JavaScript, JSON, and bodies without a type (which browsers sniff);
// not plain text, images, media or downloads.
func Scannable(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		// Unparseable: a browser may still sniff it as HTML.
		return true
	}
	switch mt {
	case "text/html", "application/xhtml+xml", "text/javascript", "application/javascript",
		"application/x-javascript", "application/ecmascript", "text/ecmascript", "application/json",
		"text/json":
		return true
	}
	return strings.HasSuffix(mt, "+json")
}

func isHTML(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/html" || mt == "application/xhtml+xml" || contentType == ""
}

// Verdict is what the filter made of a body.
type Verdict uint8

const (
	// Pass: send the body as it came.
	Pass Verdict = iota
	// Blocked: send the block page instead.
	Blocked
	// Stripped: send Result.Body, decoded and rewritten, in place of the
	// body (without its Content-Encoding and with a new length).
	Stripped
)

// Result is the filter's answer for one body.
type Result struct {
	Verdict Verdict
	// Pattern is the pattern that blocked or was stripped; Reason says
	// why a body that no pattern matched was blocked (an encoding that
	// cannot be decoded).
	Pattern string
	Reason  string
	// Body is what to send first: the wire bytes held (Pass), or the
	// rewritten decoded body (Stripped).
	Body []byte
	// Rest, when not nil, is the rest of a body longer than the limit:
	// its wire bytes, still scanned as they are read. A match makes Read
	// return a *MatchError, after which the response must be cut short.
	Rest io.Reader
	// Scripts is how many script elements were stripped.
	Scripts int

	s *scanner // the buffers, for Release
}

// Release hands the result's buffers back for reuse: Body and Rest must
// not be used after it. Calling it is optional, and once is enough.
func (r *Result) Release() {
	if r == nil || r.s == nil {
		return
	}
	s := r.s
	r.s, r.Body, r.Rest = nil, nil, nil
	if s.decoded != nil && cap(s.decoded) <= 4*readChunk {
		s.f, s.dec, s.src, s.srcv, s.identity = nil, nil, nil, sourceReader{}, false
		s.decoded, s.tail, s.window, s.pending = s.decoded[:0], s.tail[:0], s.window[:0], nil
		s.done, s.err = false, nil
		s.wire.Reset()
		scanners.Put(s)
	}
}

var scanners = sync.Pool{New: func() any { return &scanner{buf: make([]byte, readChunk)} }}

// MatchError is Rest's error when a pattern turns up past the bytes held.
type MatchError struct{ Pattern string }

func (e *MatchError) Error() string {
	return fmt.Sprintf("content: pattern %q past the bytes held", e.Pattern)
}

// ErrDecode wraps an error of a body's decoder (a corrupt gzip stream).
var ErrDecode = errors.New("content: cannot decode body")

const readChunk = 32 << 10

// Scan reads body as far as it needs to: the whole of it when it fits in
// the limit (held, scanned, and returned in Result.Body), else the limit's
// worth and a Rest that streams and scans the remainder. contentType says
// whether the body is HTML (for StripScript); contentEncoding is the
// response's Content-Encoding. Read errors of body are returned as they
// are, and errors of the decoder wrapped in ErrDecode.
func (f *Filter) Scan(body io.Reader, contentType, contentEncoding string) (*Result, error) {
	s := scanners.Get().(*scanner)
	s.f, s.srcv = f, sourceReader{r: body}
	s.src = &s.srcv
	enc := strings.ToLower(strings.TrimSpace(contentEncoding))
	if enc == "" || enc == "identity" {
		s.identity = true
		s.dec = s.src
	} else {
		tee := io.TeeReader(s.src, &s.wire)
		var err error
		switch enc {
		case "gzip", "x-gzip":
			s.dec, err = gzip.NewReader(tee)
		case "br":
			s.dec = brotli.NewReader(tee)
		case "deflate":
			s.dec, err = deflateReader(tee)
		default:
			return &Result{Verdict: Blocked, Reason: fmt.Sprintf("content encoding %q cannot be scanned", contentEncoding)}, nil
		}
		if err != nil {
			return nil, s.wrap(err)
		}
	}
	return s.hold(isHTML(contentType))
}

// sourceReader remembers the error of the body it reads, so that a
// decoder's failure can be told from the transport's.
type sourceReader struct {
	r   io.Reader
	err error
}

func (r *sourceReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// deflateReader reads HTTP's "deflate", which is zlib (RFC 1950) but which
// some servers send as raw deflate (RFC 1951).
func deflateReader(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	h, err := br.Peek(2)
	if err != nil {
		return nil, err
	}
	if h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

type scanner struct {
	f        *Filter
	identity bool
	src      *sourceReader // the body as it comes (&srcv)
	srcv     sourceReader
	dec      io.Reader    // decoded bytes
	wire     bytes.Buffer // wire bytes the decoder has taken (encoded bodies)
	decoded  []byte       // decoded bytes held
	buf      []byte
	// Streaming, past the limit: the last MaxLen-1 decoded bytes, and
	// the window scanned (tail and a new read).
	tail, window []byte
	pending      []byte // wire bytes to hand out
	done         bool
	err          error
}

func (s *scanner) heldWire() []byte {
	if s.identity {
		return s.decoded
	}
	return s.wire.Bytes()
}

func (s *scanner) hold(html bool) (*Result, error) {
	f := s.f
	keep := f.m.MaxLen() - 1
	firstMatch := -1
	for {
		n, err := s.dec.Read(s.buf)
		if n > 0 {
			start := max(0, len(s.decoded)-keep)
			s.decoded = append(s.decoded, s.buf[:n]...)
			if firstMatch < 0 {
				if at, p := f.m.Find(s.decoded[start:]); at >= 0 {
					firstMatch = p
					if f.action == Block || !html {
						return &Result{Verdict: Blocked, Pattern: f.patterns[p]}, nil
					}
				}
			}
			if len(s.decoded) > f.maxBody || len(s.heldWire()) > f.maxBody {
				if firstMatch >= 0 {
					// Too long to strip: the script cannot be cut out of
					// bytes not held.
					return &Result{Verdict: Blocked, Pattern: f.patterns[firstMatch]}, nil
				}
				return s.stream(), nil
			}
		}
		if err == io.EOF {
			if err := s.drain(f.maxBody); err != nil {
				return nil, err
			}
			break
		}
		if err != nil {
			return nil, s.wrap(err)
		}
	}
	if firstMatch < 0 {
		return &Result{Verdict: Pass, Body: s.heldWire(), s: s}, nil
	}
	out, n, blocked := stripScripts(s.decoded, f.m)
	if blocked >= 0 {
		return &Result{Verdict: Blocked, Pattern: f.patterns[blocked]}, nil
	}
	return &Result{Verdict: Stripped, Pattern: f.patterns[firstMatch], Body: out, Scripts: n}, nil
}

// wrap returns the body's own error as it is, and marks the decoder's as
// ErrDecode.
func (s *scanner) wrap(err error) error {
	if s.identity || s.src.err != nil {
		if s.src.err != nil {
			return s.src.err
		}
		return err
	}
	return fmt.Errorf("%w: %v", ErrDecode, err)
}

// drain takes what follows the end of an encoded stream (a decoder stops
// at its end, and the client must get every byte the Content-Length
// promised): at most limit bytes, which are not scanned; more is an
// error.
func (s *scanner) drain(limit int) error {
	if s.identity {
		return nil
	}
	n, err := io.Copy(&s.wire, io.LimitReader(s.src, int64(limit)+1))
	if err != nil {
		return err
	}
	if n > int64(limit) {
		return fmt.Errorf("%w: more than %d bytes after the end of the encoded body", ErrDecode, limit)
	}
	return nil
}

// stream returns the Result for a body past the limit: what is held goes
// first, and Rest goes on scanning.
func (s *scanner) stream() *Result {
	keep := s.f.m.MaxLen() - 1
	held := s.heldWire()
	body := make([]byte, len(held))
	copy(body, held)
	s.tail = append(s.tail[:0], s.decoded[max(0, len(s.decoded)-keep):]...)
	s.decoded = nil
	s.wire.Reset()
	return &Result{Verdict: Pass, Body: body, Rest: s}
}

// Read implements Result.Rest.
func (s *scanner) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		n, err := s.dec.Read(s.buf)
		if n > 0 {
			keep := s.f.m.MaxLen() - 1
			s.window = append(append(s.window[:0], s.tail...), s.buf[:n]...)
			if at, pat := s.f.m.Find(s.window); at >= 0 {
				s.err = &MatchError{Pattern: s.f.patterns[pat]}
				return 0, s.err
			}
			s.tail = append(s.tail[:0], s.window[max(0, len(s.window)-keep):]...)
			if s.identity {
				s.pending = s.buf[:n]
			}
		}
		if !s.identity {
			s.pending = append(s.pending[:0], s.wire.Bytes()...)
			s.wire.Reset()
		}
		if err == io.EOF {
			s.done = true
			if err := s.drain(readChunk); err != nil {
				s.err = err
			}
			s.pending = append(s.pending, s.wire.Bytes()...)
			s.wire.Reset()
		} else if err != nil {
			s.err = s.wrap(err)
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}
