package replay

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/srcpos"
)

func parseFile(t *testing.T, path string) *Scenario {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, err := Parse(filepath.Base(path), f)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParseUnboundStyle(t *testing.T) {
	sc := parseFile(t, "testdata/parse/unbound_style.rpl")
	if sc.Title != "Test validator with a hex answer, extra packets and raw EDNS data" {
		t.Errorf("title %q", sc.Title)
	}
	c := &sc.Config
	if got := c.RootHints(); len(got) != 1 || got[0] != netip.MustParseAddrPort("193.0.14.129:53") {
		t.Errorf("root hints %v", got)
	}
	if len(c.ForwardZones) != 1 || c.ForwardZones[0].Name != "example.org." ||
		c.ForwardZones[0].Addrs[0] != netip.MustParseAddrPort("10.0.0.53:5353") || !c.ForwardZones[0].First {
		t.Errorf("forward zones %+v", c.ForwardZones)
	}
	if c.StubZones[0].Prime {
		t.Errorf("stub-prime: no was read as yes")
	}
	if !c.NeedsDNSSEC() || !strings.HasPrefix(c.TrustAnchors[0], "example.com.") {
		t.Errorf("trust anchors %q", c.TrustAnchors)
	}
	if !c.ValOverrideDate.Equal(time.Date(2007, 9, 16, 13, 42, 26, 0, time.UTC)) {
		t.Errorf("val-override-date %v", c.ValOverrideDate)
	}
	if c.QNameMinimisation == nil || *c.QNameMinimisation {
		t.Errorf("qname-minimisation %v", c.QNameMinimisation)
	}
	wantHarden := map[string]bool{"harden-dnssec-stripped": true, "harden-below-nxdomain": true, "harden-referral-path": false}
	for k, v := range wantHarden {
		if got, ok := c.Harden[k]; !ok || got != v {
			t.Errorf("%s = %v, %v; want %v", k, got, ok, v)
		}
	}
	if v, _ := c.Get("target-fetch-policy"); v != "0 0 0 0 0" {
		t.Errorf("target-fetch-policy %q", v)
	}
	if len(c.Files) != 1 || c.Files[0].Name != "example.org.zone" || len(c.Files[0].Lines) != 2 {
		t.Errorf("files %+v", c.Files)
	}

	if len(sc.Ranges) != 2 {
		t.Fatalf("%d ranges", len(sc.Ranges))
	}
	r := sc.Ranges[1]
	if len(r.Entries) != 5 || r.Addrs[0] != netip.MustParseAddrPort("1.2.3.4:53") {
		t.Fatalf("range 2: %d entries, addrs %v", len(r.Entries), r.Addrs)
	}
	www := r.Entries[0]
	if www.Match != MatchOpcode|MatchQType|MatchQName|MatchDO || www.Adjust != AdjustCopyID {
		t.Errorf("www entry: match %v adjust %v", www.Match, www.Adjust)
	}
	m := www.Packets[0].Msg
	if qname(m) != "www.example.com." || len(m.Answer) != 2 || m.Answer[0].Header().Ttl != 3600 || !doBit(m) {
		t.Errorf("www packet: %v", m)
	}
	if ns := m.Ns[0].(*dns.NS); ns.Hdr.Name != "example.com." || ns.Ns != "ns.example.com." {
		t.Errorf("$ORIGIN not applied: %v", ns)
	}
	axfr := r.Entries[1]
	if len(axfr.Packets) != 2 || axfr.Match&MatchTCP == 0 || axfr.Sleep != time.Second || axfr.Packets[1].Sleep != 2*time.Second {
		t.Errorf("axfr entry: %d packets, match %v, sleeps %v %v", len(axfr.Packets), axfr.Match, axfr.Sleep, axfr.Packets[1].Sleep)
	}
	if txt := axfr.Packets[1].Msg.Answer[0].(*dns.TXT); txt.Txt[0] != "a quoted ; not a comment" {
		t.Errorf("TXT %q", txt.Txt)
	}
	if ixfr := r.Entries[2]; ixfr.Match&(MatchSerial|MatchUDP) != MatchSerial|MatchUDP || ixfr.Serial != 1 {
		t.Errorf("ixfr entry: %v serial %d", ixfr.Match, ixfr.Serial)
	}
	raw := r.Entries[3].Packets[0]
	if len(raw.Raw) != 49 || raw.RawOnly || raw.Raw[48] != 0x29 || qname(raw.Msg) != "raw.example.com." {
		t.Errorf("hex answer: %d bytes % x", len(raw.Raw), raw.Raw)
	}
	nsid := r.Entries[4].Packets[0]
	if string(nsid.EDNSData) != "\x00\x03\x00\x04abcd" || findOPT(nsid.Msg) == nil {
		t.Errorf("edns data % x", nsid.EDNSData)
	}

	var kinds []string
	for _, st := range sc.Steps {
		kinds = append(kinds, st.Kind.String())
	}
	want := "QUERY CHECK_ANSWER TRAFFIC NOTHING TIME_PASSES FLUSH_MESSAGE EXPIRE_MESSAGE QUERY CHECK_OUT_QUERY TIMEOUT ERROR REPLY CHECK_ANSWER INFRA_RTT CHECK_TEMPFILE"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("steps:\n got %s\nwant %s", got, want)
	}
	byNum := map[int]*Step{}
	for _, st := range sc.Steps {
		byNum[st.Number] = st
	}
	if st := byNum[20]; st.Elapse != 3600*time.Second+500*time.Millisecond {
		t.Errorf("ELAPSE %v", st.Elapse)
	}
	if st := byNum[21]; st.Question != (dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}) {
		t.Errorf("FLUSH_MESSAGE %v", st.Question)
	}
	if st := byNum[31]; st.Addr != netip.MustParseAddrPort("1.2.3.4:53") {
		t.Errorf("CHECK_OUT_QUERY address %v", st.Addr)
	}
	if st := byNum[40]; !st.Entry.Match.has(MatchEDE) || st.Entry.EDE != 9 || st.Entry.EDEAny {
		t.Errorf("ede=9: %v %d", st.Entry.Match, st.Entry.EDE)
	}
	if st := byNum[60]; st.Args != "example.org.zone" || len(st.File) != 2 {
		t.Errorf("CHECK_TEMPFILE %q %q", st.Args, st.File)
	}
}

