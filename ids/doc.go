// Package ids is the intrusion detection engine: it joins the parts under
// ids/ into one pipeline per packet and owns the flows that pipeline
// follows.
//
//	frame ─▶ decode (the capture's link type) ─▶ defrag (target policy of
//	the destination) ─▶ TCP: stream reassembly (target policy) ─▶ chunks ─▶
//	applayer ─▶ transactions ─▶ detect; every packet ─▶ detect (packet
//	keywords; UDP payloads also to applayer) ─▶ alerts and engine events ─▶
//	an Output (package ids/eve writes EVE JSON and fast.log)
//
// It owns the flows other than TCP (UDP, ICMP, other IP protocols: a
// bounded table with time-outs; TCP flows are package ids/stream's), each
// flow's detection state (flowbits) and application-layer state, the
// counters of every cap the parts enforce, and the turning of what the
// parts report (rule matches, defrag, stream and applayer events) into
// Alert and Event values. It knows nothing of files, terminals or JSON:
// the caller reads frames (package datapath) and chooses the Output.
//
// # Use
//
//	e, err := ids.New(cfg)        // once; shared by workers
//	w := e.NewWorker()            // one per goroutine
//	v := w.Process(frame, linkType, ts)   // each frame; Drop and Reject only in prevention mode
//	v := w.Inspect(&parsed, ts)   // or: a packet the caller decoded and reassembled (the gateway)
//	e.Flush(ts)                   // the end of a capture: every flow's last bytes inspected
//	res, err := e.Run(ctx, src, progress)  // or all of it over a capture
//
// Before anything else a packet's TTL (hop limit) says whether it reaches
// its destination at all: Config.Hops gives the routers between the engine
// and each destination prefix, and a packet that expires on the way (Ptacek
// and Newsham's insertion by TTL) feeds neither reassembly nor detection;
// a TCP segment or an IP fragment raises the event EventTTLEvasion, and
// prevention drops it, or with Config.MinTTL raises low TTLs first.
// Prevention also clears the IPv4 reserved flag and the TCP reserved bits
// and turns IPv4 options into NOPs in what it forwards (Stats.Normalised).
//
// Process allocates nothing in steady state: decoding, reassembly,
// parsing and detection reuse the worker's and the flows' memory.
//
// Detection mode hands a TCP direction's bytes on once the receiver
// acknowledges them, and inspects each such chunk as it comes: a payload
// rule's pattern that straddles two acknowledgements is not found in the
// stream (application-layer buffers are whole, whatever the chunks).
package ids
