package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/proxy/ca"
	"github.com/rampart-fw/rampart/proxy/content"
	"github.com/rampart-fw/rampart/proxy/filter"
)

const testPage = `<html><head><script>var ok = 1;</script>
<script>evil_payload("steal");</script></head><body>hello</body></html>`

const strippedPage = `<html><head><script>var ok = 1;</script>
</head><body>hello</body></html>`

// TestBlocked: blocked hosts, suffixes, URLs and methods get a 403 page
// that names the rule, HTML for browsers and text otherwise, with curl
// and Go's client; the origin never sees them.
func TestBlocked(t *testing.T) {
	h := newHarness(t, nil)
	var hits atomic.Int64
	for _, name := range []string{"blocked.test", "x.ads.test", "origin.test"} {
		h.origin(name, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); io.WriteString(w, "origin") })
	}
	tests := []struct {
		method, url, rule string
	}{
		{"GET", "http://blocked.test/", "block.hosts: blocked.test"},
		{"GET", "http://x.ads.test/banner", "block.hosts: .ads.test"},
		{"GET", "http://origin.test/private/secret", "block.urls: ^https?://[^/]+/private/"},
		{"TRACE", "http://origin.test/", "block.methods: TRACE"},
	}
	c := h.client()
	for _, tt := range tests {
		resp, body := h.get(c, tt.method, tt.url)
		if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			body != "rampart proxy: 403 Forbidden\nblocked by "+tt.rule+"\nURL: "+tt.url+"\n" {
			t.Errorf("%s %s: %d %q", tt.method, tt.url, resp.StatusCode, body)
		}
		resp, body = h.get(c, tt.method, tt.url, "Accept", "text/html,application/xhtml+xml")
		if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "<p>blocked by "+htmlEscape(tt.rule)+"</p>") {
			t.Errorf("%s %s (browser): %d %q", tt.method, tt.url, resp.StatusCode, body)
		}
		out, _, code := h.curl("-i", "-X", tt.method, tt.url)
		if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 403 Forbidden\r\n") || !strings.Contains(out, "blocked by "+tt.rule+"\n") {
			t.Errorf("curl %s %s: exit %d\n%s", tt.method, tt.url, code, out)
		}
	}
	// A blocked upload is answered, not reset, though its body is not read.
	out, closed := h.raw("POST http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\nContent-Length: 200000\r\n\r\n"+strings.Repeat("x", 200000), 5*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 403 Forbidden\r\n") || !closed {
		t.Errorf("blocked upload: closed %v %q", closed, out)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the origin saw %d blocked requests", n)
	}
	if n := h.srv.m.blocked[blockHost].Load(); n != 7 {
		t.Errorf("host blocks counted %d, want 7", n)
	}
	for _, l := range h.logLines(13) {
		if !strings.Contains(l, " TCP_DENIED/403 ") {
			t.Errorf("log line %q", l)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// TestAllowed: an allowed request gets the origin's bytes, compressed or
// not, with keep-alive and chunked bodies both ways.
func TestAllowed(t *testing.T) {
	h := newHarness(t, nil)
	binary := make([]byte, 300<<10)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat("<p>clean</p>", 1000)))
	zw.Close()
	var upload []byte
	h.origin("origin.test", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bin":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(binary)
		case "/gz":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		case "/chunked":
			w.Header().Set("Content-Type", "text/plain")
			for i := range 5 {
				fmt.Fprintf(w, "chunk %d\n", i)
				w.(http.Flusher).Flush()
			}
		case "/upload":
			upload, _ = io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d via %s", len(upload), r.Header.Get("Via"))
		}
	})
	c := h.client()
	if resp, body := h.get(c, "GET", "http://origin.test/bin"); resp.StatusCode != 200 || body != string(binary) {
		t.Errorf("binary: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := h.get(c, "GET", "http://origin.test/gz", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" || body != gz.String() {
		t.Errorf("gzip: %v, %d bytes", resp.Header, len(body))
	}
	resp, body := h.get(c, "GET", "http://origin.test/chunked")
	if body != "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n" || len(resp.TransferEncoding) != 1 {
		t.Errorf("chunked: %q %v", body, resp.TransferEncoding)
	}
	// A chunked upload of unknown length.
	pr, pw := io.Pipe()
	go func() { pw.Write(bytes.Repeat([]byte("u"), 100000)); pw.Close() }()
	req, _ := http.NewRequest("POST", "http://origin.test/upload", pr)
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if !strings.HasPrefix(string(b), "got 100000 via 1.1 rampart-") || len(upload) != 100000 {
		t.Errorf("upload: %q", b)
	}
	// Keep-alive: several requests on one connection to the proxy.
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 3 {
		fmt.Fprintf(conn, "GET http://origin.test/chunked HTTP/1.1\r\nHost: origin.test\r\n\r\n")
		resp := readResponse(t, br)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasSuffix(string(body), "chunk 4\n") || resp.Close {
			t.Errorf("keep-alive request %d: %d %q close %v", i, resp.StatusCode, body, resp.Close)
		}
	}
	// HTTP/1.0 with keep-alive: told so, and served again on the same
	// connection.
	for i := range 2 {
		fmt.Fprintf(conn, "GET http://origin.test/upload HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp := readResponse(t, br)
		io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Connection") != "keep-alive" {
			t.Errorf("HTTP/1.0 keep-alive request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	// curl sees the same bytes.
	out, _, code := h.curl("http://origin.test/bin")
	if code != 0 || out != string(binary) {
		t.Errorf("curl: exit %d, %d bytes", code, len(out))
	}
}

// TestContentFilter: a script holding a pattern is stripped (strip_script),
// a match outside a script or with action block is blocked, also gzipped.
func TestContentFilter(t *testing.T) {
	var gzPage bytes.Buffer
	zw := gzip.NewWriter(&gzPage)
	zw.Write([]byte("<p>evil_payload(1)</p>"))
	zw.Close()
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/script":
			io.WriteString(w, testPage)
		case "/text":
			io.WriteString(w, "<p>evil_payload(1)</p>")
		case "/gz":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzPage.Bytes())
		case "/js":
			w.Header().Set("Content-Type", "application/javascript")
			io.WriteString(w, "evil_payload(2)")
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			io.WriteString(w, "evil_payload(3)")
		}
	}
	t.Run("strip_script", func(t *testing.T) {
		h := newHarness(t, nil)
		h.origin("origin.test", handler)
		c := h.client()
		resp, body := h.get(c, "GET", "http://origin.test/script")
		if resp.StatusCode != 200 || body != strippedPage || resp.Header.Get("Content-Length") != strconv.Itoa(len(strippedPage)) {
			t.Errorf("stripped: %d %q", resp.StatusCode, body)
		}
		for _, p := range []string{"/text", "/gz", "/js"} {
			resp, body := h.get(c, "GET", "http://origin.test"+p)
			if resp.StatusCode != 403 || !strings.Contains(body, "blocked by content.patterns: evil_payload(\n") {
				t.Errorf("%s: %d %q", p, resp.StatusCode, body)
			}
		}
		// Not a scanned type: passes.
		if resp, body := h.get(c, "GET", "http://origin.test/png"); resp.StatusCode != 200 || body != "evil_payload(3)" {
			t.Errorf("png: %d %q", resp.StatusCode, body)
		}
		out, _, _ := h.curl("http://origin.test/script")
		if out != strippedPage {
			t.Errorf("curl: %q", out)
		}
		if n := h.srv.m.stripped.Load(); n != 2 {
			t.Errorf("%d scripts stripped, want 2", n)
		}
		if l := h.logLines(6); !strings.Contains(strings.Join(l, "\n"), "TCP_MISS/200") {
			t.Errorf("log %q", l)
		}
	})
	t.Run("block", func(t *testing.T) {
		h := newHarness(t, func(h *harness, c *Config) {
			c.Content = content.New(content.NewLiteral(testPatterns), testPatterns, content.Block, 1<<20)
		})
		h.origin("origin.test", handler)
		out, _, code := h.curl("-i", "-H", "Accept: text/html", "http://origin.test/script")
		if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "blocked by content.patterns: evil_payload(") {
			t.Errorf("curl: %q", out)
		}
	})
}

