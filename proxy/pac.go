package proxy

import (
	"net/http"
	"strconv"
	"strings"
)

// pacFile is the proxy auto-config script for browsers: the hosts of
// PACDirect (and plain host names) go direct, everything else through
// proxy.
func pacFile(proxy string, direct []string) []byte {
	var b strings.Builder
	b.WriteString("// rampart proxy auto-config\nfunction FindProxyForURL(url, host) {\n")
	b.WriteString("  if (isPlainHostName(host)")
	for _, d := range direct {
		if strings.HasPrefix(d, ".") {
			b.WriteString(" ||\n      dnsDomainIs(host, " + strconv.Quote(d) + ") || host == " + strconv.Quote(d[1:]))
		} else {
			b.WriteString(" ||\n      host == " + strconv.Quote(d))
		}
	}
	b.WriteString(")\n    return \"DIRECT\";\n")
	b.WriteString("  return " + strconv.Quote("PROXY "+proxy) + ";\n}\n")
	return []byte(b.String())
}

// servePAC answers GET /proxy.pac (and /wpad.dat).
func (cc *conn) servePAC(req *http.Request, st *settings, rec *record) bool {
	proxy := st.cfg.PACProxy
	if proxy == "" {
		proxy = cc.rawLocal.String()
	}
	body := pacFile(proxy, st.cfg.PACDirect)
	rec.action, rec.status, rec.ctype = "TCP_MEM_HIT", http.StatusOK, "application/x-ns-proxy-autoconfig"
	h := http.Header{"Content-Type": {rec.ctype}, "Cache-Control": {"max-age=300"}}
	head := appendHead(nil, http.StatusOK, h, int64(len(body)), false, cc.s.m.via)
	cc.bw.Write(head)
	cc.bw.WriteString("\r\n")
	if req.Method != http.MethodHead {
		cc.bw.Write(body)
	}
	rec.bytes = int64(len(head) + len(body))
	return cc.bw.Flush() == nil
}
