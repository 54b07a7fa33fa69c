package applayer

import (
	"bytes"
	"encoding/binary"

	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
)

// Protocol detection, as Suricata's app-layer detection does it: the
// first bytes of each direction are matched against each protocol's
// patterns (an HTTP method or "HTTP/", a TLS handshake record holding a
// ClientHello or ServerHello, a DNS header behind its TCP length), with
// the port as a hint (DNS on port 53 needs only a sane header; elsewhere
// the whole first message must parse). Bytes are held until a decision
// and replayed into the parser, so a first line may arrive one byte at a
// time; a direction that has shown Config.ProbeLimit bytes without a
// decision gives up.

// probe is one direction's detection state.
type probe struct {
	buf  []byte // bytes held while undecided
	seen int    // bytes looked at (datagrams: summed)
	done bool   // this direction gave up
}

type verdict uint8

const (
	pNo   verdict = iota // not this protocol
	pMore                // could be: show more bytes
	pYes
)

// detect runs protocol detection on the next bytes of direction d, and
// returns true when the caller is to feed data to the decided parser.
func (w *Worker) detect(f *Flow, d int, data []byte, h Handler) bool {
	if f.final {
		if f.app == buffer.AppNone {
			return false
		}
		w.firstBytes(f, d, data, h)
		return true
	}
	pd := &f.probe[d]
	if pd.done {
		return false
	}
	limit := f.p.cfg.ProbeLimit
	look := data
	taken := 0 // bytes of data appended to the held ones
	if len(pd.buf) > 0 {
		take := data[:min(len(data), limit-len(pd.buf))]
		taken = len(take)
		if !f.grow(&pd.buf, len(take), limit) {
			w.event(f, h, d, KindMemcap, f.off[d], false)
			w.giveUp(f, d, h)
			return false
		}
		pd.buf = append(pd.buf, take...)
		look = pd.buf
	} else if len(look) > limit {
		look = look[:limit]
	}
	app, v := f.probeTCP(d, look)
	switch v {
	case pYes:
		w.decide(f, app)
		// Replay in direction order, so that a request held while the
		// response decided comes before it.
		for i := range 2 {
			held := f.probe[i].buf
			switch {
			case i == d && len(held) > 0:
				f.checked[i] = true
				w.feed(f, i, held, h)
				w.feed(f, i, data[taken:], h)
			case i == d:
				f.checked[i] = true
				w.feed(f, i, data, h)
			case f.probe[i].done:
				// It showed bytes that were not kept: its parser
				// cannot find where it is.
				f.checked[i] = true
				f.disabled[i] = true
			case len(held) > 0:
				w.firstBytes(f, i, held, h)
				w.feed(f, i, held, h)
			}
			f.probe[i].buf = f.probe[i].buf[:0]
		}
		return false
	case pMore:
		if len(look) < limit {
			if len(pd.buf) == 0 {
				if !f.grow(&pd.buf, len(data), limit) {
					w.event(f, h, d, KindMemcap, f.off[d], false)
					w.giveUp(f, d, h)
					return false
				}
				pd.buf = append(pd.buf, data...)
			}
			return false
		}
	}
	w.giveUp(f, d, h)
	return false
}

// firstBytes starts the decided protocol's parser on direction d, whose
// first bytes are data, and reports a direction that looks like another
// protocol.
func (w *Worker) firstBytes(f *Flow, d int, data []byte, h Handler) {
	f.checked[d] = true
	if f.off[d] != 0 {
		return
	}
	if app, v := f.probeTCP(d, data); v == pYes && app != f.app {
		w.event(f, h, d, KindDetectMismatch, 0, false)
	}
}

// decide settles the flow's protocol.
func (w *Worker) decide(f *Flow, app buffer.App) {
	f.app = app
	f.final = true
	w.stats.Flows[app]++
	if app == buffer.AppHTTP {
		if f.http == nil {
			f.http = &httpFlow{}
		} else {
			f.http.reset()
		}
	}
}

// giveUp ends detection on direction d; when both directions gave up,
// the flow is not one the parsers know.
func (w *Worker) giveUp(f *Flow, d int, h Handler) {
	pd := &f.probe[d]
	pd.done = true
	pd.buf = pd.buf[:0]
	if f.final {
		return
	}
	if f.probe[1-d].done {
		f.final = true
		w.stats.Flows[buffer.AppNone]++
	}
}

// port53 reports whether either end of the flow is on port 53.
func (f *Flow) port53() bool {
	return f.key.Src.Port() == 53 || f.key.Dst.Port() == 53
}

// probeTCP matches the first bytes of a TCP direction against the
// protocols.
func (f *Flow) probeTCP(d int, b []byte) (buffer.App, verdict) {
	more := false
	for _, p := range [...]struct {
		app buffer.App
		fn  func([]byte, bool) verdict
	}{{buffer.AppTLS, probeTLS}, {buffer.AppHTTP, probeHTTP}, {buffer.AppDNS, probeDNSTCP}} {
		switch p.fn(b, !f.port53()) {
		case pYes:
			return p.app, pYes
		case pMore:
			more = true
		}
	}
	if more {
		return buffer.AppNone, pMore
	}
	return buffer.AppNone, pNo
}

