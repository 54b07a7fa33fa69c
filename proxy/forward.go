package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/proxy/cache"
	"github.com/rampart-fw/rampart/proxy/content"
)

// timeZone is the zone of the filter's times of day.
var timeZone = time.Local

// forward answers req from the cache or from the server.
func (cc *conn) forward(req *http.Request, st *settings, rec *record, scheme, host, port, full string, closeAfter bool) bool {
	s := cc.s
	// A fresh hit is answered before anything of the request is copied
	// or changed: the hit path is the one that must be cheap.
	var entry *cache.Entry
	useCache := s.cache != nil && (req.Method == http.MethodGet || req.Method == http.MethodHead)
	now := s.clock.Now()
	var dir cache.Directives
	if useCache {
		dir = cache.ParseDirectives(req.Header)
		if entry = s.cache.Lookup(full, req.Header); entry != nil {
			if age, fresh := entry.Fresh(now, dir); fresh {
				return cc.serveHit(req, req.Header, entry, age, rec, "TCP_MEM_HIT", closeAfter)
			}
		}
	}
	clientHeader := req.Header.Clone()
	clientClose := wantsClose(req) // before its Connection field goes
	removeHopHeaders(req.Header)
	req.Header.Add("Via", s.m.via)
	if st.cfg.Content != nil {
		restrictEncodings(req.Header)
	}
	if req.Header.Get("Expect") != "" {
		if !strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
			rec.action, rec.status = "NONE_NONE", http.StatusExpectationFailed
			s.writeError(cc, req, st, http.StatusExpectationFailed, "unsupported Expect", true)
			return false
		}
		req.Header.Del("Expect")
		cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		cc.bw.Flush()
	}
	out := &http.Request{
		Method:        req.Method,
		URL:           &url.URL{Scheme: scheme, Host: upstreamAddr(host, port), Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        req.Header,
		Body:          req.Body,
		ContentLength: req.ContentLength,
		Host:          hostHeader(host, port, scheme),
	}
	if out.ContentLength == 0 {
		out.Body = nil
	}
	if req.URL.Opaque != "" {
		out.URL.Opaque = req.URL.Opaque
	}
	rec.hier = host

	// A stale entry with validators turns the request into a
	// conditional one.
	if useCache {
		if entry != nil {
			if entry.ETag == "" && entry.LastModified == "" {
				entry = nil
			} else {
				out.Header = out.Header.Clone()
				out.Header.Del("If-None-Match")
				out.Header.Del("If-Modified-Since")
				if entry.ETag != "" {
					out.Header.Set("If-None-Match", entry.ETag)
				}
				if entry.LastModified != "" {
					out.Header.Set("If-Modified-Since", entry.LastModified)
				}
			}
		}
		if entry == nil && dir.OnlyIfCached {
			rec.action, rec.status = "TCP_MISS", http.StatusGatewayTimeout
			rec.bytes = s.writePage(cc, req, st, http.StatusGatewayTimeout, "not in the cache, and the request said only-if-cached", full, closeAfter)
			return !closeAfter
		}
	}

	reqTime := now
	resp, err := st.transport.RoundTrip(out)
	if err != nil {
		status, label, why := classify(err, host)
		s.m.upstreamErr[label].Add(1)
		rec.action, rec.status, rec.reason = "TCP_MISS", status, why
		rec.bytes = s.writePage(cc, req, st, status, why, full, true)
		return false
	}
	defer resp.Body.Close()
	// The request body has been sent: the connection may go on.
	closeAfter = clientClose
	respTime := s.clock.Now()
	if entry != nil && resp.StatusCode == http.StatusNotModified {
		removeHopHeaders(resp.Header)
		merged := cache.MergeHeader(entry.Header, resp.Header)
		e := s.cache.Update(entry, clientHeader, merged, appendHead(nil, entry.Status, merged, int64(len(entry.Body)), false, s.m.via), reqTime, respTime)
		s.m.revalidated.Add(1)
		return cc.serveHit(req, clientHeader, e, e.Age(respTime), rec, "TCP_REFRESH_UNMODIFIED", closeAfter)
	}
	rec.action = "TCP_MISS"
	if entry != nil {
		rec.action = "TCP_REFRESH_MODIFIED"
	}
	if s.cache != nil && !isSafe(req.Method) && resp.StatusCode < 400 {
		s.cache.Remove(full) // RFC 9111 §4.4
	}
	return cc.respond(req, clientHeader, resp, st, rec, full, useCache, reqTime, respTime, closeAfter)
}

func isSafe(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// hostHeader is the Host field for the server: the port only when it is
// not the scheme's.
func hostHeader(host, port, scheme string) string {
	h := host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		return h
	}
	return h + ":" + port
}

