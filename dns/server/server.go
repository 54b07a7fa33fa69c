package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/validate"
	"github.com/rampart-fw/rampart/dns/wire"
	"github.com/rampart-fw/rampart/internal/deadline"
	"golang.org/x/sys/unix"
)

// Cache is the wire-form answer cache, seen from the server.
type Cache interface {
	// AnswerFromWire writes the cached response to the raw query into resp,
	// patched for this query (ID, case of the name, TTLs, EDNS), and returns
	// its length; ok is false on a miss or when the query needs the slow
	// path. maxSize caps the response (0: the client's UDP size); stale
	// allows an expired answer (RFC 8767). refresh reports an answer near
	// the end of its TTL that the server should refresh in the background,
	// so popular names never expire from the cache.
	AnswerFromWire(query, resp []byte, maxSize int, stale bool) (n int, refresh, ok bool)
	// PutAnswer stores a final response for later hits.
	PutAnswer(resp *dns.Msg)
}

// JustStoredCache is a Cache that can answer a query from the entry that
// PutAnswer has just stored for it, as AnswerFromWire would but without
// counting a hit or an access. The slow path then answers through the
// same patching as later hits instead of packing the response itself.
type JustStoredCache interface {
	Cache
	AnswerJustStored(query, resp []byte, maxSize int) (n int, ok bool)
}

// Resolver answers a question completely (recursively).
type Resolver interface {
	Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error)
}

// CDResolver is a Resolver that validates DNSSEC and honours the client's
// CD (checking disabled) bit, RFC 4035 §3.2.2.
type CDResolver interface {
	ResolveCD(ctx context.Context, qname string, qtype, qclass uint16, do, cd bool) (*dns.Msg, error)
}

// Config configures a Server. Zero values take the defaults in brackets.
type Config struct {
	Listen []netip.AddrPort
	ACL    *ACL // [DefaultACL]
	Cache  Cache
	// Resolver answers cache misses; it is required.
	Resolver Resolver
	// SocketsPerAddr is the number of SO_REUSEPORT UDP sockets bound to each
	// listen address, each read by its own goroutine [GOMAXPROCS].
	SocketsPerAddr int
	// MaxInflight bounds the client queries being resolved at once; UDP
	// queries beyond it are dropped (the client retries), TCP queries wait
	// [4096].
	MaxInflight int
	// MaxTCPConns bounds open client TCP connections [1024].
	MaxTCPConns int
	// TCPPerSource bounds the open TCP connections of one client (one
	// network of ClientPrefix4 or ClientPrefix6 bits), so that one source
	// cannot hold every connection slot; the connection beyond it is
	// closed at once [64]. Negative: no bound but MaxTCPConns.
	TCPPerSource int
	// TCPPipeline bounds the queries of one TCP connection resolved at once
	// [16].
	TCPPipeline int
	// TCPIdle closes a client TCP connection that sends no query for this
	// long (RFC 7766 §6.2.3) [10s].
	TCPIdle time.Duration
	// WaitLimit bounds the queries of one client (one network of
	// ClientPrefix4 or ClientPrefix6 bits) waiting for resolution at once;
	// a query beyond it is answered SERVFAIL at once, so that no client
	// can pile up answers to be released in one burst (DNSBomb,
	// CVE-2024-33655) [1000]. Negative: no limit. Unbound's wait-limit.
	WaitLimit int
	// WaitLimitCookie is WaitLimit for a query with a valid server cookie,
	// which proves that its source address is not spoofed [10000].
	// Negative: no limit for them. Unbound's wait-limit-cookie.
	WaitLimitCookie int
	// WaitLimitExempt are the clients WaitLimit does not apply to
	// [loopback: 127.0.0.0/8 and ::1/128, as in Unbound]. A non-nil empty
	// list exempts none.
	WaitLimitExempt []netip.Prefix
	// DiscardTimeout: the answer to a UDP query that waited longer than
	// this for resolution is not sent; the client has given up or asked
	// again by then, and answers held back would leave in a burst
	// (DNSBomb) [1900ms]. Negative: always answer. Unbound's
	// discard-timeout. The resolution goes on and fills the cache.
	DiscardTimeout time.Duration
	// ClientPrefix4 and ClientPrefix6 are the prefix lengths that make one
	// client of WaitLimit and TCPPerSource [24 and 56]: a host usually
	// owns many addresses of its network, most of all in IPv6.
	ClientPrefix4, ClientPrefix6 int
	// QueryTimeout is the budget for resolving one client query [10s].
	QueryTimeout time.Duration
	// MaxPrefetch bounds the background refreshes of cached answers near
	// the end of their TTL running at once [64].
	MaxPrefetch int
	// EDNSSize is the UDP payload size advertised to clients [1232].
	EDNSSize uint16
	// RRL is response rate limiting over UDP [off].
	RRL RRLConfig
	// CookieSecret keys the server cookies (RFC 7873, RFC 9018): 16
	// bytes, the same on every server of an anycast set so that a cookie
	// one issues the others accept [random, from crypto/rand].
	CookieSecret []byte
	Logger       *slog.Logger
	Metrics      *Metrics
}

