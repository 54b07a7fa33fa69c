package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// record is one line of the access log.
type record struct {
	start  time.Time
	client netip.Addr
	// action is Squid's result code: TCP_MISS, TCP_MEM_HIT,
	// TCP_REFRESH_UNMODIFIED, TCP_REFRESH_MODIFIED, TCP_DENIED,
	// TCP_TUNNEL, NONE_NONE; with _ABORTED when the response was cut.
	action string
	status int
	bytes  int64
	method string
	url    string
	hier   string // the server, or "" for none
	ctype  string
	rule   string // the rule that blocked or changed the response
	reason string // why it failed
}

// Access log formats.
const (
	FormatSquid = "squid"
	FormatJSON  = "json"
)

// AccessLog writes a line per request, buffered and flushed every second.
// It is safe for concurrent use.
type AccessLog struct {
	format string
	path   string // "" when not a file

	mu   sync.Mutex
	w    *bufio.Writer // guarded by mu
	f    *os.File      // guarded by mu
	buf  []byte        // guarded by mu
	stop chan struct{}
}

// OpenAccessLog appends to the file at path (created with mode 0640) in
// format (squid or json).
func OpenAccessLog(path, format string) (*AccessLog, error) {
	if format != FormatSquid && format != FormatJSON {
		return nil, fmt.Errorf("unknown access log format %q: want squid or json", format)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	l := NewAccessLog(f, format)
	l.f, l.path = f, path
	return l, nil
}

// NewAccessLog writes to w in format.
func NewAccessLog(w io.Writer, format string) *AccessLog {
	l := &AccessLog{format: format, w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{})}
	go l.flusher()
	return l
}

func (l *AccessLog) flusher() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// Flush writes out what is buffered.
func (l *AccessLog) Flush() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Reopen opens the file again at its path, after a log rotation moved
// it (on SIGHUP).
func (l *AccessLog) Reopen() error {
	if l == nil || l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Flush()
	l.f.Close()
	l.f = f
	l.w.Reset(f)
	return nil
}

// Close flushes and closes the log.
func (l *AccessLog) Close() error {
	if l == nil {
		return nil
	}
	close(l.stop)
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (l *AccessLog) write(r *record, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.format == FormatJSON {
		l.buf = appendJSON(l.buf[:0], r, now)
	} else {
		l.buf = appendSquid(l.buf[:0], r, now)
	}
	l.w.Write(l.buf)
}

// appendSquid is Squid's native format (logformat squid):
//
//	time.ms elapsed client action/status bytes method URL ident hierarchy/server type
func appendSquid(b []byte, r *record, now time.Time) []byte {
	ms := r.start.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	b = appendPad(b, ms%1000, 3, '0')
	b = append(b, ' ')
	b = appendPad(b, now.Sub(r.start).Milliseconds(), 6, ' ')
	b = append(b, ' ')
	b = r.client.AppendTo(b)
	b = append(b, ' ')
	b = append(b, orDash(r.action)...)
	b = append(b, '/')
	b = appendPad(b, int64(r.status), 3, '0')
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.bytes, 10)
	b = append(b, ' ')
	b = appendField(b, r.method)
	b = append(b, ' ')
	b = appendField(b, r.url)
	b = append(b, " - "...)
	if r.hier != "" {
		b = append(b, "HIER_DIRECT/"...)
		b = appendField(b, r.hier)
	} else {
		b = append(b, "HIER_NONE/-"...)
	}
	b = append(b, ' ')
	b = appendField(b, r.ctype)
	return append(b, '\n')
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func appendPad(b []byte, n int64, width int, pad byte) []byte {
	s := strconv.AppendInt(nil, n, 10)
	for i := len(s); i < width; i++ {
		b = append(b, pad)
	}
	return append(b, s...)
}

// appendField writes a value with no spaces or control bytes in it
// (%-encoded), so that each line splits into its fields.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJSON is one JSON object per line.
func appendJSON(b []byte, r *record, now time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = r.start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","elapsed_ms":`...)
	b = strconv.AppendInt(b, now.Sub(r.start).Milliseconds(), 10)
	b = append(b, `,"client":"`...)
	b = r.client.AppendTo(b)
	b = append(b, `","action":`...)
	b = appendJSONString(b, orDash(r.action))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.bytes, 10)
	for _, kv := range [...]struct{ k, v string }{{"method", r.method}, {"url", r.url}, {"server", r.hier}, {"content_type", r.ctype}, {"rule", r.rule}, {"reason", r.reason}} {
		if kv.v == "" {
			continue
		}
		b = append(b, `,"`...)
		b = append(b, kv.k...)
		b = append(b, `":`...)
		b = appendJSONString(b, kv.v)
	}
	return append(b, "}\n"...)
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// logLine writes r to the access log and counts it.
func (s *Server) logLine(r *record) {
	now := s.clock.Now()
	s.m.count(r, now)
	if s.alog != nil {
		s.alog.write(r, now)
	}
}
