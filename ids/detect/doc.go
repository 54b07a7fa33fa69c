// Package detect is the IDS's detection engine: it compiles a rule set
// (package ids/rules) into a prefilter and per-rule programs, and
// inspects packets, reassembled stream data and application-layer
// buffers against it, reporting the rules that match with their actions.
//
// It owns the evaluation of signatures with Suricata's semantics (the
// prefilter's choice of fast pattern, content chains with relative
// modifiers and their retries, negation, pcre, byte_test, isdataat,
// dsize's odd rules, flow and flowbits, thresholds and detection
// filters, the pass rule), and the bounded state thresholds need. It
// knows nothing of how packets are decoded, streams reassembled or
// application protocols parsed: the caller hands it an Input, with the
// flow's state behind a small interface.
//
// # Use
//
//	eng, err := detect.Compile(set, detect.Config{})   // once; immutable, shared by workers
//	s := eng.NewScratch()                              // one per worker goroutine
//	for each packet, stream chunk or parsed transaction:
//	    in := detect.Input{Key: key, Time: ts, Flow: f, Packet: true, Payload: payload, ...}
//	    for _, m := range eng.Inspect(s, &in) { ... m.Rule, m.Action, m.Alert ... }
//
// Inspect allocates nothing in steady state, except a pcre with keywords
// relative to it after it, whose match positions Go's regexp returns in
// a new slice.
//
// # Inputs
//
// One Input is one inspection: a packet (Packet true, its header fields
// and Payload), a window of reassembled stream (Stream: context already
// inspected, then new bytes from StreamNew on, at stream offset
// StreamBase; a rule matches there only if its match reaches a new byte,
// and absolute offsets count from the stream's start), the buffers of an
// application-layer transaction (Buffers), or a packet together with the
// stream data and transaction it completes. Each rule is evaluated at
// most once per Input and alerts at most once: payload contents match in
// the packet's payload or in the stream data (flow:only_stream and
// no_stream, tcp-stream and tcp-pkt choose), packet keywords (dsize,
// flags, ttl, itype, icode) need a packet, application buffers need the
// Buffers, and a rule with buffers of the server's side (http.stat_code,
// file.data) is evaluated only on inputs going to the client, where the
// caller passes the response's buffers together with its request's.
package detect
