// Package bufpool keeps byte buffers in power-of-two size classes for
// reuse, so that engines that hold copies of packet data (IP
// defragmentation, TCP reassembly) allocate nothing in steady state. It
// bounds the bytes it keeps idle, reports them so that its owner can count
// them against its memory cap, and lets them go on demand.
//
// A Pool is not safe for concurrent use: each shard of an engine keeps its
// own, under the shard's lock.
package bufpool

import "math/bits"

// Class names a buffer size: class c holds buffers of Size(c) bytes.
type Class int8

// Pool keeps released buffers of the classes from 2^min to 2^max bytes.
// The zero Pool is not usable; make one with New.
type Pool struct {
	min, max uint8
	free     [][][]byte // by class
	idle     int        // bytes in free
}

// New returns a pool of the buffer sizes 2^minShift to 2^maxShift.
func New(minShift, maxShift uint8) Pool {
	if minShift > maxShift || maxShift > 40 {
		panic("bufpool: bad size classes")
	}
	return Pool{min: minShift, max: maxShift, free: make([][][]byte, maxShift-minShift+1)}
}

// ClassOf returns the smallest class whose buffers hold n bytes; n must
// not exceed the largest size.
func (p *Pool) ClassOf(n int) Class {
	if n <= 1<<p.min {
		return 0
	}
	return Class(bits.Len(uint(n-1)) - int(p.min))
}

// Size returns the bytes of a buffer of class c.
func (p *Pool) Size(c Class) int { return 1 << (int(p.min) + int(c)) }

// MaxSize returns the size of the largest class.
func (p *Pool) MaxSize() int { return 1 << p.max }

// Idle returns the bytes the pool keeps for reuse.
func (p *Pool) Idle() int { return p.idle }

// Get returns a buffer of class c, reused if one is idle, of length Size(c).
func (p *Pool) Get(c Class) []byte {
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.idle -= cap(b)
		return b
	}
	return make([]byte, p.Size(c))
}

// Put keeps b, a buffer of class c, for reuse while no more than limit
// bytes are idle; otherwise it lets it go.
func (p *Pool) Put(b []byte, c Class, limit int) {
	if b == nil || p.idle+cap(b) > limit {
		return
	}
	p.free[c] = append(p.free[c], b[:cap(b)])
	p.idle += cap(b)
}

// Shed lets go of at least n idle bytes (or all of them), largest buffers
// first.
func (p *Pool) Shed(n int) {
	for c := len(p.free) - 1; c >= 0 && n > 0 && p.idle > 0; c-- {
		for len(p.free[c]) > 0 && n > 0 {
			k := len(p.free[c]) - 1
			p.idle -= cap(p.free[c][k])
			n -= cap(p.free[c][k])
			p.free[c][k] = nil
			p.free[c] = p.free[c][:k]
		}
	}
}
