//go:build linux

package datapath

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// flowLog records, per worker, which UDP port pairs the bridge saw. Port
// pairs are stored in a canonical order, so both directions of a flow map
// to the same key.
type flowLog struct {
	mu    sync.Mutex
	flows map[[2]uint16]map[int]bool
	// Offload headers seen: super-frames, frames whose checksum the
	// kernel is to complete, and frames that asked the handler to fill a
	// checksum although their header gave the job to the kernel.
	gso, needsCsum, doubleCsum atomic.Uint64
}

func (fl *flowLog) handler(worker int) Handler {
	return HandlerFunc(func(frame []byte, ci *CaptureInfo, in Side, out *Sender) {
		if ci.Queue != worker {
			panic(fmt.Sprintf("worker %d got a frame from queue %d", worker, ci.Queue))
		}
		if ci.VNet.IsGSO() {
			fl.gso.Add(1)
		}
		if ci.VNet.NeedsChecksum() {
			fl.needsCsum.Add(1)
			if ci.Flags&FlagChecksumNotReady != 0 {
				fl.doubleCsum.Add(1)
			}
		}
		// Ethernet + IPv4 without options + UDP.
		if len(frame) >= 42 && frame[12] == 0x08 && frame[13] == 0x00 && frame[14] == 0x45 && frame[23] == 17 {
			sp, dp := binary.BigEndian.Uint16(frame[34:]), binary.BigEndian.Uint16(frame[36:])
			key := [2]uint16{min(sp, dp), max(sp, dp)}
			fl.mu.Lock()
			if fl.flows[key] == nil {
				fl.flows[key] = map[int]bool{}
			}
			fl.flows[key][worker] = true
			fl.mu.Unlock()
		}
		out.Forward(frame)
	})
}

