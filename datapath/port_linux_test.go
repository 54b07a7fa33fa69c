//go:build linux

package datapath

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPortConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  PortConfig
		err  string
	}{
		{"defaults", PortConfig{Interface: "eth0"}, ""},
		{"no-interface", PortConfig{}, "empty or too long"},
		{"long-name", PortConfig{Interface: strings.Repeat("x", 16)}, "empty or too long"},
		{"too-many-queues", PortConfig{Interface: "eth0", Queues: 1000}, "queues 1000"},
		{"small-block", PortConfig{Interface: "eth0", BlockSize: 64 << 10}, "block size"},
		{"unaligned-block", PortConfig{Interface: "eth0", BlockSize: 200000}, "block size"},
		{"one-block", PortConfig{Interface: "eth0", BlockCount: 1}, "at least 2 blocks"},
		{"huge-ring", PortConfig{Interface: "eth0", BlockSize: 1 << 20, BlockCount: 2048}, "at most"},
		{"negative-timeout", PortConfig{Interface: "eth0", RetireTimeout: -time.Second}, "retire timeout"},
		{"huge-batch", PortConfig{Interface: "eth0", TxBatch: 5000}, "tx batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.normalize()
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Queues != 1 || c.BlockSize != defaultBlockSize || c.BlockCount != defaultBlockCount || c.RetireTimeout != defaultRetireTimeout {
					t.Errorf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one mentioning %q", err, tt.err)
			}
		})
	}
}

// udpFrame builds Ethernet+IPv4+UDP (checksum 0: allowed for IPv4).
func udpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst [4]byte, sport, dport uint16, payload []byte) []byte {
	f := append(append(append([]byte{}, dstMAC...), srcMAC...), 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(28+len(payload)))
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	return append(append(append(f, ip...), udp...), payload...)
}

