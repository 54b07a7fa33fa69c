package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// Capture records every frame seen on one interface of a lab host into a
// pcap file, like `tcpdump -i IFACE -w FILE` inside the host.
type Capture struct {
	Path    string
	fd      int
	stop    atomic.Bool
	done    chan struct{}
	packets atomic.Int64
	err     error
	once    sync.Once
}

const captureSnap = 65535

// Capture starts recording iface of the node to path. Stop it (or Down the
// lab) to flush the file.
func (n *Node) Capture(iface, path string) (*Capture, error) {
	var fd int
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind to %s: %w", iface, err)
		}
		// A short receive timeout lets Stop end the loop without closing the
		// descriptor under a blocked read.
		tv := unix.Timeval{Usec: 50_000}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		return nil, fmt.Errorf("capture on %s.%s: %w", n.Name, iface, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(captureSnap, layers.LinkTypeEthernet); err != nil {
		f.Close()
		unix.Close(fd)
		return nil, err
	}
	c := &Capture{Path: path, fd: fd, done: make(chan struct{})}
	go c.loop(f, w)
	if n.lab != nil {
		n.lab.mu.Lock()
		n.lab.caps = append(n.lab.caps, c)
		n.lab.mu.Unlock()
	}
	return c, nil
}

func (c *Capture) loop(f *os.File, w *pcapgo.Writer) {
	defer close(c.done)
	defer f.Close()
	defer unix.Close(c.fd)
	buf := make([]byte, captureSnap)
	for !c.stop.Load() {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			c.err = err
			return
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: n, Length: n}
		if err := w.WritePacket(ci, buf[:n]); err != nil {
			c.err = err
			return
		}
		c.packets.Add(1)
	}
}

// Stop ends the capture and returns the number of frames recorded.
func (c *Capture) Stop() (int64, error) {
	c.once.Do(func() { c.stop.Store(true) })
	<-c.done
	return c.packets.Load(), c.err
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// ReadPcap decodes every packet of a pcap file (Ethernet link type).
func ReadPcap(path string) ([]gopacket.Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []gopacket.Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		p.Metadata().CaptureInfo = ci
		out = append(out, p)
	}
	return out, nil
}
