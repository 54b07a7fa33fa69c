package clock

import (
	"sync"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := NewFake(start)
	if got := f.Now(); !got.Equal(start) || got.Location() != time.UTC {
		t.Fatalf("Now = %v, want %v in UTC", got, start)
	}
	f.Advance(90 * time.Second)
	if got, want := f.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: %v, want %v", got, want)
	}
	f.Advance(-30 * time.Second)
	if got, want := f.Now(), start.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after a negative Advance: %v, want %v", got, want)
	}
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Set(later)
	if got := f.Now(); !got.Equal(later) {
		t.Fatalf("after Set: %v, want %v", got, later)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				f.Advance(time.Nanosecond)
				_ = f.Now()
			}
		}()
	}
	wg.Wait()
	if got := f.Now().UnixNano(); got != 8000 {
		t.Fatalf("Now = %d ns after 8000 advances of 1 ns", got)
	}
}

func TestOr(t *testing.T) {
	if _, ok := Or(nil).(System); !ok {
		t.Fatal("Or(nil) is not the system clock")
	}
	f := NewFake(time.Unix(0, 0))
	if Or(f) != f {
		t.Fatal("Or(f) did not return f")
	}
}

func BenchmarkFakeNow(b *testing.B) {
	f := NewFake(time.Unix(0, 0))
	b.ReportAllocs()
	for b.Loop() {
		_ = f.Now()
	}
}