// TestConnect: CONNECT tunnels TLS to an allowed host on an allowed port
// whose ClientHello names it; other ports, blocked hosts, and a hello
// naming another host are refused.
func TestConnect(t *testing.T) {
	h := newHarness(t, nil)
	h.tlsOrigin("tunnel.test", h.upCA.leaf(t, "tunnel.test", "other.test"), false, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "through the tunnel")
	})
	c := h.client()
	resp, body := h.get(c, "GET", "https://tunnel.test/")
	if body != "through the tunnel" || resp.TLS.PeerCertificates[0].Issuer.CommonName != "upstream test CA" {
		t.Errorf("tunnel: %q", body)
	}
	// curl through the tunnel, trusting the origin's CA.
	caFile := filepath.Join(t.TempDir(), "up.pem")
	os.WriteFile(caFile, pemCert(h.upCA.cert.Raw), 0o600)
	if out, errOut, code := h.curl("--cacert", caFile, "https://tunnel.test/"); code != 0 || out != "through the tunnel" {
		t.Errorf("curl: exit %d %q %s", code, out, errOut)
	}
	// Refused: port, host.
	for _, tt := range []struct{ target, want string }{
		{"tunnel.test:8443", "blocked by connect_ports: CONNECT to port 8443 is not allowed"},
		{"blocked.test:443", "blocked by block.hosts: blocked.test"},
	} {
		out, _ := h.raw("CONNECT "+tt.target+" HTTP/1.1\r\nHost: "+tt.target+"\r\n\r\n", 3*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 403 Forbidden\r\n") || !strings.Contains(out, tt.want) {
			t.Errorf("CONNECT %s: %q", tt.target, out)
		}
	}
	// SNI of another host: the proxy answers with an alert.
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n")
	br := bufio.NewReader(conn)
	if r := readResponse(t, br); r.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", r.StatusCode)
	}
	tc := tls.Client(&bufConn{conn, br}, &tls.Config{ServerName: "other.test", RootCAs: h.upCA.pool})
	tc.SetDeadline(time.Now().Add(3 * time.Second))
	if err := tc.Handshake(); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Errorf("SNI other.test in a CONNECT to tunnel.test: %v", err)
	}
	// Not TLS at all after the CONNECT: closed.
	out, closed := h.raw("CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test\r\n\r\nGET / HTTP/1.1\r\n\r\n", 3*time.Second)
	if out != "HTTP/1.1 200 Connection established\r\n\r\n" || !closed {
		t.Errorf("plain text in a tunnel: %q closed %v", out, closed)
	}
	if n := h.srv.m.blocked[blockSNI].Load(); n != 2 {
		t.Errorf("SNI refusals counted %d, want 2", n)
	}
	lines := strings.Join(h.logLines(5), "\n")
	if !strings.Contains(lines, "TCP_TUNNEL/200") || !strings.Contains(lines, "TCP_DENIED/403") {
		t.Errorf("log:\n%s", lines)
	}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestIntercept: chosen hosts are terminated with a leaf of the local CA;
