package detect

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

// testFlow is a flow as a flow table would keep it.
type testFlow struct {
	dir         buffer.Direction
	established bool
	bits        Bits
}

func (f *testFlow) Direction() buffer.Direction { return f.dir }
func (f *testFlow) Established() bool           { return f.established }
func (f *testFlow) Bits() *Bits                 { return &f.bits }

func compile(t testing.TB, text ...string) *Engine {
	t.Helper()
	set := rules.Parse("test.rules", []byte(strings.Join(text, "\n")), nil)
	if len(set.Errors) > 0 {
		t.Fatalf("rules: %v", set.Err())
	}
	e, err := Compile(set, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func key(proto ipproto.Proto, src, dst string) flow.Key {
	return flow.Key{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), Proto: proto}
}

var (
	tcpKey = key(ipproto.TCP, "198.51.100.7:40000", "10.0.0.5:80")
	udpKey = key(ipproto.UDP, "10.0.0.9:5353", "192.0.2.53:53")
	t0     = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

func packet(payload string) *Input {
	return &Input{Key: tcpKey, Time: t0, Packet: true, TTL: 64, TCPFlags: 0x18, Payload: []byte(payload)}
}

func sids(ms []Match) []uint32 {
	var out []uint32
	for _, m := range ms {
		out = append(out, m.Rule.SID)
	}
	slices.Sort(out)
	return out
}

type detectCase struct {
	name  string
	in    *Input
	want  []uint32
	check func(*testing.T, []Match)
}

// runCases inspects each input with both the prefiltered engine and the
// reference (every rule), which must agree.
func runCases(t *testing.T, e *Engine, cases []detectCase) {
	t.Helper()
	s := e.NewScratch()
	for _, c := range cases {
		got := sids(e.Inspect(s, c.in))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: matched %v, want %v", c.name, got, c.want)
		}
		if ref := sids(e.inspectAll(s, c.in)); !slices.Equal(ref, got) {
			t.Errorf("%s: prefilter %v, reference %v", c.name, got, ref)
		}
	}
}

func TestContent(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"evil"; sid:1;)`,
		`alert tcp any any -> any any (content:"EVIL"; nocase; sid:2;)`,
		`alert tcp any any -> any any (content:"abc"; offset:2; depth:3; sid:3;)`,
		`alert tcp any any -> any any (content:"GET"; startswith; sid:4;)`,
		`alert tcp any any -> any any (content:"end"; endswith; sid:5;)`,
		`alert tcp any any -> any any (content:"key"; content:!"safe"; sid:6;)`,
		`alert tcp any any -> any any (content:"|de ad be ef|"; sid:7;)`,
		`alert tcp any any -> any any (content:"only"; fast_pattern:only; sid:8;)`,
		`alert tcp any any -> any any (content:"XXABCDXX"; fast_pattern:2,4; sid:9;)`,
	)
	runCases(t, e, []detectCase{
		{"plain", packet("an evil thing"), []uint32{1, 2}, nil},
		{"case", packet("an EVIL thing"), []uint32{2}, nil},
		{"nocase mixed", packet("eViL"), []uint32{2}, nil},
		{"offset depth inside", packet("..abc..."), []uint32{3}, nil},
		{"offset depth before", packet(".abc...."), nil, nil},
		{"offset depth past", packet("...abc.."), nil, nil},
		{"startswith", packet("GET / HTTP/1.1"), []uint32{4}, nil},
		{"startswith not at start", packet(" GET /"), nil, nil},
		{"endswith", packet("the end"), []uint32{5}, nil},
		{"endswith not at end", packet("the end."), nil, nil},
		{"negated absent", packet("key here"), []uint32{6}, nil},
		{"negated present", packet("key is safe"), nil, nil},
		{"hex", packet("\x00\xde\xad\xbe\xef\x00"), []uint32{7}, nil},
		{"fast_pattern only", packet("the only one"), []uint32{8}, nil},
		{"chopped: full content needed", packet("..ABCD.."), nil, nil},
		{"chopped: full content", packet("XXABCDXX"), []uint32{9}, nil},
		{"empty payload", packet(""), nil, nil},
	})
}

func TestRelative(t *testing.T) {
	e := compile(t,
		// The first "a" is followed by no "b" within 2: Suricata retries "a".
		`alert tcp any any -> any any (content:"a"; content:"b"; within:2; sid:1;)`,
		`alert tcp any any -> any any (content:"x"; content:"y"; distance:3; sid:2;)`,
		`alert tcp any any -> any any (content:"m"; content:"n"; distance:1; within:2; sid:3;)`,
		`alert tcp any any -> any any (content:"p"; content:!"q"; within:3; sid:4;)`,
		`alert tcp any any -> any any (content:"k"; content:"l"; distance:-2; within:4; sid:5;)`,
		// distance only: no retry of "s" (Suricata's WITHIN_NEXT only).
		`alert tcp any any -> any any (content:"s"; content:"t"; distance:0; content:"u"; within:1; sid:6;)`,
	)
	runCases(t, e, []detectCase{
		{"retry finds later pair", packet("a...a.b"), []uint32{1}, nil},
		{"no pair", packet("a...b"), nil, nil},
		{"distance too close", packet("x.y"), nil, nil},
		{"distance far enough", packet("x...y"), []uint32{2}, nil},
		{"distance within window", packet("m.n"), []uint32{3}, nil},
		{"distance within too far", packet("m...n"), nil, nil},
		{"negated relative absent", packet("p....q"), []uint32{4}, nil},
		{"negated relative present", packet("p.q"), nil, nil},
		{"negative distance", packet("..lk"), []uint32{5}, nil},
		{"u after later t", packet("s.t..tu"), []uint32{6}, nil},
		{"u not after first t", packet("s.tx"), nil, nil},
	})
}

func TestPCRE(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (pcre:"/^GET \/[a-z]+\.php/"; sid:1;)`,
		`alert tcp any any -> any any (content:"id="; pcre:"/\d{3}/R"; sid:2;)`,
		`alert tcp any any -> any any (pcre:"/\xff\xfe./s"; sid:3;)`,
		`alert tcp any any -> any any (pcre:"/done$/"; sid:4;)`,
		`alert tcp any any -> any any (pcre:!"/forbidden/i"; content:"req"; sid:5;)`,
		`alert tcp any any -> any any (pcre:"/caf\xe9/i"; sid:6;)`,
		`alert tcp any any -> any any (pcre:"/a.c/"; content:"Z"; distance:0; within:1; sid:7;)`,
	)
	runCases(t, e, []detectCase{
		{"anchored", packet("GET /index.php HTTP/1.1"), []uint32{1}, nil},
		{"not anchored", packet(" GET /index.php"), nil, nil},
		{"relative digits", packet("id=123"), []uint32{2}, nil},
		{"digits before id", packet("123 id=ab"), nil, nil},
		// Bytes, not UTF-8: \xff\xfe are two bytes, . one byte.
		{"bytes", packet("\xff\xfe\x80"), []uint32{3}, nil},
		{"utf-8 is not the byte", packet("\xc3\xbf\xc3\xbe."), nil, nil},
		{"dollar", packet("done"), []uint32{4}, nil},
		{"dollar before final newline", packet("done\n"), []uint32{4}, nil},
		{"dollar not before two", packet("done\n\n"), nil, nil},
		{"negated pcre absent", packet("req ok"), []uint32{5}, nil},
		{"negated pcre present", packet("req FORBIDDEN"), nil, nil},
		// ASCII-only folding: 0xe9 does not match 0xc9.
		{"latin-1 exact", packet("caf\xe9"), []uint32{6}, nil},
		{"latin-1 no fold", packet("CAF\xc9"), nil, nil},
		{"pcre retried for relative content", packet("abc.axcZ"), []uint32{7}, nil},
	})
}

