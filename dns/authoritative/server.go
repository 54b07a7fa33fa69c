package authoritative

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// Config is everything a Server needs; New checks it whole.
type Config struct {
	// Listen holds host:port addresses; each is served on UDP and TCP.
	Listen []string
	Zones  []*Zone
	Logger *slog.Logger // nil discards

	// MaxUDPSize caps the UDP response size offered to EDNS clients.
	// 0 means 1232, the DNS Flag Day 2020 value that avoids IP
	// fragmentation on common paths; the range is 512 to 65535.
	MaxUDPSize int
	// MaxTCPConns bounds concurrent TCP connections per listener; the
	// connection beyond it is closed at once and counted. 0 means 256.
	MaxTCPConns int
	// TCPIdleTimeout closes a TCP connection that sends nothing for this
	// long (RFC 7766 section 6.2.3). 0 means 10 s.
	TCPIdleTimeout time.Duration
	// UDPWorkers is the number of goroutines reading each UDP socket.
	// 0 means GOMAXPROCS.
	UDPWorkers int
}

// Server answers queries for its zones over UDP and TCP.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store atomic.Pointer[Store]
	stats counters
}

// New checks cfg and builds a Server. Zone warnings are logged here, once.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.MaxUDPSize == 0:
		cfg.MaxUDPSize = 1232
	case cfg.MaxUDPSize < dns.MinMsgSize || cfg.MaxUDPSize > dns.MaxMsgSize:
		return nil, fmt.Errorf("authoritative: MaxUDPSize %d outside %d..%d", cfg.MaxUDPSize, dns.MinMsgSize, dns.MaxMsgSize)
	}
	switch {
	case cfg.MaxTCPConns == 0:
		cfg.MaxTCPConns = 256
	case cfg.MaxTCPConns < 0:
		return nil, fmt.Errorf("authoritative: MaxTCPConns %d is negative", cfg.MaxTCPConns)
	}
	switch {
	case cfg.TCPIdleTimeout == 0:
		cfg.TCPIdleTimeout = 10 * time.Second
	case cfg.TCPIdleTimeout < 0:
		return nil, fmt.Errorf("authoritative: TCPIdleTimeout %s is negative", cfg.TCPIdleTimeout)
	}
	switch {
	case cfg.UDPWorkers == 0:
		cfg.UDPWorkers = runtime.GOMAXPROCS(0)
	case cfg.UDPWorkers < 0:
		return nil, fmt.Errorf("authoritative: UDPWorkers %d is negative", cfg.UDPWorkers)
	}
	for _, addr := range cfg.Listen {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("authoritative: listen address %q: %w", addr, err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if err := s.SetZones(cfg.Zones); err != nil {
		return nil, err
	}
	return s, nil
}

// SetZones replaces the zones served, all at once: a query sees either the
// old set or the new one.
func (s *Server) SetZones(zones []*Zone) error {
	if len(zones) == 0 {
		return errors.New("authoritative: no zones to serve")
	}
	st, err := NewStore(zones...)
	if err != nil {
		return err
	}
	for _, z := range st.Zones() {
		for _, w := range z.warnings {
			s.log.Warn("zone check", "zone", z.origin, "file", z.file, "warning", w)
		}
		s.log.Info("zone loaded", "zone", z.origin, "file", z.file, "serial", z.soa.Serial, "signed", z.Signed())
	}
	s.store.Store(st)
	return nil
}

// Store returns the zones in service.
func (s *Server) Store() *Store { return s.store.Load() }

// Handle answers one query given as wire bytes and returns the response,
// packed into buf when it fits there (buf should have length 65535), or
// nil when the query deserves no answer: shorter than a header, or itself
// a response, which answering could bounce between servers forever. tcp
// selects the TCP size limit; over UDP the response fits the client's
// EDNS size (at least 512, at most MaxUDPSize) or is truncated with TC=1.
func (s *Server) Handle(req []byte, tcp bool, buf []byte) []byte {
	if tcp {
		s.stats.queriesTCP.Add(1)
	} else {
		s.stats.queriesUDP.Add(1)
	}
	if len(req) < wire.HeaderLen || wire.Header(req).Flags()&wire.QR != 0 {
		s.stats.dropped.Add(1)
		return nil
	}
	q := new(dns.Msg)
	if err := q.Unpack(req); err != nil {
		return s.headerOnly(req, dns.RcodeFormatError, buf)
	}
	resp := new(dns.Msg)
	resp.SetReply(q)

	// RFC 6891 section 6.1.1: one OPT, in the additional section, owned
	// by the root.
	var opt *dns.OPT
	for _, rr := range q.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." {
				return s.finish(resp, nil, dns.RcodeFormatError, dns.MinMsgSize, buf)
			}
			opt = o
		}
	}
	for _, rr := range append(q.Answer[:len(q.Answer):len(q.Answer)], q.Ns...) {
		if rr.Header().Rrtype == dns.TypeOPT {
			return s.finish(resp, nil, dns.RcodeFormatError, dns.MinMsgSize, buf)
		}
	}
	size := dns.MinMsgSize
	var ropt *dns.OPT
	if opt != nil {
		ropt = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		ropt.SetUDPSize(uint16(s.cfg.MaxUDPSize))
		if opt.Do() {
			ropt.SetDo()
		}
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), s.cfg.MaxUDPSize)
		if opt.Version() != 0 {
			return s.finish(resp, ropt, dns.RcodeBadVers, size, buf)
		}
	}
	if tcp {
		size = dns.MaxMsgSize
	}
	if q.Opcode != dns.OpcodeQuery {
		return s.finish(resp, ropt, dns.RcodeNotImplemented, size, buf)
	}
	if len(q.Question) != 1 {
		return s.finish(resp, ropt, dns.RcodeFormatError, size, buf)
	}
	question := q.Question[0]
	if question.Qclass != dns.ClassINET {
		return s.finish(resp, ropt, dns.RcodeRefused, size, buf)
	}
	switch question.Qtype {
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY:
		return s.finish(resp, ropt, dns.RcodeFormatError, size, buf)
	case dns.TypeAXFR, dns.TypeIXFR:
		// Zone transfers are not offered; REFUSED is what a server
		// says to a client it will not transfer to.
		return s.finish(resp, ropt, dns.RcodeRefused, size, buf)
	case dns.TypeMAILA, dns.TypeMAILB:
		return s.finish(resp, ropt, dns.RcodeNotImplemented, size, buf)
	}
	s.store.Load().Answer(resp, opt != nil && opt.Do(), tcp)
	return s.finish(resp, ropt, resp.Rcode, size, buf)
}

