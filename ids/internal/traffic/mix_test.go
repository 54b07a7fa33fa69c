package traffic

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

// snortRule is one rule of ContentRules' Snort set, as the test reads it.
var snortRule = regexp.MustCompile(`^alert (tcp|udp) any any -> any any \( msg:"bench (\d+)"; content:"([^"]*)"(,nocase)?; sid:(\d+); rev:1; \)$`)

// snortContent resolves a content value of Snort's language: text and
// |hex| runs.
func snortContent(t *testing.T, v string) []byte {
	var out []byte
	for i, part := range strings.Split(v, "|") {
		if i%2 == 0 {
			out = append(out, part...)
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(part, " ", ""))
		if err != nil {
			t.Fatalf("content %q: %v", v, err)
		}
		out = append(out, b...)
	}
	return out
}

// TestContentRules checks that both rule sets hold Patterns' literals
// with their nocase, on the same protocol and sid, and that rampart's
// parser loads every Suricata rule.
func TestContentRules(t *testing.T) {
	const n = 2000
	pats := Patterns(n, n)
	suricata, snort := ContentRules(n)
	set := rules.Parse("bench.rules", []byte(suricata), nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(snort, "\n"), "\n")
	if len(set.Rules) != n || len(lines) != n {
		t.Fatalf("%d Suricata rules and %d Snort rules, want %d", len(set.Rules), len(lines), n)
	}
	for i, p := range pats {
		r := set.Rules[i]
		proto := ipproto.TCP
		if i%5 == 4 {
			proto = ipproto.UDP
		}
		if r.SID != uint32(i+1) || len(r.Lists) != 1 || len(r.Lists[0].Items) != 1 || !r.Protos.Has(proto) {
			t.Fatalf("rule %d: %s", i, r.Text)
		}
		c, ok := r.Lists[0].Items[0].(*rules.Content)
		if !ok || !bytes.Equal(c.Pattern, p.Bytes) || c.Nocase != p.Nocase {
			t.Errorf("rule %d: %s holds not %q (nocase %v)", i, r.Text, p.Bytes, p.Nocase)
		}
		m := snortRule.FindStringSubmatch(lines[i])
		if m == nil {
			t.Fatalf("Snort rule %d: %s", i, lines[i])
		}
		if m[1] != proto.String() || m[2] != fmt.Sprint(i+1) || m[5] != fmt.Sprint(i+1) ||
			!bytes.Equal(snortContent(t, m[3]), p.Bytes) || (m[4] != "") != p.Nocase {
			t.Errorf("Snort rule %d: %s holds not %q (nocase %v) on %s", i, lines[i], p.Bytes, p.Nocase, proto)
		}
	}
}

// TestMix checks the mix's size, determinism and flows: every exchange
// on a 5-tuple of its own.
func TestMix(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	gen := func() ([][]byte, int64) {
		var frames [][]byte
		total, err := Mix(100_000, 3, t0, func(f Frame) error {
			frames = append(frames, f.Data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return frames, total
	}
	a, total := gen()
	b, _ := gen()
	if total < 100_000 || total > 100_000+20_000 {
		t.Errorf("%d bytes of frames for 100,000", total)
	}
	if len(a) != len(b) {
		t.Fatalf("%d frames, then %d", len(a), len(b))
	}
	var sum int64
	syns := map[string]bool{}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("frame %d differs between two runs", i)
		}
		sum += int64(len(a[i]))
		f := a[i]
		if f[14+9] == byte(ipproto.TCP) && f[14+20+13] == 0x02 { // a SYN
			tuple := string(f[14+12 : 14+24])
			if syns[tuple] {
				t.Errorf("frame %d: a second connection from the same address and port", i)
			}
			syns[tuple] = true
		}
	}
	if sum != total || len(syns) == 0 {
		t.Errorf("frames hold %d bytes, Mix says %d; %d connections", sum, total, len(syns))
	}
}