func TestByteTestIsDataAt(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"LEN"; byte_test:2,>,1000,0,relative; sid:1;)`,
		`alert tcp any any -> any any (content:"LE"; byte_test:2,=,0x0102,0,relative,little; sid:2;)`,
		`alert tcp any any -> any any (content:"NUM"; byte_test:4,=,1234,0,relative,string,dec; sid:3;)`,
		`alert tcp any any -> any any (content:"HEX"; byte_test:2,>=,0xff,0,relative,string,hex; sid:4;)`,
		`alert tcp any any -> any any (content:"BM"; byte_test:1,=,3,0,relative,bitmask 0x0c; sid:5;)`,
		`alert tcp any any -> any any (content:"NEG"; byte_test:1,!&,0x80,0,relative; sid:6;)`,
		`alert tcp any any -> any any (content:"HDR"; isdataat:4,relative; sid:7;)`,
		`alert tcp any any -> any any (content:"TAIL"; isdataat:!1,relative; sid:8;)`,
		`alert tcp any any -> any any (content:"ABS"; isdataat:9; sid:9;)`,
	)
	runCases(t, e, []detectCase{
		{"big endian >", packet("LEN\x04\x00"), []uint32{1}, nil},
		{"big endian not >", packet("LEN\x00\x04"), nil, nil},
		{"little endian", packet("LE\x02\x01"), []uint32{2}, nil},
		{"string dec", packet("NUM1234"), []uint32{3}, nil},
		{"string dec stops at non-digit", packet("NUM12x4"), nil, nil},
		{"string hex", packet("HEXff"), []uint32{4}, nil},
		{"bitmask shift", packet("BM\x0c"), []uint32{5}, nil},
		{"negated and", packet("NEG\x7f"), []uint32{6}, nil},
		{"negated and set", packet("NEG\x80"), nil, nil},
		{"too short", packet("LEN\x04"), nil, nil},
		{"isdataat relative", packet("HDR1234"), []uint32{7}, nil},
		{"isdataat relative short", packet("HDR123"), nil, nil},
		{"isdataat negated at end", packet("xTAIL"), []uint32{8}, nil},
		{"isdataat negated with data", packet("TAILx"), nil, nil},
		{"isdataat absolute", packet("ABS0123456"), []uint32{9}, nil},
		{"isdataat absolute short", packet("ABS012345"), nil, nil},
	})
}

func TestPacketKeywords(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (dsize:!5; sid:1;)`,
		`alert tcp any any -> any any (dsize:<3; sid:2;)`,
		`alert tcp any any -> any any (dsize:0; sid:3;)`,
		`alert tcp any any -> any any (dsize:2<>6; sid:4;)`,
		`alert tcp any any -> any any (flags:S,12; sid:5;)`,
		`alert tcp any any -> any any (flags:SA+; sid:6;)`,
		`alert tcp any any -> any any (flags:!R; ttl:<10; sid:7;)`,
		`alert icmp any any -> any any (itype:8; icode:0; sid:8;)`,
		`alert tcp any any -> any any (flags:*FR; sid:9;)`,
	)
	withFlags := func(payload string, flags, ttl uint8) *Input {
		in := packet(payload)
		in.TCPFlags, in.TTL = flags, ttl
		return in
	}
	icmp := &Input{Key: key(ipproto.ICMP, "10.0.0.1:7", "10.0.0.2:7"), Packet: true, ICMPType: 8, Payload: []byte("ping")}
	runCases(t, e, []detectCase{
		// Suricata: a negated dsize needs a payload; < includes 0; =0 is "no payload".
		{"empty payload", withFlags("", 0x10, 64), []uint32{2, 3}, nil},
		{"dsize 4", withFlags("abcd", 0x10, 64), []uint32{1, 4}, nil},
		{"dsize 5", withFlags("abcde", 0x10, 64), []uint32{4}, nil},
		{"dsize 6: range excludes its bounds", withFlags("abcdef", 0x10, 64), []uint32{1}, nil},
		{"syn with ecn bits", withFlags("", 0xc2, 64), []uint32{2, 3, 5}, nil},
		{"syn ack", withFlags("", 0x12, 64), []uint32{2, 3, 6}, nil},
		{"low ttl", withFlags("", 0x10, 5), []uint32{2, 3, 7}, nil},
		{"any of FR", withFlags("", 0x11, 64), []uint32{2, 3, 9}, nil},
		{"icmp echo", icmp, []uint32{8}, nil},
		{"stream data is not a packet", &Input{Key: tcpKey, Stream: []byte("ab")}, nil, nil},
	})
}

