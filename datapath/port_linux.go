//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	defaultBlockSize     = 1 << 20
	defaultBlockCount    = 16
	defaultRetireTimeout = time.Millisecond
	defaultTxBatch       = 64

	// minBlockSize keeps a 64 KiB super-frame whole: block descriptor,
	// frame header, sockaddr_ll, reserve and the frame itself.
	minBlockSize = 128 << 10
	// maxRingBytes bounds one queue's ring.
	maxRingBytes = 1 << 30
	maxQueues    = 256
	// ringReserve guarantees headroom before each frame for restoring an
	// 802.1Q tag in place.
	ringReserve = vlanTagLen
	// pollTimeout bounds one poll; a wait rechecks the ring after it, so a
	// missed wakeup costs at most this much latency.
	pollTimeout = 250

	ethPAll = 0x0003

	// Fanout flags (linux/if_packet.h), shifted into the option's upper half.
	fanoutHash           = 0
	fanoutIgnoreOutgoing = unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	fanoutUniqueID       = unix.PACKET_FANOUT_FLAG_UNIQUEID

	arphrdEther    = 1
	arphrdLoopback = 772
	arphrdNone     = 0xfffe
)

// PortConfig configures a live port: one interface, Queues fanout members.
type PortConfig struct {
	// Interface is the name of the interface, in the network namespace of
	// the thread that calls OpenPort.
	Interface string
	// Queues is the number of fanout members (one per worker); zero means 1.
	Queues int
	// BlockSize is the size of one ring block in bytes: a multiple of the
	// page size, at least 128 KiB; zero means 1 MiB.
	BlockSize int
	// BlockCount is the number of blocks per queue; zero means 16.
	BlockCount int
	// RetireTimeout closes a partly filled block after this long, which
	// bounds the latency of a lone frame; rounded up to milliseconds,
	// zero means 1 ms.
	RetireTimeout time.Duration
	// TxBatch is the number of frames a Sender queues before it flushes;
	// zero means 64.
	TxBatch int
	// NoPromiscuous leaves the interface's promiscuous mode alone. A bridge
	// needs promiscuous mode to see frames for other hosts.
	NoPromiscuous bool
	// KeepOffloads leaves GRO and LRO as they are, for ports that only
	// receive.
	KeepOffloads bool
	// QdiscBypass sends straight to the driver, skipping the qdisc: faster,
	// but frames are dropped instead of queued when the device is busy.
	QdiscBypass bool
	// NoVNetHeader turns vnet headers off. Without them a GSO super-frame
	// from a peer with TSO can't be sent on (it is counted as TxTooLarge)
	// and a frame whose checksum was left to offload is flagged
	// FlagChecksumNotReady for the handler to complete.
	NoVNetHeader bool
}

