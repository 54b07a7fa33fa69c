//go:build linux

package datapath

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLiveTxRx pushes 1514-byte frames through a real veth: batched
// sendmmsg from a port in A, TPACKET_V3 ring reads on a port in B. One op is
// one frame sent and received (or dropped by a full ring, which is reported
// as drops/op); allocs/op must be 0. The sender stays a bounded number of
// frames ahead of the receiver. A ring counts in blocks, and the retire
// timer closes half-empty blocks whenever the sender pauses, so a window in
// frames can't rule out drops entirely.
func BenchmarkLiveTxRx(b *testing.B) {
	l := newLab(b)
	var tx, rx *Port
	l.inNS(l.a, func() (err error) {
		tx, err = OpenPort(PortConfig{Interface: l.aIf, BlockSize: 128 << 10, BlockCount: 2, KeepOffloads: true, NoPromiscuous: true, TxBatch: 64})
		return err
	})
	b.Cleanup(func() { tx.Close() })
	l.inNS(l.b, func() (err error) {
		rx, err = OpenPort(PortConfig{Interface: l.lanIf, BlockSize: 128 << 10, BlockCount: 128})
		return err
	})
	b.Cleanup(func() { rx.Close() })
	out, in := tx.Queues()[0].tx, rx.Queues()[0]
	const window = 2048 // frames in flight: 25 of the 128 blocks
	var received atomic.Int64
	frames, infos := make([][]byte, 64), make([]CaptureInfo, 64)
	watchdog := time.AfterFunc(2*time.Minute, func() { in.Close() })
	defer watchdog.Stop()

	b.SetBytes(1514)
	b.ReportAllocs()
	b.ResetTimer()
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		frame := testFrame(1514, 0x42)
		// Once all frames are out, keep the receiver awake with filler
		// frames (another EtherType) until it has accounted for them all.
		defer func() {
			filler := testFrame(60, 1)
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
					out.transmit(filler, nil)
					out.flush()
				}
			}
		}()
		for sent := 0; sent < b.N; {
			if int64(sent)-received.Load() > window {
				runtime.Gosched()
				continue
			}
			for range min(64, b.N-sent) {
				binary.BigEndian.PutUint32(frame[14:], uint32(sent))
				out.transmit(frame, nil)
				sent++
			}
			out.flush()
		}
	}()
	var drops uint64
	for got := 0; got+int(drops) < b.N; {
		k, err := in.ReadBatch(frames, infos)
		if err != nil {
			b.Fatalf("after %d of %d frames: %v (%+v)", got, b.N, err, rx.Stats())
		}
		for _, f := range frames[:k] {
			if len(f) == 1514 && f[12] == 0x88 && f[13] == 0xb5 {
				got++
			}
		}
		received.Store(int64(got) + int64(drops))
		if k < len(frames) {
			drops = in.Stats().KernelDrops
		}
	}
	in.Release()
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
}
