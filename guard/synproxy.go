package guard

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/packet"
)

// ProxyMode says when the SYN proxy answers SYNs.
type ProxyMode uint8

// Modes.
const (
	// ProxyOff: SYNs go to their servers; no cookies.
	ProxyOff ProxyMode = iota
	// ProxyAlways: every SYN to a protected destination is answered by
	// the proxy.
	ProxyAlways
	// ProxyAuto: a protected destination's SYNs are answered by the proxy
	// while its half-open connections are many (SYNProxyConfig.AutoThreshold),
	// and pass to it again once they are few (under half the threshold).
	ProxyAuto
)

var proxyModes = [...]string{"off", "always", "auto"}

func (m ProxyMode) String() string {
	if int(m) < len(proxyModes) {
		return proxyModes[m]
	}
	return "?"
}

// ParseProxyMode reads "off", "always" or "auto".
func ParseProxyMode(s string) (ProxyMode, error) {
	for i, n := range proxyModes {
		if s == n {
			return ProxyMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown synproxy mode %q (want off, always or auto)", s)
}

// SYNProxyConfig configures the SYN proxy.
type SYNProxyConfig struct {
	Mode ProxyMode
	// Destinations are the protected servers; with the mode on, at least
	// one is needed.
	Destinations []netip.Prefix
	// AutoThreshold is, in auto mode, the number of half-open connections
	// to one destination prefix (tracked SYN_SENT and SYN_RECV entries,
	// and, while the proxy answers for it, the cookies it sent in the last
	// two minutes that no ACK redeemed) past which the proxy engages; it
	// disengages under half of it. 0 means DefaultAutoThreshold.
	AutoThreshold int
	// MSS is the maximum segment size the proxy's SYN/ACK announces to
	// clients for the server; 0 means 1460 (IPv4) and 1440 (IPv6), an
	// Ethernet path's. Set it to the protected servers' own when smaller.
	MSS uint16
	// WScale is the window scale the proxy's SYN/ACK grants a client that
	// asks for scaling (0 to 14); the server's windows are rescaled to it.
	// 0 means 7, Linux's usual.
	WScale uint8
}

// DefaultAutoThreshold is SYNProxyConfig.AutoThreshold's default.
const DefaultAutoThreshold = 1000

// SYNProxy is the SYN proxy: the cookie jar, the protected destinations
// and, in auto mode, which of them it answers for now.
//
// Sharing: cfg and dsts are immutable after New; the jar rotates its keys
// under its own lock and is read with one atomic load; engaged, inflight
// and the counters are atomics, read and written without a lock.
type SYNProxy struct {
	cfg   SYNProxyConfig // immutable after newSYNProxy
	clock clock.Clock
	jar   *jar
	drops *[NumReasons]atomic.Uint64
	// engaged says, per destination prefix, whether the proxy answers its
	// SYNs (always true in always mode).
	engaged []atomic.Bool
	// inflight counts, per destination prefix and cookie period parity,
	// the SYN/ACKs sent that no valid ACK redeemed yet: the half-open
	// connections that the proxy keeps out of the table (pf counts its
	// syncookies in flight the same way).
	inflight [][2]inflight
	stats    [numProxyStats]atomic.Uint64
}

// The proxy's counters (ProxyStats).
const (
	statSYNACK      = iota // SYNs answered with a cookie
	statCookieOK           // ACKs with a valid cookie: the server's side opened
	statSpliced            // server SYN/ACKs that completed a splice
	statServerRetry        // retransmissions the proxy answered for the client (SYNs to the server again, ACKs to its SYN/ACK again)
	numProxyStats
)

// inflight is the count of one cookie period's unredeemed SYN/ACKs.
type inflight struct {
	period atomic.Uint64 // the time counter whose cookies n counts
	n      atomic.Int64
}

// add counts d cookies of period t, restarting the slot if it held an
// older period's (two periods share a slot by parity). Concurrent
// restarts may lose a few counts; the figure is a threshold's input.
func (f *inflight) add(t uint64, d int64) {
	if old := f.period.Load(); old != t {
		if old > t || !f.period.CompareAndSwap(old, t) {
			return
		}
		f.n.Store(0)
	}
	f.n.Add(d)
}

// live is the slot's count if its period's cookies are still valid at t.
func (f *inflight) live(t uint64) int64 {
	if p := f.period.Load(); p+1 < t {
		return 0
	}
	return max(f.n.Load(), 0)
}

func newSYNProxy(cfg *SYNProxyConfig, clk clock.Clock, drops *[NumReasons]atomic.Uint64) (*SYNProxy, error) {
	c := *cfg
	if c.Mode > ProxyAuto {
		return nil, errors.New("synproxy: unknown mode")
	}
	if len(c.Destinations) == 0 {
		return nil, errors.New("synproxy: no destinations to protect")
	}
	c.Destinations = append([]netip.Prefix(nil), c.Destinations...)
	for i, d := range c.Destinations {
		if !d.IsValid() {
			return nil, fmt.Errorf("synproxy: destination %v is not valid", d)
		}
		c.Destinations[i] = d.Masked()
	}
	if c.AutoThreshold == 0 {
		c.AutoThreshold = DefaultAutoThreshold
	}
	if c.AutoThreshold < 0 {
		return nil, errors.New("synproxy: auto_threshold must be positive")
	}
	if c.WScale == 0 {
		c.WScale = 7
	}
	if c.WScale > 14 {
		return nil, errors.New("synproxy: window scale above 14 (RFC 7323)")
	}
	if c.MSS != 0 && c.MSS < 536 {
		return nil, errors.New("synproxy: MSS below 536")
	}
	p := &SYNProxy{cfg: c, clock: clk, jar: newJar(clk.Now()), drops: drops,
		engaged: make([]atomic.Bool, len(c.Destinations)), inflight: make([][2]inflight, len(c.Destinations))}
	if c.Mode == ProxyAlways {
		for i := range p.engaged {
			p.engaged[i].Store(true)
		}
	}
	return p, nil
}

// destination returns the index of the protected prefix holding a, or -1.
func (x *SYNProxy) destination(a netip.Addr) int {
	for i, d := range x.cfg.Destinations {
		if d.Contains(a) {
			return i
		}
	}
	return -1
}

// Answers reports whether the proxy answers a SYN to dst now.
func (x *SYNProxy) Answers(dst netip.Addr) bool {
	i := x.destination(dst)
	return i >= 0 && x.engaged[i].Load()
}

// Covers reports whether dst is a protected destination: an ACK to it
// without a connection may carry one of the proxy's cookies (auto mode
// may have disengaged since it answered the SYN).
func (x *SYNProxy) Covers(dst netip.Addr) bool { return x.destination(dst) >= 0 }

// synOptions are the options of a client's SYN the proxy keeps: in the
// cookie (the MSS index) and in its timestamp's low bits (the rest).
func synOptions(p *packet.Parsed) (mssIdx, opts uint8, ts bool) {
	mss := uint16(536) // RFC 9293's default without the option
	if p.TCPOpts.Has&packet.TCPOptMSS != 0 {
		mss = p.TCPOpts.MSS
	}
	mssIdx = mssIndex(mss, p.IPVersion == 6)
	ts = p.TCPOpts.Has&packet.TCPOptTimestamps != 0
	if !ts {
		return mssIdx, 0, false
	}
	opts = tsNoWScale
	if p.TCPOpts.Has&packet.TCPOptWScale != 0 {
		opts = min(p.TCPOpts.WScale, 14)
	}
	if p.TCPOpts.Has&packet.TCPOptSACKPermitted != 0 {
		opts |= tsSACK
	}
	if p.TCPFlags&(packet.TCPECE|packet.TCPCWR) == packet.TCPECE|packet.TCPCWR {
		opts |= tsECN
	}
	return mssIdx, opts, true
}

func tupleOf(p *packet.Parsed) tuple { return tuple{src: p.Src, dst: p.Dst} }

// AnswerSYN appends to dst the SYN/ACK that answers the client's SYN p in
// the server's name, its initial sequence number a cookie, and returns
// it; the proxy keeps nothing of p. The SYN/ACK's window is zero, as
// Linux's synproxy sends it, so that the client sends no data before the
// server's side is open; the window update follows the server's SYN/ACK
// (ServerSYNACK). Without timestamps the client's window scale, SACK and
// ECN cannot be remembered, and the SYN/ACK refuses them. dst is returned
// unchanged when p may not be answered (see packet.AppendTCPReply).
func (x *SYNProxy) AnswerSYN(dst []byte, p *packet.Parsed) []byte {
	now := x.clock.Now()
	mssIdx, opts, ts := synOptions(p)
	tp := tupleOf(p)
	cookie := x.jar.make(now, &tp, p.TCPSeq, cookieInfo{mssIdx: mssIdx, ts: ts, opts: opts})
	s := packet.TCPSegment{Seq: cookie, Ack: p.TCPSeq + 1, Flags: packet.TCPSYN | packet.TCPACK}
	s.Options.Has = packet.TCPOptMSS
	s.Options.MSS = x.mss(p.IPVersion == 6)
	if ts {
		s.Options.Has |= packet.TCPOptTimestamps
		s.Options.TSval = x.jar.tsval(now, opts)
		s.Options.TSecr = p.TCPOpts.TSval
		if opts&tsNoWScale != tsNoWScale {
			s.Options.Has |= packet.TCPOptWScale
			s.Options.WScale = x.cfg.WScale
		}
		if opts&tsSACK != 0 {
			s.Options.Has |= packet.TCPOptSACKPermitted
		}
		if opts&tsECN != 0 {
			s.Flags |= packet.TCPECE
		}
	}
	out := packet.AppendTCPReply(dst, p, &s)
	if len(out) > len(dst) {
		x.stats[statSYNACK].Add(1)
		if i := x.destination(p.Dst.Addr()); i >= 0 {
			t := counter(now)
			x.inflight[i][t&1].add(t, 1)
		}
	}
	return out
}

func (x *SYNProxy) mss(v6 bool) uint16 {
	if x.cfg.MSS != 0 {
		return x.cfg.MSS
	}
	if v6 {
		return 1440
	}
	return 1460
}

// CheckACK checks the cookie of p, an ACK to a protected destination that
// has no connection. With a valid cookie it fills syn with the SYN the
// proxy opens the server's side with, in the client's name and with the
// client's options as the cookie kept them (for conntrack.Table.Create and
// AppendServerSYN), and sp with the proxy's notes of the handshake, and
// returns Pass. Otherwise it returns ReasonBadCookie, counted: nothing
// was opened.
func (x *SYNProxy) CheckACK(p *packet.Parsed, syn *conntrack.Packet, sp *conntrack.Splice) Reason {
	if p.TCPFlags&(packet.TCPSYN|packet.TCPRST|packet.TCPFIN|packet.TCPACK) != packet.TCPACK {
		return x.bad()
	}
	now := x.clock.Now()
	ts := p.TCPOpts.Has&packet.TCPOptTimestamps != 0
	var opts uint8
	if ts {
		opts = uint8(p.TCPOpts.TSecr) & (1<<tsOptBits - 1)
	}
	isn := p.TCPSeq - 1
	tp := tupleOf(p)
	mssIdx, ok := x.jar.check(now, &tp, isn, p.TCPAck-1, ts, opts)
	if !ok && p.PayloadLen == 0 {
		// A zero-window probe (the proxy's SYN/ACK offered no window):
		// Linux sends it one below the next sequence number, the ISN
		// itself. It comes when the client's ACK was lost, and opens
		// the server's side in its place.
		isn = p.TCPSeq
		mssIdx, ok = x.jar.check(now, &tp, isn, p.TCPAck-1, ts, opts)
	}
	if !ok {
		return x.bad()
	}
	x.stats[statCookieOK].Add(1)
	if i := x.destination(p.Dst.Addr()); i >= 0 {
		// Redeemed: one fewer in flight (counted against the current
		// period; the sum of the two is what counts).
		t := counter(now)
		x.inflight[i][t&1].add(t, -1)
	}
	*sp = conntrack.Splice{ISN: p.TCPAck - 1, ClientISN: isn, Window: p.TCPWindow, MSS: mssOf(mssIdx, p.IPVersion == 6)}
	*syn = conntrack.Packet{Flow: p.Flow(), TCPFlags: packet.TCPSYN, Seq: isn, Window: p.TCPWindow, WScale: -1}
	if ts {
		sp.Options |= conntrack.SpliceTS
		sp.ProxyTS, sp.ClientTS = p.TCPOpts.TSecr, p.TCPOpts.TSval
		if ws := opts & tsNoWScale; ws != tsNoWScale {
			sp.Options |= conntrack.SpliceWScale
			sp.WScale = ws
			syn.WScale = int8(ws)
		}
		if opts&tsSACK != 0 {
			sp.Options |= conntrack.SpliceSACK
			syn.SACKPermitted = true
		}
		if opts&tsECN != 0 {
			sp.Options |= conntrack.SpliceECN
			syn.TCPFlags |= packet.TCPECE | packet.TCPCWR
		}
	}
	syn.Splice = sp
	return Pass
}

func (x *SYNProxy) bad() Reason {
	x.drops[ReasonBadCookie].Add(1)
	return ReasonBadCookie
}

// AppendServerSYN appends the SYN that opens the server's side of the
// connection whose notes sp holds (CheckACK's), built onward from p, the
// client's ACK or any later segment of the client's while the server has
// not answered: the client's ISN, MSS, window scale, SACK-permitted and
// timestamp, as the client's SYN carried them (its window is the client's
// last, unscaled, as a SYN's is).
func (x *SYNProxy) AppendServerSYN(dst []byte, p *packet.Parsed, sp *conntrack.Splice) []byte {
	s := packet.TCPSegment{Seq: sp.ClientISN, Flags: packet.TCPSYN, Window: sp.Window}
	s.Options.Has = packet.TCPOptMSS
	s.Options.MSS = sp.MSS
	if sp.Options&conntrack.SpliceTS != 0 {
		s.Options.Has |= packet.TCPOptTimestamps
		s.Options.TSval = sp.ClientTS
	}
	if sp.Options&conntrack.SpliceWScale != 0 {
		s.Options.Has |= packet.TCPOptWScale
		s.Options.WScale = sp.WScale
	}
	if sp.Options&conntrack.SpliceSACK != 0 {
		s.Options.Has |= packet.TCPOptSACKPermitted
	}
	if sp.Options&conntrack.SpliceECN != 0 {
		s.Flags |= packet.TCPECE | packet.TCPCWR
	}
	return packet.AppendTCPOnward(dst, p, &s)
}

// RetrySYN is AppendServerSYN for a client segment that reached a splice
// still waiting for the server (the SYN or its answer was lost; the
// client's zero-window probes come on): the SYN again, counted.
func (x *SYNProxy) RetrySYN(dst []byte, p *packet.Parsed, sp *conntrack.Splice) []byte {
	x.stats[statServerRetry].Add(1)
	return x.AppendServerSYN(dst, p, sp)
}

// ServerSYNACK completes the splice sp with p, the server's SYN/ACK: it
// sets the translation, marks sp active, and appends to toServer the ACK
// that completes the server's handshake in the client's name, and to
// toClient the window update that opens the client's window (the
// proxy's SYN/ACK offered none), in the server's name and the client's
// numbers. A SYN/ACK that does not acknowledge the client's ISN is
// refused (ReasonProxy, counted) and changes nothing. A SYN/ACK for a
// splice already active (a retransmission: the ACK was lost) gets the
// ACK again and no window update.
func (x *SYNProxy) ServerSYNACK(toServer, toClient []byte, p *packet.Parsed, sp *conntrack.Splice) ([]byte, []byte, Reason) {
	if p.TCPFlags&(packet.TCPSYN|packet.TCPACK|packet.TCPRST) != packet.TCPSYN|packet.TCPACK || p.TCPAck != sp.ClientISN+1 {
		x.drops[ReasonProxy].Add(1)
		return toServer, toClient, ReasonProxy
	}
	serverTS := p.TCPOpts.Has&packet.TCPOptTimestamps != 0
	retry := sp.Active
	if !retry {
		sp.Active = true
		sp.SeqDelta = sp.ISN - p.TCPSeq
		if sp.Options&conntrack.SpliceTS != 0 && serverTS {
			sp.TSDelta = p.TCPOpts.TSval - sp.ProxyTS
		}
		sp.ReplyWinFrom, sp.ReplyWinTo, sp.OrigWinShift = 0, 0, 0
		if sp.Options&conntrack.SpliceWScale != 0 {
			// The client was granted the proxy's scale; the server
			// scales by its own, or not at all if it refused, and then
			// reads the client's windows unscaled too.
			sp.ReplyWinTo = x.cfg.WScale
			if p.TCPOpts.Has&packet.TCPOptWScale != 0 {
				sp.ReplyWinFrom = min(p.TCPOpts.WScale, 14)
			} else {
				sp.OrigWinShift = sp.WScale
			}
		}
		x.stats[statSpliced].Add(1)
	} else {
		x.stats[statServerRetry].Add(1)
	}
	ack := packet.TCPSegment{Seq: sp.ClientISN + 1, Ack: p.TCPSeq + 1, Flags: packet.TCPACK,
		Window: uint16(min(uint32(sp.Window)<<sp.OrigWinShift, 0xffff))}
	if sp.Options&conntrack.SpliceTS != 0 && serverTS {
		ack.Options.Has = packet.TCPOptTimestamps
		ack.Options.TSval, ack.Options.TSecr = sp.ClientTS, p.TCPOpts.TSval
	}
	toServer = packet.AppendTCPReply(toServer, p, &ack)
	if retry {
		return toServer, toClient, Pass
	}
	// The SYN/ACK's window is never scaled (RFC 7323); the client reads
	// the update's by the proxy's scale.
	upd := packet.TCPSegment{Seq: p.TCPSeq + 1 + sp.SeqDelta, Ack: sp.ClientISN + 1, Flags: packet.TCPACK,
		Window: uint16((uint32(p.TCPWindow) + 1<<sp.ReplyWinTo - 1) >> sp.ReplyWinTo)}
	if sp.Options&conntrack.SpliceTS != 0 && serverTS {
		upd.Options.Has = packet.TCPOptTimestamps
		upd.Options.TSval, upd.Options.TSecr = p.TCPOpts.TSval-sp.TSDelta, sp.ClientTS
	}
	toClient = packet.AppendTCPOnward(toClient, p, &upd)
	return toServer, toClient, Pass
}

// Translate rewrites p, a segment of the spliced connection sp travelling
// in direction dir, into the numbers its receiver expects, in place
// (checksum adjusted incrementally). A server's reset to a splice that is
// not active yet (the port is closed) is put in the client's numbers so
// that the client takes it.
func Translate(p *packet.Parsed, sp *conntrack.Splice, dir conntrack.Dir) error {
	var s packet.TCPShift
	switch {
	case !sp.Active:
		if dir != conntrack.DirReply || p.TCPFlags&packet.TCPRST == 0 {
			return nil
		}
		// The server's answer to the proxy's SYN: sequence 0 (or the
		// ack's number), acknowledging the client's ISN.
		s.Seq = sp.ISN + 1 - p.TCPSeq
	case dir == conntrack.DirOriginal:
		s.Ack = -sp.SeqDelta
		s.TSecr = sp.TSDelta
		s.WinFrom = sp.OrigWinShift
	default:
		s.Seq = sp.SeqDelta
		s.TSval = -sp.TSDelta
		s.WinFrom, s.WinTo = sp.ReplyWinFrom, sp.ReplyWinTo
	}
	return p.ShiftTCP(&s)
}

// HalfOpener counts the half-open connections to each of a list of
// prefixes (conntrack.Table.HalfOpen).
type HalfOpener interface {
	HalfOpen(dsts []netip.Prefix, counts []int)
}

// Tick re-decides, in auto mode, which destinations the proxy answers
// for, from the table's half-open connections and the cookies in flight;
// call it every second or so. counts is scratch space (one int per
// destination; nil allocates). It returns the number engaged.
func (x *SYNProxy) Tick(ct HalfOpener, counts []int) int {
	if x.cfg.Mode != ProxyAuto {
		return len(x.engaged)
	}
	now := x.clock.Now()
	t := counter(now)
	if len(counts) < len(x.cfg.Destinations) {
		counts = make([]int, len(x.cfg.Destinations))
	}
	counts = counts[:len(x.cfg.Destinations)]
	clear(counts)
	ct.HalfOpen(x.cfg.Destinations, counts)
	n := 0
	for i := range counts {
		// Cookies older than the two periods a cookie lives cannot be
		// redeemed any more and no longer count.
		in := &x.inflight[i]
		half := counts[i] + int(in[0].live(t)+in[1].live(t))
		on := x.engaged[i].Load()
		switch {
		case !on && half > x.cfg.AutoThreshold:
			x.engaged[i].Store(true)
			on = true
		case on && half < x.cfg.AutoThreshold/2:
			x.engaged[i].Store(false)
			on = false
		}
		if on {
			n++
		}
	}
	return n
}

// ProxyStats are the SYN proxy's counters.
type ProxyStats struct {
	SYNACKs       uint64 // SYNs answered with a cookie
	CookiesOK     uint64 // ACKs with a valid cookie: the server's side opened
	Spliced       uint64 // connections whose server answered: spliced
	ServerRetries uint64 // SYNs and ACKs sent to a server again
	Engaged       int    // destination prefixes the proxy answers for now
}

// Stats returns the proxy's counters.
func (x *SYNProxy) Stats() ProxyStats {
	s := ProxyStats{SYNACKs: x.stats[statSYNACK].Load(), CookiesOK: x.stats[statCookieOK].Load(),
		Spliced: x.stats[statSpliced].Load(), ServerRetries: x.stats[statServerRetry].Load()}
	for i := range x.engaged {
		if x.engaged[i].Load() {
			s.Engaged++
		}
	}
	return s
}