// headerOnly answers a query that cannot be parsed with its ID, opcode and
// RD bit and nothing else: there is no trustworthy question to echo.
func (s *Server) headerOnly(req []byte, rcode int, buf []byte) []byte {
	s.stats.response(rcode)
	out := buf[:0]
	if cap(out) < wire.HeaderLen {
		out = make([]byte, 0, wire.HeaderLen)
	}
	out = append(out, make([]byte, wire.HeaderLen)...)
	h := wire.Header(out)
	h.SetID(wire.Header(req).ID())
	// The query's opcode and RD; the rest of the flags clear.
	h.SetFlags((wire.Header(req).Flags()&(wire.OpcodeMask|wire.RD) | wire.QR).WithRcode(uint8(rcode)))
	return out
}

// finish packs resp for size, dropping what must go to make it fit. The
// additional section is optional except for referral glue (RFC 9471), so
// it goes first, with TC=1 when it held glue. When the answer itself does
// not fit, the client gets the question, the OPT and TC=1: a partial RRset
// would be worse than none.
func (s *Server) finish(resp *dns.Msg, opt *dns.OPT, rcode int, size int, buf []byte) []byte {
	resp.Rcode = rcode
	resp.Compress = true
	if opt != nil {
		resp.Extra = append(resp.Extra, opt)
	}
	out, err := resp.PackBuffer(buf)
	if err == nil && len(out) <= size {
		s.stats.response(rcode)
		return out
	}
	base := 0
	if opt != nil {
		base = 1
	}
	if len(resp.Extra) > base {
		referral := !resp.Authoritative && len(resp.Answer) == 0 && len(resp.Ns) > 0 && rcode == dns.RcodeSuccess
		resp.Extra = resp.Extra[:0]
		if opt != nil {
			resp.Extra = append(resp.Extra, opt)
		}
		resp.Truncated = referral
		out, err = resp.PackBuffer(buf)
		if err == nil && len(out) <= size {
			if referral {
				s.stats.truncated.Add(1)
			}
			s.stats.response(rcode)
			return out
		}
	}
	s.stats.truncated.Add(1)
	resp.Truncated = true
	resp.Answer, resp.Ns = nil, nil
	out, err = resp.PackBuffer(buf)
	if err != nil || len(out) > size {
		// Only a question that cannot be packed again gets here;
		// nothing safe is left to say but SERVFAIL.
		resp.Question = nil
		resp.Truncated = false
		resp.Rcode = dns.RcodeServerFailure
		out, err = resp.PackBuffer(buf)
		if err != nil {
			return nil
		}
		rcode = dns.RcodeServerFailure
	}
	s.stats.response(rcode)
	return out
}

