package lab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/packet"
)

// RawTCP is one TCP connection that a lab host drives by hand, for
// attacks its own TCP stack would never send: data segments at any
// sequence offset, out of order, overlapping one another, with any TTL.
// The handshake is real (a SYN, the peer's SYN-ACK, an ACK), so the
// peer's stack and anything in between track a proper connection.
//
// The host's own stack knows nothing of the connection and would answer
// the peer's segments with resets; while the connection lives, an
// nftables table in the host's namespace drops the resets it sends from
// the connection's port, and a TCP socket bound to that port keeps the
// stack from giving it to anyone else. IPv4 only.
type RawTCP struct {
	Src, Dst netip.AddrPort
	// ISS and IRS are the initial sequence numbers, ours and the peer's:
	// the first data byte is ISS+1.
	ISS, IRS uint32

	node    *Node
	send    int    // raw socket, header included
	recv    int    // raw socket receiving the host's TCP segments
	reserve int    // TCP socket bound to Src's port
	table   string // nftables table dropping the host's resets
}

// ErrNoNft says the raw TCP client cannot run: it needs nftables to keep
// the host's stack from resetting its connections.
var ErrNoNft = errors.New("nft is not installed (make deps installs nftables)")

// rawRecvPoll bounds one read of the receiving socket, so that a wait
// checks its deadline this often.
const rawRecvPoll = 50 * time.Millisecond

