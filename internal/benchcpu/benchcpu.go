// Package benchcpu is for benchmarks: it reports the CPU time a
// benchmark's loop took per operation (cpu-ns/op), measured on the
// benchmark's own thread. The machines that run the benchmarks are
// shared; wall time then counts the time other processes held the core,
// and swings by several times from one run to the next, while the CPU
// time of the thread does not.
//
// It knows nothing of what is measured; a loop that hands work to other
// goroutines is not measured by Start, and Process gives the whole
// process's CPU time for those.
package benchcpu

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Start locks the benchmark to its thread and returns the function that,
// called after the loop (defer it), unlocks it and reports the thread's
// CPU time per operation as the metric cpu-ns/op.
func Start(b *testing.B) (stop func()) { return StartBytes(b, 0) }

// StartBytes is Start for a loop that handles bytesPerOp bytes per
// operation: it also reports them over the thread's CPU time as the
// metric cpu-MB/s, the throughput per core.
func StartBytes(b *testing.B, bytesPerOp int) (stop func()) {
	runtime.LockOSThread()
	cpu0 := Thread()
	return func() {
		cpu := Thread() - cpu0
		runtime.UnlockOSThread()
		if cpu <= 0 || b.N == 0 {
			return
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		if bytesPerOp > 0 {
			b.ReportMetric(float64(bytesPerOp)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
		}
	}
}

// Thread returns the CPU time the calling thread has used, or 0 if the
// system cannot tell.
func Thread() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Process returns the user and system CPU time the whole process has
// used, or 0 if the system cannot tell: for benchmarks whose work runs on
// other goroutines than the loop's.
func Process() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