// the upstream chain and name are verified (a self-signed certificate is
// refused with a 502 saying why); never_intercept hosts are tunnelled;
// filters and the content filter see inside; the origin speaks HTTP/2.
func TestIntercept(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) {
		c.NeverIntercept = mustSet(t, "tls.never_intercept", "bank.intercept.test")
	})
	var proto atomic.Value
	h.tlsOrigin("secure.test", h.upCA.leaf(t, "secure.test"), true, func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path == "/script" {
			io.WriteString(w, testPage)
			return
		}
		io.WriteString(w, "secure origin")
	})
	self := newTestCA(t, "forged.test") // self-signed, for the name
	h.tlsOrigin("forged.test", self.leaf(t, "forged.test"), false, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "forged origin")
	})
	h.tlsOrigin("wrongname.intercept.test", h.upCA.leaf(t, "someone.else.test"), false, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "wrong name")
	})
	h.tlsOrigin("bank.intercept.test", h.upCA.leaf(t, "bank.intercept.test"), false, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bank")
	})
	c := h.client()
	resp, body := h.get(c, "GET", "https://secure.test/")
	leaf := resp.TLS.PeerCertificates[0]
	if body != "secure origin" || leaf.Issuer.CommonName != "rampart test CA" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "secure.test" {
		t.Errorf("intercepted: %q, leaf issuer %q names %v", body, leaf.Issuer.CommonName, leaf.DNSNames)
	}
	if p, _ := proto.Load().(string); p != "HTTP/2.0" {
		t.Errorf("the proxy spoke %q to an origin that offers h2", p)
	}
	if _, body := h.get(c, "GET", "https://secure.test/script"); body != strippedPage {
		t.Errorf("content filter inside: %q", body)
	}
	if resp, body := h.get(c, "GET", "https://secure.test/private/x"); resp.StatusCode != 403 || !strings.Contains(body, "block.urls") {
		t.Errorf("URL filter inside: %d %q", resp.StatusCode, body)
	}
	// curl trusting the CA of `rampart proxy ca init`.
	caPEM := filepath.Join(h.caDir, ca.CertFile)
	out, errOut, code := h.curl("-v", "--cacert", caPEM, "https://secure.test/")
	if code != 0 || out != "secure origin" || !strings.Contains(errOut, "issuer: O=rampart; CN=rampart test CA") {
		t.Errorf("curl: exit %d %q\n%s", code, out, errOut)
	}
	// A forged certificate: refused, saying why.
	out, _, code = h.curl("-i", "--cacert", caPEM, "https://forged.test/")
	if code != 0 || !strings.Contains(out, "\r\n\r\nHTTP/1.1 502 Bad Gateway\r\n") ||
		!strings.Contains(out, "the certificate of forged.test is not trusted: it is signed by an unknown authority (self-signed, issuer CN=forged.test)") {
		t.Errorf("forged: exit %d\n%s", code, out)
	}
	resp, body = h.get(c, "GET", "https://wrongname.intercept.test/")
	if resp.StatusCode != 502 || !strings.Contains(body, "is for other names") {
		t.Errorf("wrong name: %d %q", resp.StatusCode, body)
	}
	// never_intercept: the client sees the origin's own certificate.
	resp, body = h.get(c, "GET", "https://bank.intercept.test/")
	if body != "bank" || resp.TLS.PeerCertificates[0].Issuer.CommonName != "upstream test CA" {
		t.Errorf("never_intercept: %q by %q", body, resp.TLS.PeerCertificates[0].Issuer.CommonName)
	}
	if n := h.srv.m.upstreamErr[upstreamTLS].Load(); n != 2 {
		t.Errorf("TLS failures counted %d, want 2", n)
	}
	// A request inside the tunnel for another host is refused.
	conn, _ := net.Dial("tcp", h.addr)
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT secure.test:443 HTTP/1.1\r\nHost: secure.test:443\r\n\r\n")
	br := bufio.NewReader(conn)
	readResponse(t, br)
	pool := c.Transport.(*http.Transport).TLSClientConfig.RootCAs
	tc := tls.Client(&bufConn{conn, br}, &tls.Config{ServerName: "secure.test", RootCAs: pool})
	fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: blocked.test\r\n\r\n")
	if r := readResponse(t, bufio.NewReader(tc)); r.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host of another server inside an intercepted tunnel: %d", r.StatusCode)
	}
}

