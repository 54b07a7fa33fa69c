package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"

	"github.com/rampart-fw/rampart/lab"
)

// udpResult is one UDP blast: what left the sender's interface and what
// arrived on the receiver's.
type udpResult struct {
	sent, received uint64
	secs           float64
}

func (u udpResult) pps() float64 { return float64(u.received) / u.secs }
func (u udpResult) loss() float64 {
	if u.sent == 0 {
		return 0
	}
	return 1 - float64(u.received)/float64(u.sent)
}

// linkPackets reads an interface's packet counters inside a host. Counting
// at the receiver's interface measures what the firewall path delivered
// without a reading socket competing for the two cores.
func linkPackets(h *lab.Node, iface string) (rx, tx uint64, err error) {
	err = h.Do(func() error {
		l, err := netlink.LinkByName(iface)
		if err != nil {
			return err
		}
		s := l.Attrs().Statistics
		if s == nil {
			return fmt.Errorf("%s: %s has no statistics", h.Name, iface)
		}
		rx, tx = s.RxPackets, s.TxPackets
		return nil
	})
	return rx, tx, err
}

// udpSink binds the blast's port in the receiver so that datagrams are
// absorbed rather than answered with ICMP port unreachable. It never reads:
// the socket's queue fills and the kernel drops at the socket, after the
// interface counted the datagram. Only the flows' first datagrams are read
// (udpBlast's handshake).
func udpSink(h *lab.Node) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket("udp4", netip.AddrPortFrom(receiverAddr, udpPort).String())
		return err
	})
	return c, err
}

// udpBlast sends fixed-size datagrams from senders goroutines in host from,
// one socket (one flow) each, in batches through sendmmsg, for d. Each flow
// first exchanges one datagram with the sink, as a request and its answer
// would: Linux conntrack classifies every packet of a UDP flow as new, and
// so runs the whole rule set on it, until it has seen a reply, while a
// two-way flow is the usual case the comparison is about.
func udpBlast(from, to *lab.Node, sink net.PacketConn, senders, size int, d time.Duration) (udpResult, error) {
	rx0, _, err := linkPackets(to, "eth0")
	if err != nil {
		return udpResult{}, err
	}
	_, tx0, err := linkPackets(from, "eth0")
	if err != nil {
		return udpResult{}, err
	}
	start := make(chan struct{})
	var deadline time.Time
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- from.Do(func() error { return blastFlow(size, start, &deadline) })
		}()
	}
	// Answer each flow's hello; the sink is read only here. What the last
	// run left in its queue is read past.
	buf := make([]byte, 2048)
	answered := map[string]bool{}
	_ = sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(answered) < senders {
		n, addr, err := sink.ReadFrom(buf)
		if err != nil {
			close(start)
			wg.Wait()
			return udpResult{}, fmt.Errorf("udp handshake (%d of %d flows answered): %w", len(answered), senders, err)
		}
		if string(buf[:n]) == "hello" {
			if _, err := sink.WriteTo([]byte("hello"), addr); err != nil {
				close(start)
				wg.Wait()
				return udpResult{}, err
			}
			answered[addr.String()] = true
		}
	}
	// Give the answers time to reach the senders before the clock starts.
	time.Sleep(100 * time.Millisecond)
	deadline = time.Now().Add(d)
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil {
			return udpResult{}, e
		}
	}
	// Frames still in a ring or a backlog count as delivered if they
	// arrive within this grace period.
	time.Sleep(300 * time.Millisecond)
	rx1, _, err := linkPackets(to, "eth0")
	if err != nil {
		return udpResult{}, err
	}
	_, tx1, err := linkPackets(from, "eth0")
	if err != nil {
		return udpResult{}, err
	}
	return udpResult{sent: tx1 - tx0, received: rx1 - rx0, secs: d.Seconds()}, nil
}

// blastFlow runs on a thread inside the sender's namespace: it says hello,
// waits for the answer and for start, then sends until *deadline, which is
// set before start is closed.
func blastFlow(size int, start <-chan struct{}, deadline *time.Time) error {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(receiverAddr, udpPort)))
	if err != nil {
		return err
	}
	defer c.Close()
	// The hello is repeated until answered: the sink's queue may still be
	// full of the previous run's datagrams, which drops it.
	var ans [16]byte
	for try := 0; ; try++ {
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(ans[:]); err == nil {
			break
		} else if try == 20 {
			return fmt.Errorf("no answer from the sink: %w", err)
		}
	}
	<-start
	end := *deadline
	if end.IsZero() {
		return nil // the handshake failed elsewhere
	}
	pc := ipv4.NewPacketConn(c)
	payload := make([]byte, size)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{payload}
	}
	for n := 0; ; n++ {
		// Checking the clock every 16 batches keeps it off the send path.
		if n&15 == 0 && time.Now().After(end) {
			return nil
		}
		if _, err := pc.WriteBatch(msgs, 0); err != nil {
			// A full device queue or a refused datagram is loss, which the
			// counters measure, not a failure of the run.
			if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			return err
		}
	}
}

