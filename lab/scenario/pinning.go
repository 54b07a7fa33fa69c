package scenario

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/packet"
)

// The state-pinning attack of the outside review of the gateway (issue 15,
// item 1): spoofed handshakes that no host ever accepts, sent to make the
// gateway's connection table hold established, assured entries for days
// until every new connection is refused as table_full. The attacker floods
// from outside at its full rate, three kinds of packets interleaved:
//
//   - the review's capture: a SYN from a spoofed inside client to the inside
//     web server (allowed by the policy), a SYN/ACK forged "from" that
//     server, and the client's ACK, every one with a corrupt TCP checksum;
//   - the same handshake with correct checksums: the forged SYN/ACK arrives
//     on the wan side, where no reply of that connection can come from;
//   - SYNs from spoofed outside sources that the server answers, to fill
//     the table with half-open connections.
//
// The spoofed "clients" are inside hosts (client1 and dns) because the
// forged SYN/ACK must be routed to them to reach the gateway's wan side at
// all. Afterwards a legitimate client opens connections both ways through
// the gateway.

// PinningOptions bounds the attack.
type PinningOptions struct {
	// Duration is how long the attacker floods [60s].
	Duration time.Duration
	// MaxPackets bounds the packets sent [50,000,000].
	MaxPackets uint64
	// ConntrackMax is the gateway's table for the run [8192]: small
	// enough that the flood fills it in a moment.
	ConntrackMax int
}

func (o *PinningOptions) defaults() {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.MaxPackets == 0 {
		o.MaxPackets = 50_000_000
	}
	if o.ConntrackMax <= 0 {
		o.ConntrackMax = 8192
	}
}

// PinningPolicy is the review's perimeter policy with the lab's inside web
// server (client2).
const PinningPolicy = `# the review's perimeter policy
default deny incoming
default allow outgoing
allow in on wan to 10.10.0.12 port 80 proto tcp
allow in on wan to 10.10.0.53 port 53 proto udp
`

// Kinds of flood packets.
const (
	pinBadChecksum = iota // the review's capture: corrupt TCP checksums
	pinWrongSide          // correct checksums, the SYN/ACK forged on the wan side
	pinSYNFlood           // SYNs from spoofed outside sources
	numPinKinds
)

var pinKindNames = [numPinKinds]string{"handshakes with corrupt checksums", "handshakes with the SYN/ACK forged on the wan side", "SYNs from spoofed outside sources"}

// PinningResult is what a run saw.
type PinningResult struct {
	Options PinningOptions
	// Sent counts the packets the attacker's raw socket took, by kind;
	// Lost those it refused (its queue full).
	Sent    [numPinKinds]uint64
	Lost    uint64
	Elapsed time.Duration
	// Before and After are the gateway's metrics around the flood (After
	// once the legitimate connections are done).
	Before, After map[string]float64
	// CsumErrors is how many TCP segments with a bad checksum the inside
	// hosts (client1, client2, dns) received during the run: what crossed
	// the gateway that no host accepts.
	CsumErrors int64
	// Outgoing and Incoming are the legitimate connections after the
	// flood: client1 to web's echo service, web to client2's port 80.
	Outgoing, Incoming error
	Payload            int // bytes echoed each way
	Err                error
}

// Metric returns a metric's growth over the run.
func (r *PinningResult) Metric(name string) float64 { return r.After[name] - r.Before[name] }

// Pinning is the state-pinning scenario with its default bounds.
func Pinning() lab.Scenario {
	return lab.Scenario{Name: "pinning", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		return RunPinning(ctx, l, env, PinningOptions{}).LabResults("pinning")
	}}
}