func pemCert(der []byte) []byte {
	var b bytes.Buffer
	b.WriteString("-----BEGIN CERTIFICATE-----\n")
	enc := make([]byte, 0, len(der)*2)
	enc = appendBase64(enc, der)
	for len(enc) > 64 {
		b.Write(enc[:64])
		b.WriteByte('\n')
		enc = enc[64:]
	}
	b.Write(enc)
	b.WriteString("\n-----END CERTIFICATE-----\n")
	return b.Bytes()
}

// TestCache: a fresh response is served from the cache (the origin sees
// one request, the client an Age); a stale one is revalidated with its
// ETag, and a 304 is answered from the cache and counted; no-store and
// private are not stored; Vary keeps variants apart.
func TestCache(t *testing.T) {
	h := newHarness(t, nil)
	var hits, conditional atomic.Int64
	h.origin("origin.test", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		switch r.URL.Path {
		case "/fresh":
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, "fresh body")
		case "/etag":
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				conditional.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			io.WriteString(w, "validated body")
		case "/nostore":
			w.Header().Set("Cache-Control", "no-store, max-age=60")
			io.WriteString(w, "x")
		case "/private":
			w.Header().Set("Cache-Control", "private, max-age=60")
			io.WriteString(w, "x")
		case "/vary":
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "Accept-Language")
			io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
		}
	})
	c := h.client()
	for i := range 3 {
		resp, body := h.get(c, "GET", "http://origin.test/fresh")
		if body != "fresh body" || (i > 0) != (resp.Header.Get("Age") != "") {
			t.Errorf("fresh %d: %q age %q", i, body, resp.Header.Get("Age"))
		}
	}
	if n := hits.Swap(0); n != 1 {
		t.Errorf("origin saw %d requests for a fresh response", n)
	}
	for i := range 3 {
		if _, body := h.get(c, "GET", "http://origin.test/etag"); body != "validated body" {
			t.Errorf("etag %d: %q", i, body)
		}
	}
	// And with curl.
	if out, _, _ := h.curl("http://origin.test/etag"); out != "validated body" {
		t.Errorf("curl revalidated: %q", out)
	}
	if n, m := hits.Swap(0), conditional.Load(); n != 4 || m != 3 {
		t.Errorf("revalidation: origin saw %d requests, %d conditional; want 4 and 3", n, m)
	}
	if n := h.srv.m.revalidated.Load(); n != 3 {
		t.Errorf("revalidations counted %d", n)
	}
	// curl: a hit.
	if out, _, _ := h.curl("-i", "http://origin.test/fresh"); !regexp.MustCompile(`(?m)^Age: \d+\r$`).MatchString(out) {
		t.Errorf("curl hit: %q", out)
	}
	for _, p := range []string{"/nostore", "/private"} {
		h.get(c, "GET", "http://origin.test"+p)
		h.get(c, "GET", "http://origin.test"+p)
	}
	if n := hits.Swap(0); n != 4 {
		t.Errorf("no-store and private: origin saw %d requests, want 4", n)
	}
	_, en := h.get(c, "GET", "http://origin.test/vary", "Accept-Language", "en")
	_, de := h.get(c, "GET", "http://origin.test/vary", "Accept-Language", "de")
	_, en2 := h.get(c, "GET", "http://origin.test/vary", "Accept-Language", "en")
	if en != "lang=en" || de != "lang=de" || en2 != "lang=en" || hits.Load() != 2 {
		t.Errorf("vary: %q %q %q, origin %d", en, de, en2, hits.Load())
	}
	log := strings.Join(h.logLines(18), "\n")
	for _, want := range []string{"TCP_MEM_HIT/200", "TCP_REFRESH_UNMODIFIED/200", "TCP_MISS/200"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no %s:\n%s", want, log)
		}
	}
}

