package deadline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type key struct{}

// TestLikeWithDeadline holds a Context to what context.WithDeadline (with
// WithoutCancel for Detached) does in each way the two can end, whether
// or not Done was called before the end.
func TestLikeWithDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		detached bool
		in       time.Duration // deadline from now
		end      string        // "", "cancel", "parent"
		want     error
	}{
		{"running", false, time.Hour, "", nil},
		{"expired", false, -time.Second, "", context.DeadlineExceeded},
		{"cancelled", false, time.Hour, "cancel", context.Canceled},
		{"cancelled after expiry", false, -time.Second, "cancel", context.DeadlineExceeded},
		{"parent ended", false, time.Hour, "parent", context.Canceled},
		{"detached, parent ended", true, time.Hour, "parent", nil},
		{"detached, expired", true, -time.Second, "parent", context.DeadlineExceeded},
		{"detached, cancelled", true, time.Hour, "cancel", context.Canceled},
	} {
		for _, waitFirst := range []bool{false, true} {
			parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
			d := time.Now().Add(tc.in)
			c := New(parent, d)
			if tc.detached {
				c = Detached(parent, d)
			}
			if waitFirst {
				c.Done()
			}
			switch tc.end {
			case "cancel":
				c.Cancel()
			case "parent":
				cancelParent()
			}
			if err := c.Err(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("%s (Done first %v): Err = %v, want %v", tc.name, waitFirst, err, tc.want)
			}
			closed := false
			select {
			case <-c.Done():
				closed = true
			case <-time.After(10 * time.Millisecond):
			}
			if closed != (tc.want != nil) {
				t.Errorf("%s (Done first %v): Done closed %v, want %v", tc.name, waitFirst, closed, tc.want != nil)
			}
			if err := c.Err(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("%s (Done first %v): Err after Done = %v, want %v", tc.name, waitFirst, err, tc.want)
			}
			if got, ok := c.Deadline(); !ok || !got.Equal(d) {
				t.Errorf("%s: Deadline = %v %v, want %v", tc.name, got, ok, d)
			}
			if c.Value(key{}) != "v" {
				t.Errorf("%s: the parent's value is lost", tc.name)
			}
			if c.EndsOnlyAtDeadline() != tc.detached {
				t.Errorf("%s: EndsOnlyAtDeadline = %v", tc.name, c.EndsOnlyAtDeadline())
			}
			c.Cancel()
			cancelParent()
		}
	}
}

// TestDoneAtDeadline checks that Done closes when the deadline passes, as
// a timer context's does, and that an earlier parent deadline counts.
func TestDoneAtDeadline(t *testing.T) {
	c := New(context.Background(), time.Now().Add(20*time.Millisecond))
	defer c.Cancel()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close at the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", c.Err())
	}
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pd, _ := parent.Deadline()
	if got, _ := New(parent, time.Now().Add(time.Hour)).Deadline(); !got.Equal(pd) {
		t.Errorf("Deadline = %v, want the parent's %v", got, pd)
	}
	if got, _ := Detached(parent, pd.Add(time.Hour)).Deadline(); !got.Equal(pd.Add(time.Hour)) {
		t.Errorf("a detached context took its parent's deadline: %v", got)
	}
}

// TestConcurrent races Done, Err and Cancel (for go test -race).
func TestConcurrent(t *testing.T) {
	for range 100 {
		c := New(context.Background(), time.Now().Add(time.Hour))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(2)
			go func() { defer wg.Done(); <-c.Done() }()
			go func() { defer wg.Done(); _ = c.Err() }()
		}
		c.Cancel()
		wg.Wait()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err = %v", c.Err())
		}
	}
}

// TestNoTimerUntilDone checks the point of the package: making, reading
// and cancelling a Context that nobody waits on allocates only the
// Context.
func TestNoTimerUntilDone(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	allocs := testing.AllocsPerRun(100, func() {
		c := New(parent, time.Now().Add(time.Second))
		_, _ = c.Deadline()
		_ = c.Err()
		c.Cancel()
	})
	if allocs > 1 {
		t.Errorf("%v allocations, want 1", allocs)
	}
}

func BenchmarkUnwaited(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("deadline", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c := New(parent, time.Now().Add(time.Second))
			_ = c.Err()
			c.Cancel()
		}
	})
	b.Run("context.WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c, cancel := context.WithTimeout(parent, time.Second)
			_ = c.Err()
			cancel()
		}
	})
}