// detectDatagram runs detection on a UDP datagram: DNS only.
func (w *Worker) detectDatagram(f *Flow, d int, b []byte, h Handler) {
	if f.key.Proto != ipproto.UDP && f.key.Proto != ipproto.UDPLite {
		f.final = true
		w.stats.Flows[buffer.AppNone]++
		return
	}
	ok := false
	if len(b) >= dnsHeaderLen && dnsHeaderSane(b) {
		ok = f.port53() || dnsStrict(b)
	}
	if ok {
		w.decide(f, buffer.AppDNS)
		return
	}
	pd := &f.probe[d]
	pd.seen += max(len(b), 1)
	if pd.seen >= f.p.cfg.ProbeLimit {
		w.giveUp(f, d, h)
	}
}

// HTTP methods Suricata's detection knows, upper case.
var httpMethods = [...]string{"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE",
	"PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "CHECKOUT",
	"UNCHECKOUT", "CHECKIN", "UPDATE", "LABEL", "REPORT", "MKWORKSPACE", "MKACTIVITY", "MERGE",
	"SEARCH", "VERSION-CONTROL", "BASELINE-CONTROL"}

// maxMethod bounds an unknown method's length in detection.
const maxMethod = 32

// probeHTTP matches a request line (a known method and a space, or any
// token, a target and " HTTP/d.d" on the first line) or a status line
// ("HTTP/" and a digit).
func probeHTTP(b []byte, _ bool) verdict {
	if len(b) == 0 {
		return pMore
	}
	const resp = "HTTP/"
	if n := min(len(b), len(resp)); eqFoldPrefix(b[:n], resp[:n]) {
		if len(b) <= len(resp) {
			return pMore
		}
		if isDigit(b[len(resp)]) {
			return pYes
		}
	}
	// HTTP/2's connection preface has the shape of a request line; it
	// is not HTTP/1.
	const preface = "PRI * HTTP/2.0"
	if len(b) >= len(preface) && string(b[:len(preface)]) == preface {
		return pNo
	}
	more := false
	for _, m := range httpMethods {
		if len(b) > len(m) {
			if eqFoldPrefix(b[:len(m)], m) && (b[len(m)] == ' ' || b[len(m)] == '\t') {
				return pYes
			}
		} else if eqFoldPrefix(b, m[:len(b)]) {
			more = true
		}
	}
	// Any token as the method, with the version at the line's end.
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	switch {
	case i == 0 || i > maxMethod:
		return pNo
	case i == len(b):
		return pMore
	case b[i] != ' ':
		if more {
			return pMore
		}
		return pNo
	}
	lf := bytes.IndexByte(b[i:], '\n')
	if lf < 0 {
		return pMore
	}
	line := trimCR(b[:i+lf])
	if len(line) >= 9 && line[len(line)-9] == ' ' && hasPrefixFold(line[len(line)-8:], "HTTP/") &&
		isDigit(line[len(line)-3]) && line[len(line)-2] == '.' && isDigit(line[len(line)-1]) {
		return pYes
	}
	return pNo
}

// maxTLSRecord is the largest TLS record payload: 2^14 bytes of
// plaintext plus the 2048 that compression or encryption may add.
const maxTLSRecord = 1<<14 + 2048

// probeTLS matches a handshake record of TLS 1.x (or SSL 3.0) whose
// first message is a ClientHello or a ServerHello.
func probeTLS(b []byte, _ bool) verdict {
	switch {
	case len(b) == 0:
		return pMore
	case b[0] != recHandshake:
		return pNo
	case len(b) < 2:
		return pMore
	case b[1] != 3:
		return pNo
	case len(b) < 3:
		return pMore
	case b[2] > 4:
		return pNo
	case len(b) < 5:
		return pMore
	}
	if n := binary.BigEndian.Uint16(b[3:]); n < 4 || n > maxTLSRecord {
		return pNo
	}
	switch {
	case len(b) < 6:
		return pMore
	case b[5] == hsClientHello || b[5] == hsServerHello:
		return pYes
	}
	return pNo
}

// maxStrictDNS bounds the first message detection waits for away from
// port 53: a query is a few dozen bytes, and text that happens to have a
// sane header must not hold detection for 64 KiB.
const maxStrictDNS = 1024

// probeDNSTCP matches a DNS message behind its 2-byte length: a sane
// header on port 53, a whole message that parses strictly elsewhere.
func probeDNSTCP(b []byte, strict bool) verdict {
	if len(b) < 2 {
		return pMore
	}
	n := int(binary.BigEndian.Uint16(b))
	if n < dnsHeaderLen || strict && n > maxStrictDNS {
		return pNo
	}
	if len(b) < 2+dnsHeaderLen {
		return pMore
	}
	if !dnsHeaderSane(b[2:]) {
		return pNo
	}
	if !strict {
		return pYes
	}
	if len(b) < 2+n {
		return pMore
	}
	if dnsStrict(b[2 : 2+n]) {
		return pYes
	}
	return pNo
}

func eqFoldPrefix(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool { return c < 128 && tchar[c] }

var tchar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