// Server serves DNS queries over UDP and TCP.
//
// It has no mutex. Its fields are written by New, Listen and Serve before
// the goroutines that read them start (Listen returns before Serve is
// called, and Serve sets ctx before it starts a reader), and never after.
// What the serving goroutines share synchronises itself: the semaphores
// and idle are channels, tcpN is atomic, the cookie jar swaps its keys
// atomically, and the metrics are Prometheus's. Each reader owns its
// socket's buffers and its tally, each slow-path worker its slowSender.
type Server struct {
	cfg   Config             // immutable after New
	log   *slog.Logger       // immutable after New
	m     *Metrics           // immutable after New
	sem   chan struct{}      // immutable after New: a token per query in the slow path
	tcpN  atomic.Int64       // open client TCP connections; no lock
	udp   []*net.UDPConn     // written by Listen; read-only once Serve starts
	tcp   []*net.TCPListener // written by Listen; read-only once Serve starts
	addrs []netip.AddrPort   // written by Listen; read-only once Serve starts
	wg    sync.WaitGroup
	ctx   context.Context // written by Serve before it starts a goroutine; read-only after
	// idle hands a UDP query that missed the cache to a worker waiting
	// for one (see spawnUDP). Immutable after New.
	idle chan udpJob
	// prefetchSem bounds the background refreshes in flight. Immutable
	// after New.
	prefetchSem chan struct{}
	cookies     *cookieJar // immutable after New; the jar synchronises itself
	// waits counts each client's queries waiting for resolution (nil: no
	// wait limit), tcpSources its open TCP connections (nil: no
	// per-source bound). Immutable after New; they lock themselves.
	waits, tcpSources *clientCounts
	// rrl limits UDP responses (nil: off). Immutable after New; it locks
	// itself.
	rrl *rateLimiter
}

// New validates cfg and fills in its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("server: a resolver is required")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("server: no listen address")
	}
	if cfg.ACL == nil {
		acl, err := DefaultACL()
		if err != nil {
			return nil, err
		}
		cfg.ACL = acl
	}
	if cfg.SocketsPerAddr <= 0 {
		cfg.SocketsPerAddr = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 4096
	}
	if cfg.MaxTCPConns <= 0 {
		cfg.MaxTCPConns = 1024
	}
	if cfg.TCPPerSource == 0 {
		cfg.TCPPerSource = 64
	}
	if cfg.WaitLimit == 0 {
		cfg.WaitLimit = 1000
	}
	if cfg.WaitLimitCookie == 0 {
		cfg.WaitLimitCookie = 10000
	}
	if cfg.WaitLimitExempt == nil {
		cfg.WaitLimitExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if cfg.DiscardTimeout == 0 {
		cfg.DiscardTimeout = 1900 * time.Millisecond
	}
	if cfg.ClientPrefix4 == 0 {
		cfg.ClientPrefix4 = 24
	}
	if cfg.ClientPrefix6 == 0 {
		cfg.ClientPrefix6 = 56
	}
	if cfg.ClientPrefix4 < 0 || cfg.ClientPrefix4 > 32 {
		return nil, fmt.Errorf("server: ClientPrefix4 %d outside 1..32", cfg.ClientPrefix4)
	}
	if cfg.ClientPrefix6 < 0 || cfg.ClientPrefix6 > 128 {
		return nil, fmt.Errorf("server: ClientPrefix6 %d outside 1..128", cfg.ClientPrefix6)
	}
	if cfg.TCPPipeline <= 0 {
		cfg.TCPPipeline = 16
	}
	if cfg.TCPIdle <= 0 {
		cfg.TCPIdle = 10 * time.Second
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 10 * time.Second
	}
	if cfg.EDNSSize == 0 {
		cfg.EDNSSize = 1232
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.MaxPrefetch <= 0 {
		cfg.MaxPrefetch = 64
	}
	if err := cfg.RRL.setDefaults(); err != nil {
		return nil, err
	}
	cookies, err := newCookieJar(cfg.CookieSecret)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, sem: make(chan struct{}, cfg.MaxInflight), idle: make(chan udpJob),
		prefetchSem: make(chan struct{}, cfg.MaxPrefetch), cookies: cookies}
	if cfg.WaitLimit > 0 {
		s.waits = newClientCounts(cfg.ClientPrefix4, cfg.ClientPrefix6)
	}
	if cfg.RRL.ResponsesPerSecond > 0 {
		s.rrl = newRateLimiter(s.cfg.RRL, cfg.Metrics.rrlEvicted)
	}
	if cfg.TCPPerSource > 0 {
		s.tcpSources = newClientCounts(cfg.ClientPrefix4, cfg.ClientPrefix6)
	}
	return s, nil
}