func TestHeader(t *testing.T) {
	e := compile(t,
		`alert tcp $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS (content:"x"; sid:1;)`,
		`alert tcp $HOME_NET any -> $EXTERNAL_NET any (content:"x"; sid:2;)`,
		`alert tcp 10.0.0.5 80 <> any any (content:"x"; sid:3;)`,
		`alert udp any any -> any 53 (content:"x"; sid:4;)`,
		`alert ip any any -> [10.0.0.0/8,!10.0.0.5] any (content:"x"; sid:5;)`,
		`alert tcp any [!80,!443] -> any any (content:"x"; sid:6;)`,
		`alert icmp any 8 -> any any (content:"x"; sid:7;)`,
	)
	rev := packet("x")
	rev.Key = tcpKey.Reverse()
	udp := &Input{Key: udpKey, Packet: true, Payload: []byte("x")}
	other := packet("x")
	other.Key = key(ipproto.TCP, "198.51.100.7:40000", "10.0.0.6:8080")
	icmp := &Input{Key: key(ipproto.ICMP, "10.0.0.1:8", "10.0.0.2:8"), Packet: true, Payload: []byte("x")}
	runCases(t, e, []detectCase{
		{"inbound http", packet("x"), []uint32{1, 3, 6}, nil},
		{"reply", rev, []uint32{2, 3}, nil},
		{"udp dns", udp, []uint32{4}, nil},
		{"other host", other, []uint32{5, 6}, nil},
		{"ports on icmp never match", icmp, []uint32{5}, nil},
	})
}

