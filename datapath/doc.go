// Package datapath moves frames between the wire (or a capture file) and the
// gateway's pipeline, and owns nothing else.
//
// It owns:
//   - live ports on Linux: AF_PACKET sockets bound to one interface, each
//     with a TPACKET_V3 receive ring (mmap'd blocks, a block retire timeout,
//     poll for readiness), vnet headers for offloaded frames, and a
//     sendmmsg transmit path on a second socket of each queue that
//     receives nothing and nobody polls (so freeing a sent frame wakes no
//     one); PACKET_FANOUT in hash mode spreads an interface over several
//     queues, one per worker;
//   - for router mode, DropKernelInput: a tc ingress filter that keeps the
//     kernel's own input path off interfaces the gateway owns;
//   - a bridge loop: two ports (LAN and WAN) with the same number of queues,
//     one goroutine per worker serving queue i of both ports, and a Handler
//     that decides what to send where through a Sender; an idle worker
//     waits in the runtime's network poller (an epoll instance over its
//     sockets), not in a poll(2) of its own, and sends each block's frames
//     with one raw, non-blocking sendmmsg, so that the runtime never hands
//     its P to another thread;
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
// # Offloads: super-frames and checksums (vnet headers)
//
// A veth or tap peer with TSO/GSO hands over unsegmented super-frames of
// up to 64 KiB, and a local sender with checksum offload leaves the L4
// checksum as a partial sum. Every socket of a port therefore sets
// PACKET_VNET_HDR (unless PortConfig.NoVNetHeader): tpacket_rcv writes a
// struct virtio_net_hdr right before each frame in the TPACKET_V3 ring (at
// tp_mac - 10; kernels since 4.x, checked by the tests on the running
// one), the walker copies it into CaptureInfo.VNet (offsets adjusted for a
// restored VLAN tag), and the bridge's Sender sends the frame being
// handled with that header again (a second iovec, so the ring frame still
// goes out by reference). The kernel then segments super-frames (or hands
// them whole to an egress device that can) and completes checksums, as it
// does for a VM's virtio NIC. Frames a handler builds go with an empty
// header; Queue.WriteVNet sends a header explicitly. Capture files and
// pcap output never see vnet headers.
//
// A frame whose checksum the header leaves to the kernel is not flagged
// FlagChecksumNotReady: a handler must not fill the checksum in (the field
// holds the pseudo-header sum the kernel adds to), and a handler that
// rewrites addresses of such a frame updates that field as a partial sum.
// The kernel can't describe some frames in a vnet header (tunnel GSO
// types); tpacket_rcv drops those and counts them in KernelDrops.
//
// If the kernel refuses the option, the port runs without: super-frames
// arrive whole (a ring block holds at least one 64 KiB frame plus headers)
// but a packet socket can't send a frame larger than the egress MTU, so
// the Sender counts them as TxTooLarge; TSO on the peers must then be
// turned off by whoever owns them (SetOffloads), and checksums left to
// offload are flagged FlagChecksumNotReady for the handler. OpenPort turns
// GRO and LRO off on its interface unless PortConfig.KeepOffloads is set,
// so that frames cross the bridge as the sender cut them. Frames that
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
