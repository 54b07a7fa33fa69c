package applayer

import (
	"bytes"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// HTTP/1.x: each direction is a state machine fed bytes in chunks cut
// anywhere. A message's head is held (bounded by Config.MaxHeadSize)
// until its blank line; its body is framed by Content-Length, chunked
// coding or the end of the connection, and held up to the body limit
// for inspection, the rest framed and skipped. Requests wait in a ring
// (pipelining) until their responses come, so that a response is
// inspected together with its request's buffers.

type httpState uint8

const (
	stHead        httpState = iota
	stBodyLength            // Content-Length bytes to come
	stChunkSize             // a chunk-size line
	stChunkData             // chunk bytes to come
	stChunkEnd              // the CRLF after chunk data
	stTrailers              // trailer lines after the last chunk
	stBodyClose             // a response body that runs to the end of the connection
	stConnectWait           // a CONNECT request waits for its response
	stStopped               // the connection switched protocols (101): not followed
)

type framing uint8

const (
	frameNone framing = iota
	frameLength
	frameChunked
	frameClose
)

// msgInfo is what a message's head says that its body, its delivery and
// its peer need.
type msgInfo struct {
	version uint8
	simple  bool // an HTTP/0.9 simple request, or its response (no head)
	connect bool // a CONNECT request, or the response to one
	head    bool // a HEAD request, or the response to one
	status  int
	framing framing
	length  uint64
	codings codings
}

// record is a request: held from its first byte until it and its
// response are both delivered.
type record struct {
	buf      []byte // head, then the body held for inspection
	headLen  int
	codings  codings
	seq      uint64
	simple   bool // HTTP/0.9: its response has no head
	connect  bool
	head     bool // HEAD: its response has no body
	headDone bool
	reqDone  bool
	respDone bool
	whole    bool // the request was delivered with its whole body
}

// lineScan follows the line being read in a head or in trailers.
type lineScan struct {
	lineLen   int  // bytes of the line so far, its LF excluded
	first     byte // the line's first byte
	lines     int  // non-empty lines completed
	lineStart int  // where the line starts in the buffer
	cut       bool // the line was cut to Config.MaxLine
	// tail holds the line's last bytes: when a request line is cut, its
	// protocol is there, past the cut.
	tail  [16]byte
	tailN int
}

// lineStep is what lineScan.step read.
type lineStep struct {
	n      int    // bytes consumed
	keep   []byte // of them, those to store: the line within its limit
	done   bool   // a line ended (its LF was consumed)
	empty  bool   // and it was empty
	cutNow bool   // the line went over the limit here
}

// step reads data up to and including the next LF.
func (sc *lineScan) step(data []byte, maxLine int) lineStep {
	var st lineStep
	seg := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		seg, st.done = data[:i+1], true
	}
	st.n = len(seg)
	content := seg
	if st.done {
		content = seg[:len(seg)-1]
	}
	if sc.lineLen == 0 && len(content) > 0 {
		sc.first = content[0]
	}
	st.keep = seg
	if sc.lineLen+len(content) > maxLine {
		room := max(0, maxLine-sc.lineLen)
		st.keep = content[:min(room, len(content))]
		if !sc.cut {
			sc.cut, st.cutNow = true, true
		}
	}
	sc.keepTail(content)
	sc.lineLen += len(content)
	if st.done {
		st.empty = sc.lineLen == 0 || sc.lineLen == 1 && sc.first == '\r'
	}
	return st
}

// next readies the scan for the next line.
func (sc *lineScan) next(start int) {
	sc.lineLen, sc.first, sc.cut, sc.lineStart, sc.tailN = 0, 0, false, start, 0
}

// keepTail slides b into the tail window.
func (sc *lineScan) keepTail(b []byte) {
	if len(b) >= len(sc.tail) {
		sc.tailN = copy(sc.tail[:], b[len(b)-len(sc.tail):])
		return
	}
	if sc.tailN+len(b) > len(sc.tail) {
		drop := sc.tailN + len(b) - len(sc.tail)
		copy(sc.tail[:], sc.tail[drop:sc.tailN])
		sc.tailN -= drop
	}
	sc.tailN += copy(sc.tail[sc.tailN:], b)
}