func (c *PortConfig) normalize() error {
	if c.Interface == "" || len(c.Interface) >= unix.IFNAMSIZ {
		return fmt.Errorf("datapath: interface name %q is empty or too long", c.Interface)
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.BlockSize == 0 {
		c.BlockSize = defaultBlockSize
	}
	if c.BlockCount == 0 {
		c.BlockCount = defaultBlockCount
	}
	if c.RetireTimeout == 0 {
		c.RetireTimeout = defaultRetireTimeout
	}
	if c.TxBatch == 0 {
		c.TxBatch = defaultTxBatch
	}
	page := os.Getpagesize()
	switch {
	case c.Queues < 1 || c.Queues > maxQueues:
		return fmt.Errorf("datapath: %s: queues %d outside 1..%d", c.Interface, c.Queues, maxQueues)
	case c.BlockSize < minBlockSize || c.BlockSize%page != 0 || c.BlockSize > maxRingBytes:
		return fmt.Errorf("datapath: %s: block size %d: want a multiple of %d between %d and %d", c.Interface, c.BlockSize, page, minBlockSize, maxRingBytes)
	case c.BlockCount < 2 || c.BlockSize*c.BlockCount > maxRingBytes:
		return fmt.Errorf("datapath: %s: %d blocks of %d bytes: want at least 2 blocks and at most %d bytes", c.Interface, c.BlockCount, c.BlockSize, maxRingBytes)
	case c.RetireTimeout < 0 || c.RetireTimeout > time.Minute:
		return fmt.Errorf("datapath: %s: retire timeout %v outside 1ms..1m", c.Interface, c.RetireTimeout)
	case c.TxBatch < 1 || c.TxBatch > 1024:
		return fmt.Errorf("datapath: %s: tx batch %d outside 1..1024", c.Interface, c.TxBatch)
	}
	return nil
}

// Port is an interface opened for packet I/O: Queues receive rings sharing
// its traffic by flow hash, each also able to transmit.
type Port struct {
	name    string
	ifindex int
	link    LinkType
	mtu     int
	vnet    bool
	queues  []*Queue
	cfg     PortConfig
}

// OpenPort opens cfg.Interface, in the network namespace of the calling
// thread (lock the goroutine to a thread that has done setns to open a
// port in another namespace; the sockets stay there afterwards).
func OpenPort(cfg PortConfig) (*Port, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	p := &Port{name: cfg.Interface, cfg: cfg, vnet: !cfg.NoVNetHeader}
	var group int
	for i := range cfg.Queues {
		q, err := p.openQueue(i)
		if err == nil && cfg.Queues > 1 {
			group, err = q.joinFanout(i == 0, group)
		}
		if err != nil {
			if q != nil {
				q.Close()
			}
			p.Close()
			return nil, err
		}
		p.queues = append(p.queues, q)
	}
	if !cfg.KeepOffloads {
		if err := setOffloads(p.queues[0].fd, p.name, OffloadGRO|OffloadLRO, false); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

func (p *Port) errorf(format string, args ...any) error {
	return fmt.Errorf("datapath: %s: "+format, append([]any{p.name}, args...)...)
}

func (p *Port) openQueue(index int) (*Queue, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, p.errorf("packet socket: %w", err)
	}
	q := &Queue{fd: fd, txfd: -1, efd: -1, index: index, port: p}
	fail := func(what string, err error) (*Queue, error) {
		q.cleanup()
		return nil, p.errorf("queue %d: %s: %w", index, what, err)
	}
	if index == 0 {
		if err := p.describe(fd); err != nil {
			q.cleanup()
			return nil, err
		}
	}
	q.link = p.link
	if q.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fail("eventfd", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("TPACKET_V3", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_RESERVE, ringReserve); err != nil {
		return fail("PACKET_RESERVE", err)
	}
	// The option must come before the ring (EBUSY after). A kernel that
	// doesn't know it leaves the port without vnet headers; every queue of
	// a port follows the first, because a bridge moves frames between them.
	if p.vnet {
		err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1)
		switch {
		case err == nil:
		case index == 0 && (errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EINVAL)):
			p.vnet = false
		default:
			return fail("PACKET_VNET_HDR", err)
		}
	}
	q.vnet = p.vnet
	// Kernels before 4.20 lack the option; the walker drops outgoing
	// frames by their packet type anyway.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	if err := q.openTx(); err != nil {
		return fail("transmit socket", err)
	}
	c := p.cfg
	req := unix.TpacketReq3{
		Block_size:     uint32(c.BlockSize),
		Block_nr:       uint32(c.BlockCount),
		Frame_size:     2048, // V3 frames are variable; the kernel only checks the arithmetic.
		Frame_nr:       uint32(c.BlockSize / 2048 * c.BlockCount),
		Retire_blk_tov: uint32((c.RetireTimeout + time.Millisecond - 1) / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("PACKET_RX_RING", err)
	}
	ring, err := unix.Mmap(fd, 0, c.BlockSize*c.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap ring", err)
	}
	q.ring, q.blockSize, q.blockCount = ring, c.BlockSize, c.BlockCount
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: p.ifindex}); err != nil {
		return fail("bind", err)
	}
	if !c.NoPromiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	q.tx = newTxBatch(q, c.TxBatch)
	q.pfd = [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(q.efd), Events: unix.POLLIN}}
	return q, nil
}

// openTx opens the queue's transmit socket: a second packet socket,
// bound to the interface with protocol 0, so that it receives nothing.
// Sending on the receive socket costs the kernel a wake-up per frame: it
// lies in the worker's epoll set, so when a sent frame is freed
// (sock_wfree, sock_def_write_space) it finds a waiter and calls epoll's
// callback under the wait queue's lock, only for the callback to see that
// nobody waits to write. Nobody polls the transmit socket.
func (q *Queue) openTx() error {
	p := q.port
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	q.txfd = fd
	if p.vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fmt.Errorf("PACKET_VNET_HDR: %w", err)
		}
	}
	if p.cfg.QdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
		}
	}
	// A bigger send buffer lets a whole batch queue up without blocking;
	// the kernel caps it at wmem_max, which is fine.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: p.ifindex}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

