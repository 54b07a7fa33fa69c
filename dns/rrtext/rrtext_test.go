package rrtext

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestPosition(t *testing.T) {
	zp := dns.NewZoneParser(strings.NewReader("example. 60 IN A 192.0.2.1\nwww.example. 60 IN A 300.1.1.1\n"), "example.", "z.zone")
	for _, ok := zp.Next(); ok; _, ok = zp.Next() {
	}
	file, msg, line, col, ok := Position(zp.Err())
	if !ok || file != "z.zone" || line != 2 || col == 0 || !strings.Contains(msg, "bad A") || strings.Contains(msg, "at line") {
		t.Errorf("zone file error: file %q msg %q line %d col %d ok %v", file, msg, line, col, ok)
	}
	_, err := dns.NewRR("x. IN A 1.2.3")
	file, msg, line, col, ok = Position(err)
	if !ok || file != "" || line != 1 || col == 0 || strings.HasPrefix(msg, "dns: ") {
		t.Errorf("NewRR error: file %q msg %q line %d col %d ok %v", file, msg, line, col, ok)
	}
	if _, msg, _, _, ok := Position(errors.New("plain")); ok || msg != "plain" {
		t.Errorf("plain error: %q %v", msg, ok)
	}
}

func TestPositionMessages(t *testing.T) {
	tests := []struct{ text, want string }{
		{"x. IN A 1.2.3", `bad A record: "1.2.3"`},
		{"x. IN AAAA ::g", `bad AAAA record: "::g"`},
		{"x. IN NS a..b", `bad NS record: "a..b"`},
		{"x. IN MX x y.", `bad MX Pref: "x"`},
		{"x. IN BOGUS 1", `neither a type nor a TTL: "BOGUS"`},
		{"x. IN A 1.2.3.4 5", `garbage after rdata: "5"`},
	}
	for _, tt := range tests {
		_, err := dns.NewRR(tt.text)
		if _, msg, _, _, ok := Position(err); !ok || msg != tt.want {
			t.Errorf("%q: message %q, want %q", tt.text, msg, tt.want)
		}
	}
}