// cutProtocol returns the " HTTP/x.y" that ended a cut request line, to
// be put back after the cut: the line keeps its version.
func (sc *lineScan) cutProtocol() []byte {
	t := trimCR(sc.tail[:sc.tailN])
	if i := bytes.LastIndexAny(t, " \t"); i >= 0 && hasPrefixFold(t[i+1:], "HTTP/") {
		return t[i:]
	}
	return nil
}

// chunkScan reads a chunk-size line byte by byte: hexadecimal digits,
// then an extension or white space, then the line end.
type chunkScan struct {
	size    uint64
	digits  int
	lineLen int
	ext     bool
	bad     bool
	cr      bool // stChunkEnd: the CR was seen
}

// msgState is one direction's parser.
type msgState struct {
	state     httpState
	started   bool
	scan      lineScan
	chunk     chunkScan
	remain    uint64 // stBodyLength, stChunkData: bytes to come
	bodyLen   uint64 // body bytes framed so far
	headLen   int    // response: head bytes in httpFlow.respBuf
	truncated bool   // the held body stops short of the body
	delivered bool
	start     uint64  // stream offset of the message
	rec       *record // request: the record being read; response: its request (nil: none)
	info      msgInfo
}

// httpFlow is a flow's HTTP state.
type httpFlow struct {
	recs    []*record // ring of requests
	head, n int       // ring: oldest, count
	ans     int       // records from head whose response was delivered
	msg     [2]msgState
	respBuf []byte // the response's head, then its body held for inspection
	held    []byte // to-server bytes after a CONNECT, until its response
	seq     uint64
}

func (hf *httpFlow) capacity() int {
	n := cap(hf.respBuf) + cap(hf.held)
	for _, r := range hf.recs {
		if r != nil {
			n += cap(r.buf)
		}
	}
	return n
}

func (hf *httpFlow) trim() {
	trim(&hf.respBuf)
	trim(&hf.held)
	for _, r := range hf.recs {
		if r != nil {
			trim(&r.buf)
		}
	}
}

func (hf *httpFlow) drop() {
	hf.respBuf, hf.held = nil, nil
	for _, r := range hf.recs {
		if r != nil {
			r.buf = nil
		}
	}
}

// reset clears the state, keeping buffers.
func (hf *httpFlow) reset() {
	for _, r := range hf.recs {
		if r != nil {
			*r = record{buf: r.buf[:0]}
		}
	}
	*hf = httpFlow{recs: hf.recs, respBuf: hf.respBuf[:0], held: hf.held[:0]}
}

func (hf *httpFlow) at(i int) *record { return hf.recs[(hf.head+i)%len(hf.recs)] }

// push starts a request record; nil when max are waiting.
func (hf *httpFlow) push(max int) *record {
	if len(hf.recs) != max {
		if hf.n > 0 {
			return nil // the ring is sized once per flow
		}
		hf.recs, hf.head = make([]*record, max), 0
	}
	if hf.n == max {
		return nil
	}
	i := (hf.head + hf.n) % max
	r := hf.recs[i]
	if r == nil {
		r = &record{}
		hf.recs[i] = r
	}
	*r = record{buf: r.buf[:0]}
	hf.n++
	return r
}

// dropNewest forgets the newest record (a request that was not one).
func (hf *httpFlow) dropNewest() {
	if hf.n > hf.ans {
		hf.n--
	}
}

// pop releases the oldest records whose request and response were both
// delivered.
func (hf *httpFlow) pop() {
	for hf.n > 0 && hf.at(0).reqDone && hf.at(0).respDone {
		hf.head = (hf.head + 1) % len(hf.recs)
		hf.n--
		hf.ans--
	}
}

// candidate returns the request the next response answers.
func (hf *httpFlow) candidate() *record {
	if hf.ans < hf.n && hf.at(hf.ans).headDone {
		return hf.at(hf.ans)
	}
	return nil
}

// msgBuf returns the buffer that holds direction d's message.
func (hf *httpFlow) msgBuf(d int) *[]byte {
	if d == 0 {
		return &hf.msg[0].rec.buf
	}
	return &hf.respBuf
}

