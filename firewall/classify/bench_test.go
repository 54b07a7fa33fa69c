package classify

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/firewall/classify/classbench"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// benchSet builds a ClassBench-style rule set through the whole path the
// gateway uses: rule text, policy.Parse, FromPolicy.
func benchSet(tb testing.TB, profile classbench.Profile, n int) ([]Rule, Defaults, []Key) {
	tb.Helper()
	cb := classbench.Generate(profile, n, 1)
	p, err := policy.Parse("classbench.rules", []byte(classbench.Text(cb)))
	if err != nil {
		tb.Fatal(err)
	}
	rules, defaults, err := FromPolicy(p, GatewayInterfaces())
	if err != nil {
		tb.Fatal(err)
	}
	trace := classbench.Trace(cb, 1<<16, 2)
	keys := make([]Key, len(trace))
	for i, h := range trace {
		keys[i] = Key{Dir: In, InIface: IfaceWAN, OutIface: IfaceLAN, Flow: h}
		if h.Proto == ipproto.TCP {
			keys[i].TCPFlags = packet.TCPSYN
		}
	}
	return rules, defaults, keys
}

// threadCPU returns the CPU time the calling thread has used. The benchmark
// machines are shared, so wall time overstates the cost of a lookup by the
// time other processes held the core; CPU time does not.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func benchSetRules(tb testing.TB, n int) ([]Rule, Defaults, []Key) {
	return benchSet(tb, classbench.ACL, n)
}

func benchLookup(b *testing.B, c Classifier, keys []Key) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		c.Lookup(&keys[i&(len(keys)-1)])
	}
	cpu := threadCPU() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "lookups/cpu-s")
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, impl := range []string{"linear", "compiled"} {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", impl, n), func(b *testing.B) {
				rules, defaults, keys := benchSet(b, classbench.ACL, n)
				var c Classifier
				var err error
				if impl == "linear" {
					c, err = NewLinear(rules, defaults)
				} else {
					c, err = Compile(rules, defaults, Config{})
				}
				if err != nil {
					b.Fatal(err)
				}
				benchLookup(b, c, keys)
			})
		}
	}
}

// BenchmarkLookupFW is BenchmarkLookup's compiled case on firewall-style
// sets, whose wildcards make bit vectors denser.
func BenchmarkLookupFW(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rules, defaults, keys := benchSet(b, classbench.FW, n)
			c, err := Compile(rules, defaults, Config{})
			if err != nil {
				b.Fatal(err)
			}
			benchLookup(b, c, keys)
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rules, defaults, _ := benchSet(b, classbench.ACL, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Compile(rules, defaults, Config{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCompiledMatchesLinearOnClassBench(t *testing.T) {
	for _, profile := range []classbench.Profile{classbench.ACL, classbench.FW} {
		for _, n := range []int{100, 1000} {
			t.Run(fmt.Sprintf("%s/%d", profile, n), func(t *testing.T) {
				rules, defaults, keys := benchSet(t, profile, n)
				lin, err := NewLinear(rules, defaults)
				if err != nil {
					t.Fatal(err)
				}
				c, err := Compile(rules, defaults, Config{})
				if err != nil {
					t.Fatal(err)
				}
				hits := 0
				for i := range keys[:8192] {
					k := &keys[i]
					wi, wa := lin.Lookup(k)
					gi, ga := c.Lookup(k)
					if wi != gi || wa != ga {
						t.Fatalf("key %+v: compiled (%d, %v), linear (%d, %v)", *k, gi, ga, wi, wa)
					}
					if wi >= 0 {
						hits++
					}
				}
				t.Logf("%d of 8192 keys matched a rule; stats %+v", hits, c.Stats())
			})
		}
	}
}
