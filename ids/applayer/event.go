package applayer

import (
	"fmt"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// Kind is what an Event reports.
type Kind uint8

// Kinds of events. Those that say "disables" stop the direction's parser
// (Event.Disabled): what follows cannot be framed with confidence, and
// guessing would let an attacker choose what the IDS inspects.
const (
	KindNone Kind = iota
	// KindDetectMismatch: the two directions of a flow look like
	// different protocols; the first one identified is kept.
	KindDetectMismatch

	// KindHTTP09: a request without a protocol version (HTTP/0.9): no
	// headers, and a response that is all body.
	KindHTTP09
	// KindInvalidRequestLine: a request line that is not "method SP URI
	// SP HTTP/x.y", or whose version is unknown. When the method is not
	// a token the direction is garbage: disables.
	KindInvalidRequestLine
	// KindInvalidStatusLine: a response that does not start with
	// "HTTP/x.y NNN"; disables unless the request was HTTP/0.9.
	KindInvalidStatusLine
	// KindInvalidHeader: a header line without a colon, with white space
	// before the colon, with a name that is not a token, or folded
	// (obs-fold): each a known way to make two parsers disagree.
	KindInvalidHeader
	// KindLineTooLong: a start, header or chunk line longer than
	// Config.MaxLine; it is cut to the limit.
	KindLineTooLong
	// KindTooManyHeaders: more than Config.MaxHeaders header lines;
	// the message is delivered as far as it was read, and disables.
	KindTooManyHeaders
	// KindHeadTooLarge: a head larger than Config.MaxHeadSize; as
	// KindTooManyHeaders.
	KindHeadTooLarge
	// KindCLAndTE: a request or response with both Content-Length and
	// Transfer-Encoding: the classic request smuggling sign. The body is
	// framed by Transfer-Encoding, as RFC 9112 section 6.3 says.
	KindCLAndTE
	// KindDuplicateCL: several Content-Length headers with different
	// values (smuggling); the first one frames the body.
	KindDuplicateCL
	// KindInvalidCL: a Content-Length that is not a decimal number.
	KindInvalidCL
	// KindInvalidTE: a Transfer-Encoding other than a list ending in
	// "chunked" (smuggling through obfuscated codings).
	KindInvalidTE
	// KindInvalidChunk: a chunk-size line that is not hexadecimal (or
	// is longer than Config.MaxLine, or sizes more than 2^64 bytes), or
	// chunk data not followed by its line end; disables.
	KindInvalidChunk
	// KindHostAmbiguous: the Host header disagrees with the request
	// URI's authority, or appears twice with different values.
	KindHostAmbiguous
	// KindMissingHost: an HTTP/1.1 request without a Host header.
	KindMissingHost
	// KindTooManyPending: more than Config.MaxPending requests waiting
	// for their responses, or more than Config.ProbeLimit bytes sent
	// after a CONNECT before its response; disables the request
	// direction.
	KindTooManyPending
	// KindUnsolicitedResponse: a response with no request waiting for it.
	KindUnsolicitedResponse
	// KindDecompressionBomb: a body that decompresses to more than
	// Config.BombLimit bytes at more than Config.BombRatio times its
	// size, or one with more stacked content codings than
	// Config.DecompressLayers (left as they are).
	KindDecompressionBomb
	// KindDecompressionFailed: a body that is not what its
	// Content-Encoding says; what decoded before the error is inspected.
	KindDecompressionFailed
	// KindGap: bytes were lost where the parser cannot skip them (a head,
	// a chunk-size line, a record header); disables.
	KindGap
	// KindMemcap: Config.Memcap refused a buffer: a body is inspected
	// as far as it was held, or, for a head, the direction is disabled.
	KindMemcap

	// KindTLSBadRecord: a TLS record header with an unknown content type
	// or version, or a length over the protocol's maximum; disables.
	KindTLSBadRecord
	// KindTLSMalformed: a ClientHello whose fields overrun it, or a
	// handshake that does not start with one; disables.
	KindTLSMalformed
	// KindTLSHelloTooLarge: a ClientHello longer than
	// Config.MaxClientHello; disables.
	KindTLSHelloTooLarge

	// KindDNSMalformed: a DNS message whose header or question overruns
	// it, or whose name is invalid (a label over 63 bytes, a name over
	// 255, a compression loop). The third in a row disables the
	// direction (garbage), and so does, over TCP, a length prefix too
	// short for a header.
	KindDNSMalformed
	numKinds
)

// NumKinds is the number of kinds, for counters indexed by Kind.
const NumKinds = int(numKinds)

var kindNames = [numKinds]string{
	"none", "detect_mismatch",
	"http09", "invalid_request_line", "invalid_status_line", "invalid_header", "line_too_long",
	"too_many_headers", "head_too_large", "cl_and_te", "duplicate_cl", "invalid_cl", "invalid_te",
	"invalid_chunk", "host_ambiguous", "missing_host", "too_many_pending", "unsolicited_response",
	"decompression_bomb", "decompression_failed", "gap", "memcap",
	"tls_bad_record", "tls_malformed", "tls_hello_too_large",
	"dns_malformed",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Event is one anomaly in a flow's application layer: the IDS turns it
// into an EVE record. Off is an offset in the direction's stream (the
// bytes given before, gaps included): the start of the message (or TLS
// record) concerned, or, for a fault in chunk framing and for a gap, the
// byte where it was found; never one that depends on how the stream was
// cut into chunks. It is 0 for a datagram.
type Event struct {
	Kind Kind
	App  buffer.App
	Dir  buffer.Direction
	Off  uint64
	// Disabled says the direction's parser stopped at this event.
	Disabled bool
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s %s at %d", e.App, dirName(e.Dir), e.Kind, e.Off)
	if e.Disabled {
		s += " (parser disabled)"
	}
	return s
}

func dirName(d buffer.Direction) string {
	if d == buffer.ToClient {
		return "to_client"
	}
	return "to_server"
}
