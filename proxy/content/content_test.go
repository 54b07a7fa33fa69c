package content

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/andybalholm/brotli"
)

var pats = []string{"evil_payload(", "steal()"}

func newFilter(action Action, maxBody int) *Filter {
	return New(NewLiteral(pats), pats, action, maxBody)
}

func TestLiteralFind(t *testing.T) {
	m := NewLiteral([]string{"abcd", "bc", "x"})
	for in, want := range map[string][2]int{
		"":         {-1, -1},
		"zzabcdzz": {2, 0}, // abcd at 2 before bc at 3
		"zzbcd":    {2, 1},
		"xbc":      {0, 2},
		"abc":      {1, 1},
	} {
		at, p := m.Find([]byte(in))
		if at != want[0] || p != want[1] {
			t.Errorf("Find(%q) = %d, %d, want %v", in, at, p, want)
		}
	}
}

// TestLiteralAgainstNaive compares Find with a naive search on random
// inputs over a small alphabet.
func TestLiteralAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[r.IntN(3)]
		}
		return string(b)
	}
	for range 2000 {
		var ps []string
		for range 1 + r.IntN(4) {
			ps = append(ps, word(1+r.IntN(4)))
		}
		in := []byte(word(r.IntN(40)))
		at, p := NewLiteral(ps).Find(in)
		wantAt := -1
		for i := 0; i <= len(in) && wantAt < 0; i++ {
			for _, q := range ps {
				if bytes.HasPrefix(in[i:], []byte(q)) {
					wantAt = i
					break
				}
			}
		}
		if at != wantAt || (at >= 0 && !bytes.HasPrefix(in[at:], []byte(ps[p]))) {
			t.Fatalf("patterns %q in %q: %d, %d, want at %d", ps, in, at, p, wantAt)
		}
	}
}

// encode compresses b with the writer w makes.
func encode(b []byte, w func(io.Writer) io.WriteCloser) []byte {
	var buf bytes.Buffer
	zw := w(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	return encode(b, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
}

func br(b []byte) []byte {
	return encode(b, func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) })
}

func zl(b []byte) []byte {
	return encode(b, func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) })
}

func rawDeflate(b []byte) []byte {
	return encode(b, func(w io.Writer) io.WriteCloser { fw, _ := flate.NewWriter(w, 5); return fw })
}

const page = `<html><head><script src="/a.js"></script>
<SCRIPT type="text/javascript">var x = 1; evil_payload("x");</SCRIPT>
<script>ok()</script></head><body><p>hello</p></body></html>`

const stripped = `<html><head><script src="/a.js"></script>
` + `
<script>ok()</script></head><body><p>hello</p></body></html>`

func TestScan(t *testing.T) {
	clean := []byte(strings.ReplaceAll(page, "evil_payload", "fine"))
	tests := []struct {
		name     string
		f        *Filter
		body     []byte
		ct, enc  string
		verdict  Verdict
		pattern  string
		wantBody []byte // Pass and Stripped
	}{
		{"clean identity", newFilter(Block, 1<<20), clean, "text/html", "", Pass, "", clean},
		{"clean gzip keeps the wire bytes", newFilter(Block, 1<<20), gz(clean), "text/html", "gzip", Pass, "", gz(clean)},
		{"clean br", newFilter(Block, 1<<20), br(clean), "text/html", "br", Pass, "", br(clean)},
		{"clean zlib", newFilter(Block, 1<<20), zl(clean), "text/html", "deflate", Pass, "", zl(clean)},
		{"clean raw deflate", newFilter(Block, 1<<20), rawDeflate(clean), "text/html", "deflate", Pass, "", rawDeflate(clean)},
		{"block identity", newFilter(Block, 1<<20), []byte(page), "text/html", "", Blocked, "evil_payload(", nil},
		{"block gzip", newFilter(Block, 1<<20), gz([]byte(page)), "text/html", "gzip", Blocked, "evil_payload(", nil},
		{"block br", newFilter(Block, 1<<20), br([]byte(page)), "text/html", "br", Blocked, "evil_payload(", nil},
		{"block json", newFilter(StripScript, 1<<20), []byte(`{"a":"steal()"}`), "application/json", "", Blocked, "steal()", nil},
		{"strip", newFilter(StripScript, 1<<20), []byte(page), "text/html; charset=utf-8", "", Stripped, "evil_payload(", []byte(stripped)},
		{"strip gzip", newFilter(StripScript, 1<<20), gz([]byte(page)), "text/html", "gzip", Stripped, "evil_payload(", []byte(stripped)},
		{"strip: match outside script blocks", newFilter(StripScript, 1<<20), []byte("<p>steal()</p>"), "text/html", "", Blocked, "steal()", nil},
		{"unknown encoding", newFilter(Block, 1<<20), []byte("xx"), "text/html", "zstd", Blocked, "", nil},
		{"strip: too long to strip", newFilter(StripScript, 110), []byte(page + strings.Repeat(" ", 100)), "text/html", "", Blocked, "evil_payload(", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time: every pattern straddles reads.
			res, err := tt.f.Scan(iotest.OneByteReader(bytes.NewReader(tt.body)), tt.ct, tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.verdict || res.Pattern != tt.pattern || res.Rest != nil {
				t.Fatalf("verdict %d pattern %q rest %v reason %q, want %d %q", res.Verdict, res.Pattern, res.Rest != nil, res.Reason, tt.verdict, tt.pattern)
			}
			if tt.verdict != Blocked && !bytes.Equal(res.Body, tt.wantBody) {
				t.Errorf("body\n%q\nwant\n%q", res.Body, tt.wantBody)
			}
			if tt.enc == "zstd" && res.Reason != `content encoding "zstd" cannot be scanned` {
				t.Errorf("reason %q", res.Reason)
			}
			res.Release()
		})
	}
}

