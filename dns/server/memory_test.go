package server

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, maxGCPercent},
		{1 << 20, maxGCPercent},
		{2 << 20, maxGCPercent},
		{4 << 20, 400},
		{6 << 20, 265},
		{32 << 20, 50},
		{48 << 20, 30},
		{64 << 20, gcPercent},
		{1 << 30, gcPercent},
	} {
		if got := gcPercentFor(tt.live); got != tt.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}

func TestTuneMemory(t *testing.T) {
	oldPct := debug.SetGCPercent(100)
	oldLim := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldPct); debug.SetMemoryLimit(oldLim) })
	// Limits first, with GOGC set so that the tuner is not started yet.
	for _, tt := range []struct {
		name    string
		limit   string
		cache   int64
		wantLim int64
	}{
		{"defaults", "", 512 << 20, 512<<20 + 64<<20 + memoryLimitSlack},
		{"small cache", "", 64 << 20, 64<<20 + 8<<20 + memoryLimitSlack},
		{"GOMEMLIMIT set", "1GiB", 64 << 20, math.MaxInt64},
		{"no cache bound", "", 0, math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv("GOGC", "200")
			t.Setenv("GOMEMLIMIT", tt.limit)
			if got := TuneMemory(tt.cache); got != tt.wantLim {
				t.Errorf("limit %d, want %d", got, tt.wantLim)
			}
			if got := debug.SetGCPercent(100); got != 100 {
				t.Errorf("GOGC %d with GOGC set in the environment; want it left alone", got)
			}
		})
	}

	// Then the tuner: GOGC follows the live heap after each collection.
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(100)
	TuneMemory(0) // no soft limit: the test holds 256 MiB live for a moment
	waitGOGC := func(want func(int) bool) int {
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			gcTuner.mu.Lock()
			p := gcTuner.percent
			gcTuner.mu.Unlock()
			if want(p) || time.Now().After(deadline) {
				return p
			}
		}
	}
	if p := waitGOGC(func(p int) bool { return p >= 200 }); p < 200 {
		t.Errorf("GOGC %d with a small live heap, want at least 200", p)
	}
	big := make([]byte, 256<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	if p := waitGOGC(func(p int) bool { return p == gcPercent }); p != gcPercent {
		t.Errorf("GOGC %d with 256 MiB live, want %d", p, gcPercent)
	}
	runtime.KeepAlive(big)
	big = nil
	if p := waitGOGC(func(p int) bool { return p >= 200 }); p < 200 {
		t.Errorf("GOGC %d after the heap shrank, want at least 200 again", p)
	}
	gcTuner.mu.Lock()
	p := gcTuner.percent
	gcTuner.mu.Unlock()
	if got := debug.SetGCPercent(p); got != p {
		t.Errorf("runtime GOGC %d, tuner's %d", got, p)
	}
}
