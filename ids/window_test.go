package ids

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/rules"
)

// fataler is what the helpers need of testing.TB and rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// compileRules compiles rules written out in text.
func compileRules(tb fataler, text string) *detect.Engine {
	tb.Helper()
	set := rules.Parse("test.rules", []byte(text), rules.DefaultVars())
	if err := set.Err(); err != nil {
		tb.Fatal(err)
	}
	eng, err := detect.Compile(set, detect.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return eng
}

// sidRecorder is an Output that keeps the SIDs alerted, in order.
type sidRecorder struct{ sids []int }

func (r *sidRecorder) Alert(a Alert) { r.sids = append(r.sids, int(a.Rule.SID)) }
func (r *sidRecorder) Event(Event)   {}

// chunkedCapture is a connection whose client sends chunks, each
// acknowledged by the server before the next is sent, then closes.
func chunkedCapture(chunks [][]byte) []traffic.Frame {
	c := traffic.NewCapture(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	h := c.TCP(netip.MustParseAddrPort("10.10.0.11:40000"), netip.MustParseAddrPort("203.0.113.80:8080"))
	off := 0
	for _, ch := range chunks {
		h.Segment(0, uint32(off), ch)
		h.Ack(1)
		off += len(ch)
	}
	h.Close()
	return c.Frames
}

// alertsOn runs the frames through an engine with eng's rules in mode
// and returns the SIDs alerted, in order.
func alertsOn(tb fataler, eng *detect.Engine, mode Mode, frames []traffic.Frame) []int {
	tb.Helper()
	out := &sidRecorder{}
	e, err := New(Config{Mode: mode, Rules: eng, Output: out})
	if err != nil {
		tb.Fatal(err)
	}
	w := e.NewWorker()
	var last time.Time
	for _, f := range frames {
		w.Process(f.Data, datapath.LinkTypeEthernet, f.Time)
		last = f.Time
	}
	e.Flush(last.Add(time.Second))
	return out.sids
}

// splitAt cuts s at the given offsets.
func splitAt(s string, cuts ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, c := range cuts {
		out = append(out, []byte(s[prev:c]))
		prev = c
	}
	return append(out, []byte(s[prev:]))
}

var modes = []Mode{Detect, Prevent}

// TestStreamSplitPattern splits the pattern of a content rule at every
// position across two acknowledged chunks: the rule alerts once, in
// detection and in prevention mode (where each segment is a chunk).
func TestStreamSplitPattern(t *testing.T) {
	eng := compileRules(t, `alert tcp any any -> any any (msg:"passwd"; content:"/etc/passwd"; sid:1;)
alert tcp any any -> any any (msg:"passwd pcre"; pcre:"/\/etc\/pass[w]d/"; sid:2;)
`)
	const pre, pat, post = "GET ", "/etc/passwd", " HTTP/1.0\r\n\r\n"
	s := pre + pat + post
	for _, mode := range modes {
		for i := 1; i < len(pat); i++ {
			got := alertsOn(t, eng, mode, chunkedCapture(splitAt(s, len(pre)+i)))
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2}) {
				t.Errorf("%v, split %q|%q: alerts %v, want [1 2]", mode, s[:len(pre)+i], s[len(pre)+i:], got)
			}
		}
	}
}

