package applayer

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/ipproto"
)

// benchTraffic is the generated corpus arranged as flows: HTTP
// keep-alive connections of several exchanges each (requests and
// responses of the corpus paired in order), DNS exchanges over UDP, TLS
// connections opening with a ClientHello.
type benchTraffic struct {
	http  []httpConn
	dns   [][2][]byte
	tls   [][]byte
	bytes int
	txs   int // transactions the traffic holds
}

type httpConn struct {
	req, resp []byte
	n         int
}

const exchangesPerConn = 8

func newBenchTraffic(n int) *benchTraffic {
	var reqs, resps, queries, answers, hellos [][]byte
	for _, p := range traffic.Corpus(n, 42) {
		switch {
		case p[0] == 0x16 && p[1] == 3 && p[5] == 1:
			hellos = append(hellos, p)
		case bytes.HasPrefix(p, []byte("HTTP/")):
			resps = append(resps, p)
		case p[0] >= 'A' && p[0] <= 'Z' && bytes.Contains(p[:8], []byte(" /")):
			reqs = append(reqs, p)
		case p[2]&0x80 != 0:
			answers = append(answers, p)
		default:
			queries = append(queries, p)
		}
	}
	bt := &benchTraffic{}
	for i := 0; i < len(reqs); i += exchangesPerConn {
		var c httpConn
		for j := i; j < min(i+exchangesPerConn, len(reqs)); j++ {
			c.req = append(c.req, reqs[j]...)
			r := resps[j%len(resps)]
			if bytes.HasPrefix(reqs[j], []byte("HEAD ")) {
				// The answer to a HEAD has the head only.
				r = r[:bytes.Index(r, []byte("\r\n\r\n"))+4]
			}
			c.resp = append(c.resp, r...)
			c.n++
		}
		bt.http = append(bt.http, c)
		bt.bytes += len(c.req) + len(c.resp)
		bt.txs += 2 * c.n
	}
	for i, q := range queries {
		a := answers[i%len(answers)]
		bt.dns = append(bt.dns, [2][]byte{q, a})
		bt.bytes += len(q) + len(a)
		bt.txs += 2
	}
	for _, h := range hellos {
		bt.tls = append(bt.tls, h)
		bt.bytes += len(h)
		bt.txs++
	}
	return bt
}

var (
	benchHTTPKey = flow.Key{Src: netip.MustParseAddrPort("192.168.1.10:50000"), Dst: netip.MustParseAddrPort("203.0.113.80:80"), Proto: ipproto.TCP}
	benchTLSKey  = flow.Key{Src: netip.MustParseAddrPort("192.168.1.10:50001"), Dst: netip.MustParseAddrPort("203.0.113.80:443"), Proto: ipproto.TCP}
	benchDNSKey  = flow.Key{Src: netip.MustParseAddrPort("192.168.1.10:50002"), Dst: netip.MustParseAddrPort("203.0.113.53:53"), Proto: ipproto.UDP}
)

// counter is a Handler that counts.
type counter struct{ txs, events, bytes int }

func (c *counter) Transaction(f *Flow, tx *Tx) {
	c.txs++
	for id := range buffer.Count {
		if b, ok := tx.Buffers.Get(id); ok {
			c.bytes += len(b)
		}
	}
}
func (c *counter) Event(f *Flow, ev Event) { c.events++ }

// segments feeds b in pieces of at most mss bytes.
func segments(w *Worker, f *Flow, dir buffer.Direction, b []byte, mss int, h Handler) {
	for len(b) > 0 {
		n := min(mss, len(b))
		w.Stream(f, dir, b[:n], h)
		b = b[n:]
	}
}

// replay runs the traffic once: every flow new, segmented at a typical
// MSS, and released.
func (bt *benchTraffic) replay(p *Parsers, w *Worker, h Handler) {
	const mss = 1448
	for _, c := range bt.http {
		f := p.NewFlow(benchHTTPKey)
		segments(w, f, buffer.ToServer, c.req, mss, h)
		segments(w, f, buffer.ToClient, c.resp, mss, h)
		w.Close(f, buffer.ToServer, h)
		w.Close(f, buffer.ToClient, h)
		p.Release(f)
	}
	for _, x := range bt.dns {
		f := p.NewFlow(benchDNSKey)
		w.Datagram(f, buffer.ToServer, x[0], h)
		w.Datagram(f, buffer.ToClient, x[1], h)
		p.Release(f)
	}
	for _, x := range bt.tls {
		f := p.NewFlow(benchTLSKey)
		w.Stream(f, buffer.ToServer, x, h)
		p.Release(f)
	}
}

