// Package clock is rampart's one notion of the current time: the Clock
// interface that every engine reads (cache expiry, connection time-outs,
// rate limits, signature validity), the system clock, and Fake, the clock
// that tests and the scenario replayer move by hand instead of sleeping.
//
// It owns nothing else: deadlines of network operations use real time
// through context and net.Conn, never a Clock.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock tells the time. Implementations are safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// System is the machine's clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Or returns c, or System when c is nil: configuration structs leave their
// Clock nil to mean the real one.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}

// Fake is a clock that moves only when told to. It is safe for concurrent
// use; Now does not allocate or lock, so it may stand in on hot paths under
// benchmark. Times it returns are in UTC and carry no monotonic reading.
type Fake struct {
	ns atomic.Int64 // Unix nanoseconds
}

// NewFake returns a Fake that reads t.
func NewFake(t time.Time) *Fake {
	f := &Fake{}
	f.ns.Store(t.UnixNano())
	return f
}

// Now returns the fake's current time.
func (f *Fake) Now() time.Time { return time.Unix(0, f.ns.Load()).UTC() }

// Advance moves the clock forward by d (backward when d is negative).
func (f *Fake) Advance(d time.Duration) { f.ns.Add(int64(d)) }

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) { f.ns.Store(t.UnixNano()) }
