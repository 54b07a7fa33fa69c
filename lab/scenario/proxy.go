package scenario

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/proxy/ca"
)

// ProxyPort is where the lab's proxy listens, on gw's lan address.
const ProxyPort = 3128

// The lab's proxy: inside clients only, a URL rule, the content filter
// stripping scripts, interception of the example.lab HTTPS hosts, and a
// hosts file for the names (the proxy asks no DNS in this scenario).
const proxyConfig = `proxy:
  listen: ["%s:%d"]
  allow_clients: [10.10.0.0/24]
  block:
    urls: ['^http://[^/]+/private/']
  content:
    patterns: ['evil_payload(']
    action: strip_script
  tls:
    intercept: [.example.lab]
    ca_dir: %s
    upstream_ca: %s
  hosts_file: %s
  access_log: %s
`

// The pages of the lab's web host.
const (
	proxyHome   = "<html><body><h1>example.lab</h1></body></html>\n"
	proxyAdPage = "<html><head><script>var ok = 1;</script>\n<script>evil_payload(document.cookie);</script></head><body>news</body></html>\n"
	proxyClean  = "<html><head><script>var ok = 1;</script>\n</head><body>news</body></html>\n"
)

// Proxy runs `rampart proxy` on gw and shows, from client1: a page that
// passes, a blocked URL, a script stripped from a page, a forged
// certificate from an outside host refused, and a cache hit.
func Proxy() lab.Scenario { return lab.Scenario{Name: "proxy", Run: runProxy} }