func (m Match) has(x Match) bool { return m&x == x }

func TestParseDeckardStyle(t *testing.T) {
	sc := parseFile(t, "testdata/parse/deckard_style.rpl")
	c := &sc.Config
	if got := c.RootHints(); len(got) != 1 || got[0].Addr() != netip.MustParseAddr("193.0.14.129") {
		t.Errorf("root hints %v", got)
	}
	if c.QNameMinimisation == nil || *c.QNameMinimisation {
		t.Errorf("query-minimization: off not decoded")
	}
	if !c.ValOverrideDate.Equal(time.Unix(1433757540, 0)) {
		t.Errorf("val-override-timestamp %v", c.ValOverrideDate)
	}
	if c.RootName != "rootns." {
		t.Errorf("stub-name %q", c.RootName)
	}
	if c.DoIP6 == nil || *c.DoIP6 || c.DoIP4 != nil {
		t.Errorf("do-ip6 %v, do-ip4 %v", c.DoIP6, c.DoIP4)
	}
	if c.CacheMinTTL == nil || *c.CacheMinTTL != 5 || c.CacheMaxTTL == nil || *c.CacheMaxTTL != 600 {
		t.Errorf("features min_ttl %v max_ttl %v", c.CacheMinTTL, c.CacheMaxTTL)
	}
	if len(c.Features) != 2 || c.Features["max_ttl"] != "600" {
		t.Errorf("features %v", c.Features)
	}
	if c.NeedsDNSSEC() {
		t.Errorf("no trust anchors, yet NeedsDNSSEC")
	}
	r := sc.Ranges[0]
	if len(r.Addrs) != 3 || r.Addrs[2] != netip.MustParseAddrPort("[2001:7fd::1]:53") {
		t.Errorf("addresses %v", r.Addrs)
	}
	com := r.Entries[1]
	if !com.Mandatory || !com.Match.has(MatchQCase|MatchSubdomain) || !com.Packets[0].Msg.Response {
		t.Errorf("MANDATORY/FLAGS entry: %+v", com)
	}
	raw := r.Entries[2]
	if raw.Adjust != AdjustRawID || !raw.Packets[0].RawOnly || len(raw.Packets[0].Raw) != 18 {
		t.Errorf("RAW entry: %+v", raw.Packets[0])
	}
	if sc.Ranges[1].Entries[0].Adjust&AdjustDoNotAnswer == 0 {
		t.Errorf("do_not_answer not read")
	}
	q := sc.Steps[0].Entry.Packets[0].Msg
	opt := findOPT(q)
	if opt == nil || opt.UDPSize() != 1232 || len(opt.Option) != 2 || !q.AuthenticatedData {
		t.Fatalf("EDNS line: %v", q)
	}
	if s, ok := opt.Option[1].(*dns.EDNS0_SUBNET); !ok || s.SourceNetmask != 24 || s.Family != 1 {
		t.Errorf("subnet option %v", opt.Option[1])
	}
	want := MatchOpcode | MatchQName | MatchQType | MatchFlags | MatchRcode | MatchAnswer | MatchAuthority |
		MatchAdditional | MatchAnswerTypes | MatchAnswerRRSIGs | MatchEDNS | MatchNSID
	if got := sc.Steps[1].Entry.Match; got != want {
		t.Errorf("match %v, want %v", got, want)
	}
	if d := sc.Steps[2].Elapse; d != 10*time.Second {
		t.Errorf("ELAPSE %v", d)
	}
	if p := sc.Steps[3].Entry.Packets[0]; !p.RawOnly || len(p.Raw) != 20 {
		t.Errorf("raw query %x", p.Raw)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "CONFIG_END\nSCENARIO_BEGIN t\n" // lines 1-2
	const entry = "ENTRY_BEGIN\nSECTION QUESTION\nx. IN A\nENTRY_END\n"
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", "t.rpl:1: missing SCENARIO_BEGIN"},
		{"no end", head, "t.rpl:3: missing SCENARIO_END"},
		{"no title", "SCENARIO_BEGIN  \n", "t.rpl:1:1: SCENARIO_BEGIN needs a title"},
		{"two scenarios", head + "SCENARIO_BEGIN u\n", "t.rpl:3:1: second SCENARIO_BEGIN"},
		{"body before begin", "CONFIG_END\nSTEP 1 QUERY\n", `t.rpl:2:1: expected SCENARIO_BEGIN, got "STEP"`},
		{"unknown keyword", head + "  STPE 1 QUERY\n", `t.rpl:3:3: unexpected "STPE" (want RANGE_BEGIN, STEP or SCENARIO_END)`},
		{"config without colon", "server\nCONFIG_END\n", `t.rpl:1:1: config: expected "key: value", got "server"`},
		{"config bad address", "stub-zone:\n\tstub-addr: 1.2.3\n", `t.rpl:2:13: config: stub-addr: bad address "1.2.3"`},
		{"config bad port", "stub-addr: 1.2.3.4@99999\n", `t.rpl:1:12: config: stub-addr: bad port in "1.2.3.4@99999"`},
		{"config bad bool", "server:\n qname-minimisation: maybe\n", `t.rpl:2:22: config: qname-minimisation: want yes or no, got "maybe"`},
		{"config bad date", "server:\n val-override-date: \"2007\"\n", `t.rpl:2:21: config: val-override-date "2007": want YYYYMMDDhhmmss`},
		{"config date past the clock", "server:\n val-override-date: \"22620412000000\"\n",
			`t.rpl:2:21: config: val-override-date "22620412000000": the scenario clock reads only 1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z`},
		{"config date before the clock", "server:\n val-override-date: \"16000101000000\"\n",
			`t.rpl:2:21: config: val-override-date "16000101000000": the scenario clock reads only`},
		{"config timestamp past the clock", "server:\n val-override-timestamp: 9223372037\n",
			`t.rpl:2:26: config: val-override-timestamp "9223372037": the scenario clock reads only up to 9223372036 (2262-04-11T23:47:16Z)`},
		{"config stub-name", "stub-name: a..b\n", `t.rpl:1:12: config: stub-name "a..b" is not a domain name`},
		{"config do-ip6", "do-ip6: perhaps ; not a word it knows\n", `t.rpl:1:9: config: do-ip6: want yes or no, got "perhaps"`},
		{"config features ttl", "features: min_ttl = soon\n", `t.rpl:1:11: config: features: min_ttl "soon": want a number of seconds`},
		{"config cache-max-ttl", "server:\n cache-max-ttl: -1\n", `t.rpl:2:17: config: cache-max-ttl "-1": want a number of seconds`},
		{"bad base64", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION ANSWER\nx. IN RRSIG A 8 1 1 20170815084229 20170716084229 1 x. !!!!\n", "t.rpl:6:1: bad RRSIG record: its base64 data does not decode"},
		{"config block unterminated", "AUTOTRUST_FILE example.com\nx\n", "t.rpl:1: block has no AUTOTRUST_END"},
		{"step not increasing", head + "STEP 5 NOTHING\nSTEP 5 NOTHING\n", "t.rpl:4:6: STEP 5 does not follow STEP 5: steps must increase"},
		{"step number", head + "STEP x NOTHING\n", `t.rpl:3:6: STEP number "x" is not a step number`},
		{"step kind", head + "STEP 1 QUREY\n", `t.rpl:3:8: unknown STEP event "QUREY"`},
		{"step junk", head + "STEP 1 QUERY now\n", `t.rpl:3:14: unexpected "now" after STEP 1 QUERY`},
		{"step entry missing", head + "STEP 1 QUERY\nSTEP 2 NOTHING\n", `t.rpl:4:1: STEP 1 QUERY needs an ENTRY_BEGIN block, got "STEP"`},
		{"step entry at eof", head + "STEP 1 QUERY\n", "t.rpl:4: STEP 1 QUERY needs an ENTRY_BEGIN block, got end of file"},
		{"elapse", head + "STEP 1 TIME_PASSES ELAPSE -3\n", `t.rpl:3:27: ELAPSE: want seconds between 0 and 3153600000, got "-3"`},
		{"elapse NaN", head + "STEP 1 TIME_PASSES ELAPSE NaN\n", `t.rpl:3:27: ELAPSE: want seconds`},
		{"step address", head + "STEP 1 CHECK_OUT_QUERY ADDRESS ::zz\n" + entry, `t.rpl:3:32: ADDRESS: bad address "::zz"`},
		{"file block", head + "STEP 1 CHECK_AUTOTRUST x\nnot a file\n", "t.rpl:4:1: FILE_BEGIN expected"},
		{"range order", head + "RANGE_BEGIN 10 5\n", "t.rpl:3:13: RANGE_BEGIN start 10 is after end 5"},
		{"range args", head + "RANGE_BEGIN 10\n", "t.rpl:3:1: RANGE_BEGIN wants a start step, an end step and optionally an address"},
		{"range unterminated", head + "RANGE_BEGIN 0 10\n" + entry, "t.rpl:3:1: RANGE_BEGIN has no RANGE_END"},
		{"range junk", head + "RANGE_BEGIN 0 10\nSTEP 1 QUERY\n", `t.rpl:4:1: unexpected "STEP" in RANGE (want ADDRESS, ENTRY_BEGIN or RANGE_END)`},
		{"entry unterminated", head + "RANGE_BEGIN 0 10\nENTRY_BEGIN\nMATCH qname\n", "t.rpl:4: ENTRY_BEGIN has no ENTRY_END"},
		{"nested entry", head + "RANGE_BEGIN 0 10\nENTRY_BEGIN\nENTRY_BEGIN\n", "t.rpl:5:1: ENTRY_BEGIN inside the entry that began at line 4"},
		{"match", head + "STEP 1 QUERY\nENTRY_BEGIN\nMATCH opcode qnmae\n", `t.rpl:5:14: unknown MATCH criterion "qnmae"`},
		{"match serial", head + "STEP 1 QUERY\nENTRY_BEGIN\nMATCH serial=x\n", `t.rpl:5:7: MATCH serial "x" is not a 32-bit number`},
		{"match ede", head + "STEP 1 QUERY\nENTRY_BEGIN\nMATCH ede=some\n", `t.rpl:5:7: MATCH ede "some" is neither a 16-bit number nor any`},
		{"reply", head + "STEP 1 QUERY\nENTRY_BEGIN\nREPLY QR XX\n", `t.rpl:5:10: unknown REPLY flag, opcode or rcode "XX"`},
		{"adjust", head + "STEP 1 QUERY\nENTRY_BEGIN\nADJUST copy_idd\n", `t.rpl:5:8: unknown ADJUST action "copy_idd"`},
		{"adjust sleep", head + "STEP 1 QUERY\nENTRY_BEGIN\nADJUST sleep=x\n", `t.rpl:5:8: ADJUST sleep "x" is not a number of seconds`},
		{"section", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION ANSWERS\n", `t.rpl:5:9: bad section "ANSWERS"`},
		{"bad record", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION ANSWER\n  x. IN A 1.2.3\n", `t.rpl:6:`},
		{"bad record message", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION ANSWER\nx. IN A 1.2.3\n", `t.rpl:6:9: bad A record: "1.2.3"`},
		{"opt record", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION ADDITIONAL\n. 4096 IN TYPE41 \\# 0\n", "t.rpl:6:1: OPT records are written as REPLY DO, EDNS or HEX_EDNSDATA, not as records"},
		{"question without type", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION QUESTION\nx. IN\n", `t.rpl:6:1: question "x. IN" has no type`},
		{"question bad type", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION QUESTION\nx. IN AA\n", `t.rpl:6:7: unknown type or class "AA"`},
		{"question bad name", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION QUESTION\nx..y. IN A\n", `t.rpl:6:1: "x..y." is not a domain name`},
		{"hex odd", head + "STEP 1 QUERY\nENTRY_BEGIN\nHEX_ANSWER_BEGIN\n00 0\nHEX_ANSWER_END\n", "t.rpl:6: odd number of hex digits"},
		{"hex junk", head + "STEP 1 QUERY\nENTRY_BEGIN\nHEX_ANSWER_BEGIN\n00 0x01\nHEX_ANSWER_END\n", `t.rpl:6:5: unexpected 'x' in hex data`},
		{"hex unterminated", head + "STEP 1 QUERY\nENTRY_BEGIN\nHEX_ANSWER_BEGIN\n00\n", "t.rpl:5: HEX_ANSWER_BEGIN has no end before end of file"},
		{"hex end alone", head + "STEP 1 QUERY\nENTRY_BEGIN\nHEX_ANSWER_END\n", "t.rpl:5:1: HEX_ANSWER_END without its BEGIN"},
		{"edns data", head + "STEP 1 QUERY\nENTRY_BEGIN\nHEX_EDNSDATA_BEGIN\n00 08 00 09 00\nHEX_EDNSDATA_END\nENTRY_END\n", "t.rpl:4: HEX_EDNSDATA:"},
		{"raw at eof", head + "STEP 1 QUERY\nENTRY_BEGIN\nRAW\n", "t.rpl:5: RAW has no hex data before end of file"},
		{"edns option", head + "STEP 1 QUERY\nENTRY_BEGIN\nEDNS 0 1232 cookie\n", `t.rpl:5:13: unknown EDNS option "cookie"`},
		{"origin", head + "$ORIGIN a..b\n", `t.rpl:3:9: $ORIGIN "a..b" is not a domain name`},
		{"ttl", head + "$TTL forever\n", `t.rpl:3:6: $TTL "forever" is not a number of seconds`},
		{"include", head + "STEP 1 QUERY\nENTRY_BEGIN\n$INCLUDE /etc/passwd\n", "t.rpl:5:1: directive $INCLUDE is not supported"},
		{"tsig", head + "STEP 1 QUERY\nENTRY_BEGIN\nTSIG k.\n", "t.rpl:5:1: TSIG wants a key name and a secret"},
		{"extended rcode packs", head + "STEP 1 QUERY\nENTRY_BEGIN\nREPLY BADCOOKIE\nENTRY_END\nSCENARIO_END\n", ""},
		{"long line", head + strings.Repeat("x", MaxLineLength+1) + "\n", "t.rpl:3: line longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.rpl", strings.NewReader(tt.text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *srcpos.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *srcpos.Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// endless yields an endless run of comment lines.
type endless struct{ pos int }

func (e *endless) Read(b []byte) (int, error) {
	const line = "; filler\n"
	for i := range b {
		b[i] = line[e.pos%len(line)]
		e.pos++
	}
	return len(b), nil
}

// TestParseNormalises checks that records Deckard's parser takes as written
// are put into the form that packs: type bitmaps out of order and base64
// with padding it does not need.
func TestParseNormalises(t *testing.T) {
	text := `CONFIG_END
SCENARIO_BEGIN normalise
STEP 1 QUERY
ENTRY_BEGIN
SECTION AUTHORITY
a.example. IN NSEC c.example. RRSIG NSEC A A
b.example. IN RRSIG SOA 253 1 86400 20170815084229 20170716084229 12062 example. UNUSABLE==
ENTRY_END
SCENARIO_END
`
	sc, err := Parse("n.rpl", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	ns := sc.Steps[0].Entry.Packets[0].Msg.Ns
	if got := ns[0].(*dns.NSEC).TypeBitMap; len(got) != 3 || got[0] != dns.TypeA || got[1] != dns.TypeRRSIG || got[2] != dns.TypeNSEC {
		t.Errorf("NSEC bitmap %v, want [A RRSIG NSEC]", got)
	}
	if got := ns[1].(*dns.RRSIG).Signature; got != "UNUSABLE" {
		t.Errorf("RRSIG signature %q, want the same six octets padded correctly, UNUSABLE", got)
	}
}

func TestParseFileTooLarge(t *testing.T) {
	_, err := Parse("big.rpl", io.MultiReader(strings.NewReader("CONFIG_END\nSCENARIO_BEGIN big\n"), &endless{}))
	if err == nil || !strings.Contains(err.Error(), "file larger than 16777216 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestParseSkipsUnsupported(t *testing.T) {
	text := `CONFIG_END
SCENARIO_BEGIN macros
STEP 1 TIME_PASSES EVAL ${$t0 + 10}
STEP 2 QUERY
ENTRY_BEGIN
SECTION ANSWER
x. ${$ttl} IN A 192.0.2.1
ENTRY_END
SCENARIO_END
`
	sc, err := Parse("m.rpl", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"m.rpl:3: TIME_PASSES EVAL (testbound macro)", "m.rpl:7: testbound macro in a record"}
	if strings.Join(sc.Unsupported, "|") != strings.Join(want, "|") {
		t.Errorf("unsupported %q, want %q", sc.Unsupported, want)
	}
	if sc.Steps[0].Eval != "${$t0 + 10}" {
		t.Errorf("eval %q", sc.Steps[0].Eval)
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		line string
		want []token
	}{
		{"", nil},
		{"MATCH all ttl", []token{{"MATCH", 1}, {"all", 7}, {"ttl", 11}}},
		{"\tREPLY QR ; comment", []token{{"REPLY", 2}, {"QR", 8}}},
		{"MATCH all;ttl", []token{{"MATCH", 1}, {"all", 7}}},
		{"ADJUST copy_id # comment", []token{{"ADJUST", 1}, {"copy_id", 8}}},
		{"a#b c", []token{{"a#b", 1}, {"c", 5}}},
	}
	for _, tt := range tests {
		got := tokenize(tt.line)
		if len(got) != len(tt.want) {
			t.Errorf("tokenize(%q) = %v, want %v", tt.line, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("tokenize(%q) = %v, want %v", tt.line, got, tt.want)
				break
			}
		}
	}
}
