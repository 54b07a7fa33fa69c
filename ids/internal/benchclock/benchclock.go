// Package benchclock measures benchmarks in the CPU time of the thread
// that runs them, for the IDS's throughput figures: on a machine whose
// cores are shared with other work, wall-clock time counts the time the
// benchmark waited for a core, and bytes per second of CPU time is the
// per-core throughput the figures mean.
package benchclock

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Clock is a running CPU-time measurement of the calling thread.
type Clock struct {
	start int64 // thread CPU time in ns
}

func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// Start locks the goroutine to its thread and starts the clock.
func Start() Clock {
	runtime.LockOSThread()
	return Clock{start: threadCPU()}
}

// Report adds the metrics "cpu-MB/s" (bytes per iteration over CPU time)
// and "cpu-ns/op", and unlocks the thread.
func (c Clock) Report(b *testing.B, bytesPerOp int) {
	ns := threadCPU() - c.start
	runtime.UnlockOSThread()
	if ns <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(ns)/float64(b.N), "cpu-ns/op")
	if bytesPerOp > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/(float64(ns)/1e9)/1e6, "cpu-MB/s")
	}
}