func TestBridge(t *testing.T) {
	l := newLab(t)
	var br *Bridge
	l.inNS(l.b, func() (err error) {
		br, err = OpenBridge(BridgeConfig{
			LAN: l.lanIf, WAN: l.wan, Workers: 2,
			Port: PortConfig{BlockSize: 256 << 10, BlockCount: 8},
		})
		return err
	})
	t.Cleanup(func() { br.Close() })
	fl := &flowLog{flows: map[[2]uint16]map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- br.Run(ctx, fl.handler) }()

	t.Run("ping", func(t *testing.T) { pingThrough(t, l, "10.99.0.2", 5) })

	t.Run("udp-echo", func(t *testing.T) {
		srv := udpEchoServer(t, l, "10.99.0.2:7007")
		var clients []net.PacketConn
		for range 16 {
			var c net.PacketConn
			l.inNS(l.a, func() (err error) { c, err = net.ListenPacket("udp4", "10.99.0.1:0"); return err })
			t.Cleanup(func() { c.Close() })
			clients = append(clients, c)
		}
		for round, size := range []int{1, 100, 1472} {
			for i, c := range clients {
				msg := make([]byte, size)
				rand.Read(msg)
				if _, err := c.WriteTo(msg, srv); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 2048)
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				n, _, err := c.ReadFrom(got)
				if err != nil {
					t.Fatalf("round %d client %d: %v", round, i, err)
				}
				if !bytes.Equal(got[:n], msg) {
					t.Fatalf("round %d client %d: echo differs", round, i)
				}
			}
		}
		// A bridge that saw its own transmissions would send them again:
		// every request must have come back exactly once.
		quiet := time.Now().Add(150 * time.Millisecond)
		for i, c := range clients {
			c.SetReadDeadline(quiet)
			if n, _, err := c.ReadFrom(make([]byte, 2048)); err == nil {
				t.Errorf("client %d: duplicate datagram of %d bytes", i, n)
			}
		}
	})

	t.Run("tcp-echo", func(t *testing.T) {
		var ln net.Listener
		l.inNS(l.c, func() (err error) { ln, err = net.Listen("tcp4", "10.99.0.2:7008"); return err })
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); io.Copy(c, c) }()
			}
		}()
		var conn net.Conn
		l.inNS(l.a, func() (err error) {
			conn, err = net.DialTimeout("tcp4", "10.99.0.2:7008", 5*time.Second)
			return err
		})
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		payload := make([]byte, 2<<20)
		rand.Read(payload)
		werr := make(chan error, 1)
		go func() { _, err := conn.Write(payload); werr <- err }()
		got := make([]byte, len(payload))
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatalf("read echo: %v", err)
		}
		if err := <-werr; err != nil {
			t.Fatalf("write: %v", err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatal("TCP echo differs")
		}
	})

	t.Run("vlan", func(t *testing.T) {
		// The kernel strips 802.1Q tags before packet sockets see a frame
		// (the test kernel may lack VLAN devices, so A injects tagged
		// frames itself). The bridge must put the tag back, and C must
		// receive exactly what A sent.
		var ap, cp *Port
		l.inNS(l.a, func() (err error) {
			ap, err = OpenPort(PortConfig{Interface: l.aIf, BlockSize: 128 << 10, BlockCount: 2, KeepOffloads: true, NoPromiscuous: true})
			return err
		})
		defer ap.Close()
		l.inNS(l.c, func() (err error) {
			cp, err = OpenPort(PortConfig{Interface: l.cIf, BlockSize: 128 << 10, BlockCount: 4, KeepOffloads: true})
			return err
		})
		defer cp.Close()
		tests := []struct {
			tpid, tci uint16
		}{{0x8100, 0x600a}, {0x8100, 0}, {0x88a8, 0x0123}}
		for _, tt := range tests {
			frame := []byte{0x02, 0, 0, 0, 0, 0x0c, 0x02, 0, 0, 0, 0, 0x0a}
			frame = binary.BigEndian.AppendUint16(frame, tt.tpid)
			frame = binary.BigEndian.AppendUint16(frame, tt.tci)
			frame = append(frame, 0x88, 0xb5)
			marker := make([]byte, 16)
			rand.Read(marker)
			frame = append(frame, marker...)
			frame = append(frame, make([]byte, 64)...)
			if err := ap.Write(frame); err != nil {
				t.Fatal(err)
			}
			got, ci := captureMarker(t, cp.Queues()[0], marker, 3*time.Second)
			if !bytes.Equal(got, frame) {
				t.Errorf("tag %#04x/%#04x: C got\n%x\nwant\n%x", tt.tpid, tt.tci, got, frame)
			}
			// The kernel strips tags on every receive path; had it not
			// stripped at C, this test would not show that B restores them.
			if ci.Flags&FlagVLANRestored == 0 || ci.VLAN != tt.tci {
				t.Errorf("tag %#04x/%#04x: flags %b VLAN %#04x, want the tag restored", tt.tpid, tt.tci, ci.Flags, ci.VLAN)
			}
		}
	})

	if !br.Port(LAN).VNetHeader() || !br.Port(WAN).VNetHeader() {
		t.Fatal("the kernel refused PACKET_VNET_HDR with TPACKET_V3 rings")
	}
	peerOffloads := OffloadTSO | OffloadGSO | OffloadTxChecksum
	// setOffloads sets the offloads of A's and C's interfaces and of the
	// bridge's ports, and puts back the lab's defaults when the test ends.
	setOffloads := func(t *testing.T, a, c, ports Offload) {
		t.Helper()
		set := func(ns, ifname string, on Offload) {
			l.inNS(ns, func() error {
				if err := SetOffloads(ifname, peerOffloads&^on, false); err != nil {
					return err
				}
				return SetOffloads(ifname, on, true)
			})
		}
		set(l.a, l.aIf, a)
		set(l.c, l.cIf, c)
		set(l.b, l.lanIf, ports)
		set(l.b, l.wan, ports)
		t.Cleanup(func() {
			set(l.a, l.aIf, 0)
			set(l.c, l.cIf, 0)
			set(l.b, l.lanIf, peerOffloads)
			set(l.b, l.wan, peerOffloads)
		})
	}
	tooLarge := func() uint64 { return br.Port(LAN).Stats().TxTooLarge + br.Port(WAN).Stats().TxTooLarge }
	// Egress offloads on the bridge's ports: on, the super-frame leaves B
	// whole and C's stack takes it as it is; off, B's kernel cuts it into
	// MTU-sized segments and computes every checksum, and C checks them.
	egress := []struct {
		name  string
		ports Offload
	}{{"egress-offloads-on", peerOffloads}, {"egress-offloads-off", 0}}

	t.Run("udp-gso-super-frame", func(t *testing.T) {
		for i, eg := range egress {
			t.Run(eg.name, func(t *testing.T) {
				setOffloads(t, peerOffloads, 0, eg.ports)
				var c, srv *net.UDPConn
				l.inNS(l.a, func() (err error) {
					c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
					return err
				})
				defer c.Close()
				port := 7009 + i
				l.inNS(l.c, func() (err error) {
					srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: port})
					return err
				})
				defer srv.Close()
				raw, _ := c.SyscallConn()
				var serr error
				raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, 1400) })
				if serr != nil {
					t.Skipf("UDP_SEGMENT: %v", serr)
				}
				// 22 segments: 21 of 1400 bytes and one of 600, each
				// starting with its index.
				const size, seg = 30000, 1400
				payload := make([]byte, size)
				rand.Read(payload)
				for k := 0; k < size; k += seg {
					payload[k] = byte(k / seg)
				}
				before, gsoBefore := tooLarge(), fl.gso.Load()
				if _, err := c.WriteTo(payload, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: port}); err != nil {
					t.Fatal(err)
				}
				got := map[byte]bool{}
				buf := make([]byte, 65536)
				srv.SetReadDeadline(time.Now().Add(3 * time.Second))
				for len(got) < (size+seg-1)/seg {
					n, _, err := srv.ReadFrom(buf)
					if err != nil {
						t.Fatalf("after %d of %d segments: %v", len(got), (size+seg-1)/seg, err)
					}
					k := int(buf[0]) * seg
					if n == 0 || k >= size || !bytes.Equal(buf[:n], payload[k:min(k+seg, size)]) || got[buf[0]] {
						t.Fatalf("segment of %d bytes starting %x is not one of the datagram's or a duplicate", n, buf[:min(n, 4)])
					}
					got[buf[0]] = true
				}
				if tooLarge() != before {
					t.Errorf("TxTooLarge went from %d to %d", before, tooLarge())
				}
				if fl.gso.Load() == gsoBefore {
					t.Error("no super-frame reached the handler: the test did not test GSO")
				}
			})
		}
	})

	t.Run("tcp-bulk-offloads", func(t *testing.T) {
		// Both hosts with the veth defaults (TSO, GSO, checksum offload):
		// a bulk transfer in each direction through the bridge.
		for i, eg := range egress {
			t.Run(eg.name, func(t *testing.T) {
				setOffloads(t, peerOffloads, peerOffloads, eg.ports)
				tcpBulk(t, l, fmt.Sprintf("10.99.0.2:%d", 7100+i), 16<<20, 30*time.Second)
				if n := tooLarge(); n != 0 {
					t.Errorf("TxTooLarge %d", n)
				}
			})
		}
		if fl.gso.Load() == 0 {
			t.Error("no super-frame reached the handler: the test did not test TSO")
		}
	})

	t.Run("checksum-offload", func(t *testing.T) {
		// A leaves checksums to offload but segments itself; C checks
		// checksums (a veth delivers a completed frame as unverified).
		// The handler fills nothing in: the kernel must, from the header.
		for i, eg := range egress {
			t.Run(eg.name, func(t *testing.T) {
				setOffloads(t, OffloadTxChecksum, 0, eg.ports)
				port := 7020 + i
				var c, srv *net.UDPConn
				l.inNS(l.a, func() (err error) {
					c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
					return err
				})
				defer c.Close()
				l.inNS(l.c, func() (err error) {
					srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: port})
					return err
				})
				defer srv.Close()
				before := fl.needsCsum.Load()
				buf := make([]byte, 2048)
				for k, size := range []int{1, 17, 512, 1472, 1000, 3} {
					msg := make([]byte, size)
					rand.Read(msg)
					if _, err := c.WriteTo(msg, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: port}); err != nil {
						t.Fatal(err)
					}
					srv.SetReadDeadline(time.Now().Add(3 * time.Second))
					n, _, err := srv.ReadFrom(buf)
					if err != nil || !bytes.Equal(buf[:n], msg) {
						t.Fatalf("datagram %d (%d bytes): got %d bytes, %v", k, size, n, err)
					}
				}
				if fl.needsCsum.Load() == before {
					t.Error("no frame with its checksum left to offload reached the handler")
				}
				tcpBulk(t, l, fmt.Sprintf("10.99.0.2:%d", 7110+i), 1<<20, 20*time.Second)
			})
		}
		if n := fl.doubleCsum.Load(); n != 0 {
			t.Errorf("%d frames flagged FlagChecksumNotReady although their vnet header asks the kernel", n)
		}
	})

	t.Run("flow-affinity", func(t *testing.T) {
		fl.mu.Lock()
		defer fl.mu.Unlock()
		seen := 0
		for key, workers := range fl.flows {
			if key[0] != 7007 && key[1] != 7007 {
				continue
			}
			seen++
			if len(workers) != 1 {
				t.Errorf("flow %v was handled by workers %v; both directions belong to one worker", key, workers)
			}
		}
		if seen != 16 {
			t.Errorf("saw %d UDP flows, want 16", seen)
		}
	})

	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, side := range []Side{LAN, WAN} {
		s := br.Port(side).Stats()
		t.Logf("%s: %+v", side, s)
		if s.RxFrames == 0 || s.TxFrames == 0 || s.KernelPackets == 0 {
			t.Errorf("%s: no traffic counted: %+v", side, s)
		}
		if s.TxErrors != 0 || s.TxDropped != 0 || s.RxTruncated != 0 || s.RxCorrupt != 0 || s.RxOutgoing != 0 {
			t.Errorf("%s: errors counted: %+v", side, s)
		}
	}
}

