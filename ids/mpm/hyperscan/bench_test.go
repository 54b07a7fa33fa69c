//go:build hyperscan

package hyperscan

import (
	"fmt"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/internal/benchcpu"
)

// scanner is what the benchmarks run: a matcher, reset and scanned over
// one buffer.
type scanner func(data []byte)

// hyperscanScanner builds Hyperscan's matcher as New does (alen 0) or
// with anchors of alen bytes.
func hyperscanScanner(b *testing.B, pats []mpm.Pattern, alen int) scanner {
	m, err := New(pats)
	if alen > 0 {
		m, err = newAnchored(pats, alen)
	}
	if err != nil {
		b.Fatal(err)
	}
	h := m.NewHits()
	return func(data []byte) { h.Reset(); m.Scan(data, h) }
}

// matchers are what BenchmarkScan compares: Hyperscan as New builds it,
// with anchors and with whole patterns whatever the number, and ids/mpm.
func matchers(b *testing.B, pats []mpm.Pattern) map[string]scanner {
	gm := mpm.New(pats)
	gh := gm.NewHits()
	return map[string]scanner{
		"hyperscan":         hyperscanScanner(b, pats, 0),
		"hyperscan-anchors": hyperscanScanner(b, pats, anchorLen),
		"hyperscan-whole":   hyperscanScanner(b, pats, wholePatterns),
		"mpm":               func(data []byte) { gh.Reset(); gm.Scan(data, gh) },
	}
}

// run scans every buffer of bufs once per iteration and reports bytes
// per second of CPU time (cpu-MB/s, package benchcpu) and allocations.
func run(b *testing.B, bufs [][]byte, scan scanner) {
	total := 0
	for _, p := range bufs {
		total += len(p)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	stop := benchcpu.StartBytes(b, total)
	for b.Loop() {
		for _, p := range bufs {
			scan(p)
		}
	}
	stop()
}

// BenchmarkScan is ids/mpm's benchmark run on both matchers: the same
// corpus of 2,000 payloads, each scanned separately; and Hyperscan with
// anchors and with whole patterns at every pattern count.
func BenchmarkScan(b *testing.B) {
	payloads := traffic.Corpus(2000, 1)
	for _, n := range []int{100, 1000, 10000} {
		ms := matchers(b, patterns(n, uint64(n)))
		for _, name := range []string{"hyperscan", "hyperscan-anchors", "hyperscan-whole", "mpm"} {
			b.Run(fmt.Sprintf("patterns=%d/%s", n, name), func(b *testing.B) { run(b, payloads, ms[name]) })
		}
	}
}

// BenchmarkSize measures both matchers on buffers of one size cut from
// the corpus laid end to end: 64 and 256 bytes (small packets, where the cgo
// call and Hyperscan's per-scan set-up dominate), 1,500 (a full packet)
// and 64 KiB (a stream chunk).
func BenchmarkSize(b *testing.B) {
	var all []byte
	for _, p := range traffic.Corpus(2000, 1) {
		all = append(all, p...)
	}
	for _, size := range []int{64, 256, 1500, 65536} {
		var bufs [][]byte
		for i := 0; i+size <= len(all); i += size {
			bufs = append(bufs, all[i:i+size])
		}
		for _, n := range []int{100, 1000, 10000} {
			ms := matchers(b, patterns(n, uint64(n)))
			for _, name := range []string{"hyperscan", "mpm"} {
				b.Run(fmt.Sprintf("size=%d/patterns=%d/%s", size, n, name), func(b *testing.B) { run(b, bufs, ms[name]) })
			}
		}
	}
}

// BenchmarkAnchor compares anchor lengths on BenchmarkScan's traffic.
func BenchmarkAnchor(b *testing.B) {
	payloads := traffic.Corpus(2000, 1)
	for _, n := range []int{1000, 10000} {
		pats := patterns(n, uint64(n))
		for _, alen := range []int{4, 6, 8, 12, wholePatterns} {
			scan := hyperscanScanner(b, pats, alen)
			b.Run(fmt.Sprintf("patterns=%d/anchor=%d", n, alen), func(b *testing.B) { run(b, payloads, scan) })
		}
	}
}

// BenchmarkCompile is the cost of building each matcher.
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		pats := patterns(n, uint64(n))
		b.Run(fmt.Sprintf("patterns=%d/hyperscan", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := New(pats)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(m.MemoryBytes()), "table-bytes")
				b.ReportMetric(float64(m.NewHits().ScratchBytes()), "scratch-bytes")
			}
		})
		b.Run(fmt.Sprintf("patterns=%d/mpm", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.ReportMetric(float64(mpm.New(pats).MemoryBytes()), "table-bytes")
			}
		})
	}
}
