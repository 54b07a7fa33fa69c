package datapath

// Stats are a queue's or a port's counters since it was opened.
type Stats struct {
	// From PACKET_STATISTICS: frames the kernel offered the ring (including
	// drops), frames dropped because the ring was full, and how often the
	// ring froze for lack of a free block.
	KernelPackets uint64
	KernelDrops   uint64
	KernelFreezes uint64

	// RxFrames and RxBytes count frames handed to the consumer.
	RxFrames uint64
	RxBytes  uint64
	// RxOutgoing counts frames this host sent that reached the ring anyway
	// (kernels without PACKET_IGNORE_OUTGOING); they are skipped.
	RxOutgoing uint64
	// RxTruncated counts frames longer than the ring could hold whole.
	RxTruncated uint64
	// RxCorrupt counts blocks whose layout did not add up and were cut short.
	RxCorrupt uint64

	TxFrames uint64
	TxBytes  uint64
	// TxDropped counts frames the device queue refused (ENOBUFS).
	TxDropped uint64
	// TxTooLarge counts frames larger than the egress MTU (EMSGSIZE) or
	// than the path can carry: typically GRO/TSO super-frames.
	TxTooLarge uint64
	// TxErrors counts other transmit failures (interface down, ...).
	TxErrors uint64
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.KernelPackets += o.KernelPackets
	s.KernelDrops += o.KernelDrops
	s.KernelFreezes += o.KernelFreezes
	s.RxFrames += o.RxFrames
	s.RxBytes += o.RxBytes
	s.RxOutgoing += o.RxOutgoing
	s.RxTruncated += o.RxTruncated
	s.RxCorrupt += o.RxCorrupt
	s.TxFrames += o.TxFrames
	s.TxBytes += o.TxBytes
	s.TxDropped += o.TxDropped
	s.TxTooLarge += o.TxTooLarge
	s.TxErrors += o.TxErrors
}
