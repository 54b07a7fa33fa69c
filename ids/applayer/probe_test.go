package applayer

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
)

// TestDetection feeds the first bytes of a direction whole and one byte
// at a time, and checks the protocol detection settles on.
func TestDetection(t *testing.T) {
	q := dnsQuery(t, "x.example.", dns.TypeA)
	dnsTCP := append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)
	dns53 := flow.Key{Src: tcpKey.Src, Dst: dnsKey.Dst, Proto: tcpKey.Proto}
	for _, c := range []struct {
		name  string
		key   flow.Key
		dir   buffer.Direction
		data  string
		want  buffer.App
		final bool
	}{
		{"get", tcpKey, buffer.ToServer, "GET / HTTP/1.1\r\n", buffer.AppHTTP, true},
		{"lower-case method", tcpKey, buffer.ToServer, "post /x HTTP/1.0\r\n", buffer.AppHTTP, true},
		{"unknown method with a version", tcpKey, buffer.ToServer, "BREW /pot HTTP/1.1\r\n", buffer.AppHTTP, true},
		{"unknown method without one", tcpKey, buffer.ToServer, "BREW /pot\r\n", buffer.AppNone, false},
		{"status line first", tcpKey, buffer.ToClient, "HTTP/1.1 200 OK\r\n", buffer.AppHTTP, true},
		{"tls", tlsKey, buffer.ToServer, string(helloWith(sniExt("d.example"))), buffer.AppTLS, true},
		{"tls on port 80", tcpKey, buffer.ToServer, string(helloWith()), buffer.AppTLS, true},
		{"dns over tcp on 53", dns53, buffer.ToServer, string(dnsTCP), buffer.AppDNS, true},
		{"dns over tcp elsewhere", tcpKey, buffer.ToServer, string(dnsTCP), buffer.AppDNS, true},
		{"ssh banner", tcpKey, buffer.ToServer, "SSH-2.0-OpenSSH_9.6 Ubuntu\r\n", buffer.AppNone, false},
		{"binary", tcpKey, buffer.ToServer, "\x00\x01\x02\x03garbage", buffer.AppNone, false},
		{"smtp greeting", tcpKey, buffer.ToClient, "220 mail.example ESMTP\r\n", buffer.AppNone, false},
		{"http/2 preface", tcpKey, buffer.ToServer, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", buffer.AppNone, false},
	} {
		for _, split := range []func([]byte) [][]byte{nil, bytewise} {
			p := mustNew(t, Config{})
			w := p.NewWorker()
			f := p.NewFlow(c.key)
			r := &recorder{}
			if split == nil {
				w.Stream(f, c.dir, []byte(c.data), r)
			} else {
				for _, b := range split([]byte(c.data)) {
					w.Stream(f, c.dir, b, r)
				}
			}
			// The other direction says nothing, so a direction that
			// gave up leaves the flow undecided until it closes.
			w.Close(f, 3-c.dir, r)
			if f.App() != c.want || !f.Detected() {
				t.Errorf("%s (split %v): app %s detected %v, want %s", c.name, split != nil, f.App(), f.Detected(), c.want)
			}
			p.Release(f)
		}
	}
}

// TestDetectionLimit: a direction that keeps looking like a request line
// without ending one gives up at the probe limit, holding no more.
func TestDetectionLimit(t *testing.T) {
	p := mustNew(t, Config{ProbeLimit: 100})
	w := p.NewWorker()
	f := p.NewFlow(tcpKey)
	r := &recorder{}
	w.Stream(f, buffer.ToServer, []byte("XYZZY /"+strings.Repeat("a", 60)), r)
	if f.probe[0].done || len(f.probe[0].buf) == 0 {
		t.Fatalf("undecided bytes are held: done %v held %d", f.probe[0].done, len(f.probe[0].buf))
	}
	w.Stream(f, buffer.ToServer, []byte(strings.Repeat("b", 60)+" HTTP/1.1\r\n"), r)
	if !f.probe[0].done || len(f.probe[0].buf) != 0 || f.App() != buffer.AppNone {
		t.Errorf("past the limit: done %v held %d app %s", f.probe[0].done, len(f.probe[0].buf), f.App())
	}
	w.Close(f, buffer.ToClient, r)
	if !f.Detected() {
		t.Error("both directions gave up: detection is over")
	}
	p.Release(f)
}

// TestDetectionMismatch: a flow whose directions look like two protocols
// keeps the first and reports the other.
func TestDetectionMismatch(t *testing.T) {
	p := mustNew(t, Config{})
	got := run(t, p, tcpKey, []section{
		{dir: buffer.ToServer, data: helloWith(sniExt("m.example"))},
		{dir: buffer.ToClient, data: []byte("HTTP/1.1 400 Bad Request\r\n\r\n")},
	}, nil)
	want := "tx tls to_server seq=0 off=0 version=0x0303 tls13=false\n  tls.sni \"m.example\"\n" +
		"event tls to_client detect_mismatch at 0\nevent tls to_client tls_bad_record at 0 (parser disabled)\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestDetectionReplay: bytes held while detection was undecided reach
// the parser first when the other direction decides.
func TestDetectionReplay(t *testing.T) {
	p := mustNew(t, Config{})
	got := run(t, p, tcpKey, []section{
		{dir: buffer.ToServer, data: []byte("GE")},
		{dir: buffer.ToClient, data: []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")},
		{dir: buffer.ToServer, data: []byte("T /held HTTP/1.1\r\nHost: t.example\r\n\r\n")},
	}, nil)
	if !strings.Contains(got, "tx http to_server seq=0 off=0") || !strings.Contains(got, `http.uri "/held"`) {
		t.Errorf("got:\n%s", got)
	}
}
