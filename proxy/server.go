package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/proxy/cache"
)

// Server is the proxy. It is safe for concurrent use; Reload swaps its
// configuration between requests.
type Server struct {
	cur   atomic.Pointer[settings]
	cache *cache.Cache
	alog  *AccessLog
	log   *slog.Logger
	clock clock.Clock
	dial  func(network, address string, timeout time.Duration) (net.Conn, error)
	m     metrics

	mu        sync.Mutex
	perClient map[netip.Addr]int    // guarded by mu: open connections per client
	conns     map[net.Conn]struct{} // guarded by mu
	listeners []net.Listener        // guarded by mu
	closed    bool                  // guarded by mu
	wg        sync.WaitGroup
}

// settings is one configuration in force, with what is built from it.
type settings struct {
	cfg       Config
	timeouts  Timeouts
	allow     []netip.Prefix
	ports     map[uint16]bool
	transport *http.Transport
}

// New returns a proxy; Serve starts it on a listener.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cache:     cfg.Cache,
		alog:      cfg.AccessLog,
		log:       cfg.Logger,
		clock:     clock.Or(cfg.Clock),
		dial:      cfg.Dial,
		perClient: map[netip.Addr]int{},
		conns:     map[net.Conn]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.m.init()
	if err := s.Reload(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload puts cfg in force for the requests that start after it; the
// fields fixed at New are ignored. It fails, changing nothing, when cfg
// asks for interception without a CA.
func (s *Server) Reload(cfg Config) error {
	if cfg.Intercept != nil && cfg.Intercept.Len() > 0 && cfg.CA == nil {
		return errors.New("proxy: interception needs a CA")
	}
	st := &settings{cfg: cfg, timeouts: cfg.Timeouts.withDefaults(), allow: cfg.AllowClients, ports: map[uint16]bool{}}
	if len(st.allow) == 0 {
		st.allow = loopback
	}
	for _, p := range cfg.ConnectPorts {
		st.ports[p] = true
	}
	if len(st.ports) == 0 {
		st.ports[443] = true
	}
	if st.cfg.MaxConnsPerClient <= 0 {
		st.cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	st.transport = s.newTransport(st)
	old := s.cur.Swap(st)
	if old != nil {
		// Requests in flight finish on the old pool; its idle
		// connections go now.
		go func() {
			time.Sleep(time.Second)
			old.transport.CloseIdleConnections()
		}()
		if old.cfg.Content != st.cfg.Content && s.cache != nil {
			// Stored bodies passed the old content filter.
			s.cache.Purge()
		}
	}
	return nil
}

func (st *settings) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range st.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Serve accepts connections on l until Shutdown or an error of l.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of file descriptors and the like: back off, as
				// net/http does, instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			return nil
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// Shutdown stops the listeners, closes every connection and waits for
// their goroutines, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.cur.Load().transport.CloseIdleConnections()
	return s.alog.Flush()
}

// acquire counts a connection of client, refusing one over the limit.
func (s *Server) acquire(client netip.Addr, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient[client] >= limit {
		return false
	}
	s.perClient[client]++
	return true
}

func (s *Server) release(client netip.Addr) {
	s.mu.Lock()
	if s.perClient[client]--; s.perClient[client] <= 0 {
		delete(s.perClient, client)
	}
	s.mu.Unlock()
}

// conn is a client connection: plain, or the TLS of an intercepted
// CONNECT.
type conn struct {
	s      *Server
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	dw     deadlineWriter
	client netip.Addr
	// tunnel is the host:port of the intercepted CONNECT this connection
	// carries; empty on a plain connection.
	tunnel string
	// rawLocal is the listener's address the client reached.
	rawLocal net.Addr
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, MaxHeaderBytes) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}
)

func (s *Server) newConn(c net.Conn, client netip.Addr, idle time.Duration) *conn {
	cc := &conn{s: s, c: c, client: client, rawLocal: c.LocalAddr()}
	cc.br = readers.Get().(*bufio.Reader)
	cc.br.Reset(c)
	cc.dw = deadlineWriter{c: c, d: idle}
	cc.bw = writers.Get().(*bufio.Writer)
	cc.bw.Reset(&cc.dw)
	return cc
}

func (cc *conn) free() {
	cc.br.Reset(nil)
	readers.Put(cc.br)
	cc.bw.Reset(nil)
	writers.Put(cc.bw)
	cc.br, cc.bw = nil, nil
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	s.m.open.Add(1)
	defer s.m.open.Add(-1)
	st := s.cur.Load()
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	client := ap.Addr().Unmap()
	if !st.allowed(client) {
		s.m.refused[refusedACL].Add(1)
		s.refuseConn(c, st, http.StatusForbidden, "rampart proxy: access denied: "+client.String()+" is not in proxy.allow_clients\n", true)
		s.logLine(&record{start: s.clock.Now(), client: client, action: "TCP_DENIED", status: 403, method: "-", url: "-", rule: "allow_clients"})
		return
	}
	if !s.acquire(client, st.cfg.MaxConnsPerClient) {
		s.m.refused[refusedLimit].Add(1)
		s.refuseConn(c, st, http.StatusServiceUnavailable, "rampart proxy: too many connections from "+client.String()+"\n", false)
		return
	}
	defer s.release(client)
	cc := s.newConn(c, client, st.timeouts.Idle)
	defer cc.free()
	cc.serve()
}

