package applayer

import (
	"strconv"
	"testing"
)

// TestRemoveDotSegments checks libhtp's own cases for its dot-segment
// removal (uri.rs, test_normalize_uri_path), and the trailing forms where
// it differs from RFC 3986.
func TestRemoveDotSegments(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/a/b/c/./../../g", "/a/g"},
		{"mid/content=5/../6", "mid/6"},
		{"./one", "one"},
		{"../one", "one"},
		{".", ""},
		{"..", ""},
		{"one/.", "one"},
		{"one/..", ""},
		{"/", "/"},
		{"one/../", ""},
		{"/../../../images.gif", "/images.gif"},
		{"/a/./", "/a"},
		{"/a/b/", "/a/b/"},
		{"/a/.b/..c/", "/a/.b/..c/"},
		{"/.hidden", "/.hidden"},
		{"", ""},
	} {
		b := []byte(c.in)
		if got := string(b[:removeDotSegments(b)]); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// TestFoldUTF8 checks the best-fit folding of UTF-8 with libhtp's cases
// (utf8_decoder.rs) and the evasions it exists for.
func TestFoldUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"\xf1.\xf1\xef\xbd\x9dabcd", "?.?}abcd"},
		{"\xf0\x90\x8d\xff", "??"},
		{"\xe2\x82", "?"},
		{"\xc2\xff\xf0", "??"},
		{"\xf0\x90\x28\xbc", "?(?"},
		{"plain/ascii", "plain/ascii"},
		{"caf\xc3\xa9", "caf\xe9"},         // Latin-1 is itself
		{"\xc0\xae\xc0\xae", ".."},         // overlong dots
		{"\xe0\x80\xaf", "/"},              // a three-byte overlong slash
		{"\xef\xbc\x8f\xef\xbc\x8e", "/."}, // full-width solidus and full stop
		{"\xe2\x88\x95", "/"},              // division slash
		{"\xed\xa0\x80", "???"},            // a surrogate is invalid
		{"\xe4\xb8\xad", "?"},              // no best fit
		{"\xf4\x90\x80\x80", "????"},       // past U+10FFFF
		{"\x80", "?"},                      // a stray continuation
	} {
		b := []byte(c.in)
		if got := string(b[:foldUTF8(b)]); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// TestNormURI checks http.uri against Suricata's documented example and
// libhtp's decoding rules under Suricata's configuration.
func TestNormURI(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"//index.html", "/index.html", true}, // Suricata's http.uri example
		{"/index.html", "/index.html", true},
		{"/a%20b", "/a b", true},
		{"/a%2Fb", "/a/b", true},                           // encoded separators are decoded
		{"/a%5cb\\c", "/a/b/c", true},                      // and backslashes are slashes
		{"/a///b", "/a/b", true},                           // runs of slashes compressed
		{"/%u0041%U0042", "/AB", true},                     // %u escapes
		{"/%uFF0Fetc", "/etc", true},                       // full-width solidus by %u, then compressed
		{"/%zz%4%", "/%zz%4%", true},                       // invalid escapes keep their %
		{"/%u12", "/%u12", true},                           // a short %u too
		{"/p?q=%41+b&r=%2F..%2F", "/p?q=A+b&r=/../", true}, // the query is only decoded
		{"/p#frag%41", "/p#fragA", true},
		{"?only", "?only", true},
		{"http://host", "", false}, // an authority alone: no http.uri
		{"http://host/x/../y", "/y", true},
		{"HTTP://host:80", "", false},
		{"mailto:x", "x", true}, // a scheme without authority: the rest is the path
		{"/a/%2e%2e/b", "/b", true},
		{"/%00x", "/\x00x", true}, // an encoded NUL stays
	} {
		dst, ok := appendNormURI(nil, parseURI([]byte(c.in), false))
		if ok != c.ok || string(dst) != c.want {
			t.Errorf("%q: got %q %v, want %q %v", c.in, dst, ok, c.want, c.ok)
		}
	}
}

// TestHost checks http.host's folding of both sources.
func TestHost(t *testing.T) {
	for _, c := range []struct {
		in      string
		fromURI bool
		want    string
	}{
		{"SuRiCaTa.Io:8445", false, "suricata.io"},
		{"www.example.com.", false, "www.example.com"}, // the root's dot (libhtp keeps it here)
		{"  spaced.example  ", false, "spaced.example"},
		{"[2001:DB8::1]:443", false, "[2001:db8::1]"},
		{"Ex%41mple.ORG", true, "example.org"},
		{"Ex%41mple.ORG", false, "ex%41mple.org"},
	} {
		var got []byte
		if c.fromURI {
			got = appendNormHost(nil, hostOf([]byte(c.in)), true)
		} else {
			got = appendNormHost(nil, hostOf([]byte(c.in)), false)
		}
		if string(got) != c.want {
			t.Errorf("%q (uri %v): got %q, want %q", c.in, c.fromURI, got, c.want)
		}
	}
}

// TestRequestLine checks the request line's split, spaces in targets
// included.
func TestRequestLine(t *testing.T) {
	for _, c := range []struct {
		in                 string
		method, uri, proto string
		version            uint8
		simple, ok         bool
	}{
		{"GET / HTTP/1.1", "GET", "/", "HTTP/1.1", 11, false, true},
		{"  GET   /a b   HTTP/1.0  ", "GET", "/a b", "HTTP/1.0", 10, false, true},
		{"GET /x", "GET", "/x", "", 9, true, true},
		{"GET", "GET", "", "", 9, true, true},
		{"GET / HTTP/2.0", "GET", "/", "HTTP/2.0", 0, false, true},
		{"G\x01T / HTTP/1.1", "G\x01T", "/", "HTTP/1.1", 11, false, false},
		{"get /lower http/1.1", "get", "/lower", "http/1.1", 11, false, true},
	} {
		r := parseRequestLine([]byte(c.in))
		if string(r.method) != c.method || string(r.uri) != c.uri || string(r.proto) != c.proto ||
			r.version != c.version || r.simple != c.simple || r.ok != c.ok {
			t.Errorf("%q: got %q %q %q %d simple=%v ok=%v", c.in, r.method, r.uri, r.proto, r.version, r.simple, r.ok)
		}
	}
}

func TestContentLength(t *testing.T) {
	for _, c := range []struct {
		in string
		n  uint64
		ok bool
	}{
		{"0", 0, true}, {" 42 ", 42, true}, {"5, 5", 5, true}, {"5, 6", 0, false},
		{"-1", 0, false}, {"1e3", 0, false}, {"", 0, false}, {"999999999999999999", 999999999999999999, true},
		{"9999999999999999999", 0, false}, {"0x10", 0, false},
	} {
		n, ok := parseContentLength([]byte(c.in))
		if n != c.n || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", strconv.Quote(c.in), n, ok, c.n, c.ok)
		}
	}
}
