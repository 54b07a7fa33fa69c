package eve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

var (
	t0  = time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	tcp = flow.Key{Src: netip.MustParseAddrPort("10.10.0.11:40001"), Dst: netip.MustParseAddrPort("203.0.113.80:80"), Proto: ipproto.TCP}
)

func rule(t testing.TB, text string) *rules.Rule {
	t.Helper()
	r, err := rules.ParseRule(text, rules.DefaultVars())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// samples are one record of each shape rampart writes.
func samples(t testing.TB) (alerts []ids.Alert, events []ids.Event) {
	r := rule(t, `alert http any any -> any any (msg:"HTTP sqlmap user agent"; http.user_agent; content:"sqlmap"; classtype:web-application-attack; sid:1000001; rev:2;)`)
	icmp := rule(t, `drop icmp any any -> any any (msg:"ICMP \"ping\" with a \\ and é"; itype:8; sid:7; rev:1;)`)
	alerts = []ids.Alert{
		{Time: t0, FlowID: 1234567890123, Key: tcp, App: buffer.AppHTTP, Rule: r, Frame: 53},
		{Time: t0, Key: flow.Key{Src: netip.MustParseAddrPort("[2001:db8::1]:7"), Dst: netip.MustParseAddrPort("[2001:db8::2]:7"), Proto: ipproto.ICMPv6}, Rule: icmp, Blocked: true,
			ICMP: true, ICMPType: 128},
	}
	events = []ids.Event{
		{Time: t0, FlowID: 99, Key: tcp, Layer: ids.LayerStream, Name: "overlap_different_data", Policy: "bsd"},
		{Time: t0, FlowID: 99, Key: tcp, App: buffer.AppHTTP, Layer: ids.LayerAppLayer, Name: "cl_and_te"},
		{Time: t0, Key: flow.Key{Src: netip.MustParseAddrPort("192.0.2.1:0"), Dst: netip.MustParseAddrPort("10.0.0.1:0"), Proto: ipproto.UDP}, Layer: ids.LayerDecode, Name: "overlap", Policy: "windows"},
	}
	return alerts, events
}

func TestRecords(t *testing.T) {
	alerts, events := samples(t)
	var got []string
	for i := range alerts {
		got = append(got, string(AppendAlert(nil, &alerts[i])))
	}
	for i := range events {
		got = append(got, string(AppendEvent(nil, &events[i])))
	}
	got = append(got, string(AppendFast(nil, &alerts[0])), string(AppendFast(nil, &alerts[1])))
	want := []string{
		`{"timestamp":"2026-12-07T12:00:00.123456+0000","flow_id":1234567890123,"pcap_cnt":53,"event_type":"alert","src_ip":"10.10.0.11","src_port":40001,"dest_ip":"203.0.113.80","dest_port":80,"proto":"TCP","app_proto":"http","alert":{"action":"allowed","gid":1,"signature_id":1000001,"rev":2,"signature":"HTTP sqlmap user agent","category":"Web Application Attack","severity":1}}`,
		`{"timestamp":"2026-12-07T12:00:00.123456+0000","event_type":"alert","src_ip":"2001:db8::1","dest_ip":"2001:db8::2","proto":"IPv6-ICMP","icmp_type":128,"icmp_code":0,"alert":{"action":"blocked","gid":1,"signature_id":7,"rev":1,"signature":"ICMP \"ping\" with a \\ and é","category":"","severity":3}}`,
		`{"timestamp":"2026-12-07T12:00:00.123456+0000","flow_id":99,"event_type":"anomaly","src_ip":"10.10.0.11","src_port":40001,"dest_ip":"203.0.113.80","dest_port":80,"proto":"TCP","anomaly":{"type":"stream","event":"stream.overlap_different_data","policy":"bsd"}}`,
		`{"timestamp":"2026-12-07T12:00:00.123456+0000","flow_id":99,"event_type":"anomaly","src_ip":"10.10.0.11","src_port":40001,"dest_ip":"203.0.113.80","dest_port":80,"proto":"TCP","app_proto":"http","anomaly":{"type":"applayer","event":"http.cl_and_te","layer":"proto_parser"}}`,
		`{"timestamp":"2026-12-07T12:00:00.123456+0000","event_type":"anomaly","src_ip":"192.0.2.1","dest_ip":"10.0.0.1","proto":"UDP","anomaly":{"type":"decode","event":"defrag.overlap","policy":"windows"}}`,
		`12/07/2026-12:00:00.123456  [**] [1:1000001:2] HTTP sqlmap user agent [**] [Classification: Web Application Attack] [Priority: 1] {TCP} 10.10.0.11:40001 -> 203.0.113.80:80`,
		`12/07/2026-12:00:00.123456  [Drop] [**] [1:7:1] ICMP "ping" with a \ and é [**] [Classification: (null)] [Priority: 3] {IPv6-ICMP} 2001:db8::1 -> 2001:db8::2`,
	}
	for i := range max(len(got), len(want)) {
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("record %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

// shape is a record's field names with their JSON types, nested fields
// as "alert.signature_id".
func shape(t *testing.T, line []byte) map[string]string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	out := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + k
			switch v := v.(type) {
			case map[string]any:
				out[name] = "object"
				walk(name+".", v)
			case float64:
				out[name] = "number"
			case string:
				out[name] = "string"
			case bool:
				out[name] = "boolean"
			case []any:
				out[name] = "array"
			default:
				out[name] = fmt.Sprintf("%T", v)
			}
		}
	}
	walk("", m)
	return out
}

// TestSuricataShape compares the field names and JSON types of rampart's
// records with Suricata's (testdata/suricata-eve.json, after Suricata's
// documentation): every field rampart writes that Suricata's record of
// the same kind has must have its type, and the alert fields consumers
// key on must all be there. anomaly.policy is rampart's own addition.
func TestSuricataShape(t *testing.T) {
	data, err := os.ReadFile("testdata/suricata-eve.json")
	if err != nil {
		t.Fatal(err)
	}
	// Suricata's fields of each kind of record, merged over its samples.
	ref := map[string]map[string]string{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		s := shape(t, line)
		var m map[string]any
		_ = json.Unmarshal(line, &m)
		kind, _ := m["event_type"].(string)
		if ref[kind] == nil {
			ref[kind] = map[string]string{}
		}
		for k, v := range s {
			ref[kind][k] = v
		}
	}
	extra := map[string]bool{"anomaly.policy": true}
	alerts, events := samples(t)
	check := func(line []byte) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		kind, _ := m["event_type"].(string)
		want := ref[kind]
		if want == nil {
			t.Fatalf("no Suricata sample of event_type %q", kind)
		}
		for k, typ := range shape(t, line) {
			if extra[k] {
				continue
			}
			if wt, ok := want[k]; !ok {
				t.Errorf("%s: field %s is not in Suricata's %s records", kind, k, kind)
			} else if wt != typ {
				t.Errorf("%s: field %s is a %s, Suricata's is a %s", kind, k, typ, wt)
			}
		}
	}
	for i := range alerts {
		check(AppendAlert(nil, &alerts[i]))
	}
	for i := range events {
		check(AppendEvent(nil, &events[i]))
	}
	got := shape(t, AppendAlert(nil, &alerts[0]))
	var missing []string
	for _, k := range []string{"timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto",
		"alert.action", "alert.gid", "alert.signature_id", "alert.rev", "alert.signature", "alert.category", "alert.severity"} {
		if got[k] != ref["alert"][k] {
			missing = append(missing, fmt.Sprintf("%s (%s, Suricata's %s)", k, got[k], ref["alert"][k]))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("alert fields missing or of another type: %s", strings.Join(missing, ", "))
	}
	// Suricata's timestamp layout, exactly.
	if ts, _ := time.Parse(TimeFormat, "2017-04-07T22:24:37.251547+0100"); ts.IsZero() {
		t.Errorf("TimeFormat does not parse Suricata's timestamp")
	}
}

// TestJq reads the writer's output with jq, as consumers do; skipped
// when jq is not installed (the Makefile's DEB_PKGS has it).
func TestJq(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq not installed")
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	alerts, events := samples(t)
	for _, a := range alerts {
		w.Alert(a)
	}
	for _, e := range events {
		w.Event(e)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(jq, "-c", `select(.event_type == "alert") | [.alert.signature_id, .src_ip, .src_port, .proto, .alert.action, .alert.severity]`)
	cmd.Stdin = &buf
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq: %v", err)
	}
	want := `[1000001,"10.10.0.11",40001,"TCP","allowed",1]` + "\n" + `[7,"2001:db8::1",null,"IPv6-ICMP","blocked",3]` + "\n"
	if string(out) != want {
		t.Errorf("jq printed\n%s\nwant\n%s", out, want)
	}
}

// TestAppendString checks that every byte string becomes valid JSON that
// decodes to the same text where it is UTF-8.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" back \\ slash", "\x00\x01\x1f\x7f", "tab\tnl\ncr\r", "é ü 日本", "bad \xff\xfe utf8", "\xc3"} {
		b := AppendString(nil, s)
		if !json.Valid(b) {
			t.Errorf("%q: invalid JSON %s", s, b)
			continue
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q: %v", s, err)
		}
		if back != s && strings.ToValidUTF8(s, "") == s {
			t.Errorf("%q came back as %q", s, back)
		}
	}
}

func TestWriterAllocs(t *testing.T) {
	alerts, events := samples(t)
	w := NewWriter(bufio.NewWriter(&bytes.Buffer{}))
	n := testing.AllocsPerRun(100, func() {
		w.Alert(alerts[0])
		w.Event(events[0])
	})
	if n != 0 {
		t.Errorf("%v allocations per alert and event", n)
	}
}