// DialRawTCP opens a connection from the node's IPv4 address to dst:
// it reserves a port, installs the reset filter, sends a SYN and
// acknowledges the SYN-ACK, waiting for it at most timeout. On error
// nothing is left behind.
func (n *Node) DialRawTCP(ctx context.Context, dst netip.AddrPort, timeout time.Duration) (c *RawTCP, err error) {
	if !dst.Addr().Is4() {
		return nil, fmt.Errorf("raw TCP from %s: %s is not IPv4", n.Name, dst)
	}
	if n.lab == nil {
		return nil, fmt.Errorf("raw TCP from %s: not a lab host", n.Name)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("raw TCP from %s: %w", n.Name, ErrNoNft)
	}
	src := n.lab.Topo.Addr(n.Name, 4)
	if !src.IsValid() {
		return nil, fmt.Errorf("raw TCP from %s: the host has no IPv4 address", n.Name)
	}
	c = &RawTCP{Dst: dst, node: n, send: -1, recv: -1, reserve: -1}
	defer func() {
		if err != nil {
			c.release()
			c = nil
		}
	}()
	err = n.Do(func() error {
		var err error
		if c.reserve, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("reserve a port: %w", err)
		}
		if err := unix.Bind(c.reserve, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
			return fmt.Errorf("reserve a port: %w", err)
		}
		sa, err := unix.Getsockname(c.reserve)
		if err != nil {
			return err
		}
		c.Src = netip.AddrPortFrom(src, uint16(sa.(*unix.SockaddrInet4).Port))
		if c.send, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		if c.recv, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		tv := unix.NsecToTimeval(rawRecvPoll.Nanoseconds())
		return unix.SetsockoptTimeval(c.recv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		return nil, fmt.Errorf("raw TCP from %s: %w", n.Name, err)
	}
	table := fmt.Sprintf("rampart_rawtcp_%d", c.Src.Port())
	rules := fmt.Sprintf("table ip %s {\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n\t\ttcp sport %d tcp flags & rst == rst drop\n\t}\n}\n", table, c.Src.Port())
	cmd := n.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("raw TCP from %s: nft: %v: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	c.table = table
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	c.ISS = binary.BigEndian.Uint32(rnd[:])
	if err := c.sendSegment(Spec{Seq: c.ISS, Flags: packet.TCPSYN}); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		seg, err := c.read(ctx, deadline)
		if err != nil {
			return nil, fmt.Errorf("raw TCP %s → %s: waiting for the SYN-ACK: %w", c.Src, dst, err)
		}
		if seg.flags&packet.TCPRST != 0 && seg.ack == c.ISS+1 {
			return nil, fmt.Errorf("raw TCP %s → %s: refused", c.Src, dst)
		}
		if seg.flags&(packet.TCPSYN|packet.TCPACK) == packet.TCPSYN|packet.TCPACK && seg.ack == c.ISS+1 {
			c.IRS = seg.seq
			break
		}
	}
	if err := c.sendSegment(Spec{Seq: c.ISS + 1, Ack: c.IRS + 1, Flags: packet.TCPACK}); err != nil {
		return nil, err
	}
	return c, nil
}

// Send sends a data segment carrying data at offset off of the stream
// (sequence number ISS+1+off), acknowledging the peer's SYN, with the
// given TTL (0 means 64).
func (c *RawTCP) Send(off uint32, data []byte, ttl uint8) error {
	return c.sendSegment(Spec{Seq: c.ISS + 1 + off, Ack: c.IRS + 1, Flags: packet.TCPACK | packet.TCPPSH, TTL: ttl, Payload: data})
}

// Close sends a FIN after end bytes of stream, waits at most timeout for
// the peer's FIN (its application closing once it has read everything)
// and acknowledges it, then removes the reset filter and closes the
// sockets. It always cleans up; the error says whether the peer closed.
func (c *RawTCP) Close(end uint32, timeout time.Duration) error {
	defer c.release()
	fin := c.ISS + 1 + end
	if err := c.sendSegment(Spec{Seq: fin, Ack: c.IRS + 1, Flags: packet.TCPFIN | packet.TCPACK}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		seg, err := c.read(context.Background(), deadline)
		if err != nil {
			return fmt.Errorf("raw TCP %s → %s: waiting for the peer's FIN: %w", c.Src, c.Dst, err)
		}
		if seg.flags&packet.TCPRST != 0 {
			return fmt.Errorf("raw TCP %s → %s: reset by the peer", c.Src, c.Dst)
		}
		if seg.flags&packet.TCPFIN != 0 {
			return c.sendSegment(Spec{Seq: fin + 1, Ack: seg.seq + seg.len + 1, Flags: packet.TCPACK})
		}
	}
}

// release removes the reset filter and closes the sockets.
func (c *RawTCP) release() {
	if c.table != "" {
		_, _ = c.node.Run(context.Background(), "nft", "delete", "table", "ip", c.table)
		c.table = ""
	}
	for _, fd := range []*int{&c.send, &c.recv, &c.reserve} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// spec completes s with the connection's addresses and ports.
func (c *RawTCP) spec(s Spec) Spec {
	s.Src, s.Dst, s.Proto = c.Src.Addr(), c.Dst.Addr(), layers.IPProtocolTCP
	s.SrcPort, s.DstPort = c.Src.Port(), c.Dst.Port()
	return s
}

func (c *RawTCP) sendSegment(s Spec) error {
	b, err := c.spec(s).Build()
	if err != nil {
		return err
	}
	if err := unix.Sendto(c.send, b, 0, &unix.SockaddrInet4{Addr: c.Dst.Addr().As4()}); err != nil {
		return fmt.Errorf("raw TCP %s → %s: send: %w", c.Src, c.Dst, err)
	}
	return nil
}

// rawSegment is what the connection reads of a segment from the peer.
type rawSegment struct {
	seq, ack, len uint32
	flags         packet.TCPFlags
}

// errRawTimeout is a wait that ended with nothing from the peer.
var errRawTimeout = errors.New("timed out")

// read returns the next segment of the connection from the peer,
// skipping every other packet the host receives.
func (c *RawTCP) read(ctx context.Context, deadline time.Time) (rawSegment, error) {
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return rawSegment{}, err
		}
		n, _, err := unix.Recvfrom(c.recv, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return rawSegment{}, err
		}
		if seg, ok := c.parse(buf[:n]); ok {
			return seg, nil
		}
	}
	return rawSegment{}, errRawTimeout
}

// parse decodes an IPv4 packet as a segment of the connection from the
// peer.
func (c *RawTCP) parse(b []byte) (rawSegment, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return rawSegment{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total > len(b) || total < ihl+20 || b[9] != byte(layers.IPProtocolTCP) {
		return rawSegment{}, false
	}
	if netip.AddrFrom4([4]byte(b[12:16])) != c.Dst.Addr() || netip.AddrFrom4([4]byte(b[16:20])) != c.Src.Addr() {
		return rawSegment{}, false
	}
	t := b[ihl:total]
	if binary.BigEndian.Uint16(t[0:2]) != c.Dst.Port() || binary.BigEndian.Uint16(t[2:4]) != c.Src.Port() {
		return rawSegment{}, false
	}
	off := int(t[12]>>4) * 4
	if off < 20 || off > len(t) {
		return rawSegment{}, false
	}
	return rawSegment{
		seq: binary.BigEndian.Uint32(t[4:8]), ack: binary.BigEndian.Uint32(t[8:12]),
		len: uint32(len(t) - off), flags: packet.TCPFlags(t[13]),
	}, true
}
