//go:build hyperscan

package hyperscan

import (
	"fmt"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/benchclock"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm"
)

// scanner is what the benchmarks run: either matcher, reset and scanned
// over one buffer.
type scanner func(data []byte)

func matchers(b *testing.B, pats []mpm.Pattern) map[string]scanner {
	hm, err := New(pats)
	if err != nil {
		b.Fatal(err)
	}
	hh := hm.NewHits()
	gm := mpm.New(pats)
	gh := gm.NewHits()
	return map[string]scanner{
		"hyperscan": func(data []byte) { hh.Reset(); hm.Scan(data, hh) },
		"mpm":       func(data []byte) { gh.Reset(); gm.Scan(data, gh) },
	}
}

// BenchmarkScan is ids/mpm's benchmark run on both matchers: the same
// corpus of 2,000 payloads, each scanned separately.
func BenchmarkScan(b *testing.B) {
	payloads := traffic.Corpus(2000, 1)
	total := 0
	for _, p := range payloads {
		total += len(p)
	}
	for _, n := range []int{100, 1000, 10000} {
		ms := matchers(b, patterns(n, uint64(n)))
		for _, name := range []string{"hyperscan", "mpm"} {
			scan := ms[name]
			b.Run(fmt.Sprintf("patterns=%d/%s", n, name), func(b *testing.B) {
				b.SetBytes(int64(total))
				b.ReportAllocs()
				cpu := benchclock.Start()
				for b.Loop() {
					for _, p := range payloads {
						scan(p)
					}
				}
				cpu.Report(b, total)
			})
		}
	}
}

// BenchmarkSize measures both matchers on buffers of one size cut from
// the corpus laid end to end: 64 bytes (a small packet, where the cgo
// call and Hyperscan's per-scan set-up dominate), 1,500 (a full packet)
// and 64 KiB (a stream chunk).
func BenchmarkSize(b *testing.B) {
	var all []byte
	for _, p := range traffic.Corpus(2000, 1) {
		all = append(all, p...)
	}
	for _, size := range []int{64, 1500, 65536} {
		var bufs [][]byte
		for i := 0; i+size <= len(all); i += size {
			bufs = append(bufs, all[i:i+size])
		}
		total := len(bufs) * size
		for _, n := range []int{100, 1000, 10000} {
			ms := matchers(b, patterns(n, uint64(n)))
			for _, name := range []string{"hyperscan", "mpm"} {
				scan := ms[name]
				b.Run(fmt.Sprintf("size=%d/patterns=%d/%s", size, n, name), func(b *testing.B) {
					b.SetBytes(int64(total))
					b.ReportAllocs()
					cpu := benchclock.Start()
					for b.Loop() {
						for _, p := range bufs {
							scan(p)
						}
					}
					cpu.Report(b, total)
					b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(bufs)), "ns/scan")
				})
			}
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