// TestNoOpenProxy: by default only loopback is served; a client outside
// allow_clients gets a 403 and a closed connection.
func TestNoOpenProxy(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := s.cur.Load()
	for a, want := range map[string]bool{"127.0.0.1": true, "::1": true, "::ffff:127.0.0.1": true, "10.0.0.1": false, "192.168.1.1": false, "2001:db8::1": false} {
		if st.allowed(netip.MustParseAddr(a)) != want {
			t.Errorf("default ACL: %s allowed %v", a, !want)
		}
	}
	h := newHarness(t, func(h *harness, c *Config) {
		c.AllowClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	h.origin("origin.test", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin") })
	out, _, code := h.curl("-i", "http://origin.test/")
	if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 403 Forbidden") || !strings.Contains(out, "127.0.0.1 is not in proxy.allow_clients") {
		t.Errorf("outside allow_clients: exit %d %q", code, out)
	}
	resp, body := h.get(h.client(), "GET", "http://origin.test/")
	if resp.StatusCode != 403 || !strings.Contains(body, "access denied") {
		t.Errorf("Go client outside allow_clients: %d %q", resp.StatusCode, body)
	}
	if n := h.srv.m.refused[refusedACL].Load(); n != 2 {
		t.Errorf("refusals counted %d", n)
	}
}

// TestToLocalhost: a remote client may not reach the proxy's own host,
// and no client may reach it through a name DNS points there.
func TestToLocalhost(t *testing.T) {
	remote, local := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("127.0.0.1")
	for _, tt := range []struct {
		client netip.Addr
		host   string
		want   bool
	}{
		{remote, "127.0.0.1", true}, {remote, "127.1.2.3", true}, {remote, "::1", true}, {remote, "0.0.0.0", true},
		{remote, "::ffff:127.0.0.1", true}, {remote, "localhost", true}, {remote, "x.localhost", true},
		{remote, "10.0.0.1", false}, {remote, "example.test", false}, {local, "127.0.0.1", false}, {local, "localhost", false},
	} {
		if got := toLocalhost(tt.client, tt.host); got != tt.want {
			t.Errorf("toLocalhost(%s, %s) = %v", tt.client, tt.host, got)
		}
	}
	// The default dialer: localhost resolves to loopback through the
	// system's resolver, and is refused.
	h := newHarness(t, func(h *harness, c *Config) { c.Dial = nil })
	o := h.origin("unused.test", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "local service") })
	_, port, _ := net.SplitHostPort(o.Listener.Addr().String())
	resp, body := h.get(h.client(), "GET", "http://localhost:"+port+"/")
	if resp.StatusCode != 502 || !strings.Contains(body, "resolves to this proxy's own host") {
		t.Errorf("localhost by name: %d %q", resp.StatusCode, body)
	}
	// A literal address from a local client is the client's own business.
	if resp, body := h.get(h.client(), "GET", "http://127.0.0.1:"+port+"/"); body != "local service" {
		t.Errorf("127.0.0.1 from a local client: %d %q", resp.StatusCode, body)
	}
}

