package cache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

func TestNameToWire(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	// 3 labels of 63 + 1 of 61 = 4*1 + 250 + root = 255 octets.
	max255 := long63 + "." + long63 + "." + long63 + "." + strings.Repeat("b", 61) + "."
	tests := []struct {
		in      string
		want    []byte // nil: expect an error
		wantErr string
	}{
		{in: ".", want: []byte{0}},
		{in: "com.", want: []byte("\x03com\x00")},
		{in: "com", want: []byte("\x03com\x00")},
		{in: "WwW.Example.COM.", want: []byte("\x03WwW\x07Example\x03COM\x00")},
		{in: `a\.b.com.`, want: []byte("\x03a.b\x03com\x00")},
		{in: `\065bc.`, want: []byte("\x03Abc\x00")},
		{in: `a\\b.`, want: []byte("\x03a\\b\x00")},
		{in: long63 + ".", want: append(append([]byte{63}, long63...), 0)},
		{in: max255},
		{in: "", wantErr: "empty domain name"},
		{in: "..", wantErr: "empty label"},
		{in: ".a.", wantErr: "empty label"},
		{in: "a..b.", wantErr: "empty label"},
		{in: long63 + "a.", wantErr: "label longer"},
		{in: "c." + max255, wantErr: "name longer"},
		{in: max255[:len(max255)-1] + "b.", wantErr: "name longer"},
		{in: `abc\`, wantErr: "trailing backslash"},
		{in: `a\06`, wantErr: "short"},
		{in: `a\06x.`, wantErr: "bad \\DDD"},
		{in: `a\256.`, wantErr: "above 255"},
	}
	for _, tt := range tests {
		var buf [wire.MaxNameLen]byte
		n, err := nameToWire(tt.in, &buf)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("nameToWire(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("nameToWire(%q): %v", tt.in, err)
			continue
		}
		got := buf[:n]
		want := tt.want
		if want == nil {
			// Compare with miekg/dns for the long cases.
			w := make([]byte, 256)
			m, err := dns.PackDomainName(dns.Fqdn(tt.in), w, 0, nil, false)
			if err != nil {
				t.Fatalf("PackDomainName(%q): %v", tt.in, err)
			}
			want = w[:m]
		}
		if !bytes.Equal(got, want) {
			t.Errorf("nameToWire(%q) = %q, want %q", tt.in, got, want)
		}
	}
}

func TestIsBelow(t *testing.T) {
	w := func(s string) []byte {
		var buf [wire.MaxNameLen]byte
		n, err := nameToWire(s, &buf)
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf[:n]...)
	}
	tests := []struct {
		child, parent string
		want          bool
	}{
		{"example.com.", "example.com.", true},
		{"www.example.com.", "example.com.", true},
		{"a.b.WWW.Example.com.", "example.COM.", true},
		{"notexample.com.", "example.com.", false},
		{"com.", "example.com.", false},
		{"example.org.", "example.com.", false},
		{"anything.", ".", true},
		{".", ".", true},
		{"xexample.com.", "example.com.", false},
	}
	for _, tt := range tests {
		if got := isBelow(w(tt.child), w(tt.parent)); got != tt.want {
			t.Errorf("isBelow(%s, %s) = %v, want %v", tt.child, tt.parent, got, tt.want)
		}
	}
}

// FuzzNameToWire checks that the converter never panics, never produces a
// malformed name, and agrees with miekg/dns wherever both accept a name.
func FuzzNameToWire(f *testing.F) {
	for _, s := range []string{".", "example.com.", `a\.b.`, `\065.`, "a..b", `\`, strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf [wire.MaxNameLen]byte
		n, err := nameToWire(s, &buf)
		if err != nil {
			return
		}
		name := buf[:n]
		if _, err := wire.SkipName(name, 0); err != nil || name[n-1] != 0 {
			t.Fatalf("nameToWire(%q) produced malformed % x", s, name)
		}
		if !dns.IsFqdn(s) {
			return
		}
		w := make([]byte, 512)
		m, err := dns.PackDomainName(s, w, 0, nil, false)
		if err != nil || m > wire.MaxNameLen {
			return
		}
		if !bytes.Equal(w[:m], name) && !strings.Contains(s, `\`) {
			t.Fatalf("nameToWire(%q) = % x, miekg/dns = % x", s, name, w[:m])
		}
	})
}
