package server

import (
	"os"
	"runtime/debug"
)

// gcPercent is the GOGC TuneMemory sets. Cached answers are long-lived
// and the hit path allocates nothing, so garbage comes only from
// resolutions of cache misses; the default GOGC of 100 lets the heap grow
// to twice the live cache before collecting it, which for a large cache is
// mostly empty headroom. At 25 the heap stays within a quarter of the live
// cache, paying with more frequent collections on the slow path only.
const gcPercent = 25

// memoryLimitSlack is the memory beyond the cache bound the soft limit
// allows for: the runtime, socket buffers, in-flight resolutions and the
// resolver's infrastructure state.
const memoryLimitSlack = 64 << 20

// TuneMemory tunes the Go collector for a resolver whose cache is bounded
// by cacheBytes: GOGC 25 and a soft memory limit of the cache bound plus an
// eighth plus 64 MiB, so that resident memory follows the data cached
// rather than twice it. The GOGC and GOMEMLIMIT environment variables, when
// set, win over either setting. It changes process-wide settings; call it
// once, from main. It returns the soft limit now in force.
func TuneMemory(cacheBytes int64) int64 {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && cacheBytes > 0 {
		debug.SetMemoryLimit(cacheBytes + cacheBytes/8 + memoryLimitSlack)
	}
	return debug.SetMemoryLimit(-1)
}
