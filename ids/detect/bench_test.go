package detect

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/ipproto"
)

// contentRules renders n content rules from the benchmark's patterns,
// as the comparison with Snort uses: one content each, half of
// them nocase, on TCP and UDP.
func contentRules(n int) *rules.Set {
	var b strings.Builder
	for i, p := range traffic.Patterns(n, uint64(n)) {
		proto := "tcp"
		if i%5 == 4 {
			proto = "udp"
		}
		fmt.Fprintf(&b, "alert %s any any -> any any (msg:\"bench %d\"; content:%s;", proto, i, contentValue(string(p.Bytes)))
		if p.Nocase {
			b.WriteString(" nocase;")
		}
		fmt.Fprintf(&b, " sid:%d;)\n", i+1)
	}
	return rules.Parse("bench.rules", []byte(b.String()), nil)
}

// benchInputs are the corpus as packets: DNS over UDP, the rest TCP.
func benchInputs() ([]Input, int) {
	var ins []Input
	total := 0
	for _, p := range traffic.Corpus(2000, 1) {
		k := flow.Key{Src: netip.MustParseAddrPort("198.51.100.7:40000"), Dst: netip.MustParseAddrPort("10.0.0.5:443"), Proto: ipproto.TCP}
		if bytes.HasPrefix(p, []byte("HTTP/")) || bytes.Contains(p[:min(len(p), 8)], []byte(" /")) || bytes.HasPrefix(p, []byte("GET")) ||
			bytes.HasPrefix(p, []byte("POST")) || bytes.HasPrefix(p, []byte("HEAD")) {
			k.Dst = netip.MustParseAddrPort("10.0.0.5:80")
		} else if p[0] != 0x16 {
			k.Proto = ipproto.UDP
			k.Dst = netip.MustParseAddrPort("10.0.0.53:53")
		}
		ins = append(ins, Input{Key: k, Packet: true, TTL: 64, TCPFlags: 0x18, Payload: p})
		total += len(p)
	}
	return ins, total
}

func BenchmarkInspect(b *testing.B) {
	ins, total := benchInputs()
	for _, n := range []int{100, 1000, 10000} {
		set := contentRules(n)
		if len(set.Errors) > 0 {
			b.Fatal(set.Err())
		}
		e, err := Compile(set, Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d/engine", n), func(b *testing.B) {
			s := e.NewScratch()
			b.ReportMetric(float64(e.MemoryBytes()), "table-bytes")
			b.SetBytes(int64(total))
			b.ReportAllocs()
			alerts := 0
			stop := benchcpu.StartBytes(b, total)
			for b.Loop() {
				for i := range ins {
					alerts += len(e.Inspect(s, &ins[i]))
				}
			}
			stop()
			b.ReportMetric(float64(alerts)/float64(b.N), "alerts/op")
		})
		b.Run(fmt.Sprintf("rules=%d/naive", n), func(b *testing.B) {
			s := e.NewScratch()
			b.SetBytes(int64(total))
			b.ReportAllocs()
			stop := benchcpu.StartBytes(b, total)
			for b.Loop() {
				for i := range ins {
					e.inspectAll(s, &ins[i])
				}
			}
			stop()
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	set := contentRules(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(set, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
