package ids

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ids/stream"
)

// recorder is an Output that keeps everything, as lines.
type recorder struct {
	mu     sync.Mutex
	alerts []string
	events []string
}

func (r *recorder) Alert(a Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, fmt.Sprintf("%d %v %s %s blocked=%v", a.Rule.SID, a.Key, a.App, a.Rule.Msg, a.Blocked))
}

func (r *recorder) Event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %v policy=%s", e.Layer, e.Name, e.Key, e.Policy))
}

// sameLines fails t unless got and want are the same lines.
func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func loadRules(t testing.TB, path string) *detect.Engine {
	t.Helper()
	set := rules.LoadFiles([]string{path}, rules.DefaultVars())
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	eng, err := detect.Compile(set, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// sampleConfig is the configuration the sample capture is inspected
// with: bsd by default, vista streams for the first overlap target,
// linux fragments for the third.
func sampleConfig(t testing.TB, out Output) Config {
	pol := stream.NewHostPolicies(stream.BSD)
	pol.Set(netip.PrefixFrom(vistaHost.Addr(), 32), stream.Vista)
	frag := defrag.NewHostPolicies(defrag.BSD)
	frag.Set(netip.PrefixFrom(linuxHost, 32), defrag.Linux)
	return Config{Rules: loadRules(t, "testdata/sample.rules"), Stream: stream.Config{Policies: pol}, Defrag: defrag.Config{Policies: frag}, Output: out}
}

func TestSample(t *testing.T) {
	rec := &recorder{}
	e, err := New(sampleConfig(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	frames := sampleCapture()
	for _, f := range frames {
		if v := w.Process(f.Data, datapath.LinkTypeEthernet, f.Time); v != Pass {
			t.Errorf("verdict %v in detection mode", v)
		}
	}
	e.Flush(frames[len(frames)-1].Time)
	want := []string{
		"1000001 tcp 10.10.0.11:40001 -> 203.0.113.80:80 http HTTP sqlmap user agent blocked=false",
		"1000005 tcp 203.0.113.80:80 -> 10.10.0.11:40001 http HTTP admin page served blocked=false",
		"1000002 udp 10.10.0.11:33333 -> 203.0.113.10:53 dns DNS query for a malware domain blocked=false",
		"1000003 tcp 10.10.0.11:40003 -> 203.0.113.90:443 tls TLS SNI of a blocked host blocked=false",
		"1000004 tcp 198.51.100.66:41001 -> 10.10.7.20:9000  Command hidden by overlapping segments blocked=false",
		"1000007 udp 198.51.100.66:42001 -> 10.10.7.30:5555  Attack hidden by overlapping fragments blocked=false",
	}
	sameLines(t, "alerts", rec.alerts, want)
	wantEvents := []string{
		"stream overlap_different_data tcp 198.51.100.66:41000 -> 10.10.7.10:9000 policy=vista",
		"stream overlap_different_data tcp 198.51.100.66:41001 -> 10.10.7.20:9000 policy=bsd",
		"decode overlap udp 198.51.100.66:0 -> 10.10.7.20:0 policy=bsd",
		"decode overlap udp 198.51.100.66:0 -> 10.10.7.30:0 policy=linux",
	}
	sameLines(t, "events", rec.events, wantEvents)
	st := e.Stats()
	if st.Packets != uint64(len(frames)) || st.TCPFlows != 6 || st.OtherFlows != 4 || st.Alerts != 6 || st.Events[LayerStream] != 2 ||
		st.Events[LayerDecode] != 2 || st.Fragments != 6 || st.Reassembled != 2 {
		t.Errorf("stats: %d packets, %d TCP and %d other flows, %d alerts, %v events, %d fragments, %d datagrams",
			st.Packets, st.TCPFlows, st.OtherFlows, st.Alerts, st.Events, st.Fragments, st.Reassembled)
	}
	if st.Stream.Active != 0 || st.Flows.Active != 0 || st.AppMemory != 0 {
		t.Errorf("after Flush: %d TCP and %d other flows, %d bytes of parser memory", st.Stream.Active, st.Flows.Active, st.AppMemory)
	}
}

// TestChecksums: a DNS query with a wrong UDP checksum is inspected by
// default, as Suricata does with captures, and left out when checksums
// are verified.
func TestChecksums(t *testing.T) {
	var frame []byte
	var at time.Time
	for _, f := range sampleCapture() {
		if strings.Contains(string(f.Data), "malware") {
			frame, at = slices.Clone(f.Data), f.Time
		}
	}
	frame[14+20+6] ^= 0xff // the UDP checksum
	for _, verify := range []bool{false, true} {
		rec := &recorder{}
		cfg := sampleConfig(t, rec)
		cfg.VerifyChecksums = verify
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.NewWorker().Process(frame, datapath.LinkTypeEthernet, at)
		e.Flush(at)
		st := e.Stats()
		if verify && (len(rec.alerts) != 0 || st.BadChecksum != 1) || !verify && (len(rec.alerts) != 1 || st.BadChecksum != 0) {
			t.Errorf("verify %v: alerts %q, %d bad checksums", verify, rec.alerts, st.BadChecksum)
		}
	}
}

// TestFlowBounds: the flows of other protocols than TCP are bounded (the
// least recently active goes when a shard is full) and timed out, and
// both are counted; a flow ended either way releases its parser state.
func TestFlowBounds(t *testing.T) {
	e, err := New(Config{MaxFlows: flowShards, UDPTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	c := traffic.NewCapture(sampleT0)
	for i := range 200 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 5353)
		c.UDP(src, resolver, traffic.DNSQuery(uint16(i), "www.example.com"))
	}
	for _, f := range c.Frames {
		w.Process(f.Data, datapath.LinkTypeEthernet, f.Time)
	}
	st := e.Stats()
	if st.Flows.Flows != 200 || st.Flows.Active > flowShards || st.Flows.Evicted != uint64(200-st.Flows.Active) {
		t.Errorf("after 200 flows in a table of %d: %+v", flowShards, st.Flows)
	}
	if st.App.Transactions[buffer.AppDNS] != 200 {
		t.Errorf("%d DNS transactions, want 200", st.App.Transactions[buffer.AppDNS])
	}
	e.Sweep(sampleT0.Add(11 * time.Second))
	st = e.Stats()
	if st.Flows.Active != 0 || st.Flows.TimedOut+st.Flows.Evicted != 200 || st.AppMemory != 0 {
		t.Errorf("after the time-out: %+v, %d bytes of parser memory", st.Flows, st.AppMemory)
	}
}

// TestICMPAlert: an alert on an ICMP packet carries its type and code,
// which EVE writes in place of ports.
func TestICMPAlert(t *testing.T) {
	set := rules.Parse("icmp.rules", []byte(`alert icmp any any -> any any (msg:"ping with a payload"; itype:8; content:"probe"; sid:5; rev:1;)`), nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	eng, err := detect.Compile(set, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []Alert
	out := outputFunc(func(a Alert) { alerts = append(alerts, a) })
	e, err := New(Config{Rules: eng, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	c := traffic.NewCapture(sampleT0)
	c.ICMPEcho(attacker, client, 77, 1, []byte("a probe"))
	e.NewWorker().Process(c.Frames[0].Data, datapath.LinkTypeEthernet, c.Frames[0].Time)
	if len(alerts) != 1 || !alerts[0].ICMP || alerts[0].ICMPType != 8 || alerts[0].ICMPCode != 0 || alerts[0].FlowID == 0 ||
		alerts[0].Key.String() != "icmp 198.51.100.66 -> 10.10.0.11 id 77" {
		t.Errorf("alerts %+v", alerts)
	}
}

// outputFunc is an Output of alerts only.
type outputFunc func(Alert)

func (f outputFunc) Alert(a Alert) { f(a) }
func (outputFunc) Event(Event)     {}
