package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/proxy/filter"
	"github.com/rampart-fw/rampart/proxy/sni"
)

// connect handles CONNECT host:port: the port and the host are checked,
// the client's ClientHello must name the same host, and then the bytes
// are tunnelled, or the TLS is terminated for an intercepted host.
func (cc *conn) connect(req *http.Request, st *settings, rec *record) {
	s := cc.s
	authority := req.RequestURI
	rec.url = authority
	host, portStr, err := net.SplitHostPort(authority)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || perr != nil || host == "" || port == 0 {
		rec.action, rec.status = "NONE_NONE", http.StatusBadRequest
		s.writeError(cc, req, st, http.StatusBadRequest, "CONNECT needs host:port, not "+strconv.Quote(authority), true)
		return
	}
	h := filter.CanonicalHost(host)
	if toLocalhost(cc.client, h) {
		s.m.blocked[blockLocal].Add(1)
		rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, "to_localhost"
		rec.bytes = s.writePage(cc, req, st, http.StatusForbidden, "blocked by to_localhost: "+h+" is this proxy's own host", authority, true)
		return
	}
	if !st.ports[uint16(port)] {
		s.m.blocked[blockPort].Add(1)
		rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, "connect_ports"
		rec.bytes = s.writePage(cc, req, st, http.StatusForbidden, "blocked by connect_ports: CONNECT to port "+portStr+" is not allowed", authority, true)
		return
	}
	if p := st.cfg.Filter; p != nil {
		v := p.Check(&filter.Request{Client: cc.client, Method: req.Method, Host: h, Time: rec.start.In(timeZone)})
		if v.Block {
			s.m.blocked[blockKind(v.Rule)].Add(1)
			rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, v.Rule
			rec.bytes = s.writePage(cc, req, st, http.StatusForbidden, "blocked by "+v.Rule, authority, true)
			return
		}
	}
	intercept := st.cfg.CA != nil && st.cfg.Intercept != nil && matches(st.cfg.Intercept, h) &&
		(st.cfg.NeverIntercept == nil || !matches(st.cfg.NeverIntercept, h))
	rec.hier = h
	var up net.Conn
	if !intercept {
		ctx, cancel := context.WithTimeout(context.Background(), st.timeouts.Connect)
		up, err = s.dialUpstream(ctx, st, "tcp", net.JoinHostPort(h, portStr))
		cancel()
		if err != nil {
			status, label, why := classify(err, h)
			s.m.upstreamErr[label].Add(1)
			rec.action, rec.status, rec.reason = "TCP_TUNNEL", status, why
			rec.bytes = s.writePage(cc, req, st, status, why, authority, true)
			return
		}
		defer up.Close()
	}
	cc.bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if err := cc.bw.Flush(); err != nil {
		return
	}
	rec.action, rec.status = "TCP_TUNNEL", http.StatusOK
	hello, err := cc.peekHello(st)
	if err != nil {
		// Not TLS, or not in time: a tunnel the proxy cannot check is
		// not opened.
		s.m.blocked[blockSNI].Add(1)
		rec.action, rec.status, rec.rule, rec.reason = "TCP_DENIED", http.StatusForbidden, "sni", "no TLS ClientHello after CONNECT: "+err.Error()
		return
	}
	if hello.ServerName != "" && hello.ServerName != h {
		s.m.blocked[blockSNI].Add(1)
		rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, "sni"
		rec.reason = "the ClientHello names " + hello.ServerName + ", the CONNECT " + h
		// A TLS alert the client's library reports: unrecognized_name.
		cc.c.SetWriteDeadline(s.clock.Now().Add(st.timeouts.ReadHeader))
		cc.c.Write([]byte{21, 3, 3, 0, 2, 2, 112})
		return
	}
	if intercept {
		rec.reason = "intercepted"
		cc.intercept(st, h, portStr)
		return
	}
	// The hello, and whatever else the client sent, go first.
	if n := cc.br.Buffered(); n > 0 {
		b, _ := cc.br.Peek(n)
		up.SetWriteDeadline(s.clock.Now().Add(st.timeouts.Idle))
		if _, err := up.Write(b); err != nil {
			return
		}
		cc.br.Discard(n)
	}
	up.SetWriteDeadline(time.Time{})
	down := tunnel(cc.c, up, st.timeouts.TunnelIdle)
	rec.bytes = down
}

