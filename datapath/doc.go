// Package datapath moves frames between the wire (or a capture file) and the
// gateway's pipeline, and owns nothing else.
//
// It owns:
//   - live ports on Linux: AF_PACKET sockets bound to one interface, each
//     with a TPACKET_V3 receive ring (mmap'd blocks, a block retire timeout,
//     poll for readiness) and a sendmmsg transmit path; PACKET_FANOUT in hash
//     mode spreads an interface over several queues, one per worker;
//   - a bridge loop: two ports (LAN and WAN) with the same number of queues,
//     one goroutine per worker serving queue i of both ports, and a Handler
//     that decides what to send where through a Sender;
//   - capture files: pcap and pcapng readers and a pcap writer, behind the
//     same Source and Sink interfaces as live queues, so `rampart inspect`
//     drives the very pipeline the gateway runs (see Replay).
//
// It refuses to know about protocols above the link layer: it never decodes
// IP, TCP or UDP, keeps no flow state and makes no policy decision. The one
// exception is the 802.1Q tag that the kernel strips before a packet socket
// sees a frame; the receive path puts it back in place so that a bridge
// forwards exactly what was on the wire. It also refuses to configure the
// host beyond the interfaces it is given: addresses, namespaces, sysctls and
// IPv6 on the bridge ports are the lab's and the operator's business.
//
// # Frames, ownership and lifetimes
//
// Frames handed out by a live queue are slices into the kernel's ring. They
// are valid until the block they live in is given back (the next ReadBatch,
// Next or Release on that queue, or the end of the Handler's block in the
// bridge loop). Nothing is copied and nothing is allocated per frame. Frames
// from a capture reader are valid until the next call to Next.
//
// # Frames larger than the MTU
//
// GRO and LRO merge segments into frames of up to 64 KiB, and a veth or tap
// peer with TSO enabled hands over unsegmented super-frames. Receive rings
// are sized so that such frames arrive whole (a block holds at least one
// 64 KiB frame plus headers), but a packet socket cannot transmit a frame
// larger than the egress MTU: the Sender counts those as TxTooLarge and
// drops them. OpenPort therefore turns GRO and LRO off on its interface
// unless PortConfig.KeepOffloads is set; TSO on a veth or tap peer must be
// turned off by whoever owns the peer (DisableOffloads does it). Frames that
// arrive truncated anyway (CaptureLength < Length) are counted as
// RxTruncated and never reach a Handler in the bridge loop.
//
// # Latency
//
// TPACKET_V3 hands user space whole blocks: a block is given over when it
// is full or when PortConfig.RetireTimeout expires, whichever comes first.
// Under load blocks fill in microseconds; a lone frame waits for the
// timeout, which the kernel rounds to its timer tick (measured here: 0.5-4
// ms of added round-trip time through a bridge at HZ=250 with the 1 ms
// default). Poll wakes the reader only when a block is retired.
//
// # Fanout and flow affinity
//
// In hash mode the kernel picks a queue from a symmetric flow hash of the
// addresses and ports, so both directions of a flow land on the same queue
// index. A bridge opens both ports with the same number of queues, so a
// flow's two directions reach the same worker, and per-worker state needs
// no locks. Address translation breaks that symmetry; the gateway has to
// account for it. Fragments other than the first hash on addresses only.
// The mapping is stable once OpenPort returns; while the queues join the
// group a few frames may reach a queue that later no longer owns their flow.
package datapath
