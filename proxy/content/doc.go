// Package content scans HTTP response bodies for literal patterns: it
// decodes them (gzip, deflate, br) as a stream, holds at most a
// configured number of bytes, and blocks a body in which a pattern
// appears, or strips the HTML <script> elements that hold it.
//
// The search itself is behind the Matcher interface, which the intrusion
// detection engine's multi-pattern matcher can implement in place of the
// simple Literal matcher here. The package knows nothing of connections or
// of the proxy's other filters: it is given a body and its headers' values
// and says what to send instead.
package content