// httpStream parses a chunk of direction d.
func (w *Worker) httpStream(f *Flow, d int, data []byte, h Handler) {
	hf := f.http
	ms := &hf.msg[d]
	for len(data) > 0 && !f.disabled[d] && f.app == buffer.AppHTTP {
		var n int
		switch ms.state {
		case stHead:
			n = w.httpHead(f, d, data, h)
		case stBodyLength:
			if n = w.bodyPart(f, d, data, h); ms.remain == 0 {
				w.msgEnd(f, d, h)
			}
		case stChunkSize:
			n = w.chunkSize(f, d, data, h)
		case stChunkData:
			if n = w.bodyPart(f, d, data, h); ms.remain == 0 {
				ms.state, ms.chunk = stChunkEnd, chunkScan{}
			}
		case stChunkEnd:
			n = w.chunkEnd(f, d, data, h)
		case stTrailers:
			n = w.trailers(f, d, data, h)
		case stBodyClose:
			n = len(data)
			w.httpBody(f, d, data, h)
		case stConnectWait:
			// Held, unnumbered, until the response says whether a
			// tunnel follows.
			if len(hf.held)+len(data) > f.p.cfg.ProbeLimit || !f.grow(&hf.held, len(data), f.p.cfg.ProbeLimit) {
				w.event(f, h, d, KindTooManyPending, f.off[d], true)
				f.off[d] += uint64(len(data))
				return
			}
			hf.held = append(hf.held, data...)
			return
		case stStopped:
			n = len(data)
		}
		f.off[d] += uint64(n)
		data = data[n:]
	}
	if len(data) > 0 && f.app != buffer.AppHTTP {
		// A CONNECT tunnel opened inside this chunk: the rest is the
		// tunnel's, and detection looks at it afresh.
		w.Stream(f, dirOf(d), data, h)
		return
	}
	f.off[d] += uint64(len(data))
}

// httpHead reads head bytes; it returns how many it took.
func (w *Worker) httpHead(f *Flow, d int, data []byte, h Handler) int {
	hf := f.http
	ms := &hf.msg[d]
	cfg := &f.p.cfg
	if !ms.started {
		ms.started, ms.start = true, f.off[d]
		if d == 0 {
			if ms.rec = hf.push(cfg.MaxPending); ms.rec == nil {
				ms.started = false
				w.event(f, h, d, KindTooManyPending, f.off[d], true)
				return len(data)
			}
		} else if rec := hf.candidate(); rec != nil && rec.simple {
			// The answer to an HTTP/0.9 request has no head: all of it
			// is body, to the end of the connection.
			ms.rec = rec
			ms.info = msgInfo{version: 9, simple: true, framing: frameClose}
			ms.state = stBodyClose
			return 0
		}
		ms.scan.next(0)
	}
	buf := hf.msgBuf(d)
	n := 0
	for n < len(data) {
		st := ms.scan.step(data[n:], cfg.MaxLine)
		n += st.n
		// Events about a head are at the message's start: an offset
		// within it would depend on how the stream was cut.
		off := ms.start
		if st.cutNow {
			w.event(f, h, d, KindLineTooLong, off, false)
		}
		if st.done && st.empty && ms.scan.lines == 0 {
			// Blank lines before a start line are skipped.
			*buf = (*buf)[:ms.scan.lineStart]
			ms.scan.next(len(*buf))
			ms.start = f.off[d] + uint64(n)
			continue
		}
		add := len(st.keep)
		if st.done && ms.scan.cut {
			add++
		}
		if len(*buf)+add > cfg.MaxHeadSize {
			w.abort(f, d, h, KindHeadTooLarge, off)
			return n
		}
		if !f.grow(buf, add, cfg.MaxHeadSize) {
			w.abort(f, d, h, KindMemcap, off)
			return n
		}
		*buf = append(*buf, st.keep...)
		if !st.done {
			continue
		}
		if ms.scan.cut {
			if d == 0 && ms.scan.lines == 0 {
				if proto := ms.scan.cutProtocol(); len(*buf)+len(proto)+1 <= cfg.MaxHeadSize && f.grow(buf, len(proto)+1, cfg.MaxHeadSize) {
					*buf = append(*buf, proto...)
				}
			}
			*buf = append(*buf, '\n')
		}
		if st.empty {
			w.headEnd(f, d, h, false)
			return n
		}
		ms.scan.lines++
		line := (*buf)[ms.scan.lineStart:]
		ms.scan.next(len(*buf))
		if ms.scan.lines == 1 {
			// The start line tells at once whether this is HTTP, and a
			// simple request has no more head.
			if d == 0 {
				rl := parseRequestLine(line)
				if !rl.ok || rl.simple {
					w.headEnd(f, d, h, false)
					return n
				}
			} else if !parseStatusLine(line).ok {
				w.headEnd(f, d, h, false)
				return n
			}
			continue
		}
		if ms.scan.lines-1 > cfg.MaxHeaders {
			w.abort(f, d, h, KindTooManyHeaders, off)
			return n
		}
	}
	return n
}

