package applayer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// kinds returns the event kinds in an output, in order.
func kinds(out string) []string {
	var ks []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "event ") {
			f := strings.Fields(l)
			k := f[3]
			if strings.HasSuffix(l, "(parser disabled)") {
				k += "!"
			}
			ks = append(ks, k)
		}
	}
	return ks
}

func req(s string) section  { return section{dir: buffer.ToServer, data: []byte(s)} }
func resp(s string) section { return section{dir: buffer.ToClient, data: []byte(s)} }

// TestLimits checks each bound of the HTTP parser: what is delivered,
// what is reported, and that the direction stops where framing is lost.
func TestLimits(t *testing.T) {
	big := strings.Repeat("x", 300)
	for _, c := range []struct {
		name   string
		cfg    Config
		secs   []section
		kinds  []string
		has    []string // substrings the output must hold
		hasNot []string
	}{
		{
			name:   "too many headers",
			cfg:    Config{MaxHeaders: 3},
			secs:   []section{req("GET /h HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\nGET /next HTTP/1.1\r\n\r\n")},
			kinds:  []string{"too_many_headers!"},
			has:    []string{`http.uri "/h"`, `http.header "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"`},
			hasNot: []string{"/next"},
		},
		{
			name:   "head too large",
			cfg:    Config{MaxHeadSize: 64, MaxLine: 64},
			secs:   []section{req("GET /big HTTP/1.0\r\nX-A: " + big[:30] + "\r\nX-B: " + big[:30] + "\r\n\r\n")},
			kinds:  []string{"head_too_large!"},
			has:    []string{`http.uri "/big"`, "truncated=true"},
			hasNot: []string{"X-B"},
		},
		{
			name:  "line too long",
			cfg:   Config{MaxLine: 40},
			secs:  []section{req("GET /" + big + " HTTP/1.1\r\nHost: l.example\r\n\r\n")},
			kinds: []string{"line_too_long"},
			has:   []string{`http.uri.raw "/` + big[:35] + `"`},
		},
		{
			name:  "long header line cut, the head goes on",
			cfg:   Config{MaxLine: 40},
			secs:  []section{req("GET /ok HTTP/1.1\r\nX-Long: " + big + "\r\nHost: l.example\r\n\r\n")},
			kinds: []string{"line_too_long"},
			has:   []string{`http.host "l.example"`, `X-Long: ` + big[:32] + `\r\n`},
		},
		{
			name:   "too many pending",
			cfg:    Config{MaxPending: 2},
			secs:   []section{req("GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\nGET /3 HTTP/1.0\r\n\r\n")},
			kinds:  []string{"too_many_pending!"},
			has:    []string{`http.uri "/1"`, `http.uri "/2"`},
			hasNot: []string{`"/3"`},
		},
		{
			name: "request body over the limit",
			cfg:  Config{RequestBodyLimit: 10},
			secs: []section{req("POST /up HTTP/1.0\r\nContent-Length: 300\r\n\r\n" + big + "GET /after HTTP/1.0\r\n\r\n")},
			has:  []string{`http.request_body "xxxxxxxxxx"`, "body_len=11 truncated=true", `http.uri "/after"`},
		},
		{
			name: "response body at the limit exactly",
			cfg:  Config{ResponseBodyLimit: 10},
			secs: []section{req("GET / HTTP/1.0\r\n\r\n"), resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")},
			has:  []string{`file.data "0123456789"`, "status=200 body_len=10 truncated=false"},
		},
		{
			name:  "invalid chunk size",
			secs:  []section{req("POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")},
			kinds: []string{"invalid_chunk!"},
			has:   []string{`http.request_body "abc"`, "truncated=true"},
		},
		{
			name: "chunk overrunning its size",
			// RFC 9112 7.1: chunk data ends with CRLF; anything else
			// loses the framing.
			secs:  []section{req("POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n")},
			kinds: []string{"invalid_chunk!"},
			has:   []string{`http.request_body "abc"`, "truncated=true"},
		},
		{
			name:  "chunk size overflow",
			secs:  []section{req("POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n")},
			kinds: []string{"invalid_chunk!"},
		},
		{
			name:  "gap in a chunk-size line",
			secs:  []section{req("POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1"), {dir: buffer.ToServer, gap: 2}},
			kinds: []string{"gap!"},
			has:   []string{`http.request_body "abc"`},
		},
		{
			name: "switching protocols",
			secs: []section{req("GET /ws HTTP/1.1\r\nHost: w.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
				resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
				req("\x81\x85garbage that is not HTTP")},
			has: []string{"status=101"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mustNew(t, c.cfg)
			got := run(t, p, tcpKey, c.secs, nil)
			if k := kinds(got); strings.Join(k, " ") != strings.Join(c.kinds, " ") {
				t.Errorf("events %v, want %v\n%s", k, c.kinds, got)
			}
			for _, s := range c.has {
				if !strings.Contains(got, s) {
					t.Errorf("no %q in\n%s", s, got)
				}
			}
			for _, s := range c.hasNot {
				if strings.Contains(got, s) {
					t.Errorf("%q in\n%s", s, got)
				}
			}
		})
	}
}

// TestConnectTunnel: after a CONNECT's 200, detection starts afresh and
// finds the TLS inside; after a refusal, HTTP goes on.
func TestConnectTunnel(t *testing.T) {
	p := mustNew(t, Config{})
	hello := goClientHello(t, "inside.example")
	got := run(t, p, tcpKey, []section{
		req("CONNECT inside.example:443 HTTP/1.1\r\nHost: inside.example:443\r\n\r\n"),
		{dir: buffer.ToServer, data: hello[:10]}, // sent before the proxy answered
		resp("HTTP/1.1 200 Connection established\r\n\r\n"),
		{dir: buffer.ToServer, data: hello[10:]},
	}, nil)
	want := []string{
		`tx http to_server seq=0`, `http.method "CONNECT"`, `http.uri.raw "inside.example:443"`, `http.host "inside.example"`,
		`tx http to_client seq=0`, `status=200`,
		`tx tls to_server seq=0 off=65`, `tls.sni "inside.example"`,
	}
	for _, s := range want {
		if !strings.Contains(got, s) {
			t.Errorf("no %q in\n%s", s, got)
		}
	}
	if strings.Contains(got, "http.uri ") || len(kinds(got)) != 0 {
		t.Errorf("a CONNECT has no http.uri, and no events:\n%s", got)
	}

	got = run(t, p, tcpKey, []section{
		req("CONNECT inside.example:443 HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n"),
		resp("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
	}, nil)
	if !strings.Contains(got, `http.uri "/after"`) || !strings.Contains(got, "status=407") {
		t.Errorf("refused: got\n%s", got)
	}
}

// TestMemcap: a cap too small for a body truncates it with an event,
// the memory held never passes it, and all of it comes back.
func TestMemcap(t *testing.T) {
	p := mustNew(t, Config{Memcap: 4096})
	w := p.NewWorker()
	var flows []*Flow
	r := &recorder{}
	body := strings.Repeat("y", 3000)
	for i := range 4 {
		f := p.NewFlow(tcpKey)
		flows = append(flows, f)
		w.Stream(f, buffer.ToServer, []byte(fmt.Sprintf("POST /%d HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)), r)
		if used := p.MemoryInUse(); used > 4096 {
			t.Fatalf("memory in use %d over the cap", used)
		}
	}
	// The first flow's body fits; the next two have room for their heads
	// only, and the last for nothing: its parser stops.
	out := r.String()
	if k := kinds(out); strings.Join(k, " ") != "memcap memcap memcap!" || strings.Count(out, "tx http") != 3 ||
		strings.Count(out, "truncated=true") != 2 {
		t.Errorf("events %v, got:\n%s", k, out)
	}
	for _, f := range flows {
		p.Release(f)
	}
	if used := p.MemoryInUse(); used != 0 {
		t.Errorf("memory in use after release: %d", used)
	}
}
