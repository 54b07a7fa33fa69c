package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/proxy/filter"
)

// handle answers one request and reports whether the connection goes on.
func (cc *conn) handle(req *http.Request, st *settings) bool {
	s := cc.s
	rec := &record{start: s.clock.Now(), client: cc.client, method: req.Method, url: req.RequestURI}
	defer s.logLine(rec)
	closeAfter := wantsClose(req) || req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
	// closeAfter for a request with a body is only a fallback: forward
	// reads the body to its end and clears it.
	if cc.tunnel == "" && req.Method == http.MethodConnect {
		cc.connect(req, st, rec)
		return false
	}
	if via := req.Header.Get("Via"); via != "" && strings.Contains(via, s.m.viaToken) {
		rec.action, rec.status = "NONE_NONE", http.StatusLoopDetected
		s.writeError(cc, req, st, http.StatusLoopDetected, "the request came back to this proxy (a forwarding loop)", true)
		return false
	}
	u := req.URL
	var scheme, authority string
	switch {
	case cc.tunnel != "":
		if req.Method == http.MethodConnect || u.IsAbs() && (!strings.EqualFold(u.Scheme, "https") || !sameAuthority(u.Host, cc.tunnel, "443")) {
			rec.action, rec.status = "NONE_NONE", http.StatusMisdirectedRequest
			s.writeError(cc, req, st, http.StatusMisdirectedRequest, "this connection is for "+cc.tunnel+" only", true)
			return false
		}
		if !sameAuthority(req.Host, cc.tunnel, "443") {
			rec.action, rec.status = "NONE_NONE", http.StatusMisdirectedRequest
			s.m.blocked[blockSNI].Add(1)
			s.writeError(cc, req, st, http.StatusMisdirectedRequest, "Host "+req.Host+" is not the host of the CONNECT ("+cc.tunnel+")", true)
			return false
		}
		scheme, authority = "https", cc.tunnel
	case !u.IsAbs():
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			if u.Path == "/proxy.pac" || u.Path == "/wpad.dat" {
				return cc.servePAC(req, st, rec) && !closeAfter
			}
		}
		rec.action, rec.status = "NONE_NONE", http.StatusBadRequest
		s.writeError(cc, req, st, http.StatusBadRequest, "not a proxy request: ask for an absolute URL (http://host/path), or CONNECT host:port", true)
		return false
	default:
		scheme = strings.ToLower(u.Scheme)
		authority = u.Host
		if scheme != "http" && scheme != "https" {
			rec.action, rec.status = "NONE_NONE", http.StatusBadRequest
			s.writeError(cc, req, st, http.StatusBadRequest, "unsupported scheme "+strconv.Quote(u.Scheme)+": this proxy carries http and https", true)
			return false
		}
		if authority == "" || u.User != nil {
			rec.action, rec.status = "NONE_NONE", http.StatusBadRequest
			s.writeError(cc, req, st, http.StatusBadRequest, "bad URL: no host, or a user name in it", true)
			return false
		}
	}
	host := filter.CanonicalHost(authority)
	port := portOf(authority, scheme)
	full := fullURL(scheme, host, port, u)
	rec.url = full
	if toLocalhost(cc.client, host) {
		s.m.blocked[blockLocal].Add(1)
		rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, "to_localhost"
		rec.bytes = s.writePage(cc, req, st, http.StatusForbidden, "blocked by to_localhost: "+host+" is this proxy's own host", full, closeAfter)
		return !closeAfter
	}
	if p := st.cfg.Filter; p != nil {
		v := p.Check(&filter.Request{Client: cc.client, Method: req.Method, Host: host, URL: full, Time: rec.start.In(timeZone)})
		if v.Block {
			s.m.blocked[blockKind(v.Rule)].Add(1)
			rec.action, rec.status, rec.rule = "TCP_DENIED", http.StatusForbidden, v.Rule
			rec.bytes = s.writePage(cc, req, st, http.StatusForbidden, "blocked by "+v.Rule, full, closeAfter)
			return !closeAfter
		}
	}
	return cc.forward(req, st, rec, scheme, host, port, full, closeAfter)
}

// toLocalhost reports whether a client that is not on the proxy's host
// asks for the proxy's host itself (loopback, the unspecified address, or
// localhost), where services listen that only local users may reach (as
// Squid's default "http_access deny to_localhost"). A local client could
// reach them anyway.
func toLocalhost(client netip.Addr, host string) bool {
	if client.Unmap().IsLoopback() {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && (a.Unmap().IsLoopback() || a.IsUnspecified())
}

// sameAuthority reports whether two host[:port]s name the same server,
// the port defaulting to def.
func sameAuthority(a, b, def string) bool {
	if filter.CanonicalHost(a) != filter.CanonicalHost(b) {
		return false
	}
	pa, pb := portOrEmpty(a), portOrEmpty(b)
	if pa == "" {
		pa = def
	}
	if pb == "" {
		pb = def
	}
	return pa == pb
}

func portOrEmpty(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.LastIndex(hostport, "]:"); i >= 0 {
			return hostport[i+2:]
		}
		return ""
	}
	if strings.Count(hostport, ":") == 1 {
		return hostport[strings.IndexByte(hostport, ':')+1:]
	}
	return ""
}

// portOf is the authority's port, or the scheme's.
func portOf(authority, scheme string) string {
	if p := portOrEmpty(authority); p != "" {
		return p
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// fullURL is the URL the filter and the cache see: the scheme and host in
// lower case, the port only when it is not the scheme's own, then the
// request target as the client sent it.
func fullURL(scheme, host, port string, u interface{ RequestURI() string }) string {
	var b strings.Builder
	target := u.RequestURI()
	b.Grow(len(scheme) + 3 + len(host) + 8 + len(target))
	b.WriteString(scheme)
	b.WriteString("://")
	if strings.IndexByte(host, ':') >= 0 {
		b.WriteString("[" + host + "]")
	} else {
		b.WriteString(host)
	}
	if !(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		b.WriteByte(':')
		b.WriteString(port)
	}
	b.WriteString(target)
	return b.String()
}

// upstreamAddr is host:port for dialing.
func upstreamAddr(host, port string) string { return net.JoinHostPort(host, port) }