// RotateCookieSecret replaces the server cookie secret with secret (16
// bytes; nil draws one from crypto/rand). Cookies made with the replaced
// secret stay valid until the next rotation and are reissued under the new
// one, so rotating more often than every hour invalidates live cookies
// (RFC 9018 §4.4).
func (s *Server) RotateCookieSecret(secret []byte) error {
	return s.cookies.rotate(secret)
}

func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen binds every socket. It returns the first bind error, with nothing
// left open. A listen address with port 0 gets one ephemeral port shared by
// its UDP and TCP sockets.
func (s *Server) Listen() error {
	lc := net.ListenConfig{Control: reusePort}
	ctx := context.Background()
	for _, ap := range s.cfg.Listen {
		addr := ap
		for i := 0; i < s.cfg.SocketsPerAddr; i++ {
			pc, err := lc.ListenPacket(ctx, "udp", addr.String())
			if err != nil {
				s.closeAll()
				return fmt.Errorf("listen udp %s: %w", addr, err)
			}
			u := pc.(*net.UDPConn)
			if i == 0 {
				addr = u.LocalAddr().(*net.UDPAddr).AddrPort()
				addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
				if ap.Addr().Is6() && !ap.Addr().Is4In6() {
					addr = netip.AddrPortFrom(ap.Addr(), addr.Port())
				}
				s.addrs = append(s.addrs, addr)
			}
			s.udp = append(s.udp, u)
		}
		l, err := lc.Listen(ctx, "tcp", addr.String())
		if err != nil {
			s.closeAll()
			return fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		s.tcp = append(s.tcp, l.(*net.TCPListener))
	}
	return nil
}

// Addrs returns the bound addresses (after Listen).
func (s *Server) Addrs() []netip.AddrPort { return s.addrs }

func (s *Server) closeAll() {
	for _, u := range s.udp {
		u.Close()
	}
	for _, l := range s.tcp {
		l.Close()
	}
}

// Serve answers queries until ctx is done; Listen must have succeeded.
func (s *Server) Serve(ctx context.Context) error {
	s.ctx = ctx
	for _, u := range s.udp {
		s.wg.Add(1)
		go s.serveUDP(u)
	}
	for _, l := range s.tcp {
		s.wg.Add(1)
		go s.serveTCP(l)
	}
	s.log.Info("dns server listening", "addrs", fmt.Sprint(s.addrs), "udp_sockets", len(s.udp), "acl", s.cfg.ACL.String())
	<-ctx.Done()
	s.closeAll()
	s.wg.Wait()
	return nil
}

// Run is Listen followed by Serve.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// udpJob is a UDP query that missed the cache, with where to answer it.
type udpJob struct {
	c     *net.UDPConn
	rc    syscall.RawConn // c's, for slowSender; nil where it is not used
	q     []byte
	src   netip.AddrPort
	start time.Time // when it was handed to the slow path, for DiscardTimeout
	// cookie is the fast path's verdict on the query's cookie, which
	// response rate limiting asks.
	cookie CookieVerdict
}

// workerIdle is how long a slow-path worker waits for another query before
// it exits.
const workerIdle = 5 * time.Second

// spawnUDP hands a query that missed the cache to a worker, within the
// client's wait limit and the in-flight bound; q is copied because the
// receive buffer is reused. It returns the length of an answer to send at
// once, written into out (SERVFAIL to a client over its wait limit), or 0.
// A worker that finishes waits a while for the next query instead of
// exiting: a resolution runs deep, and a fresh goroutine for each one
// grew its stack from the start every time (copying it twice or three
// times was 7% of the CPU of a cold run). Workers never outnumber the
// in-flight bound by more than the few that are between two queries.
func (s *Server) spawnUDP(c *net.UDPConn, rc syscall.RawConn, q []byte, src netip.AddrPort, out []byte, t *tally) int {
	if !s.admitWait(src.Addr(), t.cookie) {
		t.waitLimited++
		return errorResponse(out, q, wire.RcodeServFail)
	}
	select {
	case s.sem <- struct{}{}:
	default:
		t.overload++
		s.doneWaiting(src.Addr())
		return 0
	}
	s.m.inflight.Inc()
	job := udpJob{c: c, rc: rc, q: append([]byte(nil), q...), src: src, start: time.Now(), cookie: t.cookie}
	select {
	case s.idle <- job:
	default:
		go s.udpWorker(job)
	}
	return 0
}

func (s *Server) udpWorker(job udpJob) {
	timer := time.NewTimer(workerIdle)
	defer timer.Stop()
	snd := newSlowSender()
	for {
		resp := s.slow(job.q, job.src.Addr(), false)
		s.doneWaiting(job.src.Addr())
		switch {
		case resp == nil:
		case s.cfg.DiscardTimeout > 0 && time.Since(job.start) > s.cfg.DiscardTimeout:
			// The client has retried or given up by now; answers held
			// this long and sent together would be a burst (DNSBomb).
			// The resolution has filled the cache for the retry.
			s.m.discarded.Inc()
		default:
			if resp = s.limitSlow(&job, resp); resp != nil {
				snd.send(job.c, job.rc, resp, job.src)
			}
		}
		<-s.sem
		s.m.inflight.Dec()
		timer.Reset(workerIdle)
		select {
		case job = <-s.idle:
		case <-timer.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// limitSlow is response rate limiting for a slow-path answer to a UDP
// query: resp as it is, truncated in place, or nil to send nothing. It
// counts the octets sent.
func (s *Server) limitSlow(job *udpJob, resp []byte) []byte {
	var t tally
	n := len(resp)
	if s.rrl != nil {
		n = s.rrl.judge(job.q, resp, n, job.src.Addr(), job.cookie, s.rrl.now(), s.cfg.EDNSSize, &t)
	}
	t.octets(s.m, clientPrefix(job.src.Addr(), s.cfg.ClientPrefix4, s.cfg.ClientPrefix6), 0, n)
	t.flush(s.m)
	if n == 0 {
		return nil
	}
	return resp[:n]
}

// answerUDP finishes the reader's answer to UDP query q from src: out[:n]
// is the answer (n <= 0: none), which response rate limiting may
// truncate in place or drop (now is its clock, read once per batch). It
// counts the query's and the answer's octets in t and returns the length
// to send, 0 for none.
func (s *Server) answerUDP(q, out []byte, n int, src netip.Addr, now uint32, t *tally) int {
	if n > 0 && s.rrl != nil {
		n = s.rrl.judge(q, out, n, src, t.cookie, now, s.cfg.EDNSSize, t)
	}
	n = max(n, 0)
	t.octets(s.m, clientPrefix(src, s.cfg.ClientPrefix4, s.cfg.ClientPrefix6), len(q), n)
	return n
}

// fast handles everything that needs no resolution: drops, refusals,
// malformed headers and cache hits. It returns the length of a response in
// out, 0 when the query must go to the slow path, and -1 to drop it.
func (s *Server) fast(q []byte, src netip.Addr, out []byte) int {
	var t tally
	n := s.fastTally(q, src, out, &t)
	t.flush(s.m)
	return n
}

// fastTally is fast counting into t, which the caller flushes to the
// metrics once per batch: shared counters touched once per query would
// bounce their cache lines between the cores that read sockets.
func (s *Server) fastTally(q []byte, src netip.Addr, out []byte, t *tally) int {
	t.cookie = CookieNone
	if len(q) < wire.HeaderLen {
		t.dropped++
		return -1
	}
	flags := wire.Header(q).Flags()
	if flags&wire.QR != 0 {
		// A response sent to a server port is either a reflection attempt
		// or noise: never answer it.
		t.dropped++
		return -1
	}
	if !s.cfg.ACL.Allowed(src) {
		t.refused++
		return errorResponse(out, q, wire.RcodeRefused)
	}
	if flags&wire.OpcodeMask != 0 {
		t.notImp++
		return errorResponse(out, q, wire.RcodeNotImp)
	}
	var r wire.Reader
	if _, ok := r.OneQuestion(q); !ok {
		t.formErr++
		return errorResponse(out, q, wire.RcodeFormErr)
	}
	// A record walk that fails here fails the slow path's full parse too,
	// which answers FORMERR; only a second OPT record, or one not owned by
	// the root, is refused now.
	var e queryEDNS
	fault := readEDNS(&r, q, &e)
	if fault == wire.ErrTwoOPT || fault == wire.ErrOPTOwner {
		t.formErr++
		return errorResponse(out, q, wire.RcodeFormErr)
	}
	var reply [cookieReplyLen]byte
	v := s.cookies.verdict(e.cookie, fault == 0 && e.cookieFound, src, &reply)
	t.cookie = v
	t.cookies[v]++
	if v == CookieMalformed {
		t.formErr++
		return errorResponse(out, q, wire.RcodeFormErr)
	}
	if s.cfg.Cache != nil {
		if n, refresh, ok := s.cachedAnswer(q, out, e.udpSize, 0, false, v, &reply); ok {
			t.hits++
			if refresh {
				s.prefetch(q, src)
			}
			return n
		}
	}
	t.misses++
	return 0
}

// cachedAnswer is Cache.AnswerFromWire for a query whose cookie verdict is
// v: a response to a query with a cookie carries the COOKIE option reply,
// appended to the cached answer's OPT record in place, so that clients
// that send cookies on every query (BIND, Unbound, dig) still hit the
// cache without an allocation. udpSize is the query's EDNS UDP size (0
// without EDNS) and maxSize the cap for TCP (0: the UDP rule).
func (s *Server) cachedAnswer(q, out []byte, udpSize, maxSize int, stale bool, v CookieVerdict, reply *[cookieReplyLen]byte) (int, bool, bool) {
	return s.answerFromCache(q, out, udpSize, maxSize, stale, false, v, reply)
}

// answerFromCache is cachedAnswer, or with justStored the answer from the
// entry the slow path has just stored, which is not a hit (see
// JustStoredCache; false when the cache cannot tell one).
func (s *Server) answerFromCache(q, out []byte, udpSize, maxSize int, stale, justStored bool, v CookieVerdict, reply *[cookieReplyLen]byte) (int, bool, bool) {
	if maxSize <= 0 {
		// UDP: the client's size, but never more than the server's own
		// (EDNSSize), as the packed answers of the slow path: a client
		// that offers 4096 must not get an answer in IP fragments, nor
		// a reflection attack its largest answers.
		maxSize = min(max(udpSize, 512), max(int(s.cfg.EDNSSize), 512))
	}
	if v != CookieClientOnly && v != CookieValid && v != CookieInvalid {
		return s.lookupWire(q, out, maxSize, stale, justStored)
	}
	limit := maxSize
	if limit <= 0 {
		limit = max(udpSize, 512)
	}
	// Leave room for the option, within both the size the client takes
	// and the buffer.
	limit = min(limit, len(out)) - cookieOptionLen
	if limit < wire.HeaderLen {
		return 0, false, false
	}
	n, refresh, ok := s.lookupWire(q, out, limit, stale, justStored)
	if !ok {
		return 0, false, false
	}
	// The cache puts its OPT record last and without options, which is
	// what makes this append in place possible.
	if n = wire.AppendOption(out, n, wire.OptionCookie, reply[:]); n == 0 {
		return 0, false, false
	}
	return n, refresh, true
}

// slow parses and resolves a query that missed the cache and returns the
// packed response (nil: send nothing).
func (s *Server) slow(q []byte, src netip.Addr, tcp bool) []byte {
	start := time.Now()
	var m dns.Msg
	var qr wire.Reader
	_, ok := qr.OneQuestion(q)
	if err := m.Unpack(q); err != nil || len(m.Question) != 1 || !ok {
		s.m.formErr.Inc()
		return s.errorReply(q, wire.RcodeFormErr)
	}
	// The cookie is judged on the wire, exactly as the fast path judged
	// (and counted) it, rather than through miekg's hex form of it.
	var e queryEDNS
	fault := readEDNS(&qr, q, &e)
	var reply [cookieReplyLen]byte
	v := s.cookies.verdict(e.cookie, fault == 0 && e.cookieFound, src, &reply)
	if fault != 0 || v == CookieMalformed {
		s.m.formErr.Inc()
		return s.errorReply(q, wire.RcodeFormErr)
	}
	question := m.Question[0]
	opt := m.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		s.m.badVers.Inc()
		r := new(dns.Msg)
		r.SetRcode(&m, dns.RcodeBadVers)
		r.SetEdns0(s.cfg.EDNSSize, false)
		addCookie(r, v, &reply)
		return s.pack(r, 512, tcp)
	}
	switch {
	case question.Qclass != dns.ClassINET:
		s.m.refused.Inc()
		return s.errorReply(q, wire.RcodeRefused)
	case question.Qtype == dns.TypeAXFR || question.Qtype == dns.TypeIXFR || question.Qtype == dns.TypeOPT ||
		(question.Qtype >= 128 && question.Qtype <= 254 && question.Qtype != dns.TypeANY):
		// Zone transfers and meta types are not for a recursive resolver.
		s.m.notImp.Inc()
		return s.errorReply(q, wire.RcodeRefused)
	}
	do := opt != nil && opt.Do()
	// No timer unless someone waits on Done: a resolution in this
	// goroutine reads only the deadline (internal/deadline).
	ctx := deadline.New(s.ctx, start.Add(s.cfg.QueryTimeout))
	var res *dns.Msg
	var err error
	if cr, ok := s.cfg.Resolver.(CDResolver); ok {
		res, err = cr.ResolveCD(ctx, question.Name, question.Qtype, question.Qclass, do, m.CheckingDisabled)
	} else {
		res, err = s.cfg.Resolver.Resolve(ctx, question.Name, question.Qtype, question.Qclass, do)
	}
	ctx.Cancel()
	s.m.latency.Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		s.m.servFail.Inc()
		s.log.Debug("resolution failed", "qname", question.Name, "qtype", dns.TypeToString[question.Qtype], "client", src, "err", err)
	}
	r := Respond(&m, res, err, s.cfg.EDNSSize)
	if s.cfg.Cache != nil && err == nil && res != nil && (r.Rcode == dns.RcodeSuccess || r.Rcode == dns.RcodeNameError) {
		s.cfg.Cache.PutAnswer(r)
		// What was just stored is what every later client gets; this
		// one gets it too, through the hit path, which patches stored
		// bytes instead of packing the message again. A response with
		// EDNS options of its own (an extended error) is packed as it
		// is, since the hit path adds only the cookie.
		if !hasOptions(r) {
			maxSize := 0
			if tcp {
				maxSize = 65535
			}
			bp := scratchPool.Get().(*[]byte)
			n, _, ok := s.answerFromCache(q, *bp, e.udpSize, maxSize, false, true, v, &reply)
			var out []byte
			if ok {
				out = append([]byte(nil), (*bp)[:n]...)
			}
			scratchPool.Put(bp)
			if ok {
				s.m.response(r.Rcode)
				return out
			}
		}
	}
	if s.cfg.Cache != nil && err != nil && r.Rcode == dns.RcodeServerFailure && !errors.Is(err, validate.ErrBogus) {
		// RFC 8767: when resolution fails, an expired answer is better
		// than none (the cache decides whether serve-stale is on). A
		// validation failure is not a failure to resolve: bogus data gets
		// SERVFAIL, never an older answer in its place.
		maxSize := 0
		if tcp {
			maxSize = 65535
		}
		out := make([]byte, 65535)
		if n, _, ok := s.cachedAnswer(q, out, e.udpSize, maxSize, true, v, &reply); ok {
			s.m.stale.Inc()
			return out[:n]
		}
	}
	size := 512
	if opt != nil {
		size = int(min(max(opt.UDPSize(), 512), s.cfg.EDNSSize))
	}
	addCookie(r, v, &reply)
	return s.pack(r, size, tcp)
}

// lookupWire asks the cache for q's answer, as a hit or, with justStored,
// from the entry just stored.
func (s *Server) lookupWire(q, out []byte, limit int, stale, justStored bool) (int, bool, bool) {
	if !justStored {
		return s.cfg.Cache.AnswerFromWire(q, out, limit, stale)
	}
	js, ok := s.cfg.Cache.(JustStoredCache)
	if !ok {
		return 0, false, false
	}
	n, ok := js.AnswerJustStored(q, out, limit)
	return n, false, ok
}

// scratchPool holds the buffers the slow path answers into from the cache.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 65535); return &b }}

// hasOptions reports whether r carries EDNS options.
func hasOptions(r *dns.Msg) bool {
	opt := r.IsEdns0()
	return opt != nil && len(opt.Option) > 0
}

// addCookie adds the COOKIE option reply to response r when the verdict
// calls for one. miekg/dns holds the option's data as a hex string.
func addCookie(r *dns.Msg, v CookieVerdict, reply *[cookieReplyLen]byte) {
	if v != CookieClientOnly && v != CookieValid && v != CookieInvalid {
		return
	}
	opt := r.IsEdns0()
	if opt == nil {
		return
	}
	opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(reply[:])})
}