func runProxy(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
	const name = "proxy"
	fail := func(tried string, err error) []lab.Result {
		return []lab.Result{{Scenario: name, Tried: tried, Defence: "-", Outcome: err.Error()}}
	}
	dir := filepath.Join(env.Dir, "proxy")
	// The proxy's CA, the CA of the lab's real HTTPS servers (the proxy's
	// upstream_ca), and the attacker's own CA, which no one trusts.
	cas := map[string]*ca.Authority{}
	for _, n := range []string{"proxy-ca", "web-ca", "attacker-ca"} {
		if err := ca.Init(filepath.Join(dir, n), "lab "+n); err != nil {
			return fail("create "+n, err)
		}
		a, err := ca.Load(filepath.Join(dir, n), 0, nil)
		if err != nil {
			return fail("load "+n, err)
		}
		cas[n] = a
	}
	webIP, attackerIP := l.Addr("web", 4), l.Addr("attacker", 4)
	hosts := filepath.Join(dir, "hosts")
	// login.example.lab points at the attacker: a poisoned name, a
	// hijacked route, or a compromised host, the proxy cannot tell; the
	// certificate can.
	os.WriteFile(hosts, []byte(fmt.Sprintf("%s www.example.lab secure.example.lab\n%s login.example.lab\n", webIP, attackerIP)), 0o644)
	cfgPath := filepath.Join(dir, "rampart.yaml")
	gwIP := l.Addr("gw", 4)
	accessLog := filepath.Join(dir, "access.log")
	cfg := fmt.Sprintf(proxyConfig, gwIP, ProxyPort, filepath.Join(dir, "proxy-ca"), filepath.Join(dir, "web-ca", ca.CertFile), hosts, accessLog)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fail("write the proxy's configuration", err)
	}

	// The origins: web serves HTTP and HTTPS, attacker HTTPS with a
	// certificate for login.example.lab from its own CA.
	var webHits atomic.Int64
	webMux := http.NewServeMux()
	webMux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		webHits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/news.html":
			io.WriteString(w, proxyAdPage)
		case "/style.css":
			w.Header().Set("Content-Type", "text/css")
			w.Header().Set("Cache-Control", "max-age=600")
			io.WriteString(w, "body { color: navy }\n")
		default:
			io.WriteString(w, proxyHome)
		}
	})
	webCert, _ := cas["web-ca"].Leaf("secure.example.lab")
	stopWeb, err := serveHTTP(l.Host("web"), webMux, ":80", nil)
	if err != nil {
		return fail("start web's HTTP server", err)
	}
	defer stopWeb()
	stopWebTLS, err := serveHTTP(l.Host("web"), webMux, ":443", webCert)
	if err != nil {
		return fail("start web's HTTPS server", err)
	}
	defer stopWebTLS()
	forged, _ := cas["attacker-ca"].Leaf("login.example.lab")
	stopAttacker, err := serveHTTP(l.Host("attacker"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<form>password: <input name=p></form>\n")
	}), ":443", forged)
	if err != nil {
		return fail("start the attacker's HTTPS server", err)
	}
	defer stopAttacker()

	p, err := l.Host("gw").Start("proxy", env.Rampart, "--config", cfgPath, "--log-format", "json", "proxy")
	if err != nil {
		return fail("start rampart proxy on gw", err)
	}
	defer p.Stop()
	client := l.Host("client1")
	proxyAddr := net.JoinHostPort(gwIP.String(), fmt.Sprint(ProxyPort))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _, err := proxyGet(ctx, client, proxyAddr, "http://www.example.lab/", nil)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail("start rampart proxy on gw", fmt.Errorf("no answer through the proxy after 10 s: %v; log: %s", err, p.Output()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	env.Logf("rampart proxy on gw %s; CA %s", proxyAddr, filepath.Join(dir, "proxy-ca", ca.CertFile))

	var results []lab.Result
	add := func(r lab.Result) {
		r.Scenario = name
		results = append(results, r)
		env.Logf("%s: %s", r.Tried, r.Outcome)
	}
	// 1. A page that passes.
	r := lab.Result{Kind: lab.Check, Tried: "client1 GET http://www.example.lab/ through the proxy", Defence: "allowed: no rule matches"}
	resp, body, err := proxyGet(ctx, client, proxyAddr, "http://www.example.lab/", nil)
	switch {
	case err != nil:
		r.Outcome = err.Error()
	default:
		r.OK = resp.StatusCode == 200 && body == proxyHome
		r.Outcome = fmt.Sprintf("%d, %d bytes, the origin's page: %v", resp.StatusCode, len(body), body == proxyHome)
	}
	add(r)

	// 2. A blocked URL.
	r = lab.Result{Kind: lab.Defence, Tried: "client1 GET http://www.example.lab/private/payroll.html", Defence: "URL rule block.urls"}
	before := webHits.Load()
	resp, body, err = proxyGet(ctx, client, proxyAddr, "http://www.example.lab/private/payroll.html", nil)
	if err != nil {
		r.Outcome = err.Error()
	} else {
		const rule = "blocked by block.urls: ^http://[^/]+/private/"
		r.OK = resp.StatusCode == 403 && strings.Contains(body, rule) && webHits.Load() == before
		r.Outcome = fmt.Sprintf("%d, page says %q; web saw %d requests for it", resp.StatusCode, firstLineOf(body, "blocked by"), webHits.Load()-before)
	}
	add(r)

	// 3. A script stripped.
	r = lab.Result{Kind: lab.Defence, Tried: "client1 GET http://www.example.lab/news.html, a page with <script>evil_payload(...)</script>",
		Defence: "content filter (strip_script)"}
	resp, body, err = proxyGet(ctx, client, proxyAddr, "http://www.example.lab/news.html", nil)
	if err != nil {
		r.Outcome = err.Error()
	} else {
		r.OK = resp.StatusCode == 200 && body == proxyClean
		r.Outcome = fmt.Sprintf("%d; the evil script is gone: %v; the rest of the page intact: %v", resp.StatusCode,
			!strings.Contains(body, "evil_payload"), body == proxyClean)
	}
	add(r)

	// 4. Interception of a real HTTPS server, and a forged certificate.
	proxyRoots := x509.NewCertPool()
	proxyRoots.AddCert(cas["proxy-ca"].Certificate())
	r = lab.Result{Kind: lab.Check, Tried: "client1 GET https://secure.example.lab/ (intercepted)", Defence: "leaf of the proxy's CA; web's certificate verified"}
	resp, body, err = proxyGet(ctx, client, proxyAddr, "https://secure.example.lab/", proxyRoots)
	if err != nil {
		r.Outcome = err.Error()
	} else {
		r.OK = resp.StatusCode == 200 && body == proxyHome && resp.TLS != nil && resp.TLS.PeerCertificates[0].Issuer.CommonName == "lab proxy-ca"
		r.Outcome = fmt.Sprintf("%d, the origin's page: %v, certificate by %q", resp.StatusCode, body == proxyHome, issuer(resp))
	}
	add(r)
	r = lab.Result{Kind: lab.Defence, Tried: "client1 GET https://login.example.lab/, served by attacker " + attackerIP.String() + " with a forged certificate",
		Defence: "upstream certificate verification"}
	resp, body, err = proxyGet(ctx, client, proxyAddr, "https://login.example.lab/", proxyRoots)
	if err != nil {
		r.Outcome = err.Error()
	} else {
		r.OK = resp.StatusCode == 502 && strings.Contains(body, "is not trusted") && !strings.Contains(body, "password")
		r.Outcome = fmt.Sprintf("%d, page says %q", resp.StatusCode, firstLineOf(body, "the certificate"))
	}
	add(r)

	// 5. A cache hit.
	r = lab.Result{Kind: lab.Check, Tried: "client1 GET http://www.example.lab/style.css twice (max-age=600)", Defence: "cache (RFC 9111)"}
	before = webHits.Load()
	_, _, err1 := proxyGet(ctx, client, proxyAddr, "http://www.example.lab/style.css", nil)
	resp, body, err = proxyGet(ctx, client, proxyAddr, "http://www.example.lab/style.css", nil)
	if err1 != nil || err != nil {
		r.Outcome = fmt.Sprint(err1, err)
	} else {
		hits := webHits.Load() - before
		r.OK = resp.StatusCode == 200 && hits == 1 && resp.Header.Get("Age") != "" && strings.HasPrefix(body, "body {")
		r.Outcome = fmt.Sprintf("second answer from the cache (Age: %s); web saw %d request", resp.Header.Get("Age"), hits)
	}
	time.Sleep(1200 * time.Millisecond) // the access log is flushed every second
	if data, err := os.ReadFile(accessLog); err == nil {
		r.Details = []string{fmt.Sprintf("access log %s: %d TCP_MEM_HIT, %d TCP_DENIED", accessLog,
			strings.Count(string(data), "TCP_MEM_HIT"), strings.Count(string(data), "TCP_DENIED"))}
	}
	add(r)
	return results
}

// serveHTTP serves h on addr inside the host (TLS when cert is set)
// until stop.
func serveHTTP(host *lab.Node, h http.Handler, addr string, cert *tls.Certificate) (stop func(), err error) {
	var ln net.Listener
	if err := host.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: nil}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// proxyGet asks the proxy for url from host h: a plain request for http,
// a CONNECT and TLS trusting roots for https. It returns the response and
// its body.
func proxyGet(ctx context.Context, h *lab.Node, proxyAddr, url string, roots *x509.CertPool) (*http.Response, string, error) {
	var c net.Conn
	if err := h.Do(func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		var err error
		c, err = d.DialContext(ctx, "tcp", proxyAddr)
		return err
	}); err != nil {
		return nil, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, "", err
	}
	br := bufio.NewReader(c)
	var conn io.ReadWriter = c
	if req.URL.Scheme == "https" {
		fmt.Fprintf(c, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n", req.URL.Host, req.URL.Host)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, "", err
		}
		if resp.StatusCode != 200 {
			return nil, "", fmt.Errorf("CONNECT: %s", resp.Status)
		}
		tc := tls.Client(&readerConn{Conn: c, r: br}, &tls.Config{ServerName: req.URL.Hostname(), RootCAs: roots})
		if err := tc.Handshake(); err != nil {
			return nil, "", err
		}
		conn, br = tc, bufio.NewReader(tc)
		if err := req.Write(conn); err != nil {
			return nil, "", err
		}
		resp, body, err := readBody(br, req)
		if resp != nil {
			st := tc.ConnectionState()
			resp.TLS = &st
		}
		return resp, body, err
	}
	if err := req.WriteProxy(conn); err != nil {
		return nil, "", err
	}
	return readBody(br, req)
}

func readBody(br *bufio.Reader, req *http.Request) (*http.Response, string, error) {
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func issuer(resp *http.Response) string {
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return "none"
	}
	return resp.TLS.PeerCertificates[0].Issuer.CommonName
}

// firstLineOf returns the first line of text that contains substr, or
// the first line.
func firstLineOf(text, substr string) string {
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[0])
}