func TestFlow(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (flow:established,to_server; content:"x"; sid:1;)`,
		`alert tcp any any -> any any (flow:to_client; content:"x"; sid:2;)`,
		`alert tcp any any -> any any (flow:not_established; content:"x"; sid:3;)`,
		`alert tcp any any -> any any (flow:only_stream; content:"x"; sid:4;)`,
		`alert tcp any any -> any any (flow:no_stream; content:"x"; sid:5;)`,
		`alert tcp-stream any any -> any any (content:"x"; sid:6;)`,
	)
	est := &testFlow{dir: buffer.ToServer, established: true}
	in := func(f Flow, payload, stream string) *Input {
		i := packet(payload)
		if f != nil {
			i.Flow = f
		}
		if stream != "" {
			i.Stream = []byte(stream)
		}
		return i
	}
	runCases(t, e, []detectCase{
		{"established to server", in(est, "x", ""), []uint32{1, 5}, nil},
		{"to client", in(&testFlow{dir: buffer.ToClient}, "x", ""), []uint32{2, 3, 5}, nil},
		{"no flow", in(nil, "x", ""), []uint32{3, 5}, nil},
		{"stream only", in(est, "", "x"), []uint32{1, 4, 6}, nil},
		{"both", in(est, "x", "x"), []uint32{1, 4, 5, 6}, nil},
	})
}

func TestFlowbits(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"login"; flowbits:set,auth; flowbits:noalert; sid:1;)`,
		`alert tcp any any -> any any (content:"cmd"; flowbits:isset,auth; sid:2;)`,
		`alert tcp any any -> any any (content:"cmd"; flowbits:isnotset,auth; sid:3;)`,
		`alert tcp any any -> any any (content:"logout"; flowbits:unset,auth; sid:4;)`,
		`alert tcp any any -> any any (content:"flip"; flowbits:toggle,f; sid:5;)`,
		`alert tcp any any -> any any (content:"any"; flowbits:isset,f|auth; sid:6;)`,
	)
	f := &testFlow{dir: buffer.ToServer, established: true}
	s := e.NewScratch()
	step := func(payload string, want []uint32) []Match {
		t.Helper()
		in := packet(payload)
		in.Flow = f
		ms := e.Inspect(s, in)
		if got := sids(ms); !slices.Equal(got, want) {
			t.Errorf("%q: matched %v, want %v", payload, got, want)
		}
		return ms
	}
	step("cmd", []uint32{3})
	ms := step("login", []uint32{1})
	if ms[0].Alert {
		t.Error("noalert rule alerted")
	}
	step("cmd", []uint32{2})
	step("login cmd", []uint32{1, 2}) // the setter runs before the reader
	step("logout", []uint32{4})
	step("cmd any", []uint32{3})
	step("flip", []uint32{5})
	step("any", []uint32{6})
	step("flip", []uint32{5})
	step("any", nil)
}

