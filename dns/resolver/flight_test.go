package resolver

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestFlightGroup: callers that join a flight get its leader's result, in
// do and in doDetached (whose leader, with a near deadline, waits for a
// goroutine of its own), and a flight nobody joins needs no channel.
func TestFlightGroup(t *testing.T) {
	var g flightGroup[string, int]
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		v, _, joined := g.do(context.Background(), "k", func() (int, error) {
			close(started)
			<-release
			return 42, nil
		})
		if joined {
			t.Error("the first caller joined")
		}
		results[0] = v
	}()
	<-started
	for i := 1; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, joined := g.do(context.Background(), "k", func() (int, error) { return -1, nil })
			if !joined {
				t.Error("a later caller led")
			}
			results[i] = v
		}()
	}
	for g.joined.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, v := range results {
		if v != 42 {
			t.Errorf("caller %d got %d", i, v)
		}
	}

	// A leader whose deadline is before until hands the work to a
	// goroutine and waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err, joined := g.doDetached(ctx, "d", time.Now().Add(time.Hour), func() (int, error) { return 7, nil })
	if v != 7 || err != nil || joined {
		t.Errorf("detached leader: %d %v %v", v, err, joined)
	}
	// Inline, and alone: no channel.
	f, leader := g.join("x")
	if !leader || f.done != nil {
		t.Fatalf("a flight nobody joined has a channel")
	}
	g.land("x", f, 1, nil)
}