// Respond builds the response a client gets for query m from the
// resolver's result res (and its error): the client's ID, flags and question
// exactly as sent, minimal sections, EDNS echoed with our buffer size and
// the client's DO bit, and any Extended DNS Error from the resolver. A
// failed resolution without a result is SERVFAIL.
func Respond(m *dns.Msg, res *dns.Msg, err error, ednsSize uint16) *dns.Msg {
	opt := m.IsEdns0()
	do := opt != nil && opt.Do()
	question := m.Question[0]
	r := new(dns.Msg)
	r.Id = m.Id
	r.Response = true
	r.Opcode = m.Opcode
	r.RecursionDesired = m.RecursionDesired
	r.RecursionAvailable = true
	r.CheckingDisabled = m.CheckingDisabled
	r.Question = m.Question // the name exactly as the client sent it
	switch {
	case res == nil:
		r.Rcode = dns.RcodeServerFailure
	case err != nil:
		// The resolver says why (SERVFAIL, or REFUSED/NOTIMP/FORMERR for
		// queries it does not take) but its sections are not an answer.
		r.Rcode = res.Rcode
	default:
		r.Rcode = res.Rcode
		r.AuthenticatedData = res.AuthenticatedData && (do || m.AuthenticatedData)
		r.Answer = res.Answer
		// Minimal responses: the authority section only where it carries
		// the proof of a negative answer, or of a wildcard expansion
		// (NSEC/NSEC3 records beside a positive answer, for clients
		// that validate).
		if res.Rcode == dns.RcodeNameError || !answers(res.Answer, question.Qtype) || hasDenial(res.Ns) {
			r.Ns = res.Ns
		}
	}
	if opt != nil {
		r.SetEdns0(ednsSize, do)
		// Extended DNS Errors (RFC 8914) from the resolver reach the client.
		if res != nil {
			if ro := res.IsEdns0(); ro != nil {
				for _, o := range ro.Option {
					if o.Option() == dns.EDNS0EDE {
						r.IsEdns0().Option = append(r.IsEdns0().Option, o)
					}
				}
			}
		}
	}
	return r
}

