// Package buffer names the byte buffers that IDS signatures inspect and
// holds them for one inspection: the packet payload or reassembled stream,
// and the application-layer buffers (http.uri, dns.query, tls.sni, ...)
// that the protocol parsers extract. It also names the application-layer
// protocols a flow can be identified as.
//
// It is the contract between three parts of the IDS: the rule parser
// (package ids/rules) says which buffer each content inspects, the
// protocol parsers fill a Set, and the detection engine (package
// ids/detect) matches the rules against it. It knows nothing of any of
// them: no parsing, no matching.
package buffer

// ID names one inspection buffer.
type ID uint8

// The buffers. Payload is the packet payload or the reassembled stream
// (Suricata's pkt_data); the others are filled by the application-layer
// parsers, normalised as Suricata normalises them (noted per buffer).
const (
	Payload         ID = iota // packet payload or stream data (pkt_data)
	HTTPMethod                // request method: "GET"
	HTTPURI                   // normalised request URI: percent-decoded, path normalised
	HTTPURIRaw                // request URI as sent
	HTTPHost                  // Host header value (or the URI's authority), lower case, without port
	HTTPHostRaw               // Host header value as sent
	HTTPHeader                // request or response headers, normalised: "Name: value\r\n" each, no request/status line, without Cookie
	HTTPHeaderRaw             // the header block as sent
	HTTPCookie                // Cookie (request) or Set-Cookie (response) header values
	HTTPUserAgent             // User-Agent header value
	HTTPRequestBody           // request body, de-chunked (http_client_body)
	HTTPStatCode              // response status code: "200"
	HTTPStatMsg               // response reason phrase: "OK"
	FileData                  // HTTP response body, de-chunked and decompressed (file.data)
	DNSQuery                  // query name of a DNS request, dotted, without the final dot
	TLSSNI                    // server_name of a TLS ClientHello
	Count                     // number of buffers; not a buffer
)

// App is an application-layer protocol, as a rule's header names it
// (alert http ...) and as protocol detection identifies a flow.
type App uint8

// The application-layer protocols.
const (
	AppNone App = iota // not identified, or not an application protocol rules name
	AppHTTP
	AppDNS
	AppTLS
)

// String returns the name rules use: "http", "dns", "tls"; "" for AppNone.
func (a App) String() string {
	switch a {
	case AppHTTP:
		return "http"
	case AppDNS:
		return "dns"
	case AppTLS:
		return "tls"
	}
	return ""
}

// Direction says which side of a flow a buffer comes from.
type Direction uint8

// The directions.
const (
	Both     Direction = iota // either side
	ToServer                  // the client's requests
	ToClient                  // the server's responses
)

type info struct {
	name string    // the sticky-buffer keyword
	app  App       // the protocol that fills it
	dir  Direction // the side it comes from
}

var infos = [Count]info{
	Payload:         {"pkt_data", AppNone, Both},
	HTTPMethod:      {"http.method", AppHTTP, ToServer},
	HTTPURI:         {"http.uri", AppHTTP, ToServer},
	HTTPURIRaw:      {"http.uri.raw", AppHTTP, ToServer},
	HTTPHost:        {"http.host", AppHTTP, ToServer},
	HTTPHostRaw:     {"http.host.raw", AppHTTP, ToServer},
	HTTPHeader:      {"http.header", AppHTTP, Both},
	HTTPHeaderRaw:   {"http.header.raw", AppHTTP, Both},
	HTTPCookie:      {"http.cookie", AppHTTP, Both},
	HTTPUserAgent:   {"http.user_agent", AppHTTP, ToServer},
	HTTPRequestBody: {"http.request_body", AppHTTP, ToServer},
	HTTPStatCode:    {"http.stat_code", AppHTTP, ToClient},
	HTTPStatMsg:     {"http.stat_msg", AppHTTP, ToClient},
	FileData:        {"file.data", AppHTTP, ToClient},
	DNSQuery:        {"dns.query", AppDNS, ToServer},
	TLSSNI:          {"tls.sni", AppTLS, ToServer},
}

// String returns the buffer's sticky-buffer keyword: "http.uri".
func (id ID) String() string {
	if id >= Count {
		return "buffer?"
	}
	return infos[id].name
}

// App returns the protocol whose parser fills the buffer; AppNone for
// Payload.
func (id ID) App() App {
	if id >= Count {
		return AppNone
	}
	return infos[id].app
}

// Direction returns the side of the flow the buffer comes from.
func (id ID) Direction() Direction {
	if id >= Count {
		return Both
	}
	return infos[id].dir
}

// Set holds the buffers of one inspection: what one parsed request or
// response (with, for a response, its request's buffers: a rule may
// inspect both) gives. The zero value is empty; Reset empties it for
// reuse, so that a parser fills the same Set for every transaction without
// allocating. The Set refers to the slices it is given, it copies nothing.
type Set struct {
	bufs [Count][]byte
	has  uint32 // bit i: buffer i is present (possibly empty)
}

// Put makes b the content of buffer id; an empty b is present and empty,
// which differs from absent (a request without a body has an empty
// http.request_body; a response has no http.uri). Payload is not put in
// a Set: the engine takes it beside the Set.
func (s *Set) Put(id ID, b []byte) {
	if id == Payload || id >= Count {
		return
	}
	s.bufs[id] = b
	s.has |= 1 << id
}

// Get returns buffer id and whether it is present.
func (s *Set) Get(id ID) ([]byte, bool) {
	if s == nil || id >= Count || s.has&(1<<id) == 0 {
		return nil, false
	}
	return s.bufs[id], true
}

// Has reports whether buffer id is present.
func (s *Set) Has(id ID) bool { return s != nil && id < Count && s.has&(1<<id) != 0 }

// Delete makes buffer id absent.
func (s *Set) Delete(id ID) {
	if id < Count {
		s.bufs[id] = nil
		s.has &^= 1 << id
	}
}

// Reset makes every buffer absent and drops the references to them.
func (s *Set) Reset() { *s = Set{} }

// Lookup returns the buffer whose sticky keyword is name ("http.uri").
func Lookup(name string) (ID, bool) {
	for id := range Count {
		if infos[id].name == name {
			return id, true
		}
	}
	return 0, false
}
