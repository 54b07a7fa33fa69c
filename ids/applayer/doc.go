// Package applayer is the IDS's application layer: it identifies the
// protocol of each flow from its first bytes (HTTP, TLS, DNS, as
// Suricata's app-layer detection does, by patterns with the port as a
// hint), parses HTTP/1.x requests and responses, DNS messages over UDP
// and TCP, and the TLS ClientHello, streaming, from chunks cut anywhere,
// and hands each completed transaction to detection as a buffer.Set of
// inspection buffers normalised as Suricata normalises them, with the
// anomalies it meets as typed events.
//
// It owns protocol detection, the parsers' per-flow state and its
// bounds (lines, headers, heads, bodies, pipelined requests, ClientHello
// size, a memory cap over all flows), the buffers' normalisation (libhtp's
// URI path decoding and dot-segment removal, host folding, the merged
// header buffer, de-chunking and decompression with a bomb limit), and
// the events. It knows nothing of packets or TCP (package ids/stream
// reassembles the bytes it is given), of rules or matching (package
// ids/detect consumes the Set), or of output.
//
// # Use
//
//	p, err := applayer.New(applayer.Config{})   // once; shared by workers
//	w := p.NewWorker()                         // one per worker goroutine
//	f := p.NewFlow(key)                        // per flow, key from client to server
//	w.Stream(f, buffer.ToServer, data, h)      // each reassembled chunk, in order
//	w.Gap(f, buffer.ToClient, n, h)            // bytes reassembly gave up on
//	w.Close(f, buffer.ToServer, h)             // FIN, reset, end of capture
//	w.Datagram(f, buffer.ToServer, payload, h) // UDP
//	p.Release(f)                               // the flow ended
//
// h is a Handler: its Transaction method receives each request, response
// (with its request's buffers in the same Set), DNS question and
// ClientHello, Event each anomaly; both run synchronously, and what they
// are given is valid only during the call. Detection then runs once per
// transaction: detect.Input{App: tx.App, Buffers: tx.Buffers} with the
// flow's direction tx.Dir.
//
// Steady state allocates nothing: a flow's buffers are reused from
// transaction to transaction and pooled between flows, and the worker's
// normalised buffers and decompressors are reused (brotli's decoder,
// from github.com/andybalholm/brotli, allocates its window per body).
package applayer
