package sni

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// clientHello returns the bytes crypto/tls sends for a handshake with
// config.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		c := tls.Client(a, cfg)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Handshake()
		a.Close()
	}()
	buf := make([]byte, MaxHello)
	n := 0
	b.SetDeadline(time.Now().Add(2 * time.Second))
	for {
		m, err := b.Read(buf[n:])
		n += m
		if _, perr := Parse(buf[:n]); perr != ErrShort || err != nil {
			break
		}
	}
	b.Close()
	return buf[:n]
}

func TestParse(t *testing.T) {
	hello := clientHello(t, &tls.Config{ServerName: "Secure.Test", InsecureSkipVerify: true})
	h, err := Parse(hello)
	if err != nil || h.ServerName != "secure.test" || h.ECH || h.Len != len(hello) {
		t.Fatalf("%+v, %v (len %d)", h, err, len(hello))
	}
	// Every prefix is short, never wrong.
	for i := range len(hello) {
		if _, err := Parse(hello[:i]); err != ErrShort {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
	// An IP address as server: no server_name.
	noName := clientHello(t, &tls.Config{ServerName: "", InsecureSkipVerify: true})
	if h, err := Parse(noName); err != nil || h.ServerName != "" {
		t.Errorf("no name: %+v %v", h, err)
	}
	// The hello split over two records.
	body := hello[5:]
	split := []byte{22, 3, 1, 0, 10}
	split = append(split, body[:10]...)
	split = append(split, 22, 3, 1, byte((len(body)-10)>>8), byte(len(body)-10))
	split = append(split, body[10:]...)
	if h, err := Parse(split); err != nil || h.ServerName != "secure.test" {
		t.Errorf("split: %+v %v", h, err)
	}
}

func TestParseNotTLS(t *testing.T) {
	for _, in := range []string{"GET / HTTP/1.1\r\n", "\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", "\x15\x03\x03\x00\x02\x02\x28", "\x16\x03\x01\x00\x00"} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrNotTLS) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(clientHello(f, &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true}))
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if err == nil && (h.Len > len(b) || h.Len < 5) {
			t.Fatalf("Len %d of %d bytes", h.Len, len(b))
		}
		if err != nil && err != ErrShort && !errors.Is(err, ErrNotTLS) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