// describe learns the interface's index, link type and MTU through the
// port's own socket, so that all three come from the socket's namespace.
func (p *Port) describe(fd int) error {
	ifr, err := unix.NewIfreq(p.name)
	if err != nil {
		return p.errorf("interface name: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return p.errorf("no such interface: %w", err)
	}
	p.ifindex = int(ifr.Uint32())
	ifr, _ = unix.NewIfreq(p.name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return p.errorf("hardware address: %w", err)
	}
	switch hw := ifr.Uint16(); hw {
	case arphrdEther, arphrdLoopback:
		p.link = LinkTypeEthernet
	case arphrdNone:
		p.link = LinkTypeRaw
	default:
		return p.errorf("%w: ARPHRD %d", ErrUnsupportedLinkType, hw)
	}
	ifr, _ = unix.NewIfreq(p.name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return p.errorf("MTU: %w", err)
	}
	p.mtu = int(ifr.Uint32())
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Name returns the interface name.
func (p *Port) Name() string { return p.name }

// Ifindex returns the interface index.
func (p *Port) Ifindex() int { return p.ifindex }

// LinkType returns the link type of the port's frames.
func (p *Port) LinkType() LinkType { return p.link }

// MTU returns the interface MTU when the port was opened.
func (p *Port) MTU() int { return p.mtu }

// VNetHeader reports whether the port's sockets carry vnet headers: frames
// come with CaptureInfo.VNet, and super-frames and checksums left to
// offload are passed on for the kernel to finish.
func (p *Port) VNetHeader() bool { return p.vnet }

// Queues returns the port's queues, in fanout order.
func (p *Port) Queues() []*Queue { return p.queues }

// Write transmits frame on the port's first queue: the Sink for callers
// outside the bridge loop. It is safe for concurrent use.
func (p *Port) Write(frame []byte) error {
	if len(p.queues) == 0 {
		return ErrClosed
	}
	return p.queues[0].Write(frame)
}

// Stats sums the statistics of all queues.
func (p *Port) Stats() Stats {
	var s Stats
	for _, q := range p.queues {
		s.Add(q.Stats())
	}
	return s
}

// Close closes every queue. See Queue.Close.
func (p *Port) Close() error {
	for _, q := range p.queues {
		q.Close()
	}
	return nil
}

// Queue is one fanout member of a port: a TPACKET_V3 receive ring, and a
// transmit path on the same socket. Receiving (ReadBatch, Release, Next)
// belongs to one goroutine; Write, Stats and Close are safe from any.
type Queue struct {
	fd, efd    int
	txfd       int // the transmit socket (openTx)
	index      int
	port       *Port
	link       LinkType
	vnet       bool
	ring       []byte
	blockSize  int
	blockCount int
	pfd        [2]unix.PollFd

	// state counts the users of fd, efd and ring (calls in progress and a
	// held block); closedBit marks Close. Whoever drops the count to zero
	// after Close unmaps and closes, so Close never pulls the ring from
	// under a reader, nor a descriptor from under a poll or a send.
	state atomic.Int64

	// Receiver-owned: the block being walked.
	cur     int  // next block to acquire
	held    bool // block cur is ours (TP_STATUS_USER) and counted in state
	cursor  blockCursor
	tx      *txBatch
	counts  queueCounters
	stats   kernelStats
	cleaned sync.Once
}

const closedBit = 1 << 62

type queueCounters struct {
	rxFrames, rxBytes, rxOutgoing, rxTruncated, rxCorrupt atomic.Uint64
	txFrames, txBytes, txDropped, txTooLarge, txErrors    atomic.Uint64
}

// kernelStats accumulates PACKET_STATISTICS, which the kernel resets on
// every read.
type kernelStats struct {
	mu                      sync.Mutex
	packets, drops, freezes uint64
}

func (q *Queue) enter() bool {
	for {
		s := q.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if q.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (q *Queue) leave() {
	if q.state.Add(-1) == closedBit {
		q.cleanup()
	}
}

func (q *Queue) closed() bool { return q.state.Load()&closedBit != 0 }

// Close stops the queue: a receiver waiting in ReadBatch or Next returns
// ErrClosed at once, and the ring is unmapped and the socket closed when
// the last call in progress returns and the held block (if any) is given
// back. Frames handed out before Close must not be used after the next
// ReadBatch, Release or Next.
func (q *Queue) Close() error {
	if !q.enter() {
		return nil
	}
	q.state.Or(closedBit)
	var one [8]byte
	one[0] = 1 // eventfd counters are host-endian; any non-zero value wakes
	_, _ = unix.Write(q.efd, one[:])
	q.leave()
	return nil
}

func (q *Queue) cleanup() {
	q.cleaned.Do(func() {
		q.readStats()
		if q.ring != nil {
			_ = unix.Munmap(q.ring)
			q.ring = nil
		}
		if q.efd >= 0 {
			unix.Close(q.efd)
		}
		if q.txfd >= 0 {
			unix.Close(q.txfd)
		}
		unix.Close(q.fd)
	})
}

// Index returns the queue's position in the fanout group.
func (q *Queue) Index() int { return q.index }

// joinFanout makes the queue a member of the port's fanout group. The
// first queue creates the group with an id the kernel picks (unused in this
// namespace) and returns the option value the others join with.
func (q *Queue) joinFanout(first bool, group int) (int, error) {
	if !first {
		if err := unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, group); err != nil {
			return 0, q.port.errorf("queue %d: join fanout group %d: %w", q.index, group&0xffff, err)
		}
		return group, nil
	}
	flags := fanoutHash | fanoutIgnoreOutgoing | fanoutUniqueID
	err := unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, flags<<16)
	if errors.Is(err, unix.EINVAL) {
		// Older kernels know no IGNORE_OUTGOING fanout flag (and a group
		// ignores its members' own PACKET_IGNORE_OUTGOING); the walker
		// filters outgoing frames itself.
		flags &^= fanoutIgnoreOutgoing
		err = unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, flags<<16)
	}
	if err != nil {
		return 0, q.port.errorf("queue %d: create fanout group: %w", q.index, err)
	}
	// The kernel reports id | type_flags<<16 without the unique-id flag:
	// exactly what the other members must pass.
	v, err := unix.GetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return 0, q.port.errorf("queue %d: read fanout group: %w", q.index, err)
	}
	return v, nil
}

