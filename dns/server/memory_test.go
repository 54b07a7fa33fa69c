package server

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneMemory(t *testing.T) {
	oldPct := debug.SetGCPercent(100)
	oldLim := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldPct); debug.SetMemoryLimit(oldLim) })
	tests := []struct {
		name        string
		gogc, limit string
		cache       int64
		wantPct     int
		wantLim     int64
	}{
		{"defaults", "", "", 512 << 20, gcPercent, 512<<20 + 64<<20 + memoryLimitSlack},
		{"GOGC set", "200", "", 64 << 20, 100, 64<<20 + 8<<20 + memoryLimitSlack},
		{"GOMEMLIMIT set", "", "1GiB", 64 << 20, gcPercent, math.MaxInt64},
		{"no cache bound", "", "", 0, gcPercent, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv("GOGC", tt.gogc)
			t.Setenv("GOMEMLIMIT", tt.limit)
			if got := TuneMemory(tt.cache); got != tt.wantLim {
				t.Errorf("limit %d, want %d", got, tt.wantLim)
			}
			if got := debug.SetGCPercent(100); got != tt.wantPct {
				t.Errorf("GOGC %d, want %d", got, tt.wantPct)
			}
		})
	}
}