// TestStreamChunks covers whole rules across chunks: each case's stream
// is cut where the case says and the server acknowledges each piece.
func TestStreamChunks(t *testing.T) {
	filler := strings.Repeat("z", 3000) // longer than the context kept
	for _, tc := range []struct {
		name  string
		rule  string
		data  string
		cuts  []int
		alert int // times sid 1 alerts
	}{
		{"three chunks", `content:"/etc/passwd";`, "GET /etc/passwd HTTP/1.0", []int{9, 11}, 1},
		{"pattern once, in the tail of later chunks", `content:"/etc/passwd";`, "GET /etc/passwd HTTP/1.0 and more", []int{15, 18, 20}, 1},
		{"two occurrences in two chunks", `content:"/etc/passwd";`, "GET /etc/passwd /etc/passwd", []int{16}, 2},
		{"relative: second content in the next chunk", `content:"GET"; content:"passwd"; distance:0; within:20;`, "GET /etc/passwd", []int{9}, 1},
		{"relative: second content past within", `content:"GET"; content:"passwd"; distance:0; within:8;`, "GET /etc/passwd", []int{9}, 0},
		{"relative: first in a chunk, tail repeated", `content:"GET"; content:"passwd"; distance:0; within:20;`, "GET /etc/passwd xx", []int{9, 15, 16}, 1},
		{"depth across chunks", `content:"/etc/passwd"; offset:4; depth:11;`, "GET /etc/passwd", []int{9}, 1},
		{"depth past", `content:"/etc/passwd"; offset:4; depth:11;`, "GETT /etc/passwd", []int{9}, 0},
		{"depth counts from the stream's start", `content:"/etc/passwd"; depth:20;`, filler + "/etc/passwd", []int{3000}, 0},
		{"depth from the start, far chunk", `content:"/etc/passwd"; offset:3000; depth:11;`, filler + "/etc/passwd", []int{3000}, 1},
		{"startswith in a later chunk", `content:"GET"; startswith;`, "xxxxGET /", []int{4}, 0},
		{"startswith", `content:"GET"; startswith;`, "GET /", []int{2}, 1},
		{"isdataat in the next chunk", `content:"LEN"; isdataat:4,relative;`, "xxLEN12345", []int{7}, 1},
		{"isdataat absolute", `content:"LEN"; isdataat:3000;`, filler + "LEN1", []int{2000, 3002}, 1},
		{"byte_test in the next chunk", `content:"LEN"; byte_test:1,>,5,0,relative;`, "xxLEN\x09yy", []int{5}, 1},
		{"byte_test absolute", `content:"LEN"; byte_test:1,=,0x41,1,relative; byte_test:1,=,0x7a,2999;`, filler + "LEN-A", []int{3001, 3003}, 1},
		{"endswith at a chunk's end", `content:"passwd"; endswith;`, "GET /etc/passwd", []int{10}, 1},
		{"pcre anchored at the stream's start", `pcre:"/^xx/";`, filler + "xxyy", []int{3000}, 0},
		{"pcre relative across chunks", `content:"GET"; pcre:"/^ \/etc\/pa+sswd/R";`, "GET /etc/paaaaaasswd", []int{6, 12}, 1},
		{"distance and within across three chunks", `content:"A"; content:"B"; distance:5; within:3; content:"C"; distance:0; within:4;`, "--A.....B..C--", []int{4, 9, 10}, 1},
	} {
		eng := compileRules(t, fmt.Sprintf("alert tcp any any -> any any (msg:\"t\"; %s sid:1;)\n", tc.rule))
		for _, mode := range modes {
			whole := alertsOn(t, eng, mode, chunkedCapture([][]byte{[]byte(tc.data)}))
			got := alertsOn(t, eng, mode, chunkedCapture(splitAt(tc.data, tc.cuts...)))
			if len(got) != tc.alert {
				t.Errorf("%s, %v: %d alerts, want %d", tc.name, mode, len(got), tc.alert)
			}
			if (len(whole) > 0) != (tc.alert > 0) {
				t.Errorf("%s, %v: %d alerts on the stream in one chunk, want it to agree with %d", tc.name, mode, len(whole), tc.alert)
			}
		}
	}
}

// TestStreamSplitProperty: however a stream is cut into acknowledged
// chunks, the rules that alert are those that alert on it in one chunk;
// and a pattern that occurs once alerts once.
func TestStreamSplitProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const alphabet = "ab/xy"
		word := rapid.StringOfN(rapid.SampledFrom([]rune(alphabet)), 1, 4, -1)
		stream := rapid.StringOfN(rapid.SampledFrom([]rune(alphabet)), 1, 160, -1).Draw(rt, "stream")
		planted := "QQ" + rapid.StringOfN(rapid.SampledFrom([]rune(alphabet)), 0, 6, -1).Draw(rt, "planted") + "ZZ"
		at := rapid.IntRange(0, len(stream)).Draw(rt, "at")
		stream = stream[:at] + planted + stream[at:]
		var text strings.Builder
		fmt.Fprintf(&text, "alert tcp any any -> any any (msg:\"planted\"; content:%q; sid:1;)\n", planted)
		n := rapid.IntRange(1, 6).Draw(rt, "rules")
		for i := range n {
			var opts string
			switch rapid.IntRange(0, 5).Draw(rt, "kind") {
			case 0:
				opts = fmt.Sprintf("content:%q;", word.Draw(rt, "w"))
			case 1:
				o := rapid.IntRange(0, 100).Draw(rt, "offset")
				opts = fmt.Sprintf("content:%q; offset:%d; depth:%d;", word.Draw(rt, "w"), o, rapid.IntRange(4, 60).Draw(rt, "depth"))
			case 2:
				opts = fmt.Sprintf("content:%q; content:%q; distance:%d; within:%d;", word.Draw(rt, "w"), word.Draw(rt, "w2"),
					rapid.IntRange(0, 10).Draw(rt, "distance"), rapid.IntRange(4, 30).Draw(rt, "within"))
			case 3:
				opts = fmt.Sprintf("content:%q; content:%q; distance:0;", word.Draw(rt, "w"), word.Draw(rt, "w2"))
			case 4:
				opts = fmt.Sprintf("content:%q; isdataat:%d,relative;", word.Draw(rt, "w"), rapid.IntRange(1, 40).Draw(rt, "n"))
			case 5:
				opts = fmt.Sprintf("pcre:\"/%s[xy]+%s/\";", word.Draw(rt, "w"), word.Draw(rt, "w2"))
			}
			fmt.Fprintf(&text, "alert tcp any any -> any any (msg:\"r%d\"; %s sid:%d;)\n", i, opts, i+2)
		}
		eng := compileRules(rt, text.String())
		cuts := rapid.SliceOfNDistinct(rapid.IntRange(1, len(stream)-1), 0, 8, rapid.ID[int]).Draw(rt, "cuts")
		slices.Sort(cuts)
		mode := rapid.SampledFrom(modes).Draw(rt, "mode")
		whole := alertsOn(rt, eng, mode, chunkedCapture([][]byte{[]byte(stream)}))
		split := alertsOn(rt, eng, mode, chunkedCapture(splitAt(stream, cuts...)))
		if c := count(split, 1); c != 1 || count(whole, 1) != 1 {
			rt.Fatalf("the planted pattern alerted %d times cut at %v, %d in one chunk", c, cuts, count(whole, 1))
		}
		slices.Sort(whole)
		slices.Sort(split)
		if !slices.Equal(slices.Compact(whole), slices.Compact(split)) {
			rt.Fatalf("cut at %v: rules alerting %v, in one chunk %v\n%s", cuts, slices.Compact(split), slices.Compact(whole), text.String())
		}
	})
}

