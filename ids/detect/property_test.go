package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
	"pgregory.net/rapid"
)

const alphabet = "abAB.\x00"

func genText(t *rapid.T, label string, min, max int) string {
	n := rapid.IntRange(min, max).Draw(t, label+"-len")
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, label)])
	}
	return b.String()
}

// contentValue renders bytes as a rule's content value.
func contentValue(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c == '"' || c == ';' || c == '\\' || c == '|' || c == ':' {
			fmt.Fprintf(&b, "|%02x|", c)
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// genRule draws a random rule over the small alphabet.
func genRule(t *rapid.T, sid int) string {
	proto := rapid.SampledFrom([]string{"tcp", "udp", "ip"}).Draw(t, "proto")
	dport := rapid.SampledFrom([]string{"any", "80", "[80,443]", "!80", "1024:"}).Draw(t, "dport")
	dir := rapid.SampledFrom([]string{"->", "->", "<>"}).Draw(t, "dir")
	var opts []string
	fast := false
	for i := range rapid.IntRange(0, 3).Draw(t, "items") {
		switch rapid.IntRange(0, 5).Draw(t, "kind") {
		case 0, 1, 2:
			pat := genText(t, "pat", 1, 4)
			neg := ""
			if rapid.IntRange(0, 4).Draw(t, "neg") == 0 {
				neg = "!"
			}
			o := "content:" + neg + contentValue(pat) + ";"
			if rapid.Bool().Draw(t, "nocase") {
				o += " nocase;"
			}
			switch rapid.IntRange(0, 5).Draw(t, "place") {
			case 1:
				o += fmt.Sprintf(" offset:%d; depth:%d;", rapid.IntRange(0, 4).Draw(t, "off"), len(pat)+rapid.IntRange(0, 4).Draw(t, "depth"))
			case 2:
				if i > 0 {
					o += fmt.Sprintf(" distance:%d;", rapid.IntRange(-2, 3).Draw(t, "dist"))
				}
			case 3:
				if i > 0 {
					o += fmt.Sprintf(" distance:%d; within:%d;", rapid.IntRange(0, 2).Draw(t, "dist"), len(pat)+rapid.IntRange(0, 3).Draw(t, "within"))
				}
			case 4:
				o += " startswith;"
			case 5:
				o += " endswith;"
			}
			if !fast && neg == "" && rapid.IntRange(0, 3).Draw(t, "fast") == 0 {
				o += " fast_pattern;"
				fast = true
			}
			opts = append(opts, o)
		case 3:
			flags := rapid.SampledFrom([]string{"", "i", "s", "R"}).Draw(t, "pflags")
			pat := rapid.SampledFrom([]string{"a.b", "^a", "b$", "[aA]{2}", `\x00`, "a|B"}).Draw(t, "pcre")
			opts = append(opts, fmt.Sprintf(`pcre:"/%s/%s";`, pat, flags))
		case 4:
			opts = append(opts, fmt.Sprintf("isdataat:%s%d%s;", rapid.SampledFrom([]string{"", "!"}).Draw(t, "neg"),
				rapid.IntRange(0, 6).Draw(t, "n"), rapid.SampledFrom([]string{"", ",relative"}).Draw(t, "rel")))
		case 5:
			opts = append(opts, fmt.Sprintf("byte_test:1,%s,%d,%d%s;", rapid.SampledFrom([]string{">", "<", "=", "&", "!="}).Draw(t, "op"),
				rapid.IntRange(0, 0x60).Draw(t, "v"), rapid.IntRange(0, 3).Draw(t, "o"), rapid.SampledFrom([]string{"", ",relative"}).Draw(t, "rel")))
		}
	}
	if rapid.IntRange(0, 5).Draw(t, "dsize") == 0 {
		opts = append(opts, rapid.SampledFrom([]string{"dsize:!3;", "dsize:<4;", "dsize:>2;", "dsize:0;"}).Draw(t, "ds"))
	}
	if rapid.IntRange(0, 5).Draw(t, "flow") == 0 {
		opts = append(opts, rapid.SampledFrom([]string{"flow:only_stream;", "flow:no_stream;", "flow:to_server;"}).Draw(t, "fl"))
	}
	action := rapid.SampledFrom([]string{"alert", "alert", "drop", "pass"}).Draw(t, "action")
	return fmt.Sprintf("%s %s any any %s any %s (%s sid:%d;)", action, proto, dir, dport, strings.Join(opts, " "), sid)
}

// TestPrefilterMatchesReference draws rule sets and inputs and checks
// that the engine with its prefilter reports exactly what evaluating
// every rule reports.
func TestPrefilterMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var text []string
		for i := range rapid.IntRange(1, 25).Draw(t, "rules") {
			text = append(text, genRule(t, i+1))
		}
		set := rules.Parse("gen.rules", []byte(strings.Join(text, "\n")), nil)
		e, err := Compile(set, Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := e.NewScratch()
		for range 8 {
			proto := rapid.SampledFrom([]ipproto.Proto{ipproto.TCP, ipproto.UDP, ipproto.ICMP}).Draw(t, "p")
			dport := rapid.SampledFrom([]uint16{80, 443, 8080, 53}).Draw(t, "dp")
			in := &Input{
				Key:    flow.Key{Src: netip.MustParseAddrPort("192.0.2.1:1234"), Dst: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), dport), Proto: proto},
				Packet: rapid.IntRange(0, 3).Draw(t, "packet") > 0,
				Flow:   &testFlow{dir: buffer.ToServer},
			}
			if in.Packet {
				in.Payload = []byte(genText(t, "payload", 0, 24))
			}
			if !in.Packet || rapid.Bool().Draw(t, "stream") {
				in.Stream = []byte(genText(t, "stream", 0, 24))
				// A window of the stream: the prefilter scans all of
				// it, context included, as evaluation looks at all of it.
				in.StreamBase = uint64(rapid.IntRange(0, 8).Draw(t, "base"))
				in.StreamNew = rapid.IntRange(0, len(in.Stream)).Draw(t, "new")
			}
			got := sids(e.Inspect(s, in))
			want := sids(e.inspectAll(s, in))
			if !slices.Equal(got, want) {
				t.Fatalf("rules:\n%s\ninput %+v payload %q stream %q:\nprefilter %v, reference %v",
					strings.Join(text, "\n"), in.Key, in.Payload, in.Stream, got, want)
			}
		}
	})
}
