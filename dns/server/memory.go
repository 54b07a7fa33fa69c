package server

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcPercent is the least GOGC TuneMemory lets the heap run with. Cached
// answers are long-lived and the hit path allocates nothing, so garbage
// comes only from resolutions of cache misses; the default GOGC of 100
// lets the heap grow to twice the live cache before collecting it, which
// for a large cache is mostly empty headroom. At 25 the heap stays within
// a quarter of the live cache.
const gcPercent = 25

// gcHeadroom is the least the heap may grow between two collections. A
// quarter of a small heap is a few megabytes, which a burst of cold
// resolutions allocates in milliseconds: the collector then ran dozens of
// times a second and cost a resolver with a young cache a tenth of its
// CPU. So GOGC follows the live heap: gcHeadroom's worth while the cache
// is small, gcPercent once a quarter of the heap is more than that.
const gcHeadroom = 16 << 20

// maxGCPercent caps GOGC while the heap is tiny.
const maxGCPercent = 800

// memoryLimitSlack is the memory beyond the cache bound the soft limit
// allows for: the runtime, socket buffers, in-flight resolutions and the
// resolver's infrastructure state.
const memoryLimitSlack = 64 << 20

// TuneMemory tunes the Go collector for a resolver whose cache is bounded
// by cacheBytes: GOGC between 25 and 800, chosen after every collection so
// that the heap may grow by a quarter of the live heap or by 16 MiB,
// whichever is more, and a soft memory limit of the cache bound plus an
// eighth plus 64 MiB, so that resident memory follows the data cached
// rather than twice it. The GOGC and GOMEMLIMIT environment variables,
// when set, win over either setting. It changes process-wide settings;
// call it once, from main. It returns the soft limit now in force.
func TuneMemory(cacheBytes int64) int64 {
	if os.Getenv("GOGC") == "" {
		startGCTuner()
	}
	if os.Getenv("GOMEMLIMIT") == "" && cacheBytes > 0 {
		debug.SetMemoryLimit(cacheBytes + cacheBytes/8 + memoryLimitSlack)
	}
	return debug.SetMemoryLimit(-1)
}

// gcPercentFor is the GOGC for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	p := uint64(gcHeadroom) * 100 / live
	switch {
	case p < gcPercent:
		return gcPercent
	case p > maxGCPercent:
		return maxGCPercent
	}
	// Steps of 5 spare the runtime a new setting after every collection.
	return int(p / 5 * 5)
}

var gcTuner struct {
	once    sync.Once
	mu      sync.Mutex
	percent int              // guarded by mu
	sample  []metrics.Sample // set in once; the values in it guarded by mu
}

// startGCTuner sets GOGC for the live heap now and again after every
// collection, from a cleanup that re-arms itself: the runtime runs it once
// the collection that found its sentinel unreachable has finished.
func startGCTuner() {
	gcTuner.once.Do(func() {
		gcTuner.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tuneGC()
		armGCTuner()
	})
}

// sentinel is big enough that the allocator does not pack it into a
// shared tiny block, which would keep it alive with its neighbours.
type sentinel [64]byte

func armGCTuner() {
	runtime.AddCleanup(new(sentinel), func(struct{}) {
		tuneGC()
		armGCTuner()
	}, struct{}{})
}

func tuneGC() {
	gcTuner.mu.Lock()
	defer gcTuner.mu.Unlock()
	metrics.Read(gcTuner.sample)
	var live uint64
	if v := gcTuner.sample[0].Value; v.Kind() == metrics.KindUint64 {
		live = v.Uint64()
	}
	if p := gcPercentFor(live); p != gcTuner.percent {
		gcTuner.percent = p
		debug.SetGCPercent(p)
	}
}
