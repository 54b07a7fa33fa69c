package proxy

import (
	"net/netip"
	"testing"
)

func TestParseHosts(t *testing.T) {
	m, err := ParseHosts("hosts", []byte("# lab names\n203.0.113.80 web.lab Web.Example.lab.\n::1 six.lab # v6\n\n203.0.113.81 web.lab\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := m["web.lab"]; len(a) != 2 || a[0] != netip.MustParseAddr("203.0.113.80") || a[1] != netip.MustParseAddr("203.0.113.81") {
		t.Errorf("web.lab: %v", a)
	}
	if len(m["web.example.lab"]) != 1 || m["six.lab"][0] != netip.MustParseAddr("::1") {
		t.Errorf("%v", m)
	}
	_, err = ParseHosts("hosts", []byte("web.lab 1.2.3.4\n  10.0.0.1\n"))
	want := "hosts:1:1: \"web.lab\" is not an IP address\nhosts:2:11: no name after the address"
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant\n%s", err, want)
	}
}

// FuzzCheckHeader: the header checks take any bytes, and a header they
// pass never has both framings.
func FuzzCheckHeader(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nHost: x\n\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := headerEnd(b, 0)
		if n > len(b) {
			t.Fatalf("end %d past %d bytes", n, len(b))
		}
		if n < 0 {
			return
		}
		if checkHeader(b[:n]) == nil {
			cl, te := false, false
			for _, line := range splitLines(b[:n])[1:] {
				name, _, _ := cutColon(line)
				cl = cl || asciiEqualFold(name, "content-length")
				te = te || asciiEqualFold(name, "transfer-encoding")
			}
			if cl && te {
				t.Fatalf("passed both framings: %q", b[:n])
			}
		}
	})
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		line := b[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		out = append(out, line)
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

func cutColon(b []byte) (name, value []byte, ok bool) {
	for i, c := range b {
		if c == ':' {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}
