// Package sni reads the server name a TLS client asks for from the bytes
// of its ClientHello, before any TLS library sees them, so that the proxy
// can hold a CONNECT tunnel to the host it named.
//
// It parses only as far as the server_name extension and reports whether
// the hello carries Encrypted Client Hello; it never answers the client.
package sni

import (
	"errors"
	"fmt"
)

// ErrShort says that b holds the start of a well-formed ClientHello but
// not all of it: read more and call again.
var ErrShort = errors.New("sni: ClientHello incomplete")

// ErrNotTLS says that the bytes are not a TLS handshake.
var ErrNotTLS = errors.New("sni: not a TLS ClientHello")

// MaxHello bounds the handshake bytes read (a ClientHello with large
// post-quantum key shares is a few KiB).
const MaxHello = 64 << 10

// Hello is what the proxy needs of a ClientHello.
type Hello struct {
	// ServerName is the host name of the server_name extension, lower
	// case; empty when the client sent none.
	ServerName string
	// ECH says the hello carries an encrypted_client_hello extension:
	// ServerName is then the outer, public name.
	ECH bool
	// Len is how many bytes of the input the records of the hello took.
	Len int
}

const (
	recordHandshake  = 22
	typeClientHello  = 1
	extServerName    = 0
	extECH           = 0xfe0d
	nameTypeHostName = 0
)

// Parse reads a ClientHello from the start of b: one or more TLS records
// of type handshake. It never reads past b and never panics.
func Parse(b []byte) (Hello, error) {
	var hs []byte // the handshake bytes, reassembled across records
	off := 0
	need := -1 // handshake message length, once known
	for need < 0 || len(hs) < need {
		if len(b)-off < 5 {
			if off == 0 && len(b) > 0 && b[0] != recordHandshake {
				return Hello{}, ErrNotTLS
			}
			return Hello{}, ErrShort
		}
		if b[off] != recordHandshake || b[off+1] != 3 {
			return Hello{}, ErrNotTLS
		}
		n := int(b[off+3])<<8 | int(b[off+4])
		if n == 0 || n > 1<<14 {
			return Hello{}, fmt.Errorf("%w: record length %d", ErrNotTLS, n)
		}
		if len(b)-off-5 < n {
			// Read more, but judge what is there already.
			if need < 0 && len(hs) == 0 && len(b)-off-5 >= 1 && b[off+5] != typeClientHello {
				return Hello{}, ErrNotTLS
			}
			return Hello{}, ErrShort
		}
		hs = append(hs, b[off+5:off+5+n]...)
		off += 5 + n
		if need < 0 && len(hs) >= 4 {
			if hs[0] != typeClientHello {
				return Hello{}, ErrNotTLS
			}
			need = 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
			if need > MaxHello {
				return Hello{}, fmt.Errorf("%w: ClientHello of %d bytes", ErrNotTLS, need)
			}
		}
	}
	h, err := parseHello(hs[4:need])
	h.Len = off
	return h, err
}

// reader walks a byte slice; any read past its end sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) || n < 0 {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.bytes(2)
	if v == nil {
		return 0
	}
	return int(v[0])<<8 | int(v[1])
}

var errMalformed = fmt.Errorf("%w: malformed ClientHello", ErrNotTLS)

func parseHello(b []byte) (Hello, error) {
	r := &reader{b: b}
	r.bytes(2 + 32) // legacy_version, random
	r.bytes(r.u8()) // legacy_session_id
	cs := r.u16()   // cipher_suites
	if cs%2 != 0 {
		return Hello{}, errMalformed
	}
	r.bytes(cs)
	r.bytes(r.u8()) // legacy_compression_methods
	if r.bad {
		return Hello{}, errMalformed
	}
	var h Hello
	if len(r.b) == 0 {
		return h, nil // no extensions
	}
	ext := &reader{b: r.bytes(r.u16())}
	if r.bad {
		return Hello{}, errMalformed
	}
	seenName := false
	for len(ext.b) > 0 && !ext.bad {
		typ := ext.u16()
		data := &reader{b: ext.bytes(ext.u16())}
		if ext.bad {
			break
		}
		switch typ {
		case extECH:
			h.ECH = true
		case extServerName:
			if seenName {
				return Hello{}, fmt.Errorf("%w: two server_name extensions", ErrNotTLS)
			}
			seenName = true
			list := &reader{b: data.bytes(data.u16())}
			for len(list.b) > 0 && !list.bad {
				nt := list.u8()
				name := list.bytes(list.u16())
				if list.bad {
					break
				}
				if nt != nameTypeHostName {
					continue
				}
				if h.ServerName != "" {
					return Hello{}, fmt.Errorf("%w: two host names in server_name", ErrNotTLS)
				}
				s, err := hostName(name)
				if err != nil {
					return Hello{}, err
				}
				h.ServerName = s
			}
			if list.bad || data.bad {
				return Hello{}, errMalformed
			}
		}
	}
	if ext.bad {
		return Hello{}, errMalformed
	}
	return h, nil
}

// hostName checks an SNI host name (RFC 6066 §3: ASCII, no trailing dot)
// and lowers its case.
func hostName(b []byte) (string, error) {
	if len(b) == 0 || len(b) > 253 {
		return "", fmt.Errorf("%w: server name of %d bytes", ErrNotTLS, len(b))
	}
	out := make([]byte, len(b))
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return "", fmt.Errorf("%w: byte %#x in the server name", ErrNotTLS, c)
		}
		out[i] = c
	}
	return string(out), nil
}