// scannedEncodings are the content codings the content filter decodes:
// a client's Accept-Encoding is cut down to them, so that a server does
// not answer in one it cannot scan.
var scannedEncodings = map[string]bool{"gzip": true, "x-gzip": true, "deflate": true, "br": true, "identity": true}

func restrictEncodings(h http.Header) {
	vs := h["Accept-Encoding"]
	if len(vs) == 0 {
		return
	}
	var kept []string
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(tok), ";")
			if scannedEncodings[strings.ToLower(strings.TrimSpace(name))] {
				kept = append(kept, strings.TrimSpace(tok))
			}
		}
	}
	if len(kept) == 0 {
		h.Set("Accept-Encoding", "identity")
		return
	}
	if len(kept) == 1 && len(vs) == 1 && kept[0] == strings.TrimSpace(vs[0]) {
		return
	}
	h.Set("Accept-Encoding", strings.Join(kept, ", "))
}

// bodyless reports whether a response has no body (RFC 9112 §6.3).
func bodyless(method string, status int) bool {
	return method == http.MethodHead || status/100 == 1 || status == http.StatusNoContent || status == http.StatusNotModified
}

// respond sends the server's response to the client: scanned by the
// content filter, stored in the cache when it may be.
func (cc *conn) respond(req *http.Request, clientHeader http.Header, resp *http.Response, st *settings, rec *record, key string, useCache bool, reqTime, respTime time.Time, closeAfter bool) bool {
	s := cc.s
	removeHopHeaders(resp.Header)
	rec.status = resp.StatusCode
	rec.ctype = resp.Header.Get("Content-Type")
	hasBody := !bodyless(req.Method, resp.StatusCode)
	storable := false
	if useCache && req.Method == http.MethodGet {
		storable, _ = cache.Storable(req.Method, clientHeader, resp.StatusCode, resp.Header)
	}
	var (
		body     []byte // the whole body, when held
		complete bool
		rest     io.Reader // the body (or what follows body) to stream
		length   = resp.ContentLength
	)
	switch {
	case !hasBody:
		complete = true
		if req.Method != http.MethodHead && resp.StatusCode != http.StatusNotModified {
			length = -1
		}
	case st.cfg.Content != nil && content.Scannable(rec.ctype):
		res, err := st.cfg.Content.Scan(resp.Body, rec.ctype, resp.Header.Get("Content-Encoding"))
		if err != nil {
			return cc.upstreamBroke(req, st, rec, key, err)
		}
		defer res.Release()
		switch res.Verdict {
		case content.Blocked:
			rule := "content.patterns: " + res.Pattern
			if res.Pattern == "" {
				rule = "content: " + res.Reason
			}
			s.m.blocked[blockContent].Add(1)
			rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, rule
			rec.bytes = s.writePage(cc, req, st, http.StatusForbidden, "blocked by "+rule, key, closeAfter)
			return !closeAfter
		case content.Stripped:
			s.m.stripped.Add(uint64(res.Scripts))
			rec.rule = "content.patterns: " + res.Pattern + " (" + strconv.Itoa(res.Scripts) + " script stripped)"
			resp.Header.Del("Content-Encoding")
			resp.Header.Del("Content-MD5")
			if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
				resp.Header.Set("ETag", "W/"+et) // no longer the server's bytes
			}
			body, complete, length = res.Body, true, int64(len(res.Body))
		default:
			body = res.Body
			if res.Rest == nil {
				complete, length = true, int64(len(body))
			} else {
				rest = res.Rest
			}
		}
		if storable && complete {
			body = append([]byte(nil), body...) // the filter's buffer is reused
		}
	case storable && resp.ContentLength >= 0 && resp.ContentLength <= s.cache.MaxObject():
		body = make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return cc.upstreamBroke(req, st, rec, key, err)
		}
		complete = true
	default:
		rest = resp.Body
	}
	chunked := hasBody && !complete && length < 0
	if chunked && !req.ProtoAtLeast(1, 1) {
		// An HTTP/1.0 client: the end of the connection ends the body.
		chunked, closeAfter = false, true
	}
	head := appendHead(nil, resp.StatusCode, resp.Header, length, chunked, s.m.via)
	if storable && complete {
		// Stored before the client has the last byte, so that the
		// client's next request for it, which may come the moment it
		// has, is a hit. The body is whole and judged already; a client
		// that goes away does not make it less so.
		if s.cache.Store(key, clientHeader, resp.StatusCode, resp.Header, body, head, reqTime, respTime) != nil {
			s.m.stored.Add(1)
		}
	}
	w := cc.bw
	w.Write(head)
	writeConnection(w, req, closeAfter)
	w.WriteString("\r\n")
	n := int64(len(head))
	if hasBody {
		n += int64(len(body))
		var err error
		if chunked {
			cw := httputil.NewChunkedWriter(w)
			if len(body) > 0 {
				cw.Write(body)
			}
			var m int64
			m, err = io.Copy(cw, rest)
			n += m
			if err == nil {
				cw.Close()
				w.WriteString("\r\n")
			}
		} else {
			w.Write(body)
			if rest != nil {
				var m int64
				m, err = io.Copy(w, rest)
				n += m
			}
		}
		if err != nil {
			return cc.abort(rec, n, err)
		}
	}
	rec.bytes = n
	if err := w.Flush(); err != nil {
		return false
	}
	return !closeAfter
}