// prefetch refreshes a cached answer near the end of its TTL in the
// background, so that the clients of a popular name keep hitting the cache.
// At most MaxPrefetch refreshes run at once; the rest are skipped (the next
// hit near expiry, or the first miss after it, refreshes the name).
func (s *Server) prefetch(q []byte, src netip.Addr) {
	select {
	case s.prefetchSem <- struct{}{}:
	default:
		s.m.prefetchSkipped.Inc()
		return
	}
	q = append([]byte(nil), q...)
	s.m.prefetches.Inc()
	go func() {
		defer func() { <-s.prefetchSem }()
		s.slow(q, src, true)
	}()
}

// answers reports whether the answer section holds an RRset of qtype (the
// end of a CNAME chain) rather than only CNAMEs leading to no data.
// hasDenial reports whether rrs holds an NSEC or NSEC3 record.
func hasDenial(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			return true
		}
	}
	return false
}

func answers(rrs []dns.RR, qtype uint16) bool {
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if t == qtype || qtype == dns.TypeANY || (t == dns.TypeCNAME && qtype == dns.TypeCNAME) {
			return true
		}
	}
	return false
}

func (s *Server) pack(r *dns.Msg, size int, tcp bool) []byte {
	if !tcp && r.Len() > size {
		r.Truncate(size)
	}
	b, err := r.Pack()
	if err != nil {
		s.log.Warn("pack response", "err", err)
		return nil
	}
	s.m.response(r.Rcode)
	return b
}

