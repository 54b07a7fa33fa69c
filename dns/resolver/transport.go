package resolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// Transport sends one query to one upstream server and returns its response.
//
// The resolver sets q.Id to a random value before the call and does not
// modify q afterwards; Exchange must not modify it either. Exchange returns
// the first response whose ID and question match q's, and ignores others: an
// implementation over UDP keeps reading until a matching response or the
// deadline of ctx. When no matching response arrived in time the error wraps
// context.DeadlineExceeded (or os.ErrDeadlineExceeded). tcp asks for TCP, which
// the resolver uses after a truncated UDP response or a near miss. The
// resolver checks the ID, the question and its exact case (0x20) and the
// client cookie again, and takes a response that fails them over UDP as a
// near miss, so a scripted transport must echo the question as sent. A
// transport that itself sees a near miss (a well-formed response from the
// server with the wrong ID or question) may return a *SpoofError at once.
//
// The try's time-out is ctx's Deadline, which comes before Done closes:
// Done closes when the whole resolution is abandoned or out of time.
type Transport interface {
	Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error)
}

// NetTransport is the Transport over real sockets. UDP goes from a fresh
// socket per query, bound to a source port drawn from the whole unprivileged
// range by a CSPRNG (another draw when the port is in use) and connected to
// the server, so that the kernel drops datagrams from any other address or
// port before they are read; DF is set on it. TCP uses a two-byte length
// prefix, one query per connection.
//
// A UDP datagram from the server that is not a DNS response (too short, QR
// clear, wrong opcode) or does not unpack is discarded and counted, and the
// wait goes on: a forged packet cannot cut a genuine exchange short (TuDoor).
// A well-formed response with the wrong ID or question ends the exchange with
// a *SpoofError instead: on a connected socket with a random port it means
// that someone is guessing, and the resolver answers by asking over TCP.
//
// A NetTransport is safe for concurrent use once its exported fields are
// set: they must not change after the first Exchange.
type NetTransport struct {
	// DefaultTimeout bounds an exchange whose ctx has no deadline; zero means
	// two seconds.
	DefaultTimeout time.Duration

	// LabWeakness, when set, makes the transport deliberately poisonable, so
	// that the lab can show the Kaminsky attack succeeding against a
	// pre-2008 resolver before showing it fail against the real one. Only
	// `rampart resolver --lab-weaken` sets it, and that flag refuses to work
	// unless the lab asked for it.
	LabWeakness *Weakness

	// The counters are atomics, read without a lock.
	sent, received, discarded, malformed, nearMisses, bindRetries atomic.Uint64

	srcMu sync.Mutex
	src   map[netip.Addr]netip.Addr // guarded by srcMu: server -> our address towards it
}

// TransportStats are the counters of a NetTransport.
type TransportStats struct {
	Sent     uint64 // queries written
	Received uint64 // matching responses returned
	// Discarded counts UDP packets that arrived on a query's socket but were
	// no DNS response to it (too short, QR clear, other opcode).
	Discarded uint64
	// Malformed counts matching UDP packets that did not unpack.
	Malformed uint64
	// NearMisses counts well-formed responses with the wrong ID or question,
	// each of which ended its exchange with a *SpoofError.
	NearMisses uint64
	// BindRetries counts source ports drawn again because they were in use.
	BindRetries uint64
}

// NewNetTransport returns a NetTransport with default settings.
func NewNetTransport() *NetTransport { return &NetTransport{} }

// Stats returns a snapshot of the counters.
func (t *NetTransport) Stats() TransportStats {
	return TransportStats{
		Sent:        t.sent.Load(),
		Received:    t.received.Load(),
		Discarded:   t.discarded.Load(),
		Malformed:   t.malformed.Load(),
		NearMisses:  t.nearMisses.Load(),
		BindRetries: t.bindRetries.Load(),
	}
}

// maxUDPResponse is the largest DNS message over UDP; reading into a buffer
// this large means an oversized reply is never silently cut short.
const maxUDPResponse = 65535

var udpBufPool = sync.Pool{New: func() any {
	b := make([]byte, maxUDPResponse)
	return &b
}}