// RunPinning starts the gateway on fw with the review's policy and a table
// of opts.ConntrackMax entries (the other connection-tracking settings at
// their defaults), floods it from the attacker, then opens the legitimate
// connections and reads the gateway's metrics.
func RunPinning(ctx context.Context, l *lab.Lab, env *lab.Env, opts PinningOptions) (res PinningResult) {
	opts.defaults()
	res.Options = opts
	res.Payload = 2000
	dir := filepath.Join(env.Dir, "pinning")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Err = err
		return res
	}
	stopSrv, err := StartServers(l.Host("client2"), 80)
	if err != nil {
		res.Err = fmt.Errorf("start the inside web server: %w", err)
		return res
	}
	defer stopSrv()
	stopWeb, err := StartEcho(l.Host("web"), EchoPort)
	if err != nil {
		res.Err = fmt.Errorf("start the echo service on web: %w", err)
		return res
	}
	defer stopWeb()
	g, err := StartGatewayConfig(ctx, l, env.Rampart, dir, PinningPolicy, fmt.Sprintf("  conntrack_max: %d\n", opts.ConntrackMax))
	if err != nil {
		res.Err = fmt.Errorf("start rampart gateway on fw: %w", err)
		return res
	}
	defer g.Stop()
	inside := []*lab.Node{l.Host("client1"), l.Host("client2"), l.Host("dns")}
	csum0, err := csumErrors(inside)
	if err != nil {
		res.Err = err
		return res
	}
	if res.Before, err = g.Metrics(); err != nil {
		res.Err = fmt.Errorf("metrics: %w", err)
		return res
	}
	env.Logf("attacker floods spoofed handshakes at its full rate for %s (at most %d packets); gateway table %d entries",
		opts.Duration, opts.MaxPackets, opts.ConntrackMax)
	f, err := newPinFlooder(l)
	if err != nil {
		res.Err = err
		return res
	}
	fctx, cancel := context.WithTimeout(ctx, opts.Duration)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.run(fctx, opts.MaxPackets) }()
	tick := time.NewTicker(ProgressEvery)
	for done := false; !done; {
		select {
		case <-fctx.Done():
			done = true
		case <-tick.C:
			m, _ := g.Metrics()
			env.Logf("%d packets sent; gateway table %.0f entries, %.0f dropped for bad checksums", f.total(), m["rampart_conntrack_entries"],
				Frames(m, "drop", "bad_checksum"))
		}
	}
	tick.Stop()
	wg.Wait()
	cancel()
	f.close()
	res.Sent, res.Lost, res.Elapsed = f.sent, f.lost, f.end.Sub(f.start)
	if res.Err = f.err; res.Err != nil {
		return res
	}
	// Let the gateway's ring drain before the legitimate traffic.
	time.Sleep(time.Second)
	payload := make([]byte, res.Payload)
	_, _ = crand.Read(payload)
	_, res.Outgoing = TCPEcho(ctx, l.Host("client1"), netip.AddrPortFrom(l.Addr("web", 4), EchoPort), payload)
	_, res.Incoming = TCPEcho(ctx, l.Host("web"), netip.AddrPortFrom(l.Addr("client2", 4), 80), payload)
	csum1, err := csumErrors(inside)
	if err != nil {
		res.Err = err
		return res
	}
	res.CsumErrors = csum1 - csum0
	if res.After, err = g.Metrics(); err != nil {
		res.Err = fmt.Errorf("metrics: %w", err)
	}
	return res
}

// Assured is the number of assured, live connections in the gateway's
// table at the end: entries that no eviction under pressure would take
// first.
func (r *PinningResult) Assured() float64 {
	return r.After["rampart_conntrack_entries"] - r.After["rampart_conntrack_evictable_entries"]
}

// Evictions is the number of entries removed to make room or expired
// early because the table was under pressure.
func (r *PinningResult) Evictions() float64 {
	return r.Metric("rampart_conntrack_early_drop_total") + r.Metric("rampart_conntrack_evicted_idle_total") +
		r.Metric("rampart_conntrack_adaptive_expired_total")
}

