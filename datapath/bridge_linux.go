//go:build linux

package datapath

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// BridgeConfig configures a two-port bridge.
type BridgeConfig struct {
	// LAN and WAN name the interfaces.
	LAN, WAN string
	// Workers is the number of worker goroutines, and of fanout queues on
	// each port; zero means 1. One per core is the usual choice.
	Workers int
	// Port is the template for both ports (ring geometry, batch size,
	// offloads, promiscuous mode); its Interface and Queues are ignored.
	Port PortConfig
}

// Bridge joins two ports. Worker i serves queue i of both ports, so with
// the kernel's symmetric fanout hash it sees both directions of its flows.
// The ports' queues belong to the workers: don't read them directly while
// Run is going (Stats and Write are fine).
type Bridge struct {
	ports   [2]*Port
	workers int
	running atomic.Bool
}

// OpenBridge opens both ports in the network namespace of the calling
// thread.
func OpenBridge(cfg BridgeConfig) (*Bridge, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.LAN == cfg.WAN {
		return nil, fmt.Errorf("datapath: bridge: LAN and WAN are both %q", cfg.LAN)
	}
	b := &Bridge{workers: cfg.Workers}
	for side, name := range [2]string{cfg.LAN, cfg.WAN} {
		pc := cfg.Port
		pc.Interface, pc.Queues = name, cfg.Workers
		p, err := OpenPort(pc)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("datapath: bridge %s port: %w", Side(side), err)
		}
		b.ports[side] = p
	}
	return b, nil
}

// Port returns the port on side s.
func (b *Bridge) Port(s Side) *Port { return b.ports[s&1] }

// Workers returns the number of workers.
func (b *Bridge) Workers() int { return b.workers }

// Close closes both ports; Run's workers stop at once.
func (b *Bridge) Close() error {
	for _, p := range b.ports {
		if p != nil {
			p.Close()
		}
	}
	return nil
}

// Run serves both ports until the bridge is closed or ctx is done (which
// closes the bridge). newHandler is called once per worker, before any
// frame flows, so each worker owns its Handler. Run returns nil after
// Close, ctx's error when ctx ended it, or the first worker's failure
// (which closes the bridge too).
func (b *Bridge) Run(ctx context.Context, newHandler func(worker int) Handler) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("datapath: bridge: Run called twice")
	}
	stop := context.AfterFunc(ctx, func() { b.Close() })
	defer stop()
	handlers := make([]Handler, b.workers)
	for i := range handlers {
		if handlers[i] = newHandler(i); handlers[i] == nil {
			return fmt.Errorf("datapath: bridge: no handler for worker %d", i)
		}
	}
	errs := make([]error, b.workers)
	var wg sync.WaitGroup
	for i := range b.workers {
		wg.Go(func() {
			if errs[i] = b.work(i, handlers[i]); errs[i] != nil {
				b.Close()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

func ringRegion(q *Queue) region {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(q.ring)))
	return region{lo, lo + uintptr(len(q.ring))}
}

// work is one worker: it takes whole blocks from queue i of each port in
// turn, runs the handler over every frame, flushes what the handler sent,
// and only then gives the block back, because the flushed frames may still
// point into it.
func (b *Bridge) work(i int, h Handler) error {
	qs := [2]*Queue{b.ports[LAN].queues[i], b.ports[WAN].queues[i]}
	for k, q := range qs {
		if !q.enter() {
			for _, prev := range qs[:k] {
				prev.leave()
			}
			return nil
		}
	}
	defer func() {
		for _, q := range qs {
			q.releaseHeld()
			q.leave()
		}
	}()
	pinned := []region{ringRegion(qs[LAN]), ringRegion(qs[WAN])}
	s := &Sender{}
	for side, q := range qs {
		q.tx.pinned = pinned
		s.out[side] = q.tx
	}
	wt, err := newWaiter(qs)
	if err != nil {
		return fmt.Errorf("datapath: bridge worker %d: %w", i, err)
	}
	defer wt.Close()
	ci := new(CaptureInfo)
	for {
		if qs[LAN].closed() || qs[WAN].closed() {
			return nil
		}
		busy := false
		for side, q := range qs {
			if !q.tryAcquire() {
				continue
			}
			busy = true
			s.in = Side(side)
			for {
				frame, ok := q.cursor.next(ci)
				if !ok {
					break
				}
				if ci.CaptureLength < ci.Length {
					continue // counted as RxTruncated; forwarding it would corrupt it
				}
				s.handling(frame, ci)
				h.Handle(frame, ci, s.in, s)
			}
			qs[LAN].tx.flush()
			qs[WAN].tx.flush()
			q.releaseHeld()
		}
		if busy {
			continue
		}
		if err := wt.wait(pollTimeout * time.Millisecond); err != nil {
			return fmt.Errorf("datapath: bridge worker %d: wait: %w", i, err)
		}
	}
}