// pingThrough sends count ICMP echo requests from A and expects exactly one
// reply to each.
func pingThrough(t *testing.T, l *lab, dst string, count int) {
	t.Helper()
	var c *icmp.PacketConn
	l.inNS(l.a, func() (err error) { c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0"); return err })
	defer c.Close()
	var idb [2]byte
	rand.Read(idb[:])
	id := int(binary.BigEndian.Uint16(idb[:]))
	replies := map[int]int{}
	for seq := 1; seq <= count; seq++ {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("rampart datapath")}}
		b, err := m.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for replies[seq] == 0 {
			c.SetReadDeadline(deadline)
			buf := make([]byte, 1500)
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("echo %d to %s: %v", seq, dst, err)
			}
			rm, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || rm.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := rm.Body.(*icmp.Echo); ok && e.ID == id {
				replies[e.Seq]++
			}
		}
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		buf := make([]byte, 1500)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		if rm, err := icmp.ParseMessage(1, buf[:n]); err == nil && rm.Type == ipv4.ICMPTypeEchoReply {
			if e, ok := rm.Body.(*icmp.Echo); ok && e.ID == id {
				replies[e.Seq]++
			}
		}
	}
	for seq := 1; seq <= count; seq++ {
		if replies[seq] != 1 {
			t.Errorf("echo %d to %s: %d replies, want 1", seq, dst, replies[seq])
		}
	}
}