func TestThresholds(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"lim"; threshold:type limit, track by_src, count 2, seconds 10; sid:1;)`,
		`alert tcp any any -> any any (content:"thr"; threshold:type threshold, track by_dst, count 3, seconds 10; sid:2;)`,
		`alert tcp any any -> any any (content:"both"; threshold:type both, track by_rule, count 2, seconds 10; sid:3;)`,
		`alert tcp any any -> any any (content:"df"; detection_filter:track by_src, count 2, seconds 10; sid:4;)`,
		`drop tcp any any -> any any (content:"dl"; threshold:type limit, track by_src, count 1, seconds 10; sid:5;)`,
	)
	s := e.NewScratch()
	run := func(payload string, at time.Duration) []Match {
		in := packet(payload)
		in.Time = t0.Add(at)
		return slices.Clone(e.Inspect(s, in))
	}
	alerts := func(payload string, n int, at time.Duration) []bool {
		var out []bool
		for range n {
			ms := run(payload, at)
			out = append(out, len(ms) == 1 && ms[0].Alert)
		}
		return out
	}
	check := func(name string, got, want []bool) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: alerts %v, want %v", name, got, want)
		}
	}
	check("limit", alerts("lim", 4, 0), []bool{true, true, false, false})
	check("limit new window", alerts("lim", 1, 11*time.Second), []bool{true})
	check("threshold", alerts("thr", 6, 0), []bool{false, false, true, false, false, true})
	check("both", alerts("both", 4, 0), []bool{false, true, false, false})
	check("detection_filter", alerts("df", 4, 0), []bool{false, false, true, true})
	// Past a limit the drop still applies, without an alert.
	run("dl", 0)
	ms := run("dl", time.Second)
	if len(ms) != 1 || ms[0].Alert || ms[0].Action != rules.Drop {
		t.Errorf("drop past its limit: %+v, want a silent drop", ms)
	}
	// Below a detection_filter's count, not even the action applies.
	if ms := run("df", 30*time.Second); len(ms) != 0 {
		t.Errorf("detection_filter below count: %+v", ms)
	}
}

func TestThresholdTableBound(t *testing.T) {
	set := rules.Parse("t", []byte(`alert tcp any any -> any any (content:"x"; threshold:type limit, track by_src, count 1, seconds 60; sid:1;)`), nil)
	e, err := Compile(set, Config{MaxThresholdEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewScratch()
	for i := range 10 {
		in := packet("x")
		in.Key.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1000)
		e.Inspect(s, in)
	}
	if n := len(e.thresholds.entries); n > 4 {
		t.Errorf("table holds %d entries, bound 4", n)
	}
	if e.Stats.ThresholdTableFull.Load() != 6 {
		t.Errorf("ThresholdTableFull = %d, want 6", e.Stats.ThresholdTableFull.Load())
	}
}

func TestPass(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"x"; sid:1;)`,
		`pass tcp any any -> 10.0.0.5 any (content:"x"; sid:2;)`,
		`drop tcp any any -> any any (content:"y"; sid:3;)`,
	)
	s := e.NewScratch()
	ms := e.Inspect(s, packet("x y"))
	if len(ms) != 1 || ms[0].Rule.SID != 2 || ms[0].Alert {
		t.Errorf("pass: got %+v, want only the pass rule, without alert", ms)
	}
	in := packet("x y")
	in.Key.Dst = netip.MustParseAddrPort("10.0.0.6:80")
	ms = e.Inspect(s, in)
	if got := []uint32{ms[0].Rule.SID, ms[1].Rule.SID}; len(ms) != 2 || got[0] != 3 || got[1] != 1 {
		t.Errorf("order: got %v, want drop before alert", sids(ms))
	}
}