// refuseConn answers a connection the proxy will not serve. With wait,
// it first waits (within the header time-out) for the end of the first
// request's header, or its first 4 KiB, but parses nothing of it: clients
// take an answer only after they have sent their request. A client over
// its connection limit is answered at once: it may be opening many.
func (s *Server) refuseConn(c net.Conn, st *settings, status int, body string, wait bool) {
	if wait {
		c.SetReadDeadline(s.clock.Now().Add(st.timeouts.ReadHeader))
		peekHeader(bufio.NewReaderSize(c, 4<<10))
	}
	c.SetWriteDeadline(s.clock.Now().Add(st.timeouts.ReadHeader))
	io.WriteString(c, "HTTP/1.1 "+statusLine(status)+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
	cc := &conn{s: s, c: c}
	cc.linger()
}

// linger lets the client read an answer sent before the end of its
// request: closing with unread data would reset the connection and may
// discard the answer. It stops writing and reads a bounded amount for a
// bounded time.
func (cc *conn) linger() {
	if cw, ok := cc.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		cc.c.SetReadDeadline(cc.s.clock.Now().Add(time.Second))
		io.CopyN(io.Discard, cc.c, 256<<10)
	}
}

// serve reads and answers requests until the connection ends.
func (cc *conn) serve() {
	for {
		st := cc.s.cur.Load()
		req, err := cc.readRequest(st)
		if err != nil {
			var re *requestError
			switch {
			case errors.As(err, &re):
				cc.s.m.bad[re.reason].Add(1)
				cc.s.writeError(cc, nil, st, re.status, "bad request: "+re.msg, true)
				cc.s.logLine(&record{start: cc.s.clock.Now(), client: cc.client, action: "NONE_NONE", status: re.status, method: "-", url: "-", reason: re.msg})
			case errors.Is(err, errHeaderTimeout):
				cc.s.m.bad["header_timeout"].Add(1)
				cc.s.writeError(cc, nil, st, http.StatusRequestTimeout, "the request header did not arrive in time", true)
			case errors.Is(err, errIdle), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				var ne net.Error
				if errors.As(err, &ne) {
					return // the connection failed
				}
				cc.s.m.bad["malformed"].Add(1)
				cc.s.writeError(cc, nil, st, http.StatusBadRequest, "malformed request: "+err.Error(), true)
				cc.s.logLine(&record{start: cc.s.clock.Now(), client: cc.client, action: "NONE_NONE", status: 400, method: "-", url: "-", reason: err.Error()})
			}
			cc.linger()
			return
		}
		// The configuration in force when the request came, not when
		// the wait for it began.
		if !cc.handle(req, cc.s.cur.Load()) {
			if req.Body != nil && req.Body != http.NoBody {
				// An answer before the end of the body (a block, an
				// error) must not be lost to a reset.
				cc.linger()
			}
			return
		}
	}
}

var errHeaderTimeout = errors.New("request header time-out")

// readRequest waits up to the idle time for a request to start, then up
// to the header time-out for its header, checks the header, and parses
// it.
func (cc *conn) readRequest(st *settings) (*http.Request, error) {
	now := cc.s.clock.Now()
	cc.c.SetReadDeadline(now.Add(st.timeouts.Idle))
	if _, err := cc.br.Peek(1); err != nil {
		return nil, errIdle
	}
	cc.c.SetReadDeadline(cc.s.clock.Now().Add(st.timeouts.ReadHeader))
	h, err := peekHeader(cc.br)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, errHeaderTimeout
		}
		if err == io.EOF {
			return nil, errIdle
		}
		return nil, err
	}
	if re := checkHeader(h); re != nil {
		return nil, re
	}
	req, err := http.ReadRequest(cc.br)
	if err != nil {
		return nil, err
	}
	if req.ProtoMajor != 1 {
		return nil, &requestError{http.StatusHTTPVersionNotSupported, "malformed", "only HTTP/1.x is served here, not " + req.Proto}
	}
	cc.c.SetReadDeadline(time.Time{})
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &idleReader{rc: req.Body, c: cc.c, d: st.timeouts.Idle}
	}
	return req, nil
}

// idleReader sets the connection's read deadline before each read: a
// body may take as long as it likes, but not stall.
type idleReader struct {
	rc io.ReadCloser
	c  net.Conn
	d  time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.c.SetReadDeadline(time.Now().Add(r.d))
	return r.rc.Read(p)
}

func (r *idleReader) Close() error { return r.rc.Close() }

// deadlineWriter sets the connection's write deadline before each write:
// a client that stops reading is dropped after the idle time.
type deadlineWriter struct {
	c net.Conn
	d time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.d))
	return w.c.Write(p)
}
