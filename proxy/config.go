package proxy

import (
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/proxy/ca"
	"github.com/rampart-fw/rampart/proxy/cache"
	"github.com/rampart-fw/rampart/proxy/content"
	"github.com/rampart-fw/rampart/proxy/filter"
)

// Config is what the proxy runs with. The fields above the line may
// change with Reload; the others are fixed at New.
type Config struct {
	// AllowClients are the networks whose clients are served; the
	// others get a 403 and a closed connection. Empty means loopback
	// only: the proxy is never open by default.
	AllowClients []netip.Prefix
	// ConnectPorts are the ports CONNECT may reach; empty means 443.
	ConnectPorts []uint16
	// Filter is the request policy; nil passes every request.
	Filter *filter.Policy
	// Content scans response bodies; nil turns it off.
	Content *content.Filter
	// Intercept are the hosts whose TLS the proxy terminates (CA must be
	// set), except those in NeverIntercept.
	Intercept, NeverIntercept *filter.HostSet
	CA                        *ca.Authority
	// UpstreamRoots verify the certificates of HTTPS servers; nil means
	// the system's roots.
	UpstreamRoots *x509.CertPool
	// Hosts are names resolved without DNS (a hosts file's), tried before
	// the system resolver.
	Hosts map[string][]netip.Addr
	// PACProxy is the proxy address the PAC file names; empty means the
	// address the request for the PAC file reached. PACDirect are hosts
	// (a leading dot for suffixes) the PAC file sends direct.
	PACProxy  string
	PACDirect []string
	Timeouts  Timeouts
	// MaxConnsPerClient bounds one client address's open connections; 0
	// means DefaultMaxConnsPerClient.
	MaxConnsPerClient int

	// ---- fixed at New ----

	// Cache is the response cache; nil turns caching off.
	Cache *cache.Cache
	// AccessLog receives a line per request; nil writes none.
	AccessLog *AccessLog
	Logger    *slog.Logger
	Clock     clock.Clock
	// Dial connects to upstream servers; nil dials TCP after resolving
	// with Hosts and then the system resolver. Tests set it.
	Dial func(network, address string, timeout time.Duration) (net.Conn, error)
}

// Timeouts bound every wait of the proxy. Zero fields take the defaults.
type Timeouts struct {
	// Connect bounds a TCP connection to an upstream server, and its TLS
	// handshake.
	Connect time.Duration
	// ReadHeader bounds a request's header from its first byte (against
	// slowloris), and a ClientHello after a CONNECT.
	ReadHeader time.Duration
	// Idle bounds the wait for a client's next request, and any stall of
	// a body being read or written, the client's or the server's.
	Idle time.Duration
	// ResponseHeader bounds the wait for a server's response header.
	ResponseHeader time.Duration
	// TunnelIdle bounds a CONNECT tunnel in which nothing moves.
	TunnelIdle time.Duration
}

// The defaults of Timeouts and of MaxConnsPerClient.
const (
	DefaultConnect           = 10 * time.Second
	DefaultReadHeader        = 10 * time.Second
	DefaultIdle              = 2 * time.Minute
	DefaultResponseHeader    = 60 * time.Second
	DefaultTunnelIdle        = 10 * time.Minute
	DefaultMaxConnsPerClient = 256
)

func (t Timeouts) withDefaults() Timeouts {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&t.Connect, DefaultConnect)
	set(&t.ReadHeader, DefaultReadHeader)
	set(&t.Idle, DefaultIdle)
	set(&t.ResponseHeader, DefaultResponseHeader)
	set(&t.TunnelIdle, DefaultTunnelIdle)
	return t
}

// loopback is the default of AllowClients.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