// headEnd handles a complete head (or, when partial, what there is of
// one at the end of a stream or before a fault).
func (w *Worker) headEnd(f *Flow, d int, h Handler, partial bool) {
	if d == 0 {
		w.requestHeadEnd(f, h, partial)
	} else {
		w.responseHeadEnd(f, h, partial)
	}
}

func (w *Worker) requestHeadEnd(f *Flow, h Handler, partial bool) {
	w.hdrsOf = nil
	hf := f.http
	ms := &hf.msg[0]
	rec := ms.rec
	if partial {
		rec.buf = completeLines(rec.buf)
	}
	rec.headLen, rec.headDone = len(rec.buf), true
	rec.seq = hf.seq
	hf.seq++
	line, block := splitLine(rec.buf)
	rl := parseRequestLine(line)
	if !rl.ok {
		start := ms.start
		hf.dropNewest()
		*ms = msgState{}
		w.event(f, h, 0, KindInvalidRequestLine, start, true)
		return
	}
	info := msgInfo{version: rl.version, simple: rl.simple && !partial,
		connect: eqFold(rl.method, "CONNECT"), head: eqFold(rl.method, "HEAD")}
	rec.simple, rec.connect, rec.head = info.simple, info.connect, info.head
	if rl.version == 0 {
		w.event(f, h, 0, KindInvalidRequestLine, ms.start, false)
	}
	if info.simple {
		w.event(f, h, 0, KindHTTP09, ms.start, false)
	} else {
		fs := w.facts(block)
		uri := parseURI(rl.uri, info.connect)
		if uri.authority != nil && fs.hasHost && !eqFoldBytes(uri.host, hostOf(fs.host)) {
			fs.anomaly(KindHostAmbiguous)
		}
		if rl.version == 11 && !fs.hasHost && !partial {
			fs.anomaly(KindMissingHost)
		}
		switch {
		case fs.chunked:
			info.framing = frameChunked
		case fs.hasLength && fs.length > 0:
			info.framing, info.length = frameLength, fs.length
		}
		info.codings = fs.codings
		w.anomalies(f, 0, h, &fs, ms.start)
	}
	rec.codings = info.codings
	ms.info = info
	w.startBody(f, 0, h, partial)
}

func (w *Worker) responseHeadEnd(f *Flow, h Handler, partial bool) {
	w.hdrsOf = nil
	hf := f.http
	ms := &hf.msg[1]
	if partial {
		hf.respBuf = completeLines(hf.respBuf)
	}
	ms.headLen = len(hf.respBuf)
	line, block := splitLine(hf.respBuf)
	sl := parseStatusLine(line)
	if !sl.ok {
		start := ms.start
		hf.respBuf = hf.respBuf[:0]
		*ms = msgState{}
		w.event(f, h, 1, KindInvalidStatusLine, start, true)
		return
	}
	if sl.status >= 100 && sl.status < 200 && sl.status != 101 && !partial {
		// An interim response (100 Continue): the final one follows.
		hf.respBuf = hf.respBuf[:0]
		*ms = msgState{}
		return
	}
	rec := hf.candidate()
	info := msgInfo{version: sl.version, status: sl.status}
	if rec != nil {
		ms.rec = rec
		info.connect, info.head = rec.connect, rec.head
	} else {
		w.event(f, h, 1, KindUnsolicitedResponse, ms.start, false)
	}
	if sl.status == 0 {
		w.event(f, h, 1, KindInvalidStatusLine, ms.start, false)
	}
	fs := w.facts(block)
	switch {
	case info.head || sl.status == 204 || sl.status == 304 || sl.status >= 100 && sl.status < 200:
	case info.connect && sl.status >= 200 && sl.status < 300:
	case fs.te && fs.chunked:
		info.framing = frameChunked
	case fs.te:
		info.framing = frameClose
	case fs.hasLength:
		if fs.length > 0 {
			info.framing, info.length = frameLength, fs.length
		}
	default:
		info.framing = frameClose
	}
	info.codings = fs.codings
	w.anomalies(f, 1, h, &fs, ms.start)
	ms.info = info
	w.startBody(f, 1, h, partial)
}