// TestBadRequests: smuggling, floods, oversize and slow headers get a
// clear status and a closed connection, and the proxy goes on serving.
func TestBadRequests(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) { c.Timeouts.ReadHeader = 500 * time.Millisecond })
	h.origin("origin.test", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "origin got %q", b)
	})
	many := "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n"
	for i := range 101 {
		many += fmt.Sprintf("X-F%d: v\r\n", i)
	}
	tests := []struct {
		name, req, status, why string
	}{
		{"CL and TE", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://origin.test/smuggled HTTP/1.1\r\n\r\n",
			"400 Bad Request", "both Content-Length and Transfer-Encoding"},
		{"two CLs", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
			"400 Bad Request", "differing Content-Length fields"},
		{"TE list", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
			"400 Bad Request", "a Transfer-Encoding other than chunked"},
		{"TE twice", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"400 Bad Request", "a Transfer-Encoding other than chunked"},
		{"space before colon", "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
			"400 Bad Request", "white space before the colon"},
		{"obs-fold", "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nX: a\r\n b\r\n\r\n", "400 Bad Request", "obsolete line folding"},
		{"header flood", many + "\r\n", "431 Request Header Fields Too Large", "more than 100 fields"},
		{"oversized header", "GET http://origin.test/ HTTP/1.1\r\nX: " + strings.Repeat("a", 70000) + "\r\n\r\n", "431 Request Header Fields Too Large", "larger than 64 KiB"},
		{"bad request line", "GET\r\n\r\n", "400 Bad Request", "malformed request"},
		{"bad version", "GET http://origin.test/ HTTP/9.9\r\n\r\n", "505 HTTP Version Not Supported", "only HTTP/1.x is served here, not HTTP/9.9"},
		{"slowloris", "GET http://origin.test/ HTTP/1.1\r\nHost: orig", "408 Request Timeout", "did not arrive in time"},
		{"origin-form", "GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n", "400 Bad Request", "not a proxy request"},
		{"scheme", "GET ftp://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n", "400 Bad Request", "unsupported scheme"},
	}
	for _, tt := range tests {
		out, closed := h.raw(tt.req, 3*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 "+tt.status+"\r\n") || !strings.Contains(out, tt.why) || !closed || strings.Count(out, "HTTP/1.1") != 1 {
			t.Errorf("%s: closed %v\n%q", tt.name, closed, out)
		}
	}
	// The proxy still serves, and a proper chunked request passes.
	out, _ := h.raw("POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(out, `origin got "abc"`) {
		t.Errorf("after the bad requests: %q", out)
	}
	if n := h.srv.m.bad["smuggling"].Load(); n != 4 {
		t.Errorf("smuggling counted %d, want 4", n)
	}
}

