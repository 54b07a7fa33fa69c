package authoritative

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

func readTestdata(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }

func benchmarkHandle(b *testing.B, q query) {
	s := fuzzTarget(b)
	req := q.pack(b)
	buf := make([]byte, dns.MaxMsgSize)
	if s.Handle(req, false, buf) == nil {
		b.Fatal("no response")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Handle(req, false, buf)
	}
}

func BenchmarkHandleAnswer(b *testing.B) {
	benchmarkHandle(b, query{name: "www.example.lab.", qtype: dns.TypeA, edns: 1232})
}

func BenchmarkHandleAnswerDO(b *testing.B) {
	benchmarkHandle(b, query{name: "www.example.lab.", qtype: dns.TypeA, edns: 1232, do: true})
}

func BenchmarkHandleNXDOMAINDO(b *testing.B) {
	benchmarkHandle(b, query{name: "nope.example.lab.", qtype: dns.TypeA, edns: 1232, do: true})
}

func BenchmarkHandleReferral(b *testing.B) {
	benchmarkHandle(b, query{name: "www.sub.example.lab.", qtype: dns.TypeA, edns: 1232})
}

// BenchmarkParseZone loads a zone of 100 000 records: what a start-up or a
// reload of a large zone costs.
func BenchmarkParseZone(b *testing.B) {
	var text bytes.Buffer
	text.WriteString("$ORIGIN big.lab.\n$TTL 3600\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 10.0.0.1\n")
	for i := range 50000 {
		fmt.Fprintf(&text, "host%d A 10.%d.%d.%d\n\tAAAA fd00::%x\n", i, i>>16, i>>8&255, i&255, i)
	}
	b.SetBytes(int64(text.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseZone(bytes.NewReader(text.Bytes()), "big.lab.", "big"); err != nil {
			b.Fatal(err)
		}
	}
}
