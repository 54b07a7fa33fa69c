package authoritative

import (
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
