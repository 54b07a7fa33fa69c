package resolver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// flightGroup de-duplicates identical work in flight: callers that ask for a
// key while a call for it runs wait for that call's result instead of
// starting their own.
type flightGroup[K comparable, V any] struct {
	mu     sync.Mutex
	m      map[K]*flight[V] // guarded by mu
	joined atomic.Uint64    // no lock: callers that found their work in flight
}

// flight is one call in progress. Its leader writes val and err before it
// closes done, and waiters read them only after done is closed: the channel
// orders the two, so no lock guards them. done is made by the first
// caller that joins, under the group's lock, so that the usual flight,
// which nobody joins, costs no channel.
type flight[V any] struct {
	done chan struct{} // guarded by the group's mu until land
	val  V
	err  error
}

// join returns the flight for key and whether the caller leads it, that is
// must run the work and call land.
func (g *flightGroup[K, V]) join(key K) (f *flight[V], leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil {
		g.joined.Add(1)
		g.waitable(f)
		return f, false
	}
	if g.m == nil {
		g.m = make(map[K]*flight[V])
	}
	f = &flight[V]{}
	g.m[key] = f
	return f, true
}

// waitable makes f's done channel for a caller about to wait on it;
// g.mu must be held, and f not landed.
func (g *flightGroup[K, V]) waitable(f *flight[V]) {
	if f.done == nil {
		f.done = make(chan struct{})
	}
}

// land publishes the leader's result and releases the waiters. Once the
// flight has left the map no one can join it, so done is final then.
func (g *flightGroup[K, V]) land(key K, f *flight[V], val V, err error) {
	g.mu.Lock()
	delete(g.m, key)
	done := f.done
	g.mu.Unlock()
	f.val, f.err = val, err
	if done != nil {
		close(done)
	}
}

// wait blocks until the flight lands or ctx ends.
func (f *flight[V]) wait(ctx context.Context) (V, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// doDetached runs fn once per key among concurrent callers, in a goroutine of
// its own so that the work goes on (and fills the cache) when the caller that
// started it gives up; every caller waits only as long as its own ctx allows,
// except that a leader whose ctx does not end before until runs fn itself:
// it would wait for all of the work anyway, and handing it to another
// goroutine and waiting for that one cost two goroutine switches per
// resolution. joined reports that the caller found the work already in
// flight.
func (g *flightGroup[K, V]) doDetached(ctx context.Context, key K, until time.Time, fn func() (V, error)) (val V, err error, joined bool) {
	f, leader := g.join(key)
	if leader {
		if d, ok := ctx.Deadline(); ok && !d.Before(until) {
			val, err = fn()
			g.land(key, f, val, err)
			return val, err, false
		}
		g.mu.Lock()
		g.waitable(f) // the leader waits below
		g.mu.Unlock()
		go func() {
			v, err := fn()
			g.land(key, f, v, err)
		}()
	}
	val, err = f.wait(ctx)
	return val, err, !leader
}

// do runs fn once per key among concurrent callers in the leader's goroutine.
func (g *flightGroup[K, V]) do(ctx context.Context, key K, fn func() (V, error)) (val V, err error, joined bool) {
	f, leader := g.join(key)
	if !leader {
		val, err = f.wait(ctx)
		return val, err, true
	}
	val, err = fn()
	g.land(key, f, val, err)
	return val, err, false
}