// tcpServers listens on tcpPortLo..tcpPortHi in host h and closes each
// accepted connection at once, so the server is the active closer and the
// senders, which only answer the FIN, keep no TIME_WAIT that would exhaust
// their ports.
func tcpServers(h *lab.Node) (stop func(), err error) {
	var ls []net.Listener
	stop = func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for p := tcpPortLo; p <= tcpPortHi; p++ {
		var l net.Listener
		err := h.Do(func() error {
			var err error
			l, err = net.Listen("tcp4", netip.AddrPortFrom(receiverAddr, uint16(p)).String())
			return err
		})
		if err != nil {
			stop()
			return nil, err
		}
		ls = append(ls, l)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				c.Close()
			}
		}()
	}
	return stop, nil
}

// tcpResult is one connection-rate run.
type tcpResult struct {
	completed, failed uint64
	secs              float64
}

func (t tcpResult) cps() float64 { return float64(t.completed) / t.secs }

// tcpConnects runs workers goroutines in host from, each connecting to one
// of the listeners, waiting for the server's FIN and closing, until d has
// passed. A connection counts when it completed before the deadline.
func tcpConnects(from *lab.Node, workers int, d time.Duration) tcpResult {
	var completed, failed atomic.Uint64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		dst := netip.AddrPortFrom(receiverAddr, uint16(tcpPortLo+i%(tcpPortHi-tcpPortLo+1))).String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = from.Do(func() error {
				var buf [1]byte
				dialer := net.Dialer{Timeout: time.Second}
				for time.Now().Before(deadline) {
					c, err := dialer.Dial("tcp4", dst)
					if err != nil {
						failed.Add(1)
						continue
					}
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					_, err = c.Read(buf[:])
					c.Close()
					if errors.Is(err, io.EOF) && time.Now().Before(deadline) {
						completed.Add(1)
					} else if !errors.Is(err, io.EOF) {
						failed.Add(1)
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	return tcpResult{completed: completed.Load(), failed: failed.Load(), secs: d.Seconds()}
}

// iperf runs one iperf3 TCP stream from host from to the server in the
// receiver and returns the received rate in Gbit/s.
func iperf(ctx context.Context, from *lab.Node, d time.Duration) (float64, error) {
	secs := strconv.Itoa(int(d.Round(time.Second) / time.Second))
	out, err := from.Run(ctx, "iperf3", "-c", receiverAddr.String(), "-p", strconv.Itoa(iperfPort), "-t", secs, "-J")
	if err != nil {
		return 0, err
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	if r.Error != "" {
		return 0, errors.New("iperf3: " + r.Error)
	}
	if r.End.SumReceived.BitsPerSecond == 0 {
		tail := string(out)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return 0, fmt.Errorf("iperf3 received nothing: %s", tail)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

// cpuSample is the machine's busy and total jiffies and one process's CPU
// jiffies, to report how much of the two cores a run took.
type cpuSample struct {
	busy, total, proc uint64
}

func sampleCPU(pid int) cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			s.total += n
			// idle and iowait are fields 4 and 5 of the cpu line.
			if i != 3 && i != 4 {
				s.busy += n
			}
		}
	}
	if pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// Fields after the command name, which may hold spaces: state is
			// the first, utime the 12th and stime the 13th.
			if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
				f := strings.Fields(string(b)[i+1:])
				if len(f) > 12 {
					u, _ := strconv.ParseUint(f[11], 10, 64)
					st, _ := strconv.ParseUint(f[12], 10, 64)
					s.proc = u + st
				}
			}
		}
	}
	return s
}

// cpuShare returns the machine's busy fraction (of all cores) and the
// process's CPU in cores over the interval between two samples.
func cpuShare(a, b cpuSample, cores int, secs float64) (machine, proc float64) {
	if b.total > a.total {
		machine = float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	// USER_HZ is 100 on Linux.
	proc = float64(b.proc-a.proc) / 100 / secs
	return machine, proc
}

// pidByArg finds the process whose command line holds arg (the run's own
// policy file path, unique to this run).
func pidByArg(arg string) int {
	ents, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil || !strings.Contains(string(b), arg) || !strings.Contains(string(b), "gateway") {
			continue
		}
		if strings.HasPrefix(string(b), "ip\x00") {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		if err == nil {
			return pid
		}
	}
	return 0
}