// BenchmarkParse is the parsers' throughput on the generated traffic:
// protocol detection, parsing, normalisation and the buffer.Set of every
// transaction, with new flows (from the pool) for every connection.
func BenchmarkParse(b *testing.B) {
	bt := newBenchTraffic(2000)
	p := mustNew(b, Config{})
	w := p.NewWorker()
	h := &counter{}
	bt.replay(p, w, h) // warm the pools
	if h.txs != bt.txs || h.events != 0 {
		b.Fatalf("%d transactions (want %d), %d events", h.txs, bt.txs, h.events)
	}
	b.SetBytes(int64(bt.bytes))
	b.ReportAllocs()
	stop := benchcpu.StartBytes(b, bt.bytes)
	for b.Loop() {
		bt.replay(p, w, h)
	}
	stop()
	b.ReportMetric(float64(bt.txs), "tx/op")
}

// BenchmarkHTTPKeepAlive is one long keep-alive connection: the cost
// per exchange once the flow's buffers are warm.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	bt := newBenchTraffic(2000)
	c := bt.http[0]
	p := mustNew(b, Config{})
	w := p.NewWorker()
	h := &counter{}
	f := p.NewFlow(benchHTTPKey)
	segments(w, f, buffer.ToServer, c.req, 1448, h)
	segments(w, f, buffer.ToClient, c.resp, 1448, h)
	b.SetBytes(int64(len(c.req) + len(c.resp)))
	b.ReportAllocs()
	stop := benchcpu.StartBytes(b, len(c.req)+len(c.resp))
	for b.Loop() {
		segments(w, f, buffer.ToServer, c.req, 1448, h)
		segments(w, f, buffer.ToClient, c.resp, 1448, h)
	}
	stop()
	b.ReportMetric(float64(2*c.n), "tx/op")
	if h.events != 0 {
		b.Fatalf("%d events", h.events)
	}
}

// BenchmarkGzipResponse is a gzip-compressed response of 30 KB of HTML.
func BenchmarkGzipResponse(b *testing.B) {
	page := bytes.Repeat([]byte("<div class=\"item\"><a href=\"/p/123\">product name</a> <span>$9.99</span></div>\n"), 400)
	resp := response("gzip", gz(page))
	reqs := []byte("GET /list HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	p := mustNew(b, Config{})
	w := p.NewWorker()
	h := &counter{}
	f := p.NewFlow(benchHTTPKey)
	b.SetBytes(int64(len(reqs) + len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		w.Stream(f, buffer.ToServer, reqs, h)
		segments(w, f, buffer.ToClient, resp, 1448, h)
	}
	b.ReportMetric(float64(len(page)), "decoded-bytes/op")
}

// TestSteadyStateAllocs: once pools and buffers are warm, parsing the
// traffic allocates nothing: not per transaction, not per flow.
func TestSteadyStateAllocs(t *testing.T) {
	bt := newBenchTraffic(400)
	p := mustNew(t, Config{})
	w := p.NewWorker()
	h := &counter{}
	bt.replay(p, w, h)
	bt.replay(p, w, h)
	if a := testing.AllocsPerRun(20, func() { bt.replay(p, w, h) }); a > 1 {
		t.Errorf("%.1f allocations per pass over %d transactions", a, bt.txs)
	}
	if used := p.MemoryInUse(); used != 0 {
		t.Errorf("memory in use after all flows were released: %d", used)
	}
	st := w.Stats()
	passes := uint64(23) // two warm-ups, AllocsPerRun's warm-up and its 20 runs
	if got := st.Transactions[buffer.AppHTTP] + st.Transactions[buffer.AppDNS] + st.Transactions[buffer.AppTLS]; got != passes*uint64(bt.txs) {
		t.Errorf("counted %d transactions, want %d", got, passes*uint64(bt.txs))
	}
	if st.Flows[buffer.AppNone] != 0 || st.Flows[buffer.AppTLS] != passes*uint64(len(bt.tls)) {
		t.Errorf("flows by protocol: %v", st.Flows)
	}
}
