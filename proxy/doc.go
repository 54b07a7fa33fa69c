// Package proxy is rampart's forward HTTP(S) proxy: it reads requests
// from clients it allows (HTTP/1.1 with keep-alive and chunked bodies,
// checked against request smuggling and header floods, with time-outs on
// every read and write), judges them with the filter policy, answers from
// its cache or forwards them over pooled upstream connections (HTTP/2 to
// servers that offer it), scans response bodies with the content filter,
// and writes the access log and the metrics. CONNECT is tunnelled when the
// ClientHello's server name matches the host asked for, or terminated with
// a leaf certificate of the local CA for hosts chosen for interception,
// whose upstream certificates are then verified.
//
// Its sub-packages own the parts that know nothing of connections:
// filter (the policy), content (the body scanner), cache (RFC 9111),
// ca (the local CA) and sni (the ClientHello). The command line builds a
// Config from the configuration file; the proxy never reads that file.
package proxy
