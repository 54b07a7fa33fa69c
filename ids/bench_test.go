package ids

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/internal/benchcpu"
)

// benchCapture is the benchmark's traffic as frames: each payload of the
// corpus in a connection of its own (HTTP requests and responses, TLS
// ClientHellos; segments of at most 1460 bytes, acknowledged, closed),
// DNS over UDP.
func benchCapture() ([]traffic.Frame, int) {
	c := traffic.NewCapture(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	payload := 0
	var req []byte
	for i, p := range traffic.Corpus(600, 1) {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 10, byte(i >> 8), byte(i)}), uint16(40000+i%20000))
		payload += len(p)
		switch {
		case p[0] == 0x16:
			h := c.TCP(cli, netip.MustParseAddrPort("203.0.113.90:443"))
			h.Send(0, p, 1460)
			h.Close()
		case bytes.HasPrefix(p, []byte("HTTP/")):
			if req == nil {
				continue
			}
			h := c.TCP(cli, netip.MustParseAddrPort("203.0.113.80:80"))
			h.Send(0, req, 1460)
			h.Send(1, p, 1460)
			h.Close()
			payload += len(req)
		case bytes.HasPrefix(p, []byte("HEAD ")):
			payload -= len(p) // answered with a body by the corpus: garbage to a parser
		case bytes.Contains(p[:min(len(p), 12)], []byte(" /")):
			req = p
			payload -= len(p) // sent with the next response
		default:
			c.UDP(cli, netip.MustParseAddrPort("203.0.113.10:53"), p)
		}
	}
	return c.Frames, payload
}

// contentRules renders n content rules over the benchmark's patterns, as
// ids/detect's benchmark does.
func contentRules(tb testing.TB, n int) *detect.Engine {
	var b strings.Builder
	for i, p := range traffic.Patterns(n, uint64(n)) {
		fmt.Fprintf(&b, "alert tcp any any -> any any (msg:\"bench %d\"; content:\"|", i)
		for _, c := range p.Bytes {
			fmt.Fprintf(&b, "%02x", c)
		}
		b.WriteString("|\";")
		if p.Nocase {
			b.WriteString(" nocase;")
		}
		fmt.Fprintf(&b, " sid:%d;)\n", i+1)
	}
	return compileRules(tb, b.String())
}

// warmRounds is how many times the capture goes through before the
// steady state is measured: the pools of flows, buffers and parser state
// fill and the tables reach their size. A pooled flow's buffers grow to
// the largest message it has carried, and which pooled flow carries
// which connection varies from round to round, so growth dies out over
// tens of rounds.
const warmRounds = 40

// BenchmarkEngine runs the whole pipeline (decode, reassembly, the
// parsers, detection) over the benchmark's capture with 100, 1,000 and
// 10,000 content rules; each round is the capture again, an hour later.
// It reports the payload's bytes per second of the thread's CPU time
// (cpu-MB/s: the per-core throughput on a shared machine) and
// allocations per packet.
func BenchmarkEngine(b *testing.B) {
	frames, payload := benchCapture()
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			benchEngine(b, frames, payload, n, warmRounds)
		})
	}
}

// flowsCapture is traffic of many short flows other than TCP, as a busy
// network's resolvers and pings make: flows DNS lookups (query and
// answer, each from a port of its own) and, one in eight, ICMP echoes, a
// flow every 2ms of capture clock, so that about 30,000 flows are live at
// once (the UDP time-out, 60s) while as many open and time out over the
// capture.
func flowsCapture(flows int) ([]traffic.Frame, int) {
	c := traffic.NewCapture(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	srv := netip.MustParseAddrPort("203.0.113.10:53")
	payload := 0
	for i := range flows {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20 + byte(i>>16), byte(i >> 8), byte(i)}), uint16(1024+i%60000))
		if i%8 == 7 {
			data := []byte("abcdefghijklmnopqrstuvwabcdefghi")
			c.ICMPEcho(cli.Addr(), srv.Addr(), uint16(i), 1, data)
			c.ICMPEcho(cli.Addr(), srv.Addr(), uint16(i), 2, data)
			payload += 2 * len(data)
			continue
		}
		q := traffic.DNSQuery(uint16(i), fmt.Sprintf("host%d.example.com", i))
		a := append([]byte(nil), q...)
		a[2], a[3] = 0x81, 0x80 // an answer without records: NOERROR, NODATA
		c.UDP(cli, srv, q)
		c.UDP(srv, cli, a)
		payload += len(q) + len(a)
	}
	return c.Frames, payload
}

