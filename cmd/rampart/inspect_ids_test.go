package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The sample capture of package ids (ids/testdata/sample.pcap, made by
// its TestSampleCapture): HTTP, DNS and TLS flows from 10.10.0.11, and an
// evasion sent from 198.51.100.66 to 10.10.7.10 and 10.10.7.20 on port
// 9000: "EVIL" at offset 0, "XXX" at 4, then "LCMD!" at 3. A host that
// keeps the first bytes it got (vista) reads EVILXXX!, one where the
// segment that starts earlier wins (bsd) reads EVILCMD!. Then a UDP
// datagram to port 5555 of 10.10.7.20 and of 10.10.7.30 whose third
// fragment overlaps the second at the same offset: where the later
// fragment wins (linux) it reads FRAGATTACK, where the earlier one does
// (bsd) XXXXXXXXCK.
var (
	sampleCapture = filepath.Join("..", "..", "ids", "testdata", "sample.pcap")
	sampleRules   = filepath.Join("..", "..", "ids", "testdata", "sample.rules")
)

// eveRecord is the part of an EVE record the tests look at.
type eveRecord struct {
	FlowID    uint64 `json:"flow_id"`
	PcapCnt   int    `json:"pcap_cnt"`
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   int    `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  int    `json:"dest_port"`
	Proto     string `json:"proto"`
	AppProto  string `json:"app_proto"`
	Alert     struct {
		Action      string `json:"action"`
		SignatureID int    `json:"signature_id"`
		Rev         int    `json:"rev"`
	} `json:"alert"`
	Anomaly struct {
		Type   string `json:"type"`
		Event  string `json:"event"`
		Policy string `json:"policy"`
	} `json:"anomaly"`
}

func readEVE(t *testing.T, path string) []eveRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []eveRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r eveRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// alertLines renders the alerts as "sid proto src:port -> dst:port app
// action #pcap_cnt".
func alertLines(recs []eveRecord) []string {
	var out []string
	for _, r := range recs {
		if r.EventType == "alert" {
			out = append(out, fmt.Sprintf("%d %s %s:%d -> %s:%d %s %s #%d", r.Alert.SignatureID, r.Proto, r.SrcIP, r.SrcPort, r.DestIP, r.DestPort, r.AppProto, r.Alert.Action, r.PcapCnt))
		}
	}
	return out
}

func writeIDSConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInspectRules runs `rampart inspect --rules` on the sample capture
// and checks the exact alerts and events in the EVE output and the
// summary: one alert each for HTTP (the user agent, a response), DNS and
// TLS, and the overlap evasion seen only where the target policy makes
// the host read the signature.
func TestInspectRules(t *testing.T) {
	cfg := writeIDSConfig(t, `ids:
  default: {defrag: bsd, stream: bsd}
  host_policies:
    - {prefix: 10.10.7.10/32, defrag: windows, stream: vista}
    - {prefix: 10.10.7.30/32, defrag: linux}
`)
	eve := filepath.Join(t.TempDir(), "eve.json")
	code, stdout, stderr := runCLI("inspect", "--rules", sampleRules, "--config", cfg, "--eve", eve, sampleCapture)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	recs := readEVE(t, eve)
	want := []string{
		// The number of the frame that completed each: the server's
		// acknowledgement of the request (17), the client's of the
		// response (19), the query itself (23), the acknowledgement of
		// the ClientHello (29) and of the overlapping segments (57), the
		// last fragment (66).
		"1000001 TCP 10.10.0.11:40001 -> 203.0.113.80:80 http allowed #17",
		"1000005 TCP 203.0.113.80:80 -> 10.10.0.11:40001 http allowed #19",
		"1000002 UDP 10.10.0.11:33333 -> 203.0.113.10:53 dns allowed #23",
		"1000003 TCP 10.10.0.11:40003 -> 203.0.113.90:443 tls allowed #29",
		"1000004 TCP 198.51.100.66:41001 -> 10.10.7.20:9000  allowed #57",
		"1000007 UDP 198.51.100.66:42001 -> 10.10.7.30:5555  allowed #66",
	}
	if got := alertLines(recs); !slices.Equal(got, want) {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Each overlap is an event, with its target's policy; the stream
	// evasion's alert is on the bsd target's flow. Fragments belong to
	// no flow yet: their events have no flow_id, and no ports.
	var events []string
	flows := map[string]uint64{}
	for _, r := range recs {
		if (r.FlowID == 0) != (r.Anomaly.Type == "decode") {
			t.Errorf("flow_id %d in %+v", r.FlowID, r)
		}
		if r.EventType == "anomaly" {
			events = append(events, fmt.Sprintf("%s %s %s:%d -> %s:%d policy=%s", r.Anomaly.Type, r.Anomaly.Event, r.SrcIP, r.SrcPort, r.DestIP, r.DestPort, r.Anomaly.Policy))
			flows[r.Anomaly.Type+" "+r.DestIP] = r.FlowID
		}
		if r.EventType == "alert" && r.Alert.SignatureID == 1000004 && r.FlowID != flows["stream 10.10.7.20"] {
			t.Errorf("the evasion's alert has flow_id %d, its overlap event %d", r.FlowID, flows["stream 10.10.7.20"])
		}
	}
	wantEvents := []string{
		"stream stream.overlap_different_data 198.51.100.66:41000 -> 10.10.7.10:9000 policy=vista",
		"stream stream.overlap_different_data 198.51.100.66:41001 -> 10.10.7.20:9000 policy=bsd",
		"decode defrag.overlap 198.51.100.66:0 -> 10.10.7.20:0 policy=bsd",
		"decode defrag.overlap 198.51.100.66:0 -> 10.10.7.30:0 policy=linux",
	}
	if !slices.Equal(events, wantEvents) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(wantEvents, "\n"))
	}
	wantOut := `66 packets (4089 bytes) from 2026-12-07T12:00:00Z to 2026-12-07T12:00:00.065Z, 7 rules
flows: 6 TCP (0 picked up midstream), 4 UDP and other
alerts: 6 (EVE JSON in ` + eve + `)

GID:SID:REV  SIGNATURE                               ALERTS
1:1000001:2  HTTP sqlmap user agent                  1
1:1000002:1  DNS query for a malware domain          1
1:1000003:1  TLS SNI of a blocked host               1
1:1000004:1  Command hidden by overlapping segments  1
1:1000005:1  HTTP admin page served                  1
1:1000007:1  Attack hidden by overlapping fragments  1

12/07/2026-12:00:00.016000  [**] [1:1000001:2] HTTP sqlmap user agent [**] [Classification: Web Application Attack] [Priority: 1] {TCP} 10.10.0.11:40001 -> 203.0.113.80:80
12/07/2026-12:00:00.018000  [**] [1:1000005:1] HTTP admin page served [**] [Classification: access to a potentially vulnerable web application] [Priority: 2] {TCP} 203.0.113.80:80 -> 10.10.0.11:40001
12/07/2026-12:00:00.022000  [**] [1:1000002:1] DNS query for a malware domain [**] [Classification: A Network Trojan was detected] [Priority: 1] {UDP} 10.10.0.11:33333 -> 203.0.113.10:53
12/07/2026-12:00:00.028000  [**] [1:1000003:1] TLS SNI of a blocked host [**] [Classification: Potential Corporate Privacy Violation] [Priority: 1] {TCP} 10.10.0.11:40003 -> 203.0.113.90:443
12/07/2026-12:00:00.056000  [**] [1:1000004:1] Command hidden by overlapping segments [**] [Classification: Attempted Administrator Privilege Gain] [Priority: 1] {TCP} 198.51.100.66:41001 -> 10.10.7.20:9000
12/07/2026-12:00:00.065000  [**] [1:1000007:1] Attack hidden by overlapping fragments [**] [Classification: Attempted Administrator Privilege Gain] [Priority: 1] {UDP} 198.51.100.66:42001 -> 10.10.7.30:5555

events: 4
EVENT                          COUNT
defrag.overlap                 2
stream.overlap_different_data  2

counters:
  IP fragments           6
  datagrams reassembled  2
`
	if stdout != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, wantOut)
	}
	if jq, err := exec.LookPath("jq"); err == nil {
		out, err := exec.Command(jq, "-r", `select(.event_type=="alert") | "\(.alert.signature_id) \(.dest_port)"`, eve).Output()
		if err != nil || string(out) != "1000001 80\n1000005 40001\n1000002 53\n1000003 443\n1000004 9000\n1000007 5555\n" {
			t.Errorf("jq: %v\n%s", err, out)
		}
	}
}

// TestInspectRulesPolicies: the same capture under other target
// policies. With bsd everywhere (no configuration: Suricata's default)
// both stream targets read the signature and neither fragment target
// does; with vista streams and linux fragments everywhere it is the
// other way round.
func TestInspectRulesPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"default bsd", "", []string{"1000004 198.51.100.66:41000 -> 10.10.7.10:9000", "1000004 198.51.100.66:41001 -> 10.10.7.20:9000"}},
		{"vista and linux everywhere", "ids:\n  default: {stream: vista, defrag: linux}\n",
			[]string{"1000007 198.51.100.66:42000 -> 10.10.7.20:5555", "1000007 198.51.100.66:42001 -> 10.10.7.30:5555"}},
		{"first fragments win", "ids:\n  default: {stream: vista, defrag: first}\n", nil},
		{"last fragments win", "ids:\n  default: {stream: vista, defrag: last}\n",
			[]string{"1000007 198.51.100.66:42000 -> 10.10.7.20:5555", "1000007 198.51.100.66:42001 -> 10.10.7.30:5555"}},
		{"vista for one host", "ids:\n  host_policies:\n    - {prefix: 10.10.7.20/32, stream: vista}\n", []string{"1000004 198.51.100.66:41000 -> 10.10.7.10:9000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eve := filepath.Join(t.TempDir(), "eve.json")
			args := []string{"inspect", "--rules", sampleRules, "--eve", eve, sampleCapture}
			if tc.yaml != "" {
				args = append([]string{"--config", writeIDSConfig(t, tc.yaml)}, args...)
			}
			if code, _, stderr := runCLI(args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got []string
			for _, r := range readEVE(t, eve) {
				if r.EventType == "alert" && (r.Alert.SignatureID == 1000004 || r.Alert.SignatureID == 1000007) {
					got = append(got, fmt.Sprintf("%d %s:%d -> %s:%d", r.Alert.SignatureID, r.SrcIP, r.SrcPort, r.DestIP, r.DestPort))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("evasion alerts %q, want %q", got, tc.want)
			}
		})
	}
}

// TestInspectRulesErrors: a rule file with rules the engine does not
// understand loads the rest and names each skipped rule; no --rules and
// no --policy, or an ids section with a mistake, is a usage error.
func TestInspectRulesErrors(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "mixed.rules")
	text := `alert dns any any -> any any (msg:"DNS query for a malware domain"; dns.query; content:"malware.example"; sid:1000002; rev:1;)
alert tcp any any -> any any (msg:"unknown"; content:"x"; frobnicate; sid:9;)
`
	if err := os.WriteFile(rules, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("inspect", "--rules", rules, sampleCapture)
	if code != 0 || stderr != "warning: "+rules+`:2:59: unknown keyword "frobnicate" (rule skipped)`+"\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "alerts: 1\n") || !strings.Contains(stdout, "1:1000002:1  DNS query for a malware domain  1") {
		t.Errorf("stdout:\n%s", stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", sampleCapture}, "rampart: --rules FILE or --policy FILE is required\n"},
		{[]string{"--config", writeIDSConfig(t, "ids:\n  default: {stream: vista2}\n"), "inspect", "--rules", sampleRules, sampleCapture},
			`ids.default.stream: unknown stream policy "vista2"`},
		{[]string{"inspect", "--rules", filepath.Join(t.TempDir(), "none.rules"), sampleCapture}, "--rules: open "},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestInspectRulesChecksums: a capture whose DNS query has a wrong UDP
// checksum still alerts by default (checksums are not checked offline,
// as Suricata's automatic mode does with captures); --checksums verify
// leaves the packet out and counts it.
func TestInspectRulesChecksums(t *testing.T) {
	data, err := os.ReadFile(sampleCapture)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("malware"))
	if i < 0 {
		t.Fatal("no DNS query in the sample")
	}
	// The UDP checksum: the query's 12-byte header, the name's first
	// label length ("update") and the 8-byte UDP header before it.
	data[i-len("update")-1-12-2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad-checksum.pcap")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags     []string
		alert     bool
		wantCount string
	}{
		{nil, true, ""},
		{[]string{"--checksums", "ignore"}, true, ""},
		// Three: the query, and the two fragmented datagrams, whose
		// sender computed the UDP checksum over FRAGATTACK and which bsd
		// (the default) reassembles with the other bytes.
		{[]string{"--checksums", "verify"}, false, "  packets with a wrong checksum  3\n"},
	} {
		args := append(append([]string{"inspect", "--rules", sampleRules}, tc.flags...), bad)
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.flags, code, stderr)
		}
		if got := strings.Contains(stdout, "DNS query for a malware domain"); got != tc.alert {
			t.Errorf("%q: the DNS alert is there: %v, want %v\n%s", tc.flags, got, tc.alert, stdout)
		}
		if tc.wantCount != "" && !strings.Contains(stdout, tc.wantCount) {
			t.Errorf("%q: no %q in\n%s", tc.flags, tc.wantCount, stdout)
		}
	}
}

// TestProgress draws the bar as a capture is read, and none when
// standard output is not a terminal (as under go test).
func TestProgress(t *testing.T) {
	if p := newProgress(sampleCapture, "packets"); p != nil && !isTerminal(os.Stdout) {
		t.Errorf("a progress bar without a terminal")
	}
	var buf bytes.Buffer
	p := &progress{w: &buf, size: 1000, what: "packets", start: time.Now()}
	p.update(10, 250)
	p.update(40, 1000)
	p.done()
	want := "\r[=======                       ]  25.0%  10 packets  0s" +
		"\r[==============================] 100.0%  40 packets  0s\n"
	if buf.String() != want {
		t.Errorf("bar %q, want %q", buf.String(), want)
	}
}

// TestInspectRulesTTL: the sample's overlap evasion against the vista
// host (10.10.7.10), with its "XXX" segment given TTL 2, is a TTL
// evasion when the host is two routers away: the host never receives
// XXX and reads EVILCMD!. Configured so (hops: 2), inspect leaves the
// segment out, raises stream.ttl_evasion on the flow, and alerts on the
// vista host too; without hops it sees what a naive engine sees.
func TestInspectRulesTTL(t *testing.T) {
	data, err := os.ReadFile(sampleCapture)
	if err != nil {
		t.Fatal(err)
	}
	vista := []byte{10, 10, 7, 10}
	patched := 0
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("XXX"))
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		// An IPv4 header without options and a TCP header without
		// options before the payload, to the vista host.
		ip := i - 40
		if ip < 0 || data[ip] != 0x45 || data[ip+9] != 6 || !bytes.Equal(data[ip+16:ip+20], vista) {
			continue
		}
		data[ip+8] = 2
		data[ip+10], data[ip+11] = 0, 0
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(data[ip+j])<<8 | uint32(data[ip+j+1])
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		data[ip+10], data[ip+11] = byte(^sum>>8), byte(^sum)
		patched++
	}
	if patched != 1 {
		t.Fatalf("%d segments patched, want the one XXX to the vista host", patched)
	}
	capture := filepath.Join(t.TempDir(), "ttl-evasion.pcap")
	if err := os.WriteFile(capture, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hops   string
		alerts []string
		events []string
	}{
		{"", []string{"1000004 198.51.100.66:41001 -> 10.10.7.20:9000"}, nil},
		{", hops: 2", []string{"1000004 198.51.100.66:41000 -> 10.10.7.10:9000", "1000004 198.51.100.66:41001 -> 10.10.7.20:9000"},
			[]string{"stream stream.ttl_evasion 198.51.100.66:41000 -> 10.10.7.10:9000"}},
	} {
		cfg := writeIDSConfig(t, "ids:\n  host_policies:\n    - {prefix: 10.10.7.10/32, stream: vista"+tc.hops+"}\n")
		eve := filepath.Join(t.TempDir(), "eve.json")
		code, stdout, stderr := runCLI("inspect", "--rules", sampleRules, "--config", cfg, "--eve", eve, capture)
		if code != 0 || stderr != "" {
			t.Fatalf("hops %q: exit %d, stderr %q", tc.hops, code, stderr)
		}
		var alerts, events []string
		alertFlow := map[string]uint64{}
		var evasionFlow uint64
		for _, r := range readEVE(t, eve) {
			switch {
			case r.EventType == "alert" && r.Alert.SignatureID == 1000004:
				alerts = append(alerts, fmt.Sprintf("%d %s:%d -> %s:%d", r.Alert.SignatureID, r.SrcIP, r.SrcPort, r.DestIP, r.DestPort))
				alertFlow[r.DestIP] = r.FlowID
			case r.EventType == "anomaly" && r.Anomaly.Event == "stream.ttl_evasion":
				events = append(events, fmt.Sprintf("%s %s %s:%d -> %s:%d", r.Anomaly.Type, r.Anomaly.Event, r.SrcIP, r.SrcPort, r.DestIP, r.DestPort))
				evasionFlow = r.FlowID
			}
		}
		if !slices.Equal(alerts, tc.alerts) || !slices.Equal(events, tc.events) {
			t.Errorf("hops %q: alerts %q, want %q; events %q, want %q", tc.hops, alerts, tc.alerts, events, tc.events)
		}
		if tc.events != nil {
			if evasionFlow == 0 || evasionFlow != alertFlow["10.10.7.10"] {
				t.Errorf("the event's flow_id %d, the alert's %d", evasionFlow, alertFlow["10.10.7.10"])
			}
			if !strings.Contains(stdout, "stream.ttl_evasion             1\n") || !strings.Contains(stdout, "  packets that expire before their host  1\n") {
				t.Errorf("the summary does not count the event and the packet:\n%s", stdout)
			}
		}
	}
}

// TestInspectCPUProfile checks the hidden --cpuprofile flag that
// bench/ids profiles the engine with: the report is the same as without
// it, the profile is written (gzipped, as pprof writes it), and the flag
// stays out of the help.
func TestInspectCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	code, stdout, stderr := runCLI("inspect", "--cpuprofile", prof, "--rules", sampleRules, sampleCapture)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	_, plain, _ := runCLI("inspect", "--rules", sampleRules, sampleCapture)
	if stdout != plain {
		t.Errorf("with --cpuprofile:\n%s\nwithout:\n%s", stdout, plain)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("the profile is not gzipped data: % x", b[:min(len(b), 8)])
	}
	if _, help, _ := runCLI("inspect", "--help"); strings.Contains(help, "cpuprofile") {
		t.Errorf("--help shows the hidden flag:\n%s", help)
	}
	code, _, stderr = runCLI("inspect", "--cpuprofile", filepath.Join(t.TempDir(), "no", "cpu.prof"), "--rules", sampleRules, sampleCapture)
	if code == 0 || !strings.Contains(stderr, "cpu.prof") {
		t.Errorf("an unwritable profile: exit %d, stderr %q", code, stderr)
	}
}