// upstreamBroke answers for a response that failed before anything was
// sent to the client.
func (cc *conn) upstreamBroke(req *http.Request, st *settings, rec *record, url string, err error) bool {
	s := cc.s
	why := "the server broke off the response: " + err.Error()
	label := upstreamBroken
	if errors.Is(err, content.ErrDecode) {
		why = "the response body could not be decoded for the content filter: " + err.Error()
		label = upstreamDecode
	}
	s.m.upstreamErr[label].Add(1)
	rec.status, rec.reason = http.StatusBadGateway, why
	rec.bytes = s.writePage(cc, req, st, http.StatusBadGateway, why, url, true)
	return false
}

// abort ends a response cut short after its header went out: the client
// sees a closed connection before the promised end.
func (cc *conn) abort(rec *record, n int64, err error) bool {
	s := cc.s
	var me *content.MatchError
	if errors.As(err, &me) {
		s.m.blocked[blockContent].Add(1)
		rec.rule = "content.patterns: " + me.Pattern + " (past the bytes held: response cut)"
	} else {
		s.m.upstreamErr[upstreamBroken].Add(1)
		rec.reason = err.Error()
	}
	rec.action += "_ABORTED"
	rec.bytes = n
	cc.bw.Flush()
	return false
}

// serveHit answers from a stored entry: 304 for a client whose
// validators match, else the stored response with its Age.
func (cc *conn) serveHit(req *http.Request, clientHeader http.Header, e *cache.Entry, age time.Duration, rec *record, action string, closeAfter bool) bool {
	s := cc.s
	s.m.hits.Add(1)
	rec.action, rec.status = action, e.Status
	rec.ctype = e.Header.Get("Content-Type")
	w := cc.bw
	var n int
	if notModified(clientHeader, e) {
		rec.status = http.StatusNotModified
		h := http.Header{}
		for _, k := range []string{"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary"} {
			if v, ok := e.Header[k]; ok {
				h[k] = v
			}
		}
		head := appendHead(nil, http.StatusNotModified, h, -1, false, s.m.via)
		n, _ = w.Write(head)
	} else {
		m, _ := w.Write(e.Head)
		n += m
	}
	w.WriteString("Age: ")
	w.WriteString(strconv.FormatInt(int64(age/time.Second), 10))
	w.WriteString("\r\n")
	writeConnection(w, req, closeAfter)
	w.WriteString("\r\n")
	if rec.status != http.StatusNotModified && req.Method != http.MethodHead {
		m, _ := w.Write(e.Body)
		n += m
	}
	rec.bytes = int64(n)
	if err := w.Flush(); err != nil {
		return false
	}
	return !closeAfter
}

// writeConnection writes the Connection field a response needs: close
// when the connection ends after it, keep-alive for an HTTP/1.0 client
// whose connection goes on (which would otherwise expect the close).
func writeConnection(w *bufio.Writer, req *http.Request, closeAfter bool) {
	switch {
	case closeAfter:
		w.WriteString("Connection: close\r\n")
	case !req.ProtoAtLeast(1, 1):
		w.WriteString("Connection: keep-alive\r\n")
	}
}

// notModified evaluates a client's conditional GET against an entry
// (RFC 9110 §13.2.2): If-None-Match first, else If-Modified-Since.
func notModified(h http.Header, e *cache.Entry) bool {
	if inm := h.Get("If-None-Match"); inm != "" {
		if e.ETag == "" {
			return false
		}
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(e.ETag, "W/") {
				return true
			}
		}
		return false
	}
	if ims := h.Get("If-Modified-Since"); ims != "" && e.LastModified != "" {
		t, err1 := http.ParseTime(ims)
		lm, err2 := http.ParseTime(e.LastModified)
		return err1 == nil && err2 == nil && !lm.After(t)
	}
	return false
}

// appendHead appends a response's status line and fields, with its
// framing: Content-Length when length >= 0, chunked, or neither.
func appendHead(b []byte, status int, h http.Header, length int64, chunked bool, via string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = append(b, statusLine(status)...)
	b = append(b, "\r\n"...)
	for k, vs := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Age", "Connection":
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendFieldValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "Via: "...)
	b = append(b, via...)
	b = append(b, "\r\n"...)
	switch {
	case chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case length >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	}
	return b
}

// appendFieldValue writes a field value with any CR, LF or NUL made a
// space, so that no value can split the header.
func appendFieldValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}