// BenchmarkEngineFlows is BenchmarkEngine over flowsCapture: the cost of
// following flows (their set-up, time-outs and tear-down) rather than of
// matching, with 100 rules.
func BenchmarkEngineFlows(b *testing.B) {
	frames, payload := flowsCapture(60000)
	b.Run("rules=100", func(b *testing.B) {
		benchEngine(b, frames, payload, 100, 3)
	})
}

// benchEngine measures an engine with n content rules over frames, after
// warm rounds.
func benchEngine(b *testing.B, frames []traffic.Frame, payload, n, warm int) {
	e, err := New(Config{Rules: contentRules(b, n)})
	if err != nil {
		b.Fatal(err)
	}
	w := e.NewWorker()
	round := func(r int) {
		shift := time.Duration(r) * time.Hour
		for _, f := range frames {
			w.Process(f.Data, datapath.LinkTypeEthernet, f.Time.Add(shift))
		}
	}
	for r := range warm { // the pools fill, the tables grow
		round(r)
	}
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.StartBytes(b, payload)
	for i := 0; i < b.N; i++ {
		round(warm + i)
	}
	b.StopTimer()
	stop()
	st := e.Stats()
	b.ReportMetric(float64(st.Alerts)/float64(warm+b.N), "alerts/op")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() { round(warm + b.N + 1) }))/float64(len(frames)), "allocs/packet")
}

// TestProcessAllocs holds the engine's per-packet path at zero
// allocations: packets of established flows (an HTTP keep-alive
// connection with requests and responses of the benchmark's corpus, DNS
// queries and answers on one UDP flow) reassembled, parsed and inspected
// against 1,000 rules. The first half of the traffic warms the buffers;
// the second half must not allocate.
func TestProcessAllocs(t *testing.T) {
	c := traffic.NewCapture(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	h := c.TCP(netip.MustParseAddrPort("10.10.0.11:40000"), netip.MustParseAddrPort("203.0.113.80:80"))
	cli, dns := netip.MustParseAddrPort("10.10.0.11:33333"), netip.MustParseAddrPort("203.0.113.10:53")
	var req []byte
	for _, p := range traffic.Corpus(2000, 3) {
		switch {
		case bytes.HasPrefix(p, []byte("HTTP/")):
			if req != nil {
				h.Send(0, req, 1460)
				h.Send(1, p, 1460)
			}
		case bytes.HasPrefix(p, []byte("HEAD ")):
			// The corpus answers HEAD with a body, which the parser
			// rightly takes for garbage.
		case bytes.Contains(p[:min(len(p), 12)], []byte(" /")):
			req = p
		case p[0] != 0x16:
			if p[2]&0x80 == 0 {
				c.UDP(cli, dns, p)
			} else {
				c.UDP(dns, cli, p)
			}
		}
	}
	frames := c.Frames
	e, err := New(Config{Rules: contentRules(t, 1000)})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	half := len(frames) / 2
	for _, f := range frames[:half] {
		w.Process(f.Data, datapath.LinkTypeEthernet, f.Time)
	}
	i := half
	n := testing.AllocsPerRun(len(frames)-half-1, func() {
		f := frames[i]
		w.Process(f.Data, datapath.LinkTypeEthernet, f.Time)
		i++
	})
	if n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
	st := e.Stats()
	if st.Alerts == 0 || st.App.Transactions[buffer.AppHTTP] < 100 || st.App.Transactions[buffer.AppDNS] < 100 || st.TCPFlows != 1 || st.OtherFlows != 1 {
		t.Errorf("the traffic raised %d alerts, %d HTTP and %d DNS transactions in %d TCP and %d other flows",
			st.Alerts, st.App.Transactions[buffer.AppHTTP], st.App.Transactions[buffer.AppDNS], st.TCPFlows, st.OtherFlows)
	}
}
