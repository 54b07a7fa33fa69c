//go:build linux

package datapath

import (
	"bytes"
	"crypto/rand"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDropKernelInput: with the filter on, a datagram to an address of
// the interface still reaches the port's ring but no longer the kernel's
// socket; a second call (a filter left behind) replaces the filter
// instead of failing; restoring lets the kernel have its frames again and
// leaves no qdisc.
func TestDropKernelInput(t *testing.T) {
	l := newLab(t)
	run(t, "ip", "-n", l.b, "addr", "add", "10.99.0.3/24", "dev", l.lanIf)
	var bMAC string
	var sock *net.UDPConn
	var p *Port
	l.inNS(l.b, func() (err error) {
		ifc, err := net.InterfaceByName(l.lanIf)
		if err != nil {
			return err
		}
		bMAC = ifc.HardwareAddr.String()
		if sock, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 3), Port: 9998}); err != nil {
			return err
		}
		p, err = OpenPort(PortConfig{Interface: l.lanIf, BlockSize: 256 << 10, BlockCount: 4})
		return err
	})
	t.Cleanup(func() { sock.Close(); p.Close() })
	run(t, "ip", "-n", l.a, "neigh", "add", "10.99.0.3", "lladdr", bMAC, "dev", l.aIf)
	var client *net.UDPConn
	l.inNS(l.a, func() (err error) {
		client, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
		return err
	})
	t.Cleanup(func() { client.Close() })
	dst := &net.UDPAddr{IP: net.IPv4(10, 99, 0, 3), Port: 9998}
	q := p.Queues()[0]

	// send sends a marked datagram and reports whether the port's ring
	// and the kernel's socket got it.
	send := func() (ring, kernel bool) {
		t.Helper()
		m := make([]byte, 16)
		rand.Read(m)
		if _, err := client.WriteTo(m, dst); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(5*time.Second, func() { q.Close() })
		defer timer.Stop()
		for !ring {
			f, _, err := q.Next()
			if err != nil {
				t.Fatal("the port's ring did not get the datagram: ", err)
			}
			ring = bytes.Contains(f, m)
		}
		buf := make([]byte, 64)
		_ = sock.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := sock.ReadFrom(buf)
			if err != nil {
				return ring, false
			}
			if bytes.Equal(buf[:n], m) {
				return ring, true
			}
		}
	}
	qdiscs := func() string {
		out, _ := exec.Command("ip", "netns", "exec", l.b, "tc", "qdisc", "show", "dev", l.lanIf).CombinedOutput()
		return string(out)
	}

	if ring, kernel := send(); !ring || !kernel {
		t.Fatalf("before the filter: ring %v, kernel %v; want both", ring, kernel)
	}
	var first, second func() error
	l.inNS(l.b, func() (err error) {
		if first, err = DropKernelInput(l.lanIf); err != nil {
			return err
		}
		// Again, as after a gateway that died with its filter on: the
		// filter is replaced, the qdisc (not this call's) kept.
		second, err = DropKernelInput(l.lanIf)
		return err
	})
	if ring, kernel := send(); !ring || kernel {
		t.Fatalf("with the filter: ring %v, kernel %v; want the ring only", ring, kernel)
	}
	l.inNS(l.b, func() error { return second() })
	if ring, kernel := send(); !ring || !kernel {
		t.Fatalf("after the filter's removal: ring %v, kernel %v; want both", ring, kernel)
	}
	if s := qdiscs(); !strings.Contains(s, "clsact") {
		t.Fatalf("the second call removed a qdisc it did not add:\n%s", s)
	}
	l.inNS(l.b, func() error { return first() })
	if s := qdiscs(); strings.Contains(s, "clsact") {
		t.Fatalf("the qdisc the first call added is still there:\n%s", s)
	}
	if ring, kernel := send(); !ring || !kernel {
		t.Fatalf("after the last restore: ring %v, kernel %v; want both", ring, kernel)
	}
}