// blockStatus is the block descriptor's status word, shared with the
// kernel: atomic loads and stores give the ordering the kernel's barriers
// pair with.
func (q *Queue) blockStatus(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&q.ring[i*q.blockSize+blockStatusOff]))
}

// tryAcquire takes the next block if the kernel has handed it over. The
// caller must be inside enter/leave.
func (q *Queue) tryAcquire() bool {
	if q.held {
		return true
	}
	if atomic.LoadUint32(q.blockStatus(q.cur))&tpStatusUser == 0 {
		return false
	}
	q.state.Add(1)
	q.held = true
	off := q.cur * q.blockSize
	q.cursor.reset(q.ring[off:off+q.blockSize], q.link, q.index, q.vnet)
	return true
}

// releaseHeld gives the held block back to the kernel.
func (q *Queue) releaseHeld() {
	if !q.held {
		return
	}
	c := &q.cursor
	q.counts.rxFrames.Add(c.frames)
	q.counts.rxBytes.Add(c.bytes)
	if c.outgoing|c.truncated|c.corrupt != 0 {
		q.counts.rxOutgoing.Add(c.outgoing)
		q.counts.rxTruncated.Add(c.truncated)
		q.counts.rxCorrupt.Add(c.corrupt)
	}
	c.block = nil
	atomic.StoreUint32(q.blockStatus(q.cur), tpStatusKernel)
	q.cur++
	if q.cur == q.blockCount {
		q.cur = 0
	}
	q.held = false
	q.leave()
}

// wait blocks until the next block is ours or the queue is closed. The
// caller must be inside enter/leave.
func (q *Queue) wait() error {
	for {
		if q.closed() {
			return ErrClosed
		}
		if q.tryAcquire() {
			return nil
		}
		_, err := unix.Poll(q.pfd[:], pollTimeout)
		if err != nil && err != unix.EINTR {
			return q.port.errorf("queue %d: poll: %w", q.index, err)
		}
	}
}

// ReadBatch waits for frames and fills frames and infos (at least as long
// as frames) with up to len(frames) of them, all from one ring block. They are valid until the next ReadBatch, Release or Next on this
// queue. It returns ErrClosed after Close.
func (q *Queue) ReadBatch(frames [][]byte, infos []CaptureInfo) (int, error) {
	if len(frames) == 0 || len(infos) < len(frames) {
		return 0, fmt.Errorf("datapath: ReadBatch: %d frames and %d infos", len(frames), len(infos))
	}
	for {
		if q.held && (q.cursor.left == 0 || q.closed()) {
			q.releaseHeld()
		}
		if !q.enter() {
			return 0, ErrClosed
		}
		if err := q.wait(); err != nil {
			q.leave()
			return 0, err
		}
		n := 0
		for n < len(frames) {
			f, ok := q.cursor.next(&infos[n])
			if !ok {
				break
			}
			frames[n] = f
			n++
		}
		q.leave()
		if n > 0 {
			return n, nil
		}
	}
}