func matches(set *filter.HostSet, host string) bool {
	_, ok := set.Match(host)
	return ok
}

// peekHello waits for the client's ClientHello and parses it, leaving it
// in the buffer.
func (cc *conn) peekHello(st *settings) (sni.Hello, error) {
	cc.c.SetReadDeadline(cc.s.clock.Now().Add(st.timeouts.ReadHeader))
	defer cc.c.SetReadDeadline(time.Time{})
	for {
		b, _ := cc.br.Peek(cc.br.Buffered())
		h, err := sni.Parse(b)
		if err != sni.ErrShort {
			return h, err
		}
		if len(b) >= cc.br.Size() {
			return h, errors.New("ClientHello too large")
		}
		if _, err := cc.br.Peek(len(b) + 1); err != nil {
			return h, err
		}
	}
}

// tunnel copies both ways until both sides have finished, or nothing has
// moved either way for idle; when one side ends, the other has a few
// seconds to finish. It returns the bytes sent to the client.
func tunnel(client, server net.Conn, idle time.Duration) (down int64) {
	t := &tunnelState{idle: idle}
	t.last.Store(time.Now().UnixNano())
	done := make(chan int64, 1)
	go func() { done <- t.pipe(server, client) }()
	down = t.pipe(client, server)
	<-done
	return down
}

// tunnelLinger is how long one direction of a tunnel may go on after the
// other has ended.
const tunnelLinger = 5 * time.Second

type tunnelState struct {
	idle   time.Duration
	last   atomic.Int64 // when a byte last moved, either way
	ending atomic.Bool  // one direction has ended
}

// pipe copies src to dst; a read that waits idle ends it only when the
// other direction has been as quiet. At src's end it half-closes dst and
// gives the other direction tunnelLinger to end.
func (t *tunnelState) pipe(dst, src net.Conn) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		if !t.ending.Load() {
			src.SetReadDeadline(time.Now().Add(t.idle))
		}
		nr, err := src.Read(buf)
		if nr > 0 {
			t.last.Store(time.Now().UnixNano())
			dst.SetWriteDeadline(time.Now().Add(t.idle))
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				break
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !t.ending.Load() && time.Since(time.Unix(0, t.last.Load())) < t.idle {
				continue
			}
			break
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	if !t.ending.Swap(true) {
		// The other direction reads dst.
		dst.SetReadDeadline(time.Now().Add(tunnelLinger))
	}
	return n
}

// intercept terminates the client's TLS with a leaf for host and serves
// the requests inside as https://host:port.
func (cc *conn) intercept(st *settings, host, port string) {
	s := cc.s
	cfg := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return st.cfg.CA.Leaf(host) },
		NextProtos:     []string{"http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
	tc := tls.Server(&bufferedConn{Conn: cc.c, r: cc.br}, cfg)
	tc.SetDeadline(s.clock.Now().Add(st.timeouts.ReadHeader))
	if err := tc.Handshake(); err != nil {
		s.log.Debug("intercepted handshake failed", "client", cc.client, "host", host, "err", err)
		return
	}
	tc.SetDeadline(time.Time{})
	inner := s.newConn(tc, cc.client, st.timeouts.Idle)
	inner.tunnel = net.JoinHostPort(host, port)
	inner.rawLocal = cc.rawLocal
	defer inner.free()
	inner.serve()
	tc.Close()
}

// bufferedConn reads through the buffer that holds the peeked hello.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