// TestUpstreamFailures: servers that refuse, hang, or break off get a
// clear status, or a closed connection once the answer has started; no
// goroutine is left behind.
func TestUpstreamFailures(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t, func(h *harness, c *Config) { c.Timeouts.ResponseHeader = 300 * time.Millisecond })
	hang := make(chan struct{})
	defer close(hang)
	h.origin("origin.test", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		case "/broken-html", "/broken-bin":
			w.Header().Set("Content-Length", "1000")
			w.Header().Set("Content-Type", map[string]string{"/broken-html": "text/html", "/broken-bin": "image/png"}[r.URL.Path])
			w.WriteHeader(200)
			io.WriteString(w, "0123456789")
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}
	})
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	h.origins["refused.test"] = closed.Addr().String()
	closed.Close()
	c := h.client()
	for _, tt := range []struct{ url, want string }{
		{"http://refused.test/", "502 cannot connect to refused.test: connection refused"},
		{"http://origin.test/hang", "504 the server origin.test did not answer in time"},
		{"http://origin.test/broken-html", "502 the server broke off the response"},
	} {
		resp, body := h.get(c, "GET", tt.url)
		status, why, _ := strings.Cut(tt.want, " ")
		if strconv.Itoa(resp.StatusCode) != status || !strings.Contains(body, why) {
			t.Errorf("%s: %d %q", tt.url, resp.StatusCode, body)
		}
	}
	// Streamed, the answer has begun: the client sees it cut short.
	resp, err := c.Get("http://origin.test/broken-bin")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("broken stream: %v", err)
	}
	// The proxy goes on.
	if resp, _ := h.get(c, "GET", "http://refused.test/"); resp.StatusCode != 502 {
		t.Errorf("after failures: %d", resp.StatusCode)
	}
	c.CloseIdleConnections()
	h.srv.Shutdown(t.Context())
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+8 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left (from %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestConnLimit: a client's connections beyond the limit are refused.
func TestConnLimit(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) { c.MaxConnsPerClient = 2 })
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond)
	out, closed := h.raw("GET http://origin.test/ HTTP/1.1\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 503 Service Unavailable") || !strings.Contains(out, "too many connections from 127.0.0.1") || !closed {
		t.Errorf("third connection: %q", out)
	}
	conns[0].Close()
	time.Sleep(100 * time.Millisecond)
	if out, _ := h.raw("GET / HTTP/1.1\r\n\r\n", 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Errorf("after one closed: %q", out)
	}
}

