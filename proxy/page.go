package proxy

import (
	"html"
	"net/http"
	"strconv"
	"strings"
)

func itoa(n int) string { return strconv.Itoa(n) }

// statusLine is "404 Not Found".
func statusLine(code int) string {
	text := http.StatusText(code)
	if text == "" {
		text = "Status"
	}
	return strconv.Itoa(code) + " " + text
}

// wantsHTML reports whether the client is a browser: it accepts
// text/html.
func wantsHTML(req *http.Request) bool {
	return req != nil && strings.Contains(req.Header.Get("Accept"), "text/html")
}

// page renders the proxy's own answer: HTML for browsers, plain text
// otherwise. what is one line saying what happened ("blocked by
// block.urls: ^http://[^/]+/private/"); url is the URL asked for, if any.
func page(req *http.Request, status int, what, url string) (contentType string, body []byte) {
	if wantsHTML(req) {
		var b strings.Builder
		b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
		b.WriteString(html.EscapeString(statusLine(status)))
		b.WriteString("</title></head>\n<body style=\"font-family:sans-serif;max-width:50em;margin:2em auto\">\n<h1>")
		b.WriteString(html.EscapeString(statusLine(status)))
		b.WriteString("</h1>\n<p>")
		b.WriteString(html.EscapeString(what))
		b.WriteString("</p>\n")
		if url != "" {
			b.WriteString("<p>URL: <code>")
			b.WriteString(html.EscapeString(url))
			b.WriteString("</code></p>\n")
		}
		b.WriteString("<hr><p><small>rampart proxy</small></p>\n</body></html>\n")
		return "text/html; charset=utf-8", []byte(b.String())
	}
	s := "rampart proxy: " + statusLine(status) + "\n" + what + "\n"
	if url != "" {
		s += "URL: " + url + "\n"
	}
	return "text/plain; charset=utf-8", []byte(s)
}

// writePage sends the proxy's own answer on cc and returns the bytes
// written. The answer is never cached by clients.
func (s *Server) writePage(cc *conn, req *http.Request, st *settings, status int, what, url string, closeAfter bool) int64 {
	ct, body := page(req, status, what, url)
	b := make([]byte, 0, 256+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = append(b, statusLine(status)...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, ct...)
	b = append(b, "\r\nCache-Control: no-store\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	if closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	if req == nil || req.Method != http.MethodHead {
		b = append(b, body...)
	}
	cc.bw.Write(b)
	cc.bw.Flush()
	return int64(len(b))
}

// writeError is writePage for a request that failed; a nil req (the
// request could not be read) gets plain text.
func (s *Server) writeError(cc *conn, req *http.Request, st *settings, status int, what string, closeAfter bool) int64 {
	url := ""
	if req != nil && req.URL != nil {
		url = req.URL.String()
	}
	return s.writePage(cc, req, st, status, what, url, closeAfter)
}
