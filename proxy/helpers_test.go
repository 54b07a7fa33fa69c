package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/proxy/ca"
	"github.com/rampart-fw/rampart/proxy/cache"
	"github.com/rampart-fw/rampart/proxy/content"
	"github.com/rampart-fw/rampart/proxy/filter"
)

// testCA signs the origins' certificates; the proxy trusts it as its
// upstream_ca.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf is a server certificate for names, signed by the CA.
func (c *testCA) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// harness is a proxy on loopback with origins on loopback under names.
type harness struct {
	t       *testing.T
	srv     *Server
	addr    string
	origins map[string]string // host name -> 127.0.0.1:port
	alog    *syncBuffer
	caDir   string
	upCA    *testCA
	cfg     Config
	mu      sync.Mutex
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func mustSet(t testing.TB, name string, entries ...string) *filter.HostSet {
	t.Helper()
	s := filter.NewHostSet(name)
	for i, e := range entries {
		if err := s.Add(e, int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// testPolicy blocks blocked.test, .ads.test, URLs under /private/ and
// the method TRACE.
func testPolicy(t testing.TB) *filter.Policy {
	priv, _ := filter.CompileURL(`^https?://[^/]+/private/`)
	return &filter.Policy{Block: filter.Lists{Key: "block",
		Hosts:   []*filter.HostSet{mustSet(t, "block.hosts", "blocked.test", ".ads.test")},
		URLs:    []filter.URLRule{priv},
		Methods: []string{"TRACE"}}}
}

var testPatterns = []string{"evil_payload("}

func newHarness(t *testing.T, mutate func(h *harness, c *Config)) *harness {
	t.Helper()
	h := &harness{t: t, origins: map[string]string{}, alog: &syncBuffer{}, caDir: filepath.Join(t.TempDir(), "ca"), upCA: newTestCA(t, "upstream test CA")}
	if err := ca.Init(h.caDir, "rampart test CA"); err != nil {
		t.Fatal(err)
	}
	auth, err := ca.Load(h.caDir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	alog := NewAccessLog(h.alog, FormatSquid)
	h.cfg = Config{
		Filter:        testPolicy(t),
		Content:       content.New(content.NewLiteral(testPatterns), testPatterns, content.StripScript, 1<<20),
		CA:            auth,
		Intercept:     mustSet(t, "tls.intercept", "secure.test", "forged.test", "h2.test", ".intercept.test"),
		UpstreamRoots: h.upCA.pool,
		Cache:         cache.New(cache.Config{MaxBytes: 8 << 20}),
		AccessLog:     alog,
		Timeouts:      Timeouts{ReadHeader: 2 * time.Second, ResponseHeader: 2 * time.Second, Idle: 5 * time.Second},
		Dial: func(network, addr string, timeout time.Duration) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			h.mu.Lock()
			o, ok := h.origins[host+":"+port]
			if !ok {
				o, ok = h.origins[host]
			}
			h.mu.Unlock()
			if ok {
				addr = o
			}
			return net.DialTimeout(network, addr, timeout)
		},
	}
	if mutate != nil {
		mutate(h, &h.cfg)
	}
	h.srv, err = New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go h.srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		alog.Close()
	})
	return h
}

// origin starts an HTTP server for name (every port of it).
func (h *harness) origin(name string, handler http.HandlerFunc) *httptest.Server {
	o := httptest.NewServer(handler)
	h.t.Cleanup(o.Close)
	h.mu.Lock()
	h.origins[name] = o.Listener.Addr().String()
	h.mu.Unlock()
	return o
}

// tlsOrigin starts an HTTPS server for name with cert (h2 offered when
// http2).
func (h *harness) tlsOrigin(name string, cert tls.Certificate, http2 bool, handler http.HandlerFunc) *httptest.Server {
	o := httptest.NewUnstartedServer(handler)
	o.EnableHTTP2 = http2
	o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// The refusals the tests cause are expected.
	o.Config.ErrorLog = log.New(io.Discard, "", 0)
	o.StartTLS()
	h.t.Cleanup(o.Close)
	h.mu.Lock()
	h.origins[name] = o.Listener.Addr().String()
	h.mu.Unlock()
	return o
}

// client is a Go http.Client through the proxy that trusts the proxy's CA
// and the upstream test CA.
func (h *harness) client() *http.Client {
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(filepath.Join(h.caDir, ca.CertFile))
	pool.AppendCertsFromPEM(pem)
	pool.AddCert(h.upCA.cert)
	pu, _ := url.Parse("http://" + h.addr)
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}, DisableCompression: true},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (h *harness) get(c *http.Client, method, u string, header ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: body: %v", method, u, err)
	}
	return resp, string(b)
}

// curl runs curl through the proxy; it skips the test when curl is not
// installed (make test installs it).
func (h *harness) curl(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		h.t.Skip("curl is not installed (make deps installs it)")
	}
	cmd := exec.Command(path, append([]string{"-sS", "--max-time", "10", "-x", "http://" + h.addr}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// raw sends bytes on a new connection to the proxy and returns all it
// answers until it closes the connection (or the deadline).
func (h *harness) raw(data string, wait time.Duration) (string, bool) {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(data))
	c.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(c)
	closed := err == nil || errors.Is(err, syscall.ECONNRESET)
	return string(b), closed
}

// logLines waits for the access log to hold n lines and returns them.
func (h *harness) logLines(n int) []string {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		h.srv.alog.Flush()
		lines := strings.Split(strings.TrimSpace(h.alog.String()), "\n")
		if lines[0] == "" {
			lines = nil
		}
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readResponse(t testing.TB, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func appendBase64(dst, src []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, src)
}
