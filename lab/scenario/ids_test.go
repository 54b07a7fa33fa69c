package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// idsLabRules are the rules of the inline-against-offline test: one on an
// HTTP buffer (the client's User-Agent), one on the TCP stream.
const idsLabRules = `alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"lab probe user agent"; flow:established,to_server; http.user_agent; content:"rampart-lab-probe"; sid:9000001; rev:1;)
alert tcp $HOME_NET any -> $EXTERNAL_NET 7 (msg:"lab secret over echo"; flow:to_server; content:"secret-token"; sid:9000002; rev:1;)
`

// alertKey is what an EVE alert says about which rule fired on which flow.
type alertKey struct {
	SID              int
	Src, Dst         string
	SrcPort, DstPort int
}

func readAlerts(t *testing.T, path string) []alertKey {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []alertKey
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			EventType string `json:"event_type"`
			SrcIP     string `json:"src_ip"`
			DestIP    string `json:"dest_ip"`
			SrcPort   int    `json:"src_port"`
			DestPort  int    `json:"dest_port"`
			Alert     struct {
				SignatureID int `json:"signature_id"`
			} `json:"alert"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		if rec.EventType == "alert" {
			out = append(out, alertKey{rec.Alert.SignatureID, rec.SrcIP, rec.DestIP, rec.SrcPort, rec.DestPort})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b alertKey) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}

// TestIDSInlineMatchesOffline is issue 11's "a capture written by tcpdump
// gives the same alerts offline as the same traffic inline": rampart's
// gateway on fw runs the IDS in line (detection mode) while client1 talks
// to web (an HTTP request with the probe's User-Agent, a TCP echo carrying
// the secret), tcpdump captures fw's wan link, and `rampart inspect
// --rules` over that capture must report the same alerts, rule for rule
// and flow for flow, as the gateway wrote.
func TestIDSInlineMatchesOffline(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("skipping: tcpdump is not installed (make deps installs it)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	rules := filepath.Join(dir, "lab.rules")
	if err := os.WriteFile(rules, []byte(idsLabRules), 0o600); err != nil {
		t.Fatal(err)
	}
	inlineEVE := filepath.Join(dir, "inline.json")
	config := fmt.Sprintf("  workers: 1\nids:\n  rules: [%s]\n  mode: detect\n  eve: %s\n", rules, inlineEVE)
	g, err := StartGatewayConfig(ctx, l, rampartBin, dir, GatewayPolicy, config)
	if err != nil {
		t.Fatal(err)
	}
	gatewayUp := true
	defer func() {
		if gatewayUp {
			g.Stop()
		}
	}()

	pcap := filepath.Join(dir, "fw-wan.pcap")
	dump, err := l.Host("fw").Start("tcpdump", "tcpdump", "-i", "wan", "-U", "-n", "-s", "0", "-w", pcap)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // tcpdump opens its socket

	// web serves HTTP and TCP echo.
	var hl net.Listener
	if err := l.Host("web").Do(func() (err error) { hl, err = net.Listen("tcp4", ":8088"); return }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello from web") })}
	go srv.Serve(hl)
	defer srv.Close()
	stop, err := StartEcho(l.Host("web"), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	web := l.Addr("web", 4)
	for i := 0; i < 2; i++ {
		out, err := l.Host("client1").Run(ctx, "curl", "-sS", "--max-time", "5", "-A", "rampart-lab-probe/1.0", fmt.Sprintf("http://%s:8088/page%d", web, i))
		if err != nil || !strings.Contains(string(out), "hello from web") {
			t.Fatalf("curl: %v: %s", err, out)
		}
		if _, err := TCPEcho(ctx, l.Host("client1"), netip.AddrPortFrom(web, 7), []byte("here is the secret-token, twice")); err != nil {
			t.Fatalf("echo: %v", err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	dump.Signal(2) // SIGINT: tcpdump writes what it holds and exits
	select {
	case <-dump.Done():
	case <-time.After(5 * time.Second):
		dump.Stop()
	}
	g.Stop() // the engine flushes its flows and the EVE file
	gatewayUp = false

	offlineEVE := filepath.Join(dir, "offline.json")
	out, err := exec.Command(rampartBin, "inspect", "--rules", rules, "--eve", offlineEVE, pcap).CombinedOutput()
	if err != nil {
		t.Fatalf("rampart inspect --rules: %v\n%s", err, out)
	}
	t.Logf("rampart inspect:\n%s", out)
	inline, offline := readAlerts(t, inlineEVE), readAlerts(t, offlineEVE)
	t.Logf("inline alerts: %v", inline)
	t.Logf("offline alerts: %v", offline)
	sids := map[int]int{}
	for _, a := range inline {
		sids[a.SID]++
	}
	if sids[9000001] != 2 || sids[9000002] != 2 {
		t.Errorf("inline: alerts by rule %v, want 2 of 9000001 (the probe's requests) and 2 of 9000002 (the echoes)", sids)
	}
	if !slices.Equal(inline, offline) {
		t.Errorf("the capture's alerts offline differ from the gateway's inline:\ninline  %v\noffline %v", inline, offline)
	}
}