func udpEchoServer(t *testing.T, l *lab, addr string) net.Addr {
	t.Helper()
	var srv net.PacketConn
	l.inNS(l.c, func() (err error) { srv, err = net.ListenPacket("udp4", addr); return err })
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	return srv.LocalAddr()
}

// captureMarker reads q until a frame containing marker shows up, and
// returns a copy of it. The queue is closed if nothing comes in time.
func captureMarker(t *testing.T, q *Queue, marker []byte, timeout time.Duration) ([]byte, CaptureInfo) {
	t.Helper()
	timer := time.AfterFunc(timeout, func() { q.Close() })
	defer timer.Stop()
	frames := make([][]byte, 16)
	infos := make([]CaptureInfo, 16)
	for {
		n, err := q.ReadBatch(frames, infos)
		if err != nil {
			t.Fatalf("waiting for frame with marker %x: %v", marker, err)
		}
		for i := range n {
			if bytes.Contains(frames[i], marker) {
				f := bytes.Clone(frames[i])
				q.Release()
				return f, infos[i]
			}
		}
		q.Release()
	}
}

// tcpBulk sends size random bytes from A to an echo server in C at addr
// and reads them back, and fails unless all arrive byte-exact within
// limit. It logs the rate (both directions count).
func tcpBulk(t *testing.T, l *lab, addr string, size int, limit time.Duration) {
	t.Helper()
	var ln net.Listener
	l.inNS(l.c, func() (err error) { ln, err = net.Listen("tcp4", addr); return err })
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(limit))
		io.Copy(c, c)
	}()
	// The dial's failure belongs to this (sub)test, not to the lab's.
	var conn net.Conn
	var derr error
	l.inNS(l.a, func() error {
		conn, derr = net.DialTimeout("tcp4", addr, 5*time.Second)
		return nil
	})
	if derr != nil {
		t.Fatal(derr)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(limit))
	payload := make([]byte, size)
	rand.Read(payload)
	werr := make(chan error, 1)
	go func() { _, err := conn.Write(payload); werr <- err }()
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("%s: read echo after %v: %v", addr, time.Since(start).Round(time.Millisecond), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("%s: write: %v", addr, err)
	}
	el := time.Since(start)
	if !bytes.Equal(got, payload) {
		t.Fatalf("%s: echo differs", addr)
	}
	t.Logf("%s: %d MiB each way in %v: %.0f Mbit/s per direction", addr, size>>20, el.Round(time.Millisecond), float64(size)*8/el.Seconds()/1e6)
}
