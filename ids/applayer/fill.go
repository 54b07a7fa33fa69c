package applayer

import "github.com/rampart-fw/rampart/ids/buffer"

// Filling a transaction's buffer.Set from a held message. The buffers
// refer to the message's bytes where they are as sent (method, raw URI,
// raw headers, a body without content coding) and to the worker's
// arena where they are normalised; both stay valid until the handler
// returns.

// fillRequest puts a request's buffers. h receives the body's decoding
// events (nil: none are reported, the request was already delivered
// once); complete says the body held is the whole body; headers says
// the header and cookie buffers are wanted (not for a response, whose
// own replace them).
func (w *Worker) fillRequest(f *Flow, rec *record, h Handler, complete, headers bool) {
	s := &w.set
	head := rec.buf[:rec.headLen]
	line, block := splitLine(head)
	rl := parseRequestLine(line)
	s.Put(buffer.HTTPMethod, rl.method)
	s.Put(buffer.HTTPURIRaw, rl.uri)
	uri := parseURI(rl.uri, rec.connect)
	start := len(w.arena)
	var ok bool
	if w.arena, ok = appendNormURI(w.arena, uri); ok {
		s.Put(buffer.HTTPURI, w.arena[start:len(w.arena):len(w.arena)])
	}
	hs := w.headerList(block)
	if headers && !rec.simple {
		w.mergeHeaders(hs)
		w.putHeaders(hs, block, "cookie")
	}
	// http.host: the URI's authority wins over the Host header (RFC
	// 9112 3.2.2, and libhtp).
	hostHdr := int32(-1)
	for i := range hs {
		if eqFold(hs[i].name, "host") {
			hostHdr = int32(i)
			break
		}
	}
	switch {
	case uri.authority != nil:
		s.Put(buffer.HTTPHostRaw, uri.authority)
		start = len(w.arena)
		w.arena = appendNormHost(w.arena, uri.host, true)
		s.Put(buffer.HTTPHost, w.arena[start:len(w.arena):len(w.arena)])
	case hostHdr >= 0:
		v := hs[hostHdr].value
		s.Put(buffer.HTTPHostRaw, v)
		start = len(w.arena)
		w.arena = appendNormHost(w.arena, hostOf(v), false)
		s.Put(buffer.HTTPHost, w.arena[start:len(w.arena):len(w.arena)])
	}
	w.putUserAgent(hs)
	w.body[0] = w.decodeBody(f, w.body[0][:0], rec.buf[rec.headLen:], rec.codings, f.p.cfg.RequestBodyLimit, h, 0, complete)
	s.Put(buffer.HTTPRequestBody, w.body[0])
}

// fillResponse puts a response's buffers (its request's are put after,
// without their header and cookie buffers).
func (w *Worker) fillResponse(f *Flow, ms *msgState, h Handler, complete bool) {
	s := &w.set
	buf := f.http.respBuf
	if !ms.info.simple {
		line, block := splitLine(buf[:ms.headLen])
		sl := parseStatusLine(line)
		s.Put(buffer.HTTPStatCode, sl.code)
		s.Put(buffer.HTTPStatMsg, sl.msg)
		hs := w.headerList(block)
		w.mergeHeaders(hs)
		w.putHeaders(hs, block, "set-cookie")
	}
	w.body[1] = w.decodeBody(f, w.body[1][:0], buf[ms.headLen:], ms.info.codings, f.p.cfg.ResponseBodyLimit, h, 1, complete)
	s.Put(buffer.FileData, w.body[1])
}

// putUserAgent puts http.user_agent: the User-Agent headers' values
// joined by ", ", as Suricata documents for a repeated one.
func (w *Worker) putUserAgent(hs []header) {
	first := int32(-1)
	for i := range hs {
		if !eqFold(hs[i].name, "user-agent") {
			continue
		}
		if first < 0 {
			first = int32(i)
			hs[i].next, hs[i].last = -1, int32(i)
			continue
		}
		hs[hs[first].last].next = int32(i)
		hs[first].last = int32(i)
		hs[i].next = -1
	}
	if first >= 0 {
		w.set.Put(buffer.HTTPUserAgent, w.mergedValue(hs, first))
	}
}

// putHeaders puts http.header.raw (the header lines as sent, with the
// blank line that ends them), http.header (each name once, in order of
// first appearance, "Name: value\r\n" with a repeated header's values
// joined by ", ", the cookie header left out, as Suricata builds it) and
// http.cookie.
func (w *Worker) putHeaders(hs []header, block []byte, cookie string) {
	s := &w.set
	s.Put(buffer.HTTPHeaderRaw, block)
	start := len(w.arena)
	ck := int32(-1)
	for i := range hs {
		hd := &hs[i]
		if hd.first != int32(i) {
			continue
		}
		if eqFold(hd.name, cookie) {
			ck = int32(i)
			continue
		}
		w.arena = append(w.arena, hd.name...)
		w.arena = append(w.arena, ": "...)
		w.arena = appendMerged(w.arena, hs, int32(i))
		w.arena = append(w.arena, "\r\n"...)
	}
	s.Put(buffer.HTTPHeader, w.arena[start:len(w.arena):len(w.arena)])
	if ck >= 0 {
		s.Put(buffer.HTTPCookie, w.mergedValue(hs, ck))
	}
}

// decodeBody appends to dst the body undone of its content codings, up
// to limit bytes, and reports decoding faults to h (when not nil) for
// direction d.
func (w *Worker) decodeBody(f *Flow, dst, body []byte, cs codings, limit int, h Handler, d int, complete bool) []byte {
	cfg := &f.p.cfg
	out, res := w.dec.decode(dst, body, cs, cfg.DecompressLayers, limit, cfg.BombRatio, cfg.BombLimit, complete)
	if res == decodeFailed && len(out) == len(dst) {
		// Nothing decoded: the body is not what its coding says, and is
		// inspected as it came (as libhtp passes it through).
		out = append(dst, body[:min(len(body), limit)]...)
	}
	if h != nil {
		switch res {
		case decodeFailed:
			w.event(f, h, d, KindDecompressionFailed, w.tx.Off, false)
		case decodeBomb:
			w.event(f, h, d, KindDecompressionBomb, w.tx.Off, false)
		}
	}
	return out
}