func (s *Server) errorReply(q []byte, rcode int) []byte {
	out := make([]byte, len(q))
	n := errorResponse(out, q, rcode)
	if n == 0 {
		return nil
	}
	s.m.response(rcode)
	return out[:n]
}

// closedIdle counts a connection closed because its read timed out: the
// client sent nothing (or not the whole of a query) for TCPIdle.
func (s *Server) closedIdle(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.m.tcpIdle.Inc()
	}
}

func (s *Server) serveTCP(l *net.TCPListener) {
	defer s.wg.Done()
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if s.tcpN.Add(1) > int64(s.cfg.MaxTCPConns) {
			s.tcpN.Add(-1)
			s.m.tcpRejected.Inc()
			c.Close()
			continue
		}
		src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		if s.tcpSources != nil && !s.tcpSources.acquire(src, s.cfg.TCPPerSource) {
			s.tcpN.Add(-1)
			s.m.tcpPerSource.Inc()
			c.Close()
			continue
		}
		s.m.tcpConns.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.tcpN.Add(-1)
				if s.tcpSources != nil {
					s.tcpSources.release(src)
				}
				s.m.tcpConns.Dec()
			}()
			s.serveConn(c, src)
		}()
	}
}

// serveConn reads length-prefixed queries and answers them, several at a
// time and in any order (RFC 7766 pipelining). A connection that sends no
// query for TCPIdle is closed. The wait limit holds as over UDP, but
// answers are never discarded for their age: the client is still
// connected and waiting.
func (s *Server) serveConn(c *net.TCPConn, src netip.Addr) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	var wmu sync.Mutex
	write := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdle))
		var hdr [2]byte
		binary.BigEndian.PutUint16(hdr[:], uint16(len(b)))
		_, _ = (&net.Buffers{hdr[:], b}).WriteTo(c)
	}
	pipe := make(chan struct{}, s.cfg.TCPPipeline)
	var wg sync.WaitGroup
	defer wg.Wait()
	out := make([]byte, 65535)
	var lenBuf [2]byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdle))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			s.closedIdle(err)
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		q := make([]byte, n)
		if _, err := io.ReadFull(c, q); err != nil {
			s.closedIdle(err)
			return
		}
		s.m.queriesTCP.Inc()
		var t tally
		r := s.fastTally(q, src, out, &t)
		t.flush(s.m)
		if r > 0 {
			write(out[:r])
			continue
		} else if r < 0 {
			continue
		}
		if !s.admitWait(src, t.cookie) {
			s.m.waitLimited.Inc()
			s.m.response(wire.RcodeServFail)
			if r := errorResponse(out, q, wire.RcodeServFail); r > 0 {
				write(out[:r])
			}
			continue
		}
		pipe <- struct{}{}
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			s.doneWaiting(src)
			return
		}
		s.m.inflight.Inc()
		wg.Add(1)
		go func() {
			defer func() { <-s.sem; <-pipe; s.doneWaiting(src); s.m.inflight.Dec(); wg.Done() }()
			if resp := s.slow(q, src, true); resp != nil {
				write(resp)
			}
		}()
	}
}