// Release gives back the ring block of the last batch once all its frames
// have been handed out. Frames from earlier batches are invalid afterwards.
func (q *Queue) Release() {
	if q.held && (q.cursor.left == 0 || q.closed()) {
		q.releaseHeld()
	}
}

// Next returns one frame, valid until the next call: the Source interface
// over a live queue.
func (q *Queue) Next() ([]byte, CaptureInfo, error) {
	var ci CaptureInfo
	for {
		if q.held && (q.cursor.left == 0 || q.closed()) {
			q.releaseHeld()
		}
		if !q.enter() {
			return nil, ci, ErrClosed
		}
		if err := q.wait(); err != nil {
			q.leave()
			return nil, ci, err
		}
		f, ok := q.cursor.next(&ci)
		q.leave()
		if ok {
			return f, ci, nil
		}
	}
}

// Write transmits one frame at once (no batching), as a complete frame
// (an empty vnet header). It is safe for concurrent use.
func (q *Queue) Write(frame []byte) error {
	return q.WriteVNet(frame, nil)
}

// WriteVNet transmits one frame with its offload header, e.g. a frame read
// from a port with vnet headers, sent on with its CaptureInfo.VNet: a GSO
// super-frame is segmented and a checksum left to offload completed on the
// way out. A nil h, or a port without vnet headers, sends frame as it is.
// It is safe for concurrent use.
func (q *Queue) WriteVNet(frame []byte, h *VNetHeader) error {
	if len(frame) == 0 {
		return ErrEmptyFrame
	}
	if !q.enter() {
		return ErrClosed
	}
	defer q.leave()
	var hdr [VNetHeaderLen]byte
	var iov [2]unix.Iovec
	var msg unix.Msghdr
	iov[0].Base, iov[1].Base = &hdr[0], unsafe.SliceData(frame)
	iov[0].SetLen(VNetHeaderLen)
	iov[1].SetLen(len(frame))
	if q.vnet {
		if h != nil {
			h.marshalTx(hdr[:], len(frame))
		}
		msg.Iov = &iov[0]
		msg.SetIovlen(2)
	} else {
		msg.Iov = &iov[1]
		msg.SetIovlen(1)
	}
	for {
		var err error
		if _, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(q.txfd), uintptr(unsafe.Pointer(&msg)), 0); e != 0 {
			err = e
		}
		runtime.KeepAlive(frame)
		switch err {
		case nil:
			q.counts.txFrames.Add(1)
			q.counts.txBytes.Add(uint64(len(frame)))
			return nil
		case unix.EINTR:
			continue
		case unix.EMSGSIZE:
			q.counts.txTooLarge.Add(1)
			return q.port.errorf("send %d bytes: %w", len(frame), ErrFrameTooLarge)
		case unix.ENOBUFS:
			q.counts.txDropped.Add(1)
		default:
			q.counts.txErrors.Add(1)
		}
		return q.port.errorf("send: %w", err)
	}
}

// readStats folds PACKET_STATISTICS into the running totals.
func (q *Queue) readStats() {
	st, err := unix.GetsockoptTpacketStatsV3(q.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	q.stats.mu.Lock()
	q.stats.packets += uint64(st.Packets)
	q.stats.drops += uint64(st.Drops)
	q.stats.freezes += uint64(st.Freeze_q_cnt)
	q.stats.mu.Unlock()
}

// Stats returns the queue's counters: the kernel's (PACKET_STATISTICS)
// and the datapath's own.
func (q *Queue) Stats() Stats {
	if q.enter() {
		q.readStats()
		q.leave()
	}
	q.stats.mu.Lock()
	s := Stats{KernelPackets: q.stats.packets, KernelDrops: q.stats.drops, KernelFreezes: q.stats.freezes}
	q.stats.mu.Unlock()
	c := &q.counts
	s.RxFrames, s.RxBytes = c.rxFrames.Load(), c.rxBytes.Load()
	s.RxOutgoing, s.RxTruncated, s.RxCorrupt = c.rxOutgoing.Load(), c.rxTruncated.Load(), c.rxCorrupt.Load()
	s.TxFrames, s.TxBytes = c.txFrames.Load(), c.txBytes.Load()
	s.TxDropped, s.TxTooLarge, s.TxErrors = c.txDropped.Load(), c.txTooLarge.Load(), c.txErrors.Load()
	return s
}