// completeLines cuts a partial head after its last complete line, so
// that a header cut short by a fault is not read as a header; a start
// line is kept even when cut.
func completeLines(b []byte) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[:i+1]
	}
	return b
}

// anomalies reports what a head's facts found.
func (w *Worker) anomalies(f *Flow, d int, h Handler, fs *headFacts, off uint64) {
	for _, k := range fs.anomalies[:fs.nAnomaly] {
		w.event(f, h, d, k, off, false)
	}
	if fs.codings.over || int(fs.codings.n) > f.p.cfg.DecompressLayers {
		w.event(f, h, d, KindDecompressionBomb, off, false)
	}
}

// startBody moves direction d to its message's body.
func (w *Worker) startBody(f *Flow, d int, h Handler, partial bool) {
	ms := &f.http.msg[d]
	if partial {
		w.deliverMsg(f, d, h, false)
		return
	}
	switch ms.info.framing {
	case frameLength:
		ms.state, ms.remain = stBodyLength, ms.info.length
	case frameChunked:
		ms.state, ms.chunk = stChunkSize, chunkScan{}
	case frameClose:
		ms.state = stBodyClose
	default:
		w.msgEnd(f, d, h)
	}
}

// bodyPart takes the bytes of data that belong to a body of known
// length (or to a chunk), and returns how many.
func (w *Worker) bodyPart(f *Flow, d int, data []byte, h Handler) int {
	ms := &f.http.msg[d]
	n := int(min(uint64(len(data)), ms.remain))
	ms.remain -= uint64(n)
	w.httpBody(f, d, data[:n], h)
	return n
}

// httpBody takes body bytes: held for inspection up to the body limit.
// The first byte past the limit delivers the message (the rest is
// framed and skipped); a body that ends at the limit is delivered at its
// end, whole.
func (w *Worker) httpBody(f *Flow, d int, b []byte, h Handler) {
	hf := f.http
	ms := &hf.msg[d]
	prev := ms.bodyLen
	ms.bodyLen += uint64(len(b))
	if ms.delivered || ms.truncated {
		return
	}
	buf := hf.msgBuf(d)
	base, limit := ms.headLen, f.p.cfg.ResponseBodyLimit
	if d == 0 {
		base, limit = ms.rec.headLen, f.p.cfg.RequestBodyLimit
	}
	take := b[:min(len(b), base+limit-len(*buf))]
	if len(take) > 0 {
		if !f.grow(buf, len(take), base+limit) {
			ms.truncated = true
			w.event(f, h, d, KindMemcap, ms.start, false)
			w.deliverEarly(f, d, h, prev)
			return
		}
		*buf = append(*buf, take...)
	}
	if len(take) < len(b) {
		// Framed up to the first byte past the limit: a length that
		// does not depend on how the body came in chunks.
		ms.truncated = true
		w.deliverEarly(f, d, h, prev+uint64(len(take))+1)
	}
}

// deliverEarly delivers a message before its end, with the body length
// framed so far given as n.
func (w *Worker) deliverEarly(f *Flow, d int, h Handler, n uint64) {
	ms := &f.http.msg[d]
	all := ms.bodyLen
	ms.bodyLen = n
	w.deliverMsg(f, d, h, false)
	ms.bodyLen = all
}

