// Package deadline is a context with a deadline that costs no timer until
// someone waits on it.
//
// context.WithTimeout starts a runtime timer, allocates a timer context and,
// under a cancellable parent, registers the child in the parent's map under
// the parent's lock, and cancel undoes all of it. The resolver makes two
// such contexts per cold name (the server's query time-out and the
// resolution's budget), and on the path they are made for nobody waits on
// either: the resolution runs in the caller's goroutine, reads Deadline to
// time its upstream tries (whose poller keeps the timer) and checks Err
// between steps. A Context answers Deadline and Err from its deadline and
// the clock, and makes the real context, timer and all, only when Done is
// first called.
//
// The package knows nothing of DNS.
package deadline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Context is a context.Context that ends at its deadline, when its parent
// ends (unless it is detached) or when Cancel is called, whichever comes
// first. Make one with New or Detached; it is safe for concurrent use.
type Context struct {
	parent   context.Context
	deadline time.Time
	detached bool // the parent's values only: its deadline and end do not apply

	canceled atomic.Bool
	real     atomic.Pointer[realCtx] // made by the first Done, under mu
	mu       sync.Mutex
}

// realCtx is the context.WithDeadline that stands behind Done.
type realCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a context that ends at d or when parent ends, as
// context.WithDeadline(parent, d) does. Call Cancel when the work is done.
func New(parent context.Context, d time.Time) *Context {
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	return &Context{parent: parent, deadline: d}
}

// Detached returns a context that carries parent's values but ends only at
// d or with Cancel, as context.WithDeadline(context.WithoutCancel(parent), d)
// does.
func Detached(parent context.Context, d time.Time) *Context {
	return &Context{parent: parent, deadline: d, detached: true}
}

// Deadline implements context.Context.
func (c *Context) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context. The first call starts the timer.
func (c *Context) Done() <-chan struct{} {
	if r := c.real.Load(); r != nil {
		return r.ctx.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.real.Load(); r != nil {
		return r.ctx.Done()
	}
	parent := c.parent
	if c.detached {
		parent = context.WithoutCancel(parent)
	}
	ctx, cancel := context.WithDeadline(parent, c.deadline)
	r := &realCtx{ctx: ctx, cancel: cancel}
	c.real.Store(r)
	if c.canceled.Load() {
		cancel()
	}
	return ctx.Done()
}

// Err implements context.Context: context.Canceled after Cancel, the
// parent's error when it ended first, context.DeadlineExceeded from the
// deadline on.
func (c *Context) Err() error {
	if r := c.real.Load(); r != nil {
		return r.ctx.Err()
	}
	if c.canceled.Load() {
		return context.Canceled
	}
	if !c.detached {
		if err := c.parent.Err(); err != nil {
			return err
		}
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context: the parent's values.
func (c *Context) Value(key any) any { return c.parent.Value(key) }

// Cancel ends the context (Err is context.Canceled from then on, unless it
// had ended already) and stops its timer, if Done started one.
func (c *Context) Cancel() {
	if c.Err() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.canceled.Store(true)
	if r := c.real.Load(); r != nil {
		r.cancel()
	}
}

// EndsOnlyAtDeadline reports whether nothing but its deadline or Cancel
// can end c: a detached context. One who will stop waiting at Deadline
// anyway, and whose caller calls Cancel only after the wait, need not
// wait on Done as well.
func (c *Context) EndsOnlyAtDeadline() bool { return c.detached }