// Exchange implements Transport.
func (t *NetTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	bp := queryBufPool.Get().(*[]byte)
	defer queryBufPool.Put(bp)
	packed, ok := appendQuery((*bp)[:0], q)
	if ok {
		*bp = packed[:0]
	} else {
		var err error
		if packed, err = q.Pack(); err != nil {
			return nil, fmt.Errorf("pack query for %s: %w", server, err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		d := t.DefaultTimeout
		if d <= 0 {
			d = 2 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if tcp {
		return t.exchangeTCP(ctx, server, packed)
	}
	return t.exchangeUDP(ctx, server, packed)
}

// udpSocket is the upstream socket of one UDP exchange.
type udpSocket interface {
	Write([]byte) (int, error)
	// Read waits for the next datagram until ctx's Deadline or the end of
	// ctx.
	Read(ctx context.Context, b []byte) (int, error)
	Close() error
}

// connSocket is a udpSocket over a net.UDPConn: the lab's weakened
// transport's, and every socket where udpPoller does not exist.
type connSocket struct{ *net.UDPConn }

func (c connSocket) Read(ctx context.Context, b []byte) (int, error) {
	stop := watch(ctx, c.UDPConn)
	defer stop()
	return c.UDPConn.Read(b)
}

// watch makes conn's pending reads and writes fail as soon as ctx ends, and
// returns the function that stops watching.
func watch(ctx context.Context, conn interface{ SetDeadline(time.Time) error }) func() bool {
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// ioError turns a socket error after ctx ended into ctx's error, so that
// callers see context.DeadlineExceeded for a time-out.
func ioError(ctx context.Context, server netip.AddrPort, proto string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s exchange with %s: %w", proto, server, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket deadline is ctx's, and may fire a moment before ctx
		// reports it.
		return fmt.Errorf("%s exchange with %s: %w", proto, server, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s exchange with %s: %w", proto, server, err)
}

// maxBindTries bounds the ports drawn for one query; with 64,512 ports it is
// only reached when nearly all are taken.
const maxBindTries = 16

// Weakness is what the lab's weakened resolver gives up.
type Weakness struct {
	// FixedPort is the one source port of every upstream query, which an
	// off-path attacker then needs to guess no more (16 bits of entropy
	// less).
	FixedPort uint16
	// IgnoreNearMisses waits on through answers with a wrong ID instead of
	// treating them as an attack and moving to TCP.
	IgnoreNearMisses bool
}

// dialUDP returns a UDP socket with DF set, bound to a random source port
// and connected to server (see dialUDPRandom), or the lab's weakened one.
func (t *NetTransport) dialUDP(server netip.AddrPort) (udpSocket, error) {
	network := "udp4"
	if server.Addr().Is6() && !server.Addr().Is4In6() {
		network = "udp6"
	}
	if w := t.LabWeakness; w != nil && w.FixedPort != 0 {
		d := net.Dialer{LocalAddr: &net.UDPAddr{Port: int(w.FixedPort)}, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = setReusePort(fd)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		c, err := d.Dial(network, server.String())
		if err != nil {
			return nil, err
		}
		return connSocket{c.(*net.UDPConn)}, nil
	}
	return dialUDPRandom(server, randSourcePort, &t.bindRetries)
}

// maxSourceAddrs bounds the remembered source addresses; the map is cleared
// when full, which costs only a routing lookup per server afterwards.
const maxSourceAddrs = 4096

// SourceAddr returns the local address that queries to server leave from,
// which the resolver mixes into the client cookie it sends (RFC 7873 §4.1).
// It asks the kernel's routing once per server; no packet is sent.
func (t *NetTransport) SourceAddr(server netip.Addr) netip.Addr {
	t.srcMu.Lock()
	a, ok := t.src[server]
	t.srcMu.Unlock()
	if ok {
		return a
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 53)))
	if err != nil {
		return netip.IPv6Unspecified()
	}
	a = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	c.Close()
	t.srcMu.Lock()
	if t.src == nil || len(t.src) >= maxSourceAddrs {
		t.src = make(map[netip.Addr]netip.Addr)
	}
	t.src[server] = a
	t.srcMu.Unlock()
	return a
}

func (t *NetTransport) exchangeUDP(ctx context.Context, server netip.AddrPort, query []byte) (*dns.Msg, error) {
	conn, err := t.dialUDP(server)
	if err != nil {
		return nil, fmt.Errorf("udp exchange with %s: %w", server, err)
	}
	defer conn.Close()
	if _, err := conn.Write(query); err != nil {
		return nil, ioError(ctx, server, "udp", err)
	}
	t.sent.Add(1)
	bp := udpBufPool.Get().(*[]byte)
	defer udpBufPool.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(ctx, buf)
		if err != nil {
			return nil, ioError(ctx, server, "udp", err)
		}
		pkt := buf[:n]
		switch v := checkResponse(query, pkt); v {
		case verdictMatch, verdictCase:
		case verdictMalformed:
			t.discarded.Add(1)
			continue
		default:
			t.nearMisses.Add(1)
			if w := t.LabWeakness; w != nil && w.IgnoreNearMisses {
				continue
			}
			return nil, &SpoofError{Server: server, Reason: v.reason()}
		}
		m := new(dns.Msg)
		if err := m.Unpack(pkt); err != nil {
			// A truncated response may be cut mid-record; its header is
			// all that matters, since the resolver retries over TCP.
			if m.Truncated {
				t.received.Add(1)
				return m, nil
			}
			t.malformed.Add(1)
			continue
		}
		t.received.Add(1)
		return m, nil
	}
}

func (t *NetTransport) exchangeTCP(ctx context.Context, server netip.AddrPort, query []byte) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server.String())
	if err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	out := make([]byte, 2+len(query))
	binary.BigEndian.PutUint16(out, uint16(len(query)))
	copy(out[2:], query)
	if _, err := conn.Write(out); err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	t.sent.Add(1)
	var lenBuf [2]byte
	if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	n := int(binary.BigEndian.Uint16(lenBuf[:]))
	if n < wire.HeaderLen {
		return nil, fmt.Errorf("tcp exchange with %s: response of %d bytes is shorter than a header", server, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	if v := checkResponse(query, body); v != verdictMatch && v != verdictCase {
		t.discarded.Add(1)
		return nil, fmt.Errorf("tcp exchange with %s: %w (%s)", server, errMismatch, v.reason())
	}
	m := new(dns.Msg)
	if err := m.Unpack(body); err != nil {
		t.malformed.Add(1)
		return nil, fmt.Errorf("tcp exchange with %s: unpack response: %w", server, err)
	}
	t.received.Add(1)
	return m, nil
}

var errMismatch = errors.New("response does not match the query")

// verdict is what checkResponse makes of a packet.
type verdict uint8

const (
	verdictMatch     verdict = iota // the response to the query
	verdictCase                     // the response, but the name's case differs (0x20)
	verdictMalformed                // not a DNS response at all
	verdictID                       // a response with another ID
	verdictQuestion                 // a response with the right ID and another question
)

func (v verdict) reason() SpoofReason {
	switch v {
	case verdictCase:
		return SpoofCase
	case verdictID:
		return SpoofID
	case verdictQuestion:
		return SpoofQuestion
	}
	return SpoofNone
}

// matchResponse reports whether resp is a response to query, ignoring the
// case of the name. See checkResponse.
func matchResponse(query, resp []byte) bool {
	v := checkResponse(query, resp)
	return v == verdictMatch || v == verdictCase
}

// checkResponse compares a response with its query in wire form: the ID, the
// QR bit, the opcode and the question (name, type and class), and tells apart
// an exact match, a match but for the case of the name, a packet that is no
// response, and a response to something else. query must be a well-formed
// message with one question, as packed by miekg/dns. A response without the
// question, a FORMERR included, answers something else. It allocates
// nothing.
func checkResponse(query, resp []byte) verdict {
	if len(resp) < wire.HeaderLen || len(query) < wire.HeaderLen {
		return verdictMalformed
	}
	rh, qh := wire.Header(resp), wire.Header(query)
	if rf := rh.Flags(); rf&wire.QR == 0 || rf.Opcode() != qh.Flags().Opcode() {
		return verdictMalformed
	}
	if rh.ID() != qh.ID() {
		return verdictID
	}
	var r wire.Reader
	qq, ok := r.OneQuestion(query)
	if !ok {
		return verdictMalformed
	}
	// Every response echoes the question, a FORMERR too: without it a
	// forger would need only the ID and the port to make a FORMERR count,
	// and a FORMERR switches EDNS off for the server.
	rq, ok := r.OneQuestion(resp)
	if !ok || rq.Type() != qq.Type() || rq.Class() != qq.Class() {
		return verdictQuestion
	}
	qn, rn := qq.Name(query), rq.Name(resp)
	switch {
	case bytes.Equal(qn, rn):
		return verdictMatch
	case wire.EqualFold(qn, rn):
		return verdictCase
	}
	return verdictQuestion
}

// isTimeout reports whether err means that no answer arrived in time.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// queryBufPool holds buffers for upstream queries in wire form.
var queryBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendQuery appends the wire form of q to b, for the queries the
// resolver builds (newQuery): one question whose name has no escapes, no
// records but one OPT, whose options are cookies. It reports false for
// any other message, which the caller packs with miekg/dns. Writing the
// few fields of such a query directly costs a fraction of the general
// packer, which builds a compression map and a hex round trip per cookie
// (TestAppendQueryMatchesPack holds the two to the same bytes).
func appendQuery(b []byte, q *dns.Msg) ([]byte, bool) {
	if len(q.Question) != 1 || len(q.Answer) != 0 || len(q.Ns) != 0 || len(q.Extra) > 1 || q.Rcode > 0xF {
		return b, false
	}
	var opt *dns.OPT
	if len(q.Extra) == 1 {
		o, ok := q.Extra[0].(*dns.OPT)
		if !ok || o.Hdr.Name != "." {
			return b, false
		}
		opt = o
	}
	flags := wire.Flags(q.Opcode&0xF)<<11 | wire.Flags(q.Rcode&0xF)
	for _, f := range []struct {
		set bool
		bit wire.Flags
	}{{q.Response, wire.QR}, {q.Authoritative, wire.AA}, {q.Truncated, wire.TC}, {q.RecursionDesired, wire.RD},
		{q.RecursionAvailable, wire.RA}, {q.Zero, wire.Z}, {q.AuthenticatedData, wire.AD}, {q.CheckingDisabled, wire.CD}} {
		if f.set {
			flags |= f.bit
		}
	}
	start := len(b)
	b = append(b, make([]byte, wire.HeaderLen)...)
	h := wire.Header(b[start:])
	h.SetID(q.Id)
	h.SetFlags(flags)
	h.SetCount(wire.SectionQuestion, 1)
	h.SetCount(wire.SectionAdditional, uint16(len(q.Extra)))
	qq := q.Question[0]
	var ok bool
	if b, ok = appendName(b, qq.Name); !ok {
		return b, false
	}
	b = binary.BigEndian.AppendUint16(b, qq.Qtype)
	b = binary.BigEndian.AppendUint16(b, qq.Qclass)
	if opt == nil {
		return b, true
	}
	b = append(b, 0) // the root
	b = binary.BigEndian.AppendUint16(b, wire.TypeOPT)
	b = binary.BigEndian.AppendUint16(b, opt.Hdr.Class)
	b = binary.BigEndian.AppendUint32(b, opt.Hdr.Ttl)
	rdlen := len(b)
	b = append(b, 0, 0)
	for _, o := range opt.Option {
		c, isCookie := o.(*dns.EDNS0_COOKIE)
		if !isCookie || len(c.Cookie)%2 != 0 {
			return b, false
		}
		b = binary.BigEndian.AppendUint16(b, wire.OptionCookie)
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.Cookie)/2))
		n := len(b)
		b = append(b, make([]byte, len(c.Cookie)/2)...)
		if _, err := hex.Decode(b[n:], []byte(c.Cookie)); err != nil {
			return b, false
		}
	}
	if len(b)-rdlen-2 > 0xFFFF {
		return b, false
	}
	binary.BigEndian.PutUint16(b[rdlen:], uint16(len(b)-rdlen-2))
	return b, true
}

// appendName appends the uncompressed wire form of a fully qualified
// presentation name without escapes; false for any other name.
func appendName(b []byte, name string) ([]byte, bool) {
	if name == "." {
		return append(b, 0), true
	}
	if len(name) == 0 || len(name) > 254 || name[len(name)-1] != '.' || strings.IndexByte(name, '\\') >= 0 {
		return b, false
	}
	for start := 0; start < len(name); {
		end := start + strings.IndexByte(name[start:], '.')
		if l := end - start; l == 0 || l > 63 {
			return b, false
		}
		b = append(b, byte(end-start))
		b = append(b, name[start:end]...)
		start = end + 1
	}
	return append(b, 0), true
}
