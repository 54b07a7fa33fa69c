package applayer

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
)

// fuzzConfig has small bounds, so that the fuzzer reaches them.
var fuzzConfig = Config{
	RequestBodyLimit:  128,
	ResponseBodyLimit: 128,
	MaxLine:           64,
	MaxHeaders:        8,
	MaxHeadSize:       512,
	MaxPending:        4,
	MaxClientHello:    256,
	ProbeLimit:        128,
	Memcap:            16 << 10,
}

// checker is a Handler that checks every transaction against the
// bounds, and records what it saw.
type checker struct {
	t *testing.T
	p *Parsers
	recorder
}

func (c *checker) Transaction(f *Flow, tx *Tx) {
	cfg := c.p.cfg
	limits := map[buffer.ID]int{
		buffer.HTTPRequestBody: cfg.RequestBodyLimit,
		buffer.FileData:        cfg.ResponseBodyLimit,
		buffer.DNSQuery:        maxName - 2,
		buffer.TLSSNI:          cfg.MaxClientHello,
		buffer.HTTPURIRaw:      cfg.MaxLine,
		buffer.HTTPURI:         cfg.MaxLine,
		buffer.HTTPHeaderRaw:   cfg.MaxHeadSize,
		// "Name: value\r\n" per line: the head's bytes, plus ": " and a
		// CR for each line without a colon or CR.
		buffer.HTTPHeader: cfg.MaxHeadSize + 4*(cfg.MaxHeaders+1),
	}
	for id, max := range limits {
		if b, ok := tx.Buffers.Get(id); ok && len(b) > max {
			c.t.Fatalf("%s is %d bytes, over %d", id, len(b), max)
		}
	}
	if tx.App == buffer.AppNone || tx.Buffers == nil {
		c.t.Fatalf("transaction of no protocol, or without buffers")
	}
	if used := c.p.MemoryInUse(); used > cfg.Memcap {
		c.t.Fatalf("memory in use %d over the cap %d", used, cfg.Memcap)
	}
	c.recorder.Transaction(f, tx)
}

func (c *checker) Event(f *Flow, ev Event) {
	if ev.Kind == KindNone || ev.Kind >= numKinds {
		c.t.Fatalf("event of kind %d", ev.Kind)
	}
	c.recorder.Event(f, ev)
}

// fuzzStream drives one flow from a fuzzer's input, twice: as the input
// cuts it, and with every piece of data cut again in two. Both runs must
// stay within the bounds and see the same transactions and events.
func fuzzStream(t *testing.T, key flow.Key, in []byte) {
	cfg := fuzzConfig
	fuzzOnce(t, key, cfg, in, false)
	// The memory cap depends on how buffers grew, which depends on the
	// cuts: compare with a cap that is never reached.
	cfg.Memcap = 1 << 30
	whole := fuzzOnce(t, key, cfg, in, false)
	cut := fuzzOnce(t, key, cfg, in, true)
	if whole != cut {
		t.Fatalf("cutting the data changed the result:\n%s\nwhole:\n%s", cut, whole)
	}
}

// fuzzOnce runs the operations of in: each a byte (bits 0-1: to_server
// data, to_client data, a gap, a close, the rest of the input as data;
// bit 0 also the direction of a gap or close), a length byte and, for
// data, that many bytes.
func fuzzOnce(t *testing.T, key flow.Key, cfg Config, in []byte, cut bool) string {
	p := mustNew(t, cfg)
	w := p.NewWorker()
	c := &checker{t: t, p: p}
	f := p.NewFlow(key)
	feed := func(dir buffer.Direction, b []byte) {
		if key.Proto == ipproto.UDP {
			w.Datagram(f, dir, b, c) // a datagram is not cut
			return
		}
		pieces := [][]byte{b}
		if cut && len(b) > 1 {
			pieces = [][]byte{b[:len(b)/2], b[len(b)/2:]}
		}
		for _, b := range pieces {
			w.Stream(f, dir, b, c)
		}
	}
	for k := 0; len(in) >= 2 && k < 256; k++ {
		op, n := in[0], int(in[1])
		in = in[2:]
		dir := buffer.ToServer
		if op&1 != 0 {
			dir = buffer.ToClient
		}
		switch op >> 1 & 3 {
		case 0:
			n = min(n, len(in))
			feed(dir, in[:n])
			in = in[n:]
		case 1:
			w.Gap(f, dir, uint64(n)+1, c)
		case 2:
			w.Close(f, dir, c)
		default:
			feed(dir, in)
			in = nil
		}
		if used := p.MemoryInUse(); used > p.cfg.Memcap {
			t.Fatalf("memory in use %d over the cap", used)
		}
	}
	w.Close(f, buffer.ToServer, c)
	w.Close(f, buffer.ToClient, c)
	p.Release(f)
	if used := p.MemoryInUse(); used != 0 {
		t.Fatalf("memory in use after release: %d", used)
	}
	return c.String()
}

// ops encodes sections as fuzzer operations.
func ops(secs []section) []byte {
	var out []byte
	for _, s := range secs {
		var op byte
		if s.dir == buffer.ToClient {
			op = 1
		}
		switch {
		case s.gap > 0:
			out = append(out, op|2, byte(min(s.gap-1, 255)))
		case s.fin:
			out = append(out, op|4, 0)
		default:
			for b := s.data; len(b) > 0; {
				n := min(len(b), 255)
				out = append(out, op, byte(n))
				out = append(out, b[:n]...)
				b = b[n:]
			}
		}
	}
	return out
}

func FuzzHTTP(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "http", "*.txt"))
	for _, path := range files {
		f.Add(ops(readCase(f, path)))
	}
	f.Add(ops([]section{req("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 30\r\n\r\n"), {dir: buffer.ToServer, data: gz([]byte("hello hello hello"))}}))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzStream(t, tcpKey, in) })
}

func FuzzDNS(f *testing.F) {
	q := dnsQuery(f, "www.example.com.", dns.TypeA)
	a := dnsAnswer(f, "www.example.com.")
	f.Add(false, ops([]section{{dir: buffer.ToServer, data: q}, {dir: buffer.ToClient, data: a}}))
	tcp := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	tcp = append(tcp, q...)
	tcp = append(tcp, tcp...)
	f.Add(true, ops([]section{{dir: buffer.ToServer, data: tcp[:7]}, {dir: buffer.ToServer, data: tcp[7:]}}))
	f.Add(false, ops([]section{{dir: buffer.ToServer, data: msg(2, 3, 'f', 'o', 'o', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1)}}))
	key := flow.Key{Src: netip.MustParseAddrPort("10.0.0.1:40002"), Dst: netip.MustParseAddrPort("10.0.0.53:53"), Proto: ipproto.TCP}
	f.Fuzz(func(t *testing.T, overTCP bool, in []byte) {
		if overTCP {
			fuzzStream(t, key, in)
		} else {
			fuzzStream(t, dnsKey, in)
		}
	})
}

func FuzzTLS(f *testing.F) {
	hello := goClientHello(f, "fuzz.example")
	f.Add(ops([]section{{dir: buffer.ToServer, data: hello}}))
	f.Add(ops([]section{{dir: buffer.ToServer, data: rerecord(hello, 50)}, {dir: buffer.ToClient, data: []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}}}))
	f.Add(ops([]section{{dir: buffer.ToServer, data: helloWith(sniExt("a.example", "b.example"), []byte{0, 43, 0, 3, 2, 3, 4})}}))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzStream(t, tlsKey, in) })
}