func TestAppBuffers(t *testing.T) {
	e := compile(t,
		`alert http any any -> any any (http.uri; content:"/admin"; startswith; sid:1;)`,
		`alert tcp any any -> any any (content:"POST"; http_method; content:"pass="; http_client_body; sid:2;)`,
		`alert http any any -> any any (http.uri; content:"/x"; http.stat_code; content:"500"; sid:3;)`,
		`alert dns any any -> any any (dns.query; content:"evil.example"; endswith; nocase; sid:4;)`,
		`alert tls any any -> any any (tls.sni; content:"bad.example"; sid:5;)`,
		`alert http any any -> any any (http.user_agent; content:"curl"; http.host; content:"example.com"; sid:6;)`,
		`alert http any any -> any any (pcre:"/^\/cgi-bin\/.+\.sh/U"; sid:7;)`,
		`alert http any any -> any any (file.data; content:"<script>"; sid:8;)`,
		`alert http any any -> any any (http.header; content:"X-Evil"; sid:9;)`,
	)
	req := func(kv ...string) *Input {
		var set buffer.Set
		for i := 0; i < len(kv); i += 2 {
			id, _ := buffer.Lookup(kv[i])
			set.Put(id, []byte(kv[i+1]))
		}
		return &Input{Key: tcpKey, App: buffer.AppHTTP, Buffers: &set, Flow: &testFlow{dir: buffer.ToServer, established: true}}
	}
	resp := func(kv ...string) *Input {
		in := req(kv...)
		in.Key = in.Key.Reverse()
		in.Flow = &testFlow{dir: buffer.ToClient, established: true}
		return in
	}
	dns := &Input{Key: udpKey, App: buffer.AppDNS, Buffers: &buffer.Set{}}
	dns.Buffers.Put(buffer.DNSQuery, []byte("www.EVIL.example"))
	tls := &Input{Key: tcpKey, App: buffer.AppTLS, Buffers: &buffer.Set{}}
	tls.Buffers.Put(buffer.TLSSNI, []byte("bad.example"))
	notHTTP := req("http.uri", "/admin")
	notHTTP.App = buffer.AppNone
	runCases(t, e, []detectCase{
		{"uri", req("http.uri", "/admin/x", "http.method", "GET"), []uint32{1}, nil},
		{"uri not at start", req("http.uri", "/x/admin"), nil, nil},
		{"old modifiers", req("http.method", "POST", "http.request_body", "user=a&pass=b"), []uint32{2}, nil},
		{"request and response", resp("http.uri", "/x", "http.stat_code", "500"), []uint32{3}, nil},
		{"response rule not on the request", req("http.uri", "/x", "http.stat_code", "500"), nil, nil},
		{"dns", dns, []uint32{4}, nil},
		{"tls", tls, []uint32{5}, nil},
		{"two buffers", req("http.user_agent", "curl/8.0", "http.host", "example.com"), []uint32{6}, nil},
		{"one of two buffers", req("http.user_agent", "curl/8.0"), nil, nil},
		{"pcre U", req("http.uri", "/cgi-bin/run.sh"), []uint32{7}, nil},
		{"file.data", resp("file.data", "<html><script>"), []uint32{8}, nil},
		{"header", req("http.header", "Host: a\r\nX-Evil: 1\r\n"), []uint32{9}, nil},
		{"protocol not http", notHTTP, nil, nil},
	})
}

// TestInspectAllocs checks the per-packet path allocates nothing.
func TestInspectAllocs(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"evil"; content:"x"; distance:0; sid:1;)`,
		`alert tcp any any -> any any (content:"GET"; nocase; pcre:"/^get \/[a-z]+/i"; sid:2;)`,
		`alert tcp any any -> any any (dsize:>10; sid:3;)`,
		`alert tcp any any -> any any (content:"a"; byte_test:1,>,0,0,relative; sid:4;)`,
	)
	s := e.NewScratch()
	in := packet("GET /evil x and more")
	e.Inspect(s, in)
	if n := testing.AllocsPerRun(100, func() { e.Inspect(s, in) }); n != 0 {
		t.Errorf("Inspect allocates %v times", n)
	}
}

// TestReassembled checks that a packet of a reassembled flow leaves its
// payload to the stream, except for rules that need the packet: one
// payload match alerts once, on the stream.
func TestReassembled(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"evil"; sid:1;)`,
		`alert tcp any any -> any any (content:"evil"; dsize:>3; sid:2;)`,
		`alert tcp any any -> any any (content:"evil"; flow:no_stream; sid:3;)`,
		`alert tcp-pkt any any -> any any (content:"evil"; sid:4;)`,
		`alert tcp any any -> any any (content:"evil"; flow:only_stream; sid:5;)`,
	)
	reassembled := func(payload string) *Input {
		in := packet(payload)
		in.Reassembled = true
		return in
	}
	runCases(t, e, []detectCase{
		{"packet of an unreassembled flow", packet("an evil thing"), []uint32{1, 2, 3, 4}, nil},
		{"packet of a reassembled flow", reassembled("an evil thing"), []uint32{2, 3, 4}, nil},
		{"its stream", &Input{Key: tcpKey, Time: t0, Stream: []byte("an evil thing")}, []uint32{1, 5}, nil},
	})
}