// chunkSize reads a chunk-size line.
func (w *Worker) chunkSize(f *Flow, d int, data []byte, h Handler) int {
	ms := &f.http.msg[d]
	cs := &ms.chunk
	for i, c := range data {
		if cs.lineLen++; cs.lineLen > f.p.cfg.MaxLine {
			w.abort(f, d, h, KindInvalidChunk, f.off[d]+uint64(i))
			return i + 1
		}
		if c == '\n' {
			if cs.digits == 0 || cs.bad {
				w.abort(f, d, h, KindInvalidChunk, f.off[d]+uint64(i))
				return i + 1
			}
			if cs.size == 0 {
				ms.state = stTrailers
				ms.scan = lineScan{}
			} else {
				ms.state, ms.remain = stChunkData, cs.size
			}
			*cs = chunkScan{}
			return i + 1
		}
		switch {
		case cs.ext:
		case isHex(c):
			if cs.size>>60 != 0 {
				cs.bad = true // more than 2^64: no body is that long
			}
			cs.size = cs.size<<4 | uint64(unhex(c))
			cs.digits++
		case isLWS(c) || c == ';':
			// White space before the digits is tolerated, as servers do;
			// after them it starts the extension.
			if cs.digits > 0 || c == ';' {
				cs.ext = true
			}
		default:
			cs.bad = true
		}
	}
	return len(data)
}

// chunkEnd reads the line end after chunk data.
func (w *Worker) chunkEnd(f *Flow, d int, data []byte, h Handler) int {
	ms := &f.http.msg[d]
	switch c := data[0]; {
	case c == '\r' && !ms.chunk.cr:
		ms.chunk.cr = true
		return 1
	case c == '\n':
		ms.state, ms.chunk = stChunkSize, chunkScan{}
		return 1
	}
	// Chunk data runs past its size: the framing is lost.
	w.abort(f, d, h, KindInvalidChunk, f.off[d])
	return 1
}

// trailers reads (and discards) the trailer lines after the last chunk.
func (w *Worker) trailers(f *Flow, d int, data []byte, h Handler) int {
	ms := &f.http.msg[d]
	cfg := &f.p.cfg
	n := 0
	for n < len(data) {
		st := ms.scan.step(data[n:], cfg.MaxLine)
		off := ms.start
		n += st.n
		if st.cutNow {
			w.event(f, h, d, KindLineTooLong, off, false)
		}
		if !st.done {
			continue
		}
		if st.empty {
			w.msgEnd(f, d, h)
			return n
		}
		ms.scan.lines++
		ms.scan.next(0)
		if ms.scan.lines > cfg.MaxHeaders {
			w.abort(f, d, h, KindTooManyHeaders, off)
			return n
		}
	}
	return n
}

// msgEnd finishes direction d's message: delivered if it was not, then
// the next one.
func (w *Worker) msgEnd(f *Flow, d int, h Handler) {
	hf := f.http
	ms := &hf.msg[d]
	if !ms.delivered {
		w.deliverMsg(f, d, h, true)
	}
	info := ms.info
	if d == 0 {
		*ms = msgState{}
		if info.connect {
			ms.state = stConnectWait
		}
		return
	}
	hf.respBuf = hf.respBuf[:0]
	*ms = msgState{}
	switch {
	case info.status == 101:
		// Switching Protocols (WebSocket, h2c): not followed.
		hf.msg[0].state, hf.msg[1].state = stStopped, stStopped
	case info.connect && info.status >= 200 && info.status < 300:
		w.tunnel(f, h)
	case info.connect && hf.msg[0].state == stConnectWait:
		// The proxy refused: the client goes on speaking HTTP.
		hf.msg[0].state = stHead
		held := hf.held
		hf.held = hf.held[:0]
		if len(held) > 0 {
			w.httpStream(f, 0, held, h)
		}
	}
}