// LabResults renders the run as report lines.
func (r PinningResult) LabResults(scenario string) []lab.Result {
	if r.Err != nil {
		return []lab.Result{{Scenario: scenario, Tried: "state-pinning flood", Defence: "-", Outcome: r.Err.Error()}}
	}
	var total uint64
	for _, n := range r.Sent {
		total += n
	}
	rate := float64(total) / r.Elapsed.Seconds()
	details := []string{fmt.Sprintf("%d packets in %s (%.0f/s), %d refused by the attacker's own queue", total, r.Elapsed.Round(time.Millisecond), rate, r.Lost)}
	for k, n := range r.Sent {
		details = append(details, fmt.Sprintf("%s: %d packets", pinKindNames[k], n))
	}
	entries, max := r.After["rampart_conntrack_entries"], r.After["rampart_conntrack_max_entries"]
	out := []lab.Result{
		{Scenario: scenario, Kind: lab.Defence, Tried: "spoofed handshakes with corrupt TCP checksums",
			Defence: "checksums verified before connection tracking",
			OK:      Frames(r.After, "drop", "bad_checksum")-Frames(r.Before, "drop", "bad_checksum") > 0 && r.CsumErrors == 0,
			Outcome: fmt.Sprintf("%.0f dropped as bad_checksum; %d bad segments reached inside hosts",
				Frames(r.After, "drop", "bad_checksum")-Frames(r.Before, "drop", "bad_checksum"), r.CsumErrors),
			Details: details},
		{Scenario: scenario, Kind: lab.Defence, Tried: "SYN/ACKs forged from the inside server on the wan side",
			Defence: "an entry's replies come from the other side",
			OK:      Frames(r.After, "drop", "invalid")-Frames(r.Before, "drop", "invalid") > 0 && r.Assured() <= 2,
			Outcome: fmt.Sprintf("%.0f dropped as invalid; %.0f assured connections in the table after the flood",
				Frames(r.After, "drop", "invalid")-Frames(r.Before, "drop", "invalid"), r.Assured())},
		{Scenario: scenario, Kind: lab.Defence, Tried: "a spoofed source opening connection after connection",
			Defence: "conntrack_per_source",
			OK:      Frames(r.After, "drop", "source_limit")-Frames(r.Before, "drop", "source_limit") > 0,
			Outcome: fmt.Sprintf("%.0f new connections refused over the per-source bound", Frames(r.After, "drop", "source_limit")-Frames(r.Before, "drop", "source_limit"))},
		{Scenario: scenario, Kind: lab.Defence, Tried: "a table full of half-open connections",
			Defence: "early drop, adaptive time-outs",
			OK:      entries <= max && r.Evictions() > 0 && Frames(r.After, "drop", "table_full") == 0,
			Outcome: fmt.Sprintf("%.0f of %.0f entries at the end; %.0f evicted or expired early; %.0f refused as table_full",
				entries, max, r.Evictions(), Frames(r.After, "drop", "table_full"))},
	}
	for _, c := range []struct {
		tried string
		err   error
	}{{"after the flood: client1 → web TCP echo (outgoing)", r.Outgoing}, {"after the flood: web → client2:80 TCP echo (incoming)", r.Incoming}} {
		line := lab.Result{Scenario: scenario, Kind: lab.Check, Tried: c.tried, Defence: "new connections still admitted", OK: c.err == nil}
		if c.err != nil {
			line.Outcome = c.err.Error()
		} else {
			line.Outcome = fmt.Sprintf("%d bytes echoed", r.Payload)
		}
		out = append(out, line)
	}
	return out
}