// TestPAC: the proxy serves a PAC file naming itself.
func TestPAC(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) { c.PACDirect = []string{".lan.test", "printer.test"} })
	out, _, code := h.curl("--noproxy", "*", "-i", "http://"+h.addr+"/proxy.pac")
	for _, want := range []string{"Content-Type: application/x-ns-proxy-autoconfig", `return "PROXY ` + h.addr + `";`,
		`dnsDomainIs(host, ".lan.test")`, `host == "printer.test"`, "function FindProxyForURL(url, host)"} {
		if !strings.Contains(out, want) || code != 0 {
			t.Errorf("PAC lacks %q:\n%s", want, out)
		}
	}
}

// TestAccessLogFormats: Squid's native format and JSON.
func TestAccessLogFormats(t *testing.T) {
	r := &record{start: time.Unix(1286536308, 779e6), client: netip.MustParseAddr("192.168.0.224"), action: "TCP_MISS", status: 200,
		bytes: 411, method: "GET", url: "http://www.example.test/a b", hier: "www.example.test", ctype: "text/html"}
	now := r.start.Add(180 * time.Millisecond)
	got := string(appendSquid(nil, r, now))
	want := "1286536308.779    180 192.168.0.224 TCP_MISS/200 411 GET http://www.example.test/a%20b - HIER_DIRECT/www.example.test text/html\n"
	if got != want {
		t.Errorf("squid:\n%q\nwant\n%q", got, want)
	}
	r.rule = "block.urls: ^x\"\n"
	var m map[string]any
	if err := json.Unmarshal(appendJSON(nil, r, now), &m); err != nil || m["rule"] != r.rule || m["elapsed_ms"] != 180.0 || m["client"] != "192.168.0.224" {
		t.Errorf("json: %v %v", m, err)
	}
}

// TestReload: a new configuration applies to the next request; list
// files are re-read when they change, and a broken one is refused.
func TestReload(t *testing.T) {
	list := filepath.Join(t.TempDir(), "block.list")
	os.WriteFile(list, []byte("0.0.0.0 one.test\n"), 0o600)
	set, err := filter.ParseList(list, []byte("0.0.0.0 one.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(h *harness, c *Config) {
		c.Filter = &filter.Policy{Block: filter.Lists{Key: "block", Hosts: []*filter.HostSet{set}}}
	})
	for _, n := range []string{"one.test", "two.test"} {
		h.origin(n, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	}
	c := h.client()
	status := func(u string) int {
		resp, body := h.get(c, "GET", u)
		if resp.StatusCode == 403 {
			t.Logf("%s: %s", u, body)
		}
		return resp.StatusCode
	}
	if status("http://one.test/") != 403 || status("http://two.test/") != 200 {
		t.Fatal("initial list")
	}
	go h.srv.WatchLists(t.Context(), 20*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	// Lists are replaced as they should be, by a rename: a file written
	// in place can be seen half-written by a watcher on a loaded machine.
	replace := func(text string) {
		tmp := list + ".new"
		os.WriteFile(tmp, []byte(text), 0o600)
		if err := os.Rename(tmp, list); err != nil {
			t.Fatal(err)
		}
	}
	replace("0.0.0.0 two.test\n")
	waitFor(t, func() bool { return status("http://two.test/") == 403 })
	if status("http://one.test/") != 200 {
		t.Error("the old entry stayed")
	}
	replace("0.0.0.0 bad!name\n")
	time.Sleep(100 * time.Millisecond)
	if status("http://two.test/") != 403 {
		t.Error("a broken list replaced the good one")
	}
	cfg := h.cfg
	cfg.Filter = testPolicy(t)
	if err := h.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if a, b := status("http://two.test/"), status("http://blocked.test/"); a != 200 || b != 403 {
		t.Errorf("reload not in force: %d %d", a, b)
	}
	cfg.CA = nil
	if err := h.srv.Reload(cfg); err == nil {
		t.Error("interception without a CA accepted")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