// tunnel starts protocol detection afresh on a CONNECT tunnel (TLS to
// the proxied host, usually), as Suricata does.
func (w *Worker) tunnel(f *Flow, h Handler) {
	hf := f.http
	held := hf.held
	hf.held = hf.held[:0]
	f.app, f.final = buffer.AppNone, false
	for i := range 2 {
		f.probe[i] = probe{buf: f.probe[i].buf[:0]}
		f.checked[i], f.disabled[i] = false, false
		hf.msg[i] = msgState{state: stStopped}
	}
	if len(held) > 0 {
		w.Stream(f, buffer.ToServer, held, h)
	}
}

// abort ends direction d at a fault: what the message has is delivered,
// and the parser stops.
func (w *Worker) abort(f *Flow, d int, h Handler, k Kind, off uint64) {
	hf := f.http
	ms := &hf.msg[d]
	switch ms.state {
	case stHead:
		if ms.started && (d == 1 || ms.rec != nil) && len(*hf.msgBuf(d)) > 0 {
			w.headEnd(f, d, h, true)
		}
	case stBodyLength, stChunkSize, stChunkData, stChunkEnd, stTrailers, stBodyClose:
		if !ms.delivered {
			w.deliverMsg(f, d, h, false)
		}
	}
	w.event(f, h, d, k, off, true)
}

// httpGap skips lost bytes inside a body; elsewhere the direction stops.
func (w *Worker) httpGap(f *Flow, d int, n uint64, h Handler) {
	ms := &f.http.msg[d]
	switch ms.state {
	case stBodyLength, stChunkData:
		if n > ms.remain {
			w.abort(f, d, h, KindGap, f.off[d])
			return
		}
		ms.bodyLen += n
		ms.truncated = true
		if ms.remain -= n; ms.remain == 0 {
			if ms.state == stChunkData {
				ms.state, ms.chunk = stChunkEnd, chunkScan{}
			} else {
				w.msgEnd(f, d, h)
			}
		}
	case stBodyClose:
		ms.bodyLen += n
		ms.truncated = true
	case stStopped:
	case stHead:
		if !ms.started {
			w.event(f, h, d, KindGap, f.off[d], true)
			return
		}
		w.abort(f, d, h, KindGap, f.off[d])
	default:
		w.abort(f, d, h, KindGap, f.off[d])
	}
}

// httpClose ends direction d: a body that runs to the end of the
// connection is complete; any other message is delivered as far as it
// came.
func (w *Worker) httpClose(f *Flow, d int, h Handler) {
	ms := &f.http.msg[d]
	switch ms.state {
	case stHead:
		if ms.started && (d == 1 || ms.rec != nil) && len(*f.http.msgBuf(d)) > 0 {
			w.headEnd(f, d, h, true)
		}
	case stBodyClose:
		w.msgEnd(f, d, h)
	case stBodyLength, stChunkSize, stChunkData, stChunkEnd, stTrailers:
		if !ms.delivered {
			w.deliverMsg(f, d, h, false)
		}
	}
}

// deliverMsg hands direction d's message to the handler. finished says
// the whole message was read.
func (w *Worker) deliverMsg(f *Flow, d int, h Handler, finished bool) {
	hf := f.http
	ms := &hf.msg[d]
	ms.delivered = true
	w.set.Reset()
	w.arena = w.arena[:0]
	w.tx = Tx{App: buffer.AppHTTP, Dir: dirOf(d), Off: ms.start}
	w.tx.HTTP = HTTPInfo{Version: ms.info.version, BodyLen: ms.bodyLen, Truncated: ms.truncated || !finished}
	if d == 0 {
		rec := ms.rec
		rec.whole = !w.tx.HTTP.Truncated
		w.fillRequest(f, rec, h, rec.whole, true)
		w.tx.Seq = rec.seq
		w.deliver(f, h)
		rec.reqDone = true
		hf.pop()
		return
	}
	rec := ms.rec
	w.tx.HTTP.Status = ms.info.status
	w.fillResponse(f, ms, h, !w.tx.HTTP.Truncated)
	if rec != nil {
		w.fillRequest(f, rec, nil, rec.whole, false)
		w.tx.Seq = rec.seq
		w.tx.HTTP.Paired = true
	} else {
		w.tx.Seq = hf.seq
	}
	w.deliver(f, h)
	if rec != nil {
		rec.respDone = true
		hf.ans++
		ms.rec = nil
		hf.pop()
	}
}