// Run listens on every Config.Listen address, UDP and TCP, and serves
// until ctx is cancelled, then returns nil. A bind failure closes what was
// opened and returns at once. When an address has port 0, TCP takes the
// port UDP was given.
func (s *Server) Run(ctx context.Context) error {
	if len(s.cfg.Listen) == 0 {
		return errors.New("authoritative: no listen addresses")
	}
	var lc net.ListenConfig
	var pcs []net.PacketConn
	var lns []net.Listener
	closeAll := func() {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	for _, addr := range s.cfg.Listen {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("authoritative: listen udp %s: %w", addr, err)
		}
		pcs = append(pcs, pc)
		ln, err := lc.Listen(ctx, "tcp", pc.LocalAddr().String())
		if err != nil {
			closeAll()
			return fmt.Errorf("authoritative: listen tcp %s: %w", addr, err)
		}
		lns = append(lns, ln)
		s.log.Info("listening", "udp", pc.LocalAddr().String(), "tcp", ln.Addr().String())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(pcs))
	for i := range pcs {
		go func() {
			err := s.Serve(ctx, pcs[i], lns[i])
			if err != nil {
				cancel()
			}
			errc <- err
		}()
	}
	var first error
	for range pcs {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Serve answers on pc (UDP) and ln (TCP), either of which may be nil,
// until ctx is cancelled or a socket fails for good. It closes both before
// returning, and returns nil after a cancellation.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	if pc == nil && ln == nil {
		return errors.New("authoritative: Serve needs a packet conn or a listener")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var errOnce sync.Once
	var serveErr error
	fail := func(err error) {
		errOnce.Do(func() { serveErr = err })
		cancel()
	}
	conns := &connSet{m: make(map[net.Conn]struct{})}
	if pc != nil {
		for range s.cfg.UDPWorkers {
			wg.Go(func() {
				if err := s.serveUDP(ctx, pc); err != nil {
					fail(err)
				}
			})
		}
	}
	if ln != nil {
		wg.Go(func() {
			if err := s.serveTCP(ctx, ln, conns, &wg); err != nil {
				fail(err)
			}
		})
	}
	<-ctx.Done()
	if pc != nil {
		pc.Close()
	}
	if ln != nil {
		ln.Close()
	}
	conns.closeAll()
	wg.Wait()
	return serveErr
}

// maxReadErrors is how many read errors in a row a UDP worker tolerates
// before it gives the socket up as broken.
const maxReadErrors = 100

func (s *Server) serveUDP(ctx context.Context, pc net.PacketConn) error {
	in := make([]byte, dns.MaxMsgSize)
	out := make([]byte, dns.MaxMsgSize)
	failures := 0
	for {
		n, addr, err := pc.ReadFrom(in)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if failures++; failures >= maxReadErrors {
				return fmt.Errorf("authoritative: read udp %s: %w", pc.LocalAddr(), err)
			}
			s.log.Warn("udp read", "addr", pc.LocalAddr().String(), "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		failures = 0
		resp := s.Handle(in[:n], false, out)
		if resp == nil {
			continue
		}
		if _, err := pc.WriteTo(resp, addr); err != nil && ctx.Err() == nil {
			s.log.Debug("udp write", "client", addr.String(), "err", err)
		}
	}
}

func (s *Server) serveTCP(ctx context.Context, ln net.Listener, conns *connSet, wg *sync.WaitGroup) error {
	sem := make(chan struct{}, s.cfg.MaxTCPConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends pass; back off instead of spinning.
			s.log.Warn("tcp accept", "addr", ln.Addr().String(), "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			s.stats.tcpRefused.Add(1)
			c.Close()
			continue
		}
		if !conns.add(c) {
			<-sem
			c.Close()
			return nil
		}
		wg.Go(func() {
			defer func() { <-sem }()
			defer conns.remove(c)
			s.serveConn(c)
		})
	}
}

// serveConn answers queries on one connection in the order they come
// (RFC 7766 section 6.2.1.1 allows that), so several may be in flight.
func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	in := make([]byte, dns.MaxMsgSize)
	out := make([]byte, 2+dns.MaxMsgSize)
	var prefix [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(prefix[:]))
		if _, err := io.ReadFull(r, in[:n]); err != nil {
			return
		}
		resp := s.Handle(in[:n], true, out[2:])
		if resp == nil {
			return
		}
		var framed []byte
		if len(resp) > 0 && &resp[0] == &out[2] {
			framed = out[:2+len(resp)]
		} else {
			framed = make([]byte, 2+len(resp))
			copy(framed[2:], resp)
		}
		binary.BigEndian.PutUint16(framed, uint16(len(resp)))
		c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if _, err := c.Write(framed); err != nil {
			return
		}
	}
}

// connSet lets Serve close the TCP connections it still has when it stops.
type connSet struct {
	mu     sync.Mutex
	m      map[net.Conn]struct{}
	closed bool
}

func (cs *connSet) add(c net.Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.m[c] = struct{}{}
	return true
}

func (cs *connSet) remove(c net.Conn) {
	cs.mu.Lock()
	delete(cs.m, c)
	cs.mu.Unlock()
}

func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	for c := range cs.m {
		c.Close()
	}
}