// TestScanPastLimit: a body longer than the limit passes its first bytes
// at once, and the rest through Rest, scanned: a pattern in it is an
// error; without one, the whole body comes out unchanged.
func TestScanPastLimit(t *testing.T) {
	long := []byte(strings.Repeat("<p>lorem ipsum</p>\n", 10000)) // 190 KB
	for _, enc := range []string{"", "gzip", "br"} {
		for _, evil := range []bool{false, true} {
			body := append([]byte{}, long...)
			if evil {
				copy(body[150000:], "evil_payload(")
			}
			wire := body
			switch enc {
			case "gzip":
				wire = gz(body)
			case "br":
				wire = br(body)
			}
			res, err := newFilter(Block, 1000).Scan(bytes.NewReader(wire), "text/html", enc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != Pass || res.Rest == nil {
				t.Fatalf("%s: verdict %d rest %v", enc, res.Verdict, res.Rest)
			}
			rest, err := io.ReadAll(res.Rest)
			var me *MatchError
			if evil {
				if !errors.As(err, &me) || me.Pattern != "evil_payload(" {
					t.Errorf("%s evil: err %v", enc, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", enc, err)
			}
			if got := append(res.Body, rest...); !bytes.Equal(got, wire) {
				t.Errorf("%s: %d bytes out, want the %d of the wire", enc, len(got), len(wire))
			}
		}
	}
}

func TestScanErrors(t *testing.T) {
	corrupt := gz([]byte(strings.ReplaceAll(page, "evil", "good")))
	corrupt[len(corrupt)/2] ^= 0xff
	_, err := newFilter(Block, 1<<20).Scan(bytes.NewReader(corrupt), "text/html", "gzip")
	if !errors.Is(err, ErrDecode) {
		t.Errorf("corrupt gzip: %v", err)
	}
	_, err = newFilter(Block, 1<<20).Scan(bytes.NewReader([]byte("not gzip")), "text/html", "gzip")
	if !errors.Is(err, ErrDecode) {
		t.Errorf("not gzip: %v", err)
	}
	broken := errors.New("connection reset")
	_, err = newFilter(Block, 1<<20).Scan(io.MultiReader(bytes.NewReader(gz([]byte(page))[:20]), iotest.ErrReader(broken)), "text/html", "gzip")
	if !errors.Is(err, broken) {
		t.Errorf("broken upstream: %v", err)
	}
	_, err = newFilter(Block, 1<<20).Scan(io.MultiReader(strings.NewReader("<p>"), iotest.ErrReader(broken)), "text/html", "")
	if !errors.Is(err, broken) {
		t.Errorf("broken upstream, identity: %v", err)
	}
	// Bytes after the end of a zlib stream are passed on, not lost (gzip
	// and brotli's decoders refuse them).
	trailing := append(zl([]byte("<p>x</p>")), "trailer"...)
	res, err := newFilter(Block, 1<<20).Scan(bytes.NewReader(trailing), "text/html", "deflate")
	if err != nil {
		t.Fatalf("trailing bytes: %v", err)
	}
	if !bytes.Equal(res.Body, trailing) {
		t.Errorf("trailing bytes: %q", res.Body)
	}
	_, err = newFilter(Block, 1<<20).Scan(bytes.NewReader(append(br([]byte("<p>x</p>")), "trailer"...)), "text/html", "br")
	if !errors.Is(err, ErrDecode) {
		t.Errorf("brotli with trailing bytes: %v", err)
	}
}

func TestStripScripts(t *testing.T) {
	m := NewLiteral([]string{"BAD"})
	tests := []struct{ in, out string }{
		{`<script>BAD</script>`, ``},
		{`a<script>x</script>b<script type=x>BAD</script >c`, `a<script>x</script>bc`},
		{`<ScRiPt>BAD</sCrIpT>`, ``},
		{`<script>BAD</script><script>BAD</script>`, ``},
		{`<p><script>x BAD`, `<p>`},             // unclosed: to the end
		{`<script src="BAD"></script>ok`, `ok`}, // in the tag itself
		{`<scripts>BAD</scripts>`, "BLOCK"},     // not a script element
		{`<script>x</script>BAD`, "BLOCK"},      // after the script closed
		{`BAD<script></script>`, "BLOCK"},       // before any script
		{`<script>ok</script><p>BAD<script>x</script>`, "BLOCK"},
	}
	for _, tt := range tests {
		out, _, blocked := stripScripts([]byte(tt.in), m)
		got := string(out)
		if blocked >= 0 {
			got = "BLOCK"
		}
		if got != tt.out {
			t.Errorf("%q: %q, want %q", tt.in, got, tt.out)
		}
	}
}

func TestScannable(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8": true, "application/javascript": true, "application/json": true,
		"application/ld+json": true, "": true, "image/png": false, "application/octet-stream": false,
		"text/css": false, "text/plain": false, "video/mp4": false,
	} {
		if Scannable(ct) != want {
			t.Errorf("Scannable(%q) = %v", ct, !want)
		}
	}
}

func FuzzStrip(f *testing.F) {
	f.Add([]byte(page))
	f.Add([]byte("<script>evil_payload(<script></script>"))
	f.Fuzz(func(t *testing.T, html []byte) {
		m := NewLiteral(pats)
		in := append([]byte{}, html...)
		out, _, blocked := stripScripts(in, m)
		if blocked < 0 {
			if at, _ := m.Find(out); at >= 0 {
				t.Fatalf("a pattern is left in %q", out)
			}
		}
	})
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(page), uint8(0), uint16(100))
	f.Add(gz([]byte(page)), uint8(1), uint16(30))
	f.Fuzz(func(t *testing.T, body []byte, enc uint8, limit uint16) {
		encs := []string{"", "gzip", "br", "deflate"}
		fl := New(NewLiteral(pats), pats, Action(enc>>4&1), int(limit))
		res, err := fl.Scan(bytes.NewReader(body), "text/html", encs[int(enc)%len(encs)])
		if err != nil {
			return
		}
		if res.Rest != nil {
			io.Copy(io.Discard, res.Rest)
		}
		if res.Verdict == Pass && res.Rest == nil && int(enc)%len(encs) == 0 && !bytes.Equal(res.Body, body) {
			t.Fatalf("identity pass changed the body")
		}
		res.Release()
	})
}

func BenchmarkFind(b *testing.B) {
	m := NewLiteral(pats)
	body := []byte(strings.Repeat(page[:60], 16<<10/60))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m.Find(body)
	}
}

// BenchmarkScan is the proxy's per-response cost for a clean 16 KiB page.
func BenchmarkScan(b *testing.B) {
	f := newFilter(Block, 4<<20)
	body := []byte(strings.Repeat(strings.ReplaceAll(page, "evil", "good"), 16<<10/len(page)))
	r := bytes.NewReader(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(body)
		res, err := f.Scan(r, "text/html", "")
		if err != nil || res.Verdict != Pass {
			b.Fatal(err)
		}
		res.Release()
	}
}
