package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

func (s *Server) newTransport(st *settings) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.dialUpstream(ctx, st, network, addr)
		},
		TLSClientConfig:        &tls.Config{RootCAs: st.cfg.UpstreamRoots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    st.timeouts.Connect,
		ResponseHeaderTimeout:  st.timeouts.ResponseHeader,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    256,
		MaxResponseHeaderBytes: 256 << 10,
		// The client's Accept-Encoding goes through, and the body comes
		// back as the server sent it.
		DisableCompression: true,
		// HTTP/2 to servers that offer it in ALPN.
		ForceAttemptHTTP2: true,
	}
}

// dialUpstream connects to a server: through the configured dialer, else
// to the addresses of Hosts, else of the system resolver. The connection
// it returns times out any read or write that stalls for the idle time.
func (s *Server) dialUpstream(ctx context.Context, st *settings, network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if s.dial != nil {
		c, err = s.dial(network, addr, st.timeouts.Connect)
	} else {
		d := net.Dialer{Timeout: st.timeouts.Connect, KeepAlive: 30 * time.Second}
		host, port, _ := net.SplitHostPort(addr)
		if ips := st.cfg.Hosts[strings.ToLower(strings.TrimSuffix(host, "."))]; len(ips) > 0 {
			for _, ip := range ips {
				if c, err = d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port)); err == nil {
					break
				}
			}
		} else {
			// A name that DNS points at this host is refused: a remote
			// client could otherwise reach its loopback services by
			// rebinding a name of its own (hosts_file may map names
			// there on purpose, and a literal address was judged by
			// toLocalhost).
			d.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
				if _, err := netip.ParseAddr(host); err != nil && isLocal(address) {
					return &net.DNSError{Err: "the name resolves to this proxy's own host (" + address + ")", Name: host, IsNotFound: true}
				}
				return nil
			}
			c, err = d.DialContext(ctx, network, addr)
		}
	}
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, d: st.timeouts.Idle}, nil
}

// isLocal reports whether a dialled ip:port is loopback or unspecified.
func isLocal(address string) bool {
	ap, err := netip.ParseAddrPort(address)
	return err == nil && (ap.Addr().Unmap().IsLoopback() || ap.Addr().IsUnspecified())
}

// idleConn sets a deadline before each read and write.
type idleConn struct {
	net.Conn
	d time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.d))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

// The labels of upstream failures in the metrics.
const (
	upstreamConnect = "connect"
	upstreamDNS     = "dns"
	upstreamTimeout = "timeout"
	upstreamTLS     = "tls"
	upstreamBroken  = "broken"
	upstreamDecode  = "decode"
)

var upstreamLabels = []string{upstreamConnect, upstreamDNS, upstreamTimeout, upstreamTLS, upstreamBroken, upstreamDecode}

// classify turns a failure to get a response into the status, metric
// label and sentence the client is told.
func classify(err error, host string) (status int, label, why string) {
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alert     tls.AlertError
		dnsErr    *net.DNSError
		ne        net.Error
	)
	switch {
	case errors.As(err, &unknown):
		return http.StatusBadGateway, upstreamTLS, "the certificate of " + host + " is not trusted: it is signed by an unknown authority (" + subject(unknown.Cert) + ")"
	case errors.As(err, &hostname):
		return http.StatusBadGateway, upstreamTLS, "the certificate of " + host + " is for other names: " + hostname.Error()
	case errors.As(err, &invalid):
		return http.StatusBadGateway, upstreamTLS, "the certificate of " + host + " is not valid: " + invalid.Error()
	case errors.As(err, &verify):
		return http.StatusBadGateway, upstreamTLS, "the certificate of " + host + " failed verification: " + verify.Err.Error()
	case errors.As(err, &recordErr):
		return http.StatusBadGateway, upstreamTLS, "the server " + host + " does not speak TLS"
	case errors.As(err, &alert):
		return http.StatusBadGateway, upstreamTLS, "the TLS handshake with " + host + " failed: " + alert.Error()
	case errors.As(err, &dnsErr):
		return http.StatusBadGateway, upstreamDNS, "cannot resolve " + host + ": " + dnsErr.Err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, upstreamTimeout, "the server " + host + " did not answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusBadGateway, upstreamConnect, "cannot connect to " + host + ": connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return http.StatusBadGateway, upstreamConnect, "cannot connect to " + host + ": no route"
	}
	msg := err.Error()
	if strings.Contains(msg, "tls:") {
		return http.StatusBadGateway, upstreamTLS, "the TLS handshake with " + host + " failed: " + msg
	}
	return http.StatusBadGateway, upstreamBroken, "the server " + host + " failed: " + msg
}

func subject(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	s := "issuer " + c.Issuer.String()
	if c.Issuer.String() == c.Subject.String() {
		s = "self-signed, " + s
	}
	return s
}
