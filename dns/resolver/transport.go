package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Transport sends one query to one upstream server and returns its response.
//
// The resolver sets q.Id to a random value before the call and does not
// modify q afterwards; Exchange must not modify it either. Exchange returns
// the first response whose ID and question match q's, and ignores others: an
// implementation over UDP keeps reading until a matching response or the
// deadline of ctx. When no matching response arrived in time the error wraps
// context.DeadlineExceeded (or os.ErrDeadlineExceeded). tcp asks for TCP, which
// the resolver uses after a truncated UDP response. The resolver checks the ID
// and question again and discards what does not match, so a scripted
// transport must echo both.
type Transport interface {
	Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error)
}

// NetTransport is the Transport over real sockets: UDP from a fresh connected
// socket with a kernel-chosen random source port per query, and TCP with a
// two-byte length prefix, one query per connection.
type NetTransport struct {
	// DefaultTimeout bounds an exchange whose ctx has no deadline; zero means
	// two seconds.
	DefaultTimeout time.Duration

	sent, received, discarded, malformed atomic.Uint64
}

// TransportStats are the counters of a NetTransport.
type TransportStats struct {
	Sent     uint64 // queries written
	Received uint64 // matching responses returned
	// Discarded counts UDP packets that arrived on a query's socket but did
	// not match it (ID, question, or not a response): stray, late or spoofed.
	Discarded uint64
	// Malformed counts matching UDP packets that did not unpack.
	Malformed uint64
}

// NewNetTransport returns a NetTransport with default settings.
func NewNetTransport() *NetTransport { return &NetTransport{} }

// Stats returns a snapshot of the counters.
func (t *NetTransport) Stats() TransportStats {
	return TransportStats{
		Sent:      t.sent.Load(),
		Received:  t.received.Load(),
		Discarded: t.discarded.Load(),
		Malformed: t.malformed.Load(),
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
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query for %s: %w", server, err)
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
		return t.exchangeTCP(ctx, server, wire)
	}
	return t.exchangeUDP(ctx, server, wire)
}

// watch makes conn's pending reads and writes fail as soon as ctx ends, and
// returns the function that stops watching.
func watch(ctx context.Context, conn net.Conn) func() bool {
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

func (t *NetTransport) exchangeUDP(ctx context.Context, server netip.AddrPort, wire []byte) (*dns.Msg, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, fmt.Errorf("udp exchange with %s: %w", server, err)
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	if _, err := conn.Write(wire); err != nil {
		return nil, ioError(ctx, server, "udp", err)
	}
	t.sent.Add(1)
	bp := udpBufPool.Get().(*[]byte)
	defer udpBufPool.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, ioError(ctx, server, "udp", err)
		}
		pkt := buf[:n]
		if !matchResponse(wire, pkt) {
			t.discarded.Add(1)
			continue
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

func (t *NetTransport) exchangeTCP(ctx context.Context, server netip.AddrPort, wire []byte) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server.String())
	if err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	out := make([]byte, 2+len(wire))
	binary.BigEndian.PutUint16(out, uint16(len(wire)))
	copy(out[2:], wire)
	if _, err := conn.Write(out); err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	t.sent.Add(1)
	var lenBuf [2]byte
	if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	n := int(binary.BigEndian.Uint16(lenBuf[:]))
	if n < headerLen {
		return nil, fmt.Errorf("tcp exchange with %s: response of %d bytes is shorter than a header", server, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, ioError(ctx, server, "tcp", err)
	}
	if !matchResponse(wire, body) {
		t.discarded.Add(1)
		return nil, fmt.Errorf("tcp exchange with %s: %w", server, errMismatch)
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

const headerLen = 12

// matchResponse reports whether resp is a response to query, comparing the
// wire forms: the ID, the QR bit, the opcode and the question (name without
// regard to ASCII case, type and class). query must be a well-formed message
// with one question, as packed by miekg/dns. A FORMERR response may omit the
// question, as old servers do. It allocates nothing.
func matchResponse(query, resp []byte) bool {
	if len(resp) < headerLen || len(query) < headerLen {
		return false
	}
	if resp[0] != query[0] || resp[1] != query[1] {
		return false
	}
	if resp[2]&0x80 == 0 || (resp[2]>>3)&0x0f != (query[2]>>3)&0x0f {
		return false
	}
	qd := binary.BigEndian.Uint16(resp[4:6])
	if qd == 0 {
		return resp[3]&0x0f == dns.RcodeFormatError
	}
	if qd != 1 {
		return false
	}
	// The question of the query: an uncompressed name, then type and class.
	end := headerLen
	for end < len(query) {
		l := int(query[end])
		if l == 0 {
			end++
			break
		}
		if l > 63 {
			return false
		}
		end += 1 + l
	}
	end += 4
	if end > len(query) || end > len(resp) {
		return false
	}
	// Label length octets are below 64 and so never in 'A'..'Z': folding
	// every octet of the name compares the labels case-insensitively.
	nameEnd := end - 4
	for i := headerLen; i < nameEnd; i++ {
		a, b := query[i], resp[i]
		if a >= 'A' && a <= 'Z' {
			a += 'a' - 'A'
		}
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	for i := nameEnd; i < end; i++ {
		if query[i] != resp[i] {
			return false
		}
	}
	return true
}

// isTimeout reports whether err means that no answer arrived in time.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