func count(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestStreamContextBound: the context kept follows the rules, within
// Config.StreamContext.
func TestStreamContextBound(t *testing.T) {
	for _, tc := range []struct {
		rule string
		cfg  int
		want int
	}{
		{`content:"/etc/passwd";`, 0, 11},
		{`content:"GET"; content:"passwd"; distance:2; within:20;`, 0, 25},
		{`content:"GET"; depth:3; content:"x"; offset:10; depth:5;`, 0, 15},
		{`content:"GET"; pcre:"/a+/R";`, 0, DefaultStreamContext},
		{`content:"GET"; pcre:"/a+/R";`, 100, 100},
		{`content:"GET"; content:"x"; distance:0;`, 0, DefaultStreamContext},
		{`dsize:>4; content:"GET"; pcre:"/a+/R";`, 0, 0}, // packets only
	} {
		e, err := New(Config{Rules: compileRules(t, fmt.Sprintf("alert tcp any any -> any any (msg:\"t\"; %s sid:1;)\n", tc.rule)), StreamContext: tc.cfg})
		if err != nil {
			t.Fatal(err)
		}
		if e.context != tc.want {
			t.Errorf("%s with StreamContext %d: %d bytes of context, want %d", tc.rule, tc.cfg, e.context, tc.want)
		}
	}
}

// TestStreamChunksAppBuffers: application-layer buffers are whole
// whatever the chunks (a request body is held until the request ends),
// so a rule on one alerts once however the stream is cut.
func TestStreamChunksAppBuffers(t *testing.T) {
	eng := compileRules(t, `alert http any any -> any any (msg:"body"; http.request_body; content:"/etc/passwd"; sid:1;)
alert http any any -> any any (msg:"uri"; http.uri; content:"/cgi-bin/x"; sid:2;)
`)
	const req = "POST /cgi-bin/x HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\nfile=/etc/passwd&x=1"
	body := strings.Index(req, "/etc/passwd")
	for _, mode := range modes {
		for _, cuts := range [][]int{nil, {body + 4}, {8, body + 1, body + 9}, {len(req) - 1}} {
			got := alertsOn(t, eng, mode, chunkedCapture(splitAt(req, cuts...)))
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2}) {
				t.Errorf("%v, cut at %v: alerts %v, want [1 2]", mode, cuts, got)
			}
		}
	}
}

// TestStreamSplitPrevent: in line, the segment that completes a pattern
// split across two segments is dropped, and the one before it passes.
func TestStreamSplitPrevent(t *testing.T) {
	eng := compileRules(t, `drop tcp any any -> any any (msg:"passwd"; content:"/etc/passwd"; sid:1;)`+"\n")
	frames := chunkedCapture(splitAt("GET /etc/passwd HTTP/1.0", 10))
	out := &sidRecorder{}
	e, err := New(Config{Mode: Prevent, Rules: eng, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	var verdicts []Verdict
	for _, f := range frames {
		verdicts = append(verdicts, w.Process(f.Data, datapath.LinkTypeEthernet, f.Time))
	}
	// The handshake, "GET /etc/p", its acknowledgement, "asswd HTTP/1.0"
	// (dropped, and the rest of the flow with it).
	if want := []Verdict{Pass, Pass, Pass, Pass, Pass, Drop}; !slices.Equal(verdicts[:6], want) {
		t.Errorf("verdicts %v, want %v then drops", verdicts, want)
	}
	if !slices.Equal(out.sids, []int{1}) {
		t.Errorf("alerts %v, want [1]", out.sids)
	}
}