// csumErrors sums the TCP InCsumErrors counters of the hosts.
func csumErrors(hosts []*lab.Node) (int64, error) {
	var total int64
	for _, h := range hosts {
		var n int64
		err := h.Do(func() error {
			var err error
			n, err = snmpCounter("/proc/thread-self/net/snmp", "Tcp:", "InCsumErrors")
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("%s: %w", h.Name, err)
		}
		total += n
	}
	return total, nil
}

// snmpCounter reads one counter of /proc/net/snmp, whose protocols each
// have a line of names followed by a line of values.
func snmpCounter(path, proto, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != proto {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, n := range names {
			if n == name && i < len(fields) {
				return strconv.ParseInt(fields[i], 10, 64)
			}
		}
		break
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s %s", path, proto, name)
}

// pinFlooder sends the flood from the attacker through one raw socket as
// fast as the socket takes it, allocating nothing per packet.
type pinFlooder struct {
	fd      int
	server  netip.AddrPort // the inside web server
	clients []netip.Addr   // the spoofed inside clients
	// Owned by run.
	rng  *rand.ChaCha8
	buf  [40]byte
	sa   unix.SockaddrInet4
	sent [numPinKinds]uint64
	lost uint64
	err  error
	// progress is the packets sent so far; atomic, read by the reporter.
	progress   atomic.Uint64
	start, end time.Time
}

func newPinFlooder(l *lab.Lab) (*pinFlooder, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, err
	}
	f := &pinFlooder{
		fd:      -1,
		server:  netip.AddrPortFrom(l.Addr("client2", 4), 80),
		clients: []netip.Addr{l.Addr("client1", 4), l.Addr("dns", 4)},
		rng:     rand.NewChaCha8(seed),
	}
	var err error
	f.fd, err = rawSocket4(l.Host("attacker"))
	return f, err
}

func (f *pinFlooder) total() uint64 { return f.progress.Load() }

func (f *pinFlooder) close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// run floods until ctx ends or budget packets are sent. Each round is a
// handshake with corrupt checksums, one with correct checksums, and two
// SYNs from spoofed outside sources (100.64.0.0/10, RFC 6598's shared
// address space, which the lab does not route; RFC 2544's benchmark
// network, which it used first, is a martian source to the gateway's
// guard, which would drop them before the table could see them).
func (f *pinFlooder) run(ctx context.Context, budget uint64) {
	f.start = time.Now()
	defer func() { f.end = time.Now() }()
	var sent uint64
	for round := uint64(0); ctx.Err() == nil && sent < budget; round++ {
		for _, kind := range [...]int{pinBadChecksum, pinWrongSide, pinSYNFlood} {
			if kind == pinSYNFlood {
				for range 2 {
					v := f.rng.Uint64()
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64 | byte(v>>16)&63, byte(v >> 8), byte(v)}), uint16(1024+(v>>32)%64000))
					if !f.send(kind, src, f.server, packet.TCPSYN, uint32(v>>20), 0, false) {
						return
					}
					sent++
				}
				continue
			}
			// The review's handshake, from one of the spoofed inside
			// clients and a port of its own.
			client := netip.AddrPortFrom(f.clients[round&1], uint16(1024+(round>>1)%64000))
			v := f.rng.Uint64()
			cISN, sISN := uint32(v), uint32(v>>32)
			bad := kind == pinBadChecksum
			if !f.send(kind, client, f.server, packet.TCPSYN, cISN, 0, bad) ||
				!f.send(kind, f.server, client, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, bad) ||
				!f.send(kind, client, f.server, packet.TCPACK, cISN+1, sISN+1, bad) {
				return
			}
			sent += 3
		}
		if round%256 == 0 {
			f.progress.Store(sent)
		}
	}
}

// send builds one IPv4 TCP segment in f.buf and sends it; corrupt makes
// its TCP checksum wrong. It returns false on an error other than a full
// queue (which loses the packet, as a link at full rate would).
func (f *pinFlooder) send(kind int, src, dst netip.AddrPort, flags packet.TCPFlags, seq, ack uint32, corrupt bool) bool {
	b := f.buf[:]
	clear(b)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8], b[9] = 64, byte(ipproto.TCP)
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	binary.BigEndian.PutUint16(b[10:], packet.Checksum(b[:20], 0))
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12], t[13] = 5<<4, byte(flags)
	binary.BigEndian.PutUint16(t[14:], 64240)
	c := packet.Checksum(t, packet.PseudoHeaderChecksum(ipproto.TCP, src.Addr(), dst.Addr(), 20))
	if corrupt {
		c ^= 0x00ff
	}
	binary.BigEndian.PutUint16(t[16:], c)
	f.sa.Addr = d4
	if err := unix.Sendto(f.fd, b, 0, &f.sa); err != nil {
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
			f.lost++
			return true
		}
		f.err = fmt.Errorf("send from the attacker: %w", err)
		return false
	}
	f.sent[kind]++
	return true
}
