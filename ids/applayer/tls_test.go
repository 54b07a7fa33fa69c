package applayer

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
)

var tlsKey = flow.Key{Src: netip.MustParseAddrPort("10.0.0.1:40004"), Dst: netip.MustParseAddrPort("10.0.0.2:443"), Proto: ipproto.TCP}

// goClientHello returns the first flight of Go's TLS client for sni: a
// real ClientHello record, with the extensions a modern client sends.
func goClientHello(t testing.TB, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		conn := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_ = conn.Handshake()
		c.Close()
	}()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// rerecord cuts the handshake bytes of one record into records of at
// most n bytes, as a client may.
func rerecord(rec []byte, n int) []byte {
	hs := rec[5:]
	var out []byte
	for len(hs) > 0 {
		k := min(n, len(hs))
		out = append(out, rec[0], rec[1], rec[2], byte(k>>8), byte(k))
		out = append(out, hs[:k]...)
		hs = hs[k:]
	}
	return out
}

func TestTLSClientHello(t *testing.T) {
	hello := goClientHello(t, "Secure.Example.ORG")
	serverFlight := []byte{22, 3, 3, 0, 4, 2, 0, 0, 0, 20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 3, 'x', 'y', 'z'}
	p := mustNew(t, Config{})
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"one record", hello},
		{"handshake over records of 7 bytes", rerecord(hello, 7)},
		{"handshake over two records", rerecord(hello, 100)},
	} {
		t.Run(c.name, func(t *testing.T) {
			secs := []section{{dir: buffer.ToServer, data: c.data}, {dir: buffer.ToClient, data: serverFlight},
				{dir: buffer.ToServer, data: []byte{23, 3, 3, 0, 2, 0xaa, 0xbb}}}
			whole := run(t, p, tlsKey, secs, nil)
			want := "tx tls to_server seq=0 off=0 version=0x0303 tls13=true\n  tls.sni \"Secure.Example.ORG\"\n"
			if whole != want {
				t.Fatalf("got:\n%s\nwant:\n%s", whole, want)
			}
			for k := 1; k < len(c.data); k++ {
				if got := run(t, p, tlsKey, secs, cutAt(k)); got != whole {
					t.Fatalf("cut at %d:\n%s", k, got)
				}
			}
			if got := run(t, p, tlsKey, secs, bytewise); got != whole {
				t.Fatalf("byte by byte:\n%s", got)
			}
		})
	}
}

// helloWith builds a ClientHello record with the given extensions.
func helloWith(exts ...[]byte) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0)             // session id
	body = append(body, 0, 2, 0x13, 1) // one suite
	body = append(body, 1, 0)          // null compression
	var e []byte
	for _, x := range exts {
		e = append(e, x...)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(e)))
	body = append(body, e...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func sniExt(names ...string) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, 0)
		list = binary.BigEndian.AppendUint16(list, uint16(len(n)))
		list = append(list, n...)
	}
	e := []byte{0, 0}
	e = binary.BigEndian.AppendUint16(e, uint16(len(list)+2))
	e = binary.BigEndian.AppendUint16(e, uint16(len(list)))
	return append(e, list...)
}

func TestTLSAnomalies(t *testing.T) {
	badExt := []byte{0, 43, 0, 3, 5, 3, 4} // supported_versions with an odd list
	for _, c := range []struct {
		name string
		cfg  Config
		secs []section
		want string
	}{
		{"no sni", Config{}, []section{{dir: buffer.ToServer, data: helloWith()}},
			"tx tls to_server seq=0 off=0 version=0x0303 tls13=false\n"},
		{"first host_name wins", Config{}, []section{{dir: buffer.ToServer, data: helloWith(sniExt("a.example", "b.example"))}},
			"tx tls to_server seq=0 off=0 version=0x0303 tls13=false\n  tls.sni \"a.example\"\n"},
		{"malformed after the name", Config{}, []section{{dir: buffer.ToServer, data: helloWith(sniExt("evil.example"), badExt)}},
			"event tls to_server tls_malformed at 0 (parser disabled)\ntx tls to_server seq=0 off=0 version=0x0303 tls13=false\n  tls.sni \"evil.example\"\n"},
		{"bad record after", Config{}, []section{{dir: buffer.ToServer, data: append(helloWith(), 99, 3, 3, 0, 1, 0)}},
			"tx tls to_server seq=0 off=0 version=0x0303 tls13=false\nevent tls to_server tls_bad_record at 52 (parser disabled)\n"},
		{"oversized record", Config{}, []section{{dir: buffer.ToClient, data: []byte{22, 3, 3, 0, 4, 2, 0, 0, 0, 23, 3, 3, 0xff, 0xff}}},
			"event tls to_client tls_bad_record at 9 (parser disabled)\n"},
		{"hello too large", Config{MaxClientHello: 64}, []section{{dir: buffer.ToServer, data: rerecord(helloWith(sniExt(strings.Repeat("x", 100))), 40)}},
			"event tls to_server tls_hello_too_large at 0 (parser disabled)\n"},
		{"not a client hello", Config{}, []section{{dir: buffer.ToServer, data: []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}}},
			"event tls to_server tls_malformed at 0 (parser disabled)\n"},
		{"gap in a record", Config{}, []section{{dir: buffer.ToServer, data: helloWith(sniExt("g.example"))},
			{dir: buffer.ToServer, data: []byte{23, 3, 3, 0, 10, 1}}, {dir: buffer.ToServer, gap: 9},
			{dir: buffer.ToServer, data: []byte{23, 3, 3, 0, 1, 1}}},
			"tx tls to_server seq=0 off=0 version=0x0303 tls13=false\n  tls.sni \"g.example\"\n"},
		{"gap across records", Config{}, []section{{dir: buffer.ToServer, data: helloWith()},
			{dir: buffer.ToServer, data: []byte{23, 3, 3, 0, 10, 1}}, {dir: buffer.ToServer, gap: 12}},
			"tx tls to_server seq=0 off=0 version=0x0303 tls13=false\nevent tls to_server gap at 58 (parser disabled)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mustNew(t, c.cfg)
			if got := run(t, p, tlsKey, c.secs, nil); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}