func TestQueue(t *testing.T) {
	l := newLab(t)
	// Nobody answers ARP while no bridge runs: give A a neighbour entry so
	// its datagrams go straight onto the wire.
	run(t, "ip", "-n", l.a, "neigh", "add", "10.99.0.2", "lladdr", "02:00:00:00:00:02", "dev", l.aIf)
	var p *Port
	l.inNS(l.b, func() (err error) {
		p, err = OpenPort(PortConfig{Interface: l.lanIf, BlockSize: 256 << 10, BlockCount: 4})
		return err
	})
	t.Cleanup(func() { p.Close() })
	q := p.Queues()[0]
	if p.LinkType() != LinkTypeEthernet || p.MTU() != 1500 || p.Ifindex() == 0 || p.Name() != l.lanIf {
		t.Fatalf("port %s: link %v MTU %d ifindex %d", p.Name(), p.LinkType(), p.MTU(), p.Ifindex())
	}
	var client *net.UDPConn
	l.inNS(l.a, func() (err error) {
		client, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
		return err
	})
	t.Cleanup(func() { client.Close() })
	dst := &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999}
	send := func(payload []byte) {
		t.Helper()
		if _, err := client.WriteTo(payload, dst); err != nil {
			t.Fatal(err)
		}
	}
	newMarker := func() []byte { m := make([]byte, 16); rand.Read(m); return m }

	t.Run("read-batch", func(t *testing.T) {
		markers := map[string]bool{}
		for range 20 {
			m := newMarker()
			markers[string(m)] = false
			send(m)
		}
		timer := time.AfterFunc(5*time.Second, func() { t.Error("timed out"); q.Close() })
		defer timer.Stop()
		frames, infos := make([][]byte, 8), make([]CaptureInfo, 8)
		for found := 0; found < 20; {
			n, err := q.ReadBatch(frames, infos)
			if err != nil {
				t.Fatalf("after %d frames: %v", found, err)
			}
			for i := range n {
				f, ci := frames[i], infos[i]
				if len(f) < 42+16 || !(f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == 9999) {
					continue
				}
				m := string(f[42:58])
				if seen, ok := markers[m]; !ok || seen {
					t.Errorf("unexpected or duplicate frame %x", f)
					continue
				}
				markers[m] = true
				found++
				if ci.InterfaceIndex != p.Ifindex() || ci.LinkType != LinkTypeEthernet || ci.PacketType != PacketOtherHost ||
					ci.Length != len(f) || ci.CaptureLength != len(f) || ci.Queue != 0 || time.Since(ci.Timestamp) > time.Minute {
					t.Errorf("capture info %+v for a %d-byte frame", ci, len(f))
				}
			}
			q.Release()
		}
		// The transmit socket is bound with protocol 0: nothing queues
		// up on it unread.
		if n, err := unix.IoctlGetInt(q.txfd, unix.SIOCINQ); err != nil || n != 0 {
			t.Errorf("transmit socket: %d bytes waiting (%v), want none", n, err)
		}
	})

	t.Run("next", func(t *testing.T) {
		m := newMarker()
		send(m)
		var src Source = q
		timer := time.AfterFunc(5*time.Second, func() { t.Error("timed out"); q.Close() })
		defer timer.Stop()
		for {
			f, _, err := src.Next()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(f, m) {
				break
			}
		}
	})

	t.Run("write", func(t *testing.T) {
		var aMAC net.HardwareAddr
		var rx *net.UDPConn
		l.inNS(l.a, func() error {
			ifc, err := net.InterfaceByName(l.aIf)
			if err != nil {
				return err
			}
			aMAC = ifc.HardwareAddr
			rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: 7777})
			return err
		})
		defer rx.Close()
		m := newMarker()
		frame := udpFrame(aMAC, net.HardwareAddr{2, 0, 0, 0, 0, 2}, [4]byte{10, 99, 0, 2}, [4]byte{10, 99, 0, 1}, 5555, 7777, m)
		var sink Sink = q
		if err := sink.Write(frame); err != nil {
			t.Fatal(err)
		}
		rx.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 100)
		n, _, err := rx.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], m) {
			t.Fatalf("A got %x (%v), want %x", buf[:n], err, m)
		}
		// Our own transmission must not come back through the ring: read
		// up to a fence datagram from A and look for the marker on the way.
		fence := newMarker()
		send(fence)
		timer := time.AfterFunc(5*time.Second, func() { t.Error("timed out"); q.Close() })
		defer timer.Stop()
		for {
			f, _, err := q.Next()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(f, m) {
				t.Error("the ring returned a frame this socket sent")
			}
			if bytes.Contains(f, fence) {
				break
			}
		}
		if s := q.Stats(); s.TxFrames != 1 || s.TxBytes != uint64(len(frame)) {
			t.Errorf("tx stats %+v", s)
		}
	})

	t.Run("write-no-allocs", func(t *testing.T) {
		if !p.VNetHeader() {
			t.Fatal("the kernel refused PACKET_VNET_HDR with a TPACKET_V3 ring")
		}
		frame := udpFrame(net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}, [4]byte{10, 99, 0, 2}, [4]byte{10, 99, 0, 3}, 5555, 7778, make([]byte, 32))
		h := &VNetHeader{Flags: VNetNeedsChecksum, CsumStart: 34, CsumOffset: 6}
		if n := testing.AllocsPerRun(100, func() { q.Write(frame) }); n != 0 {
			t.Errorf("Write: %v allocations per frame", n)
		}
		if err := q.WriteVNet(frame, h); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { q.WriteVNet(frame, h) }); n != 0 {
			t.Errorf("WriteVNet: %v allocations per frame", n)
		}
		// A header the kernel refuses: the checksum would lie past the frame.
		if err := q.WriteVNet(frame, &VNetHeader{Flags: VNetNeedsChecksum, CsumStart: uint16(len(frame)), CsumOffset: 16}); err == nil {
			t.Error("a checksum offset past the frame was accepted")
		}
	})

	t.Run("too-large", func(t *testing.T) {
		before := q.Stats().TxTooLarge
		if err := q.Write(make([]byte, 3000)); !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("3000-byte frame on a 1500 MTU: %v, want ErrFrameTooLarge", err)
		}
		if err := q.Write(nil); !errors.Is(err, ErrEmptyFrame) {
			t.Errorf("empty frame: %v", err)
		}
		if got := q.Stats().TxTooLarge; got != before+1 {
			t.Errorf("TxTooLarge %d, want %d", got, before+1)
		}
	})

	t.Run("super-frame-arrives-whole", func(t *testing.T) {
		// With segmentation offloads on, a veth peer hands over one UDP GSO
		// super-frame; the ring must hold it whole.
		l.inNS(l.a, func() error { return SetOffloads(l.aIf, OffloadTSO|OffloadGSO|OffloadTxChecksum, true) })
		defer l.inNS(l.a, func() error { return SetOffloads(l.aIf, OffloadTSO|OffloadGSO|OffloadTxChecksum, false) })
		raw, err := client.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, 1400) })
		if serr != nil {
			t.Skipf("UDP_SEGMENT: %v", serr)
		}
		defer raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, 0) })
		payload := make([]byte, 60000)
		m := newMarker()
		copy(payload, m)
		if _, err := client.WriteTo(payload, dst); err != nil {
			if errors.Is(err, syscall.EIO) {
				t.Skip("the veth refuses UDP segmentation offload here")
			}
			t.Fatal(err)
		}
		f, ci := captureMarker(t, q, m, 3*time.Second)
		if len(f) < 60000 || ci.Truncated() {
			t.Errorf("got a %d-byte frame (wire %d): the super-frame was split or cut", len(f), ci.Length)
		}
	})

	t.Run("close-unblocks-reader", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			frames, infos := make([][]byte, 4), make([]CaptureInfo, 4)
			for {
				if _, err := q.ReadBatch(frames, infos); err != nil {
					done <- err
					return
				}
			}
		}()
		time.Sleep(100 * time.Millisecond)
		statsBefore := q.Stats()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("ReadBatch after Close: %v, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not unblock ReadBatch")
		}
		if err := q.Write(make([]byte, 60)); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		if _, _, err := q.Next(); !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if s := q.Stats(); s.KernelPackets < statsBefore.KernelPackets || s.RxFrames == 0 {
			t.Errorf("stats after Close %+v, before %+v", s, statsBefore)
		}
		// Closing let go of the ring and the socket.
		if q.ring != nil || q.state.Load() != closedBit {
			t.Errorf("after Close: ring mapped %v, state %#x", q.ring != nil, q.state.Load())
		}
	})
}

func TestOpenPortErrors(t *testing.T) {
	needRoot(t)
	_, err := OpenPort(PortConfig{Interface: "rpdp-nonexist"})
	if err == nil || !strings.Contains(err.Error(), "rpdp-nonexist") || !strings.Contains(err.Error(), "no such interface") {
		t.Errorf("missing interface: %v", err)
	}
	_, err = OpenBridge(BridgeConfig{LAN: "x", WAN: "x"})
	if err == nil {
		t.Error("bridge with one interface on both sides opened")
	}
}
